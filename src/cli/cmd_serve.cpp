// `masque serve`: an OpenAI-compatible HTTP server with continuous batching
// and a web UI (docs/serve.md). Start-up order matters: options and the API
// key file are checked, the port is bound (so "in use" fails fast, before a
// long model load), /health answers 503 while the model loads, then the
// scheduler starts. SIGINT/SIGTERM stop admission, let running replies end
// within --shutdown-grace, cancel the rest, and exit 0.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "infer/model_dir.h"
#include "serve/http_server.h"
#include "serve/scheduler.h"
#include "serve/vector_loading.h"

namespace {

struct ServeCliOptions {
  std::string model;
  std::string api_key_file;
  std::string model_id;
  std::vector<std::string> vectors;  // NAME=FILE[:LAYER]
  int parallel = 4;
  int queue = 64;
  int ctx = 0;
  double shutdown_grace_s = 5;
  bool no_web_ui = false;
  masque::serve::ServerOptions server;
};

std::string read_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw masque::InputError(masque::cat("cannot read the API key file ", path,
                                         " (check the path and its permissions)"));
  }
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' '))
    key.pop_back();
  if (key.empty() || key.find_first_of(" \t\r\n") != std::string::npos) {
    throw masque::InputError(masque::cat("the API key file ", path,
                                         " must hold one key on one line (it is empty or has "
                                         "spaces)"));
  }
  return key;
}

// Waits for SIGINT/SIGTERM (blocked in every thread, so only this wait sees them).
int wait_for_signal(const sigset_t& set) {
  while (true) {
    timespec tick{0, 200'000'000};
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig > 0) return sig;
  }
}

void run_serve(ServeCliOptions& o) {
  namespace fs = std::filesystem;
  masque::serve::ServerOptions& so = o.server;
  if (!o.api_key_file.empty()) {
    if (!so.api_key.empty()) throw masque::InputError("give --api-key or --api-key-file, not both");
    so.api_key = read_key_file(o.api_key_file);
  }
  if (!fs::exists(o.model)) {
    throw masque::InputError(masque::cat("model directory ", o.model,
                                         " does not exist (give a checkpoint, RUN_DIR or HF dir)"));
  }
  if (o.parallel < 1 || o.parallel > 256)
    throw masque::InputError(masque::cat("--parallel must be in [1, 256], got ", o.parallel));
  if (o.queue < 0) throw masque::InputError("--queue must be >= 0");
  if (so.request_timeout_s <= 0) throw masque::InputError("--timeout must be > 0");
  if (so.limits.max_tokens_limit < 1) throw masque::InputError("--max-tokens must be >= 1");
  std::vector<masque::serve::VectorArg> vector_args;
  for (const std::string& v : o.vectors) vector_args.push_back(masque::serve::parse_vector_arg(v));
  so.web_ui = o.no_web_ui ? "off" : "on";
  so.http_threads = o.parallel + o.queue + 8;  // a thread per streaming client plus spares
  if (o.model_id.empty()) o.model_id = fs::path(o.model).lexically_normal().filename().string();
  if (o.model_id.empty()) o.model_id = "masque";
  so.model_id = o.model_id;

  // Signals go to the waiting thread only; a write to a closed socket is an
  // error return, not a process-killing SIGPIPE.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  masque::serve::HttpServer http(so);
  http.bind();
  http.start();
  std::fprintf(stderr, "masque serve: loading %s (GET /health is 503 until ready)\n",
               o.model.c_str());
  std::unique_ptr<masque::serve::Scheduler> scheduler;
  masque::LoadedModel loaded;
  masque::serve::ServeBackend backend;
  try {
    loaded = masque::load_model_dir(o.model);
    const masque::ModelConfig& cfg = loaded.model->config();
    const int ctx = o.ctx > 0 ? o.ctx : cfg.max_position_embeddings;
    if (ctx > cfg.max_position_embeddings) {
      throw masque::InputError(masque::cat("--ctx ", ctx, " exceeds the model's context of ",
                                           cfg.max_position_embeddings));
    }
    so.limits.context = ctx;
    so.limits.max_tokens_limit = std::min(so.limits.max_tokens_limit, ctx - 1);
    so.limits.default_max_tokens =
        std::min(so.limits.default_max_tokens, so.limits.max_tokens_limit);
    backend.vectors = masque::serve::load_vectors(vector_args, cfg, loaded.tokenizer);
    scheduler = std::make_unique<masque::serve::Scheduler>(
        *loaded.model, loaded.tokenizer, masque::serve::SchedulerOptions{o.parallel, o.queue, 0},
        &http.metrics());
  } catch (...) {
    http.stop();
    throw;
  }
  backend.model = loaded.model.get();
  backend.tokenizer = &loaded.tokenizer;
  backend.scheduler = scheduler.get();
  // The routes read options through the server; refresh the limits set above.
  http.set_limits(so.limits);
  http.set_backend(&backend);
  std::fprintf(stderr,
               "masque serve: listening on http://%s:%d (model %s, %d slots, context %d%s)\n",
               so.host.c_str(), http.port(), o.model_id.c_str(), o.parallel, so.limits.context,
               so.api_key.empty() ? "" : ", API key required");

  const int sig = wait_for_signal(set);
  std::fprintf(stderr, "masque serve: %s received; finishing in-flight requests (up to %g s)\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", o.shutdown_grace_s);
  scheduler->stop(std::chrono::milliseconds(static_cast<long>(o.shutdown_grace_s * 1000)));
  http.stop();
  std::fprintf(stderr, "masque serve: stopped\n");
}

