// Generation routes (see completion_handler.h).
#include "serve/completion_handler.h"

#include <ctime>
#include <random>

#include "serve/api_error.h"
#include "serve/openai_json.h"

namespace masque::serve {
namespace {

std::uint64_t random_seed() {
  static std::mutex mutex;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mutex);
  return rng();
}

// The masque part of a chunk or response: per-token projections by name.
Json projections_json(const std::vector<std::string>& names,
                      const std::vector<std::vector<float>>& per_token) {
  Json out = Json::object();
  for (std::size_t k = 0; k < names.size(); ++k) {
    Json values = Json::array();
    for (const auto& token : per_token) {
      if (k < token.size()) values.push_back(token[k]);
    }
    out[names[k]] = values;
  }
  return {{"projections", out}};
}

std::string failure_message(const std::string& reason, double timeout_s) {
  if (reason == "timeout")
    return cat("the request took longer than the server's timeout of ", timeout_s, " s");
  if (reason == "cancelled") return "the request was cancelled: the server is shutting down";
  return "generation failed inside the server (see its log)";
}

int failure_status(const std::string& reason) {
  return reason == "timeout" ? 504 : reason == "cancelled" ? 503 : 500;
}

bool is_success(const std::string& reason) { return reason == "stop" || reason == "length"; }

struct StreamState {
  std::shared_ptr<Channel> channel;
  ResponseHeader header;
  std::vector<std::string> monitor;
  bool include_usage = false;
  bool started = false;
  bool done = false;
  double timeout_s = 0;
};

bool write_event(httplib::DataSink& sink, const Json& value) {
  const std::string data = "data: " + dump_json(value) + "\n\n";
  return sink.write(data.data(), data.size());
}

// One provider call: waits for the next event and writes it. Returning
// false ends the response (the client is gone); the releaser cancels the job.
bool provide(StreamState& st, httplib::DataSink& sink) {
  if (st.done) {
    sink.done();
    return true;
  }
  if (!st.started) {
    st.started = true;
    if (st.header.endpoint == Endpoint::kChat)
      return write_event(sink, chunk_json(st.header, "", "", true));
  }
  std::optional<StreamEvent> e;
  while (!(e = st.channel->pop(std::chrono::milliseconds(250)))) {
    if (!sink.is_writable()) return false;
  }
  if (!e->text.empty() || !e->projections.empty()) {
    Json chunk = chunk_json(st.header, e->text, "", false);
    // The final event may carry held-back text but no token of its own.
    if (!st.monitor.empty() && !e->projections.empty())
      chunk["masque"] = projections_json(st.monitor, {e->projections});
    if (!write_event(sink, chunk)) return false;
  }
  if (!e->final) return true;
  if (is_success(e->finish_reason)) {
    if (!write_event(sink, chunk_json(st.header, "", e->finish_reason, false))) return false;
    if (st.include_usage &&
        !write_event(sink, usage_chunk_json(st.header, e->prompt_tokens, e->completion_tokens)))
      return false;
  } else {
    const int status = failure_status(e->finish_reason);
    if (!write_event(sink, error_json(status, failure_message(e->finish_reason, st.timeout_s))))
      return false;
  }
  static const std::string kDone = "data: [DONE]\n\n";
  if (!sink.write(kDone.data(), kDone.size())) return false;
  st.done = true;
  sink.done();
  return true;
}

}  // namespace

void handle_completion(const httplib::Request& req, httplib::Response& res, Endpoint endpoint,
                       ServeBackend& backend, const ServerOptions& options) {
  const Json body = parse_body(req.body);
  CompletionRequest creq =
      parse_completion_request(body, endpoint, *backend.tokenizer, options.limits, random_seed());
  const ResolvedExtension ext = resolve_extension(creq.masque, backend.vectors);
  Job job;
  job.prompt = std::move(creq.prompt);
  job.options = creq.options;
  job.steer = ext.steer;
  job.monitor = ext.monitor;
  job.deadline = Clock::now() + std::chrono::milliseconds(
                                    static_cast<std::int64_t>(options.request_timeout_s * 1000));
  std::shared_ptr<Channel> channel = backend.scheduler->submit(std::move(job));

  ResponseHeader header;
  header.endpoint = endpoint;
  header.id = new_response_id(endpoint);
  header.created = static_cast<std::int64_t>(std::time(nullptr));
  header.model = creq.model.empty() ? options.model_id : creq.model;

  if (creq.stream) {
    auto st = std::make_shared<StreamState>();
    st->channel = channel;
    st->header = header;
    st->monitor = creq.masque.monitor;
    st->include_usage = creq.include_usage;
    st->timeout_s = options.request_timeout_s;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [st](std::size_t, httplib::DataSink& sink) { return provide(*st, sink); },
        [st](bool) { st->channel->cancel(); });  // frees the slot if the client left early
    return;
  }

  std::string text;
  std::vector<std::vector<float>> projections;
  StreamEvent last;
  // The scheduler always ends a job (deadline, cancel, stop): wait for that.
  while (true) {
    std::optional<StreamEvent> e = channel->pop(std::chrono::milliseconds(500));
    if (!e) continue;
    text += e->text;
    if (e->new_tokens > 0 || !e->projections.empty()) {
      if (!e->projections.empty()) projections.push_back(e->projections);
    }
    if (e->final) {
      last = std::move(*e);
      break;
    }
  }
  if (!is_success(last.finish_reason)) {
    throw ApiError(failure_status(last.finish_reason),
                   failure_message(last.finish_reason, options.request_timeout_s));
  }
  Json out =
      completion_json(header, text, last.finish_reason, last.prompt_tokens, last.completion_tokens);
  if (!creq.masque.monitor.empty())
    out["masque"] = projections_json(creq.masque.monitor, projections);
  res.set_content(dump_json(out), "application/json");
}

}  // namespace masque::serve
