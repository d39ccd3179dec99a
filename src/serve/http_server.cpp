// HttpServer (see http_server.h): httplib set-up, authentication, the small
// routes, and errors in OpenAI's shape.
#include "serve/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <thread>

#include "serve/api_error.h"
#include "serve/completion_handler.h"
#include "serve/openai_json.h"

namespace masque::serve {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of the longer string is visited, whatever matches, so only
  // the length could leak through timing.
  const std::size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

struct HttpServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
};

namespace {

void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& param = {}, const std::string& code = {}) {
  res.status = status;
  if (status == 503) res.set_header("Retry-After", "1");
  if (status == 401) res.set_header("WWW-Authenticate", "Bearer");
  res.set_content(dump_json(error_json(status, message, param, code)), "application/json");
}

std::string status_message(int status) {
  switch (status) {
    case 400:
      return "the request could not be parsed as HTTP";
    case 404:
      return "no such route (see GET /v1/models, POST /v1/chat/completions)";
    case 405:
      return "method not allowed on this route";
    case 413:
      return "the request body is larger than the server's limit (--max-body)";
    case 414:
      return "the request URI is too long";
    case 408:
      return "the request was not received in time";
    default:
      return cat("HTTP status ", status);
  }
}

Json tokens_json(const std::vector<std::uint32_t>& ids) {
  Json out = Json::array();
  for (std::uint32_t id : ids) out.push_back(id);
  return out;
}

}  // namespace

