// Generation routes (see completion_handler.h).
#include "serve/completion_handler.h"

#include <chrono>
#include <ctime>
#include <random>

#include "serve/api_error.h"
#include "serve/connection_probe.h"
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
  if (reason == "cancelled")
    return "the request was cancelled (the client left, or the server is shutting down)";
  return "generation failed inside the server (see its log)";
}

int failure_status(const std::string& reason) {
  return reason == "timeout" ? 504 : reason == "cancelled" ? 503 : 500;
}

bool is_success(const std::string& reason) { return reason == "stop" || reason == "length"; }

struct StreamState {
  std::shared_ptr<Channel> channel;
  ResponseHeader header;
  std::unique_ptr<ChunkFormatter> text_chunks;
  std::vector<std::string> monitor;
  bool include_usage = false;
  bool started = false;
  bool done = false;
  double timeout_s = 0;
  std::string out;  // the bytes of one write, reused
};

void append_event(std::string& out, const Json& value) {
  out += "data: ";
  out += dump_json(value);
  out += "\n\n";
}

// One event's SSE bytes (its text chunk; when final, the finish chunk, usage
// or an error event, and [DONE]).
void append_stream_event(StreamState& st, const StreamEvent& e) {
  if (!e.text.empty() || !e.projections.empty()) {
    // The final event may carry held-back text but no token of its own.
    if (!st.monitor.empty() && !e.projections.empty()) {
      Json chunk = chunk_json(st.header, e.text, "", false);
      chunk["masque"] = projections_json(st.monitor, {e.projections});
      append_event(st.out, chunk);
    } else if (!e.text.empty()) {
      st.text_chunks->append(st.out, e.text);
    }
  }
  if (!e.final) return;
  if (is_success(e.finish_reason)) {
    append_event(st.out, chunk_json(st.header, "", e.finish_reason, false));
    if (st.include_usage)
      append_event(st.out, usage_chunk_json(st.header, e.prompt_tokens, e.completion_tokens,
                                            e.cached_tokens));
  } else {
    const int status = failure_status(e.finish_reason);
    append_event(st.out, error_json(status, failure_message(e.finish_reason, st.timeout_s)));
  }
  st.out += "data: [DONE]\n\n";
  st.done = true;
}

// One provider call: waits for events and writes every one queued by then
// in a single write (a reader behind the engine catches up in one syscall,
// not one per token). Returning false ends the response (the client is
// gone); the releaser cancels the job.
bool provide(StreamState& st, httplib::DataSink& sink) {
  if (st.done) {
    sink.done();
    return true;
  }
  st.out.clear();
  if (!st.started) {
    st.started = true;
    // The role chunk goes out with the first text, or alone if the job waits for a slot.
    if (st.header.endpoint == Endpoint::kChat)
      append_event(st.out, chunk_json(st.header, "", "", true));
  }
  std::vector<StreamEvent> events;
  while ((events = st.channel->pop_all(std::chrono::milliseconds(250))).empty()) {
    if (!st.out.empty()) {
      if (!sink.write(st.out.data(), st.out.size())) return false;
      st.out.clear();
    }
    if (!sink.is_writable()) return false;
  }
  for (const StreamEvent& e : events) append_stream_event(st, e);
  if (!st.out.empty() && !sink.write(st.out.data(), st.out.size())) return false;
  if (st.done) sink.done();
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
  job.chat = endpoint == Endpoint::kChat;
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
    st->text_chunks = std::make_unique<ChunkFormatter>(header);
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
  // A client that hangs up meanwhile cancels the job, which frees its slot.
  // The probe runs every 50 ms of wall time, not only when no token came for
  // 50 ms: a generation produces tokens faster than that, and its client's
  // hang-up must still free the slot.
  const ConnectionProbe probe(req);
  auto next_probe = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (true) {
    std::optional<StreamEvent> e = channel->pop(std::chrono::milliseconds(50));
    if (std::chrono::steady_clock::now() >= next_probe) {
      if (!channel->cancelled() && !probe.alive()) channel->cancel();
      next_probe = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    }
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
  Json out = completion_json(header, text, last.finish_reason, last.prompt_tokens,
                             last.completion_tokens, last.cached_tokens);
  if (!creq.masque.monitor.empty())
    out["masque"] = projections_json(creq.masque.monitor, projections);
  res.set_content(dump_json(out), "application/json");
}

}  // namespace masque::serve
