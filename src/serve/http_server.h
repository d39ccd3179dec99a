// HttpServer: the HTTP face of `masque serve` on cpp-httplib. It binds
// first and answers /health with 503 while the model loads (set_backend()
// makes it ready), checks the API key before routing, bounds bodies and
// socket timeouts, turns every refusal into OpenAI's error JSON, and routes
// /v1/* to the scheduler. The web UI is served at "/".
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "serve/metrics.h"
#include "serve/request.h"
#include "serve/scheduler.h"
#include "serve/served_vectors.h"
#include "tokenizer/tokenizer.h"

namespace masque::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0 = any free port (see HttpServer::port())
  std::string api_key;                   // empty: no authentication
  std::string model_id = "masque";       // GET /v1/models
  std::size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  RequestLimits limits;                  // context, max_tokens
  double request_timeout_s = 600;        // queue wait + generation
  int read_timeout_s = 10;               // headers and body (slow clients)
  int write_timeout_s = 10;              // a client that stops reading
  int http_threads = 32;                 // concurrent connections being served
  std::string web_ui = "on";             // "off": no page at "/"
};

// What the routes need once the model is loaded (owned by the caller).
struct ServeBackend {
  const Model* model = nullptr;
  const Tokenizer* tokenizer = nullptr;
  Scheduler* scheduler = nullptr;
  std::vector<ServedVector> vectors;
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // InputError when host:port cannot be bound (in use, not a local address).
  void bind();
  int port() const { return port_; }
  // Serves on a background thread; /health is 503 until set_backend().
  void start();
  void set_backend(ServeBackend* backend) { backend_ = backend; }
  // Limits known only after loading (the model's context); call before set_backend.
  void set_limits(const RequestLimits& limits) { options_.limits = limits; }
  // Stop accepting and close; in-flight handlers return first (the caller
  // stops the scheduler before, so their channels end).
  void stop();
  ServeMetrics& metrics() { return metrics_; }
  const ServerOptions& options() const { return options_; }
  ServeBackend* backend() const { return backend_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ServerOptions options_;
  ServeMetrics metrics_;
  std::atomic<ServeBackend*> backend_{nullptr};
  int port_ = 0;
  int listen_fd_ = -1;  // the listening socket (owned by httplib)
};

// Constant-time string comparison (for the API key: no early exit on the
// first differing byte, so response time does not reveal the key).
bool constant_time_equal(std::string_view a, std::string_view b);

// The web UI page (web_ui.cpp).
std::string_view web_ui_html();

}  // namespace masque::serve