HttpServer::HttpServer(ServerOptions options)
    : impl_(std::make_unique<Impl>()), options_(std::move(options)) {
  httplib::Server& svr = impl_->server;
  const int threads = std::max(4, options_.http_threads);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr.set_payload_max_length(options_.max_body_bytes);
  svr.set_read_timeout(options_.read_timeout_s, 0);
  svr.set_write_timeout(options_.write_timeout_s, 0);
  svr.set_keep_alive_timeout(2);
  svr.set_tcp_nodelay(true);  // streamed tokens leave at once
  // httplib's default sets SO_REUSEPORT, which would let a second server
  // share a port that is in use instead of failing; SO_REUSEADDR only allows
  // a restart while old connections linger in TIME_WAIT. The fd is kept to
  // widen the accept backlog after bind (httplib's is 5: a burst of clients
  // would be reset).
  svr.set_socket_options([this](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd_ = sock;
  });

  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Health and the UI's page are public; everything else needs the key.
    if (options_.api_key.empty() || req.path == "/health" || req.path == "/")
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string_view prefix = "Bearer ";
    const bool ok =
        auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0 &&
        constant_time_equal(std::string_view(auth).substr(prefix.size()), options_.api_key);
    if (ok) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, 401, "invalid or missing API key (send Authorization: Bearer KEY)", {},
               "invalid_api_key");
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) send_error(res, res.status, status_message(res.status));
  });
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          send_error(res, 500, cat("internal error: ", e.what()));
        } catch (...) {
          send_error(res, 500, "internal error");
        }
      });
  svr.set_logger([this](const httplib::Request&, const httplib::Response& res) {
    metrics_.count_response(res.status);
  });

  // Every route body runs inside this: ApiError/InputError become error JSON.
  auto guarded = [](auto body) {
    return [body](const httplib::Request& req, httplib::Response& res) {
      try {
        body(req, res);
      } catch (const ApiError& e) {
        send_error(res, e.status(), e.what(), e.param(), e.code());
      } catch (const InputError& e) {
        send_error(res, 400, e.what());
      } catch (const std::bad_alloc&) {
        send_error(res, 503, "out of memory");
      }
    };
  };
  auto ready = [this]() -> ServeBackend& {
    ServeBackend* b = backend_.load();
    if (!b) throw ApiError(503, "the model is still loading");
    return *b;
  };

  svr.Get("/", [this](const httplib::Request&, httplib::Response& res) {
    if (options_.web_ui == "off") {
      send_error(res, 404, "the web UI is disabled (--no-web-ui)");
      return;
    }
    const std::string_view page = web_ui_html();
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
  });
  svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    ServeBackend* b = backend_.load();
    if (!b) {
      res.status = 503;
      res.set_header("Retry-After", "1");
      res.set_content(R"({"status":"loading"})", "application/json");
    } else {
      Json out = {{"status", "ok"},
                  {"slots_idle", b->scheduler->slots() - b->scheduler->active()},
                  {"slots_processing", b->scheduler->active()},
                  {"queue", b->scheduler->queued()}};
      res.set_content(out.dump(), "application/json");
    }
  });
  svr.Get("/v1/models", guarded([this, ready](const httplib::Request&, httplib::Response& res) {
            ServeBackend& b = ready();
            const ModelConfig& cfg = b.model->config();
            Json model = {{"id", options_.model_id},
                          {"object", "model"},
                          {"created", static_cast<std::int64_t>(std::time(nullptr))},
                          {"owned_by", "masque"},
                          {"meta",
                           {{"n_ctx", options_.limits.context},
                            {"n_vocab", cfg.vocab_size},
                            {"n_embd", cfg.hidden_size},
                            {"n_layer", cfg.num_hidden_layers},
                            {"n_params", static_cast<std::int64_t>(b.model->num_params())}}}};
            res.set_content(dump_json({{"object", "list"}, {"data", Json::array({model})}}),
                            "application/json");
          }));
  svr.Get("/v1/vectors", guarded([ready](const httplib::Request&, httplib::Response& res) {
            res.set_content(dump_json(vectors_json(ready().vectors)), "application/json");
          }));
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    if (ServeBackend* b = backend_.load()) {
      metrics_.set_queue_depth(b->scheduler->queued());
      metrics_.set_active_slots(b->scheduler->active());
    }
    res.set_content(metrics_.render_prometheus(), "text/plain; version=0.0.4; charset=utf-8");
  });
  svr.Post("/tokenize", guarded([ready](const httplib::Request& req, httplib::Response& res) {
             ServeBackend& b = ready();
             const Json body = parse_body(req.body);
             auto it = body.find("content");
             if (it == body.end() || !it->is_string())
               throw ApiError(400, "'content' must be a string", "content");
             bool special = false;
             if (auto s = body.find("parse_special"); s != body.end()) {
               if (!s->is_boolean()) throw ApiError(400, "'parse_special' must be a boolean");
               special = s->get<bool>();
             }
             const std::string& text = it->get_ref<const std::string&>();
             const auto ids =
                 special ? b.tokenizer->encode_with_specials(text) : b.tokenizer->encode(text);
             res.set_content(dump_json({{"tokens", tokens_json(ids)}}), "application/json");
           }));
  svr.Post(
      "/detokenize", guarded([ready](const httplib::Request& req, httplib::Response& res) {
        ServeBackend& b = ready();
        const Json body = parse_body(req.body);
        auto it = body.find("tokens");
        if (it == body.end() || !it->is_array())
          throw ApiError(400, "'tokens' must be an array of token ids", "tokens");
        std::vector<std::uint32_t> ids;
        for (const Json& t : *it) {
          if (!t.is_number_integer() || t.get<std::int64_t>() < 0 ||
              t.get<std::int64_t>() >= static_cast<std::int64_t>(b.tokenizer->vocab_size()))
            throw ApiError(400,
                           cat("'tokens' must hold ids in [0, ", b.tokenizer->vocab_size(),
                               "), got ", t.dump()),
                           "tokens");
          ids.push_back(t.get<std::uint32_t>());
        }
        res.set_content(dump_json({{"content", b.tokenizer->decode(ids)}}), "application/json");
      }));
  svr.Post("/v1/chat/completions",
           guarded([this, ready](const httplib::Request& req, httplib::Response& res) {
             handle_completion(req, res, Endpoint::kChat, ready(), options_);
           }));
  svr.Post("/v1/completions",
           guarded([this, ready](const httplib::Request& req, httplib::Response& res) {
             handle_completion(req, res, Endpoint::kCompletion, ready(), options_);
           }));
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::bind() {
  httplib::Server& svr = impl_->server;
  if (options_.port == 0) {
    port_ = svr.bind_to_any_port(options_.host);
    if (port_ < 0) port_ = 0;
  } else if (svr.bind_to_port(options_.host, options_.port)) {
    port_ = options_.port;
  }
  if (port_ > 0 && listen_fd_ >= 0) ::listen(listen_fd_, 1024);  // Linux: updates the backlog
  if (port_ <= 0) {
    const int err = errno;
    throw InputError(cat("cannot listen on ", options_.host, ":", options_.port, ": ",
                         err ? std::strerror(err) : "bind failed",
                         " (is another server using the port? choose one with --port; "
                         "--host must be an address of this machine)"));
  }
}

void HttpServer::start() {
  impl_->thread = std::thread([this] {
    impl_->server.listen_after_bind();
    impl_->listen_returned = true;
  });
}

void HttpServer::stop() {
  if (!impl_) return;
  // httplib's stop() does nothing until the listen thread has marked the
  // server running; a stop right after start() (a start-up error such as a
  // bad --vector) would then leave the thread listening and the join below
  // waiting forever. Wait for the server to run (or the thread to end).
  if (impl_->thread.joinable()) {
    while (!impl_->server.is_running() && !impl_->listen_returned)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace masque::serve