masque::cli::CommandRegistrar reg("serve", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve", "OpenAI-compatible HTTP server with continuous batching and a web UI");
  auto o = std::make_shared<ServeCliOptions>();
  cmd->add_option("--model", o->model, "Checkpoint dir, RUN_DIR or HF Llama dir")->required();
  cmd->add_option("--host", o->server.host, "Address to bind (loopback by default)")
      ->capture_default_str();
  cmd->add_option("--port", o->server.port, "TCP port (0 = any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", o->server.api_key,
                  "Require Authorization: Bearer KEY on every route but /health and /");
  cmd->add_option("--api-key-file", o->api_key_file, "Read the API key from a file (one line)");
  cmd->add_option("--parallel", o->parallel, "Slots decoded together (each its own KV cache)")
      ->capture_default_str();
  cmd->add_option("--queue", o->queue, "Requests that may wait for a slot; beyond: 503")
      ->capture_default_str();
  cmd->add_option("--ctx", o->ctx, "Context per slot in tokens (0 = the model's)")
      ->capture_default_str();
  cmd->add_option("--max-tokens", o->server.limits.max_tokens_limit,
                  "Largest max_tokens a request may ask for")
      ->capture_default_str();
  cmd->add_option("--default-max-tokens", o->server.limits.default_max_tokens,
                  "max_tokens of requests that give none")
      ->capture_default_str();
  cmd->add_option("--timeout", o->server.request_timeout_s,
                  "Seconds a request may take, queue wait included (then 504)")
      ->capture_default_str();
  cmd->add_option("--max-body", o->server.max_body_bytes, "Largest request body in bytes (413)")
      ->capture_default_str();
  cmd->add_option("--read-timeout", o->server.read_timeout_s,
                  "Seconds to receive headers and body (slow clients)")
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", o->shutdown_grace_s,
                  "On SIGINT/SIGTERM, seconds running replies may take to finish")
      ->capture_default_str();
  cmd->add_option("--model-id", o->model_id, "Model id in /v1/models (default: the dir name)");
  cmd->add_option("--vector", o->vectors,
                  "Persona vector NAME=FILE[:LAYER] (safetensors, layers.L) for steering and the "
                  "meter; repeatable");
  cmd->add_flag("--no-web-ui", o->no_web_ui, "Do not serve the chat page at /");
  cmd->callback([o] { run_serve(*o); });
});

}  // namespace
