// Scheduler: continuous batching. One thread owns the inference engine and
// `slots` sequence slots, each with its own KV cache. Between engine steps
// it admits queued jobs into free slots; each step feeds every active slot
// at once (a new job's prompt, or the last sampled token of a running one),
// so all slots share one matrix product per layer; while slots decode, a
// long prompt joins in chunks that keep the step small (chunked prefill).
// Sampled text goes to each job's Channel, which the HTTP thread of that
// request drains. A cancelled channel (the client went away), a passed
// deadline or stop() frees the slot before the next step. The queue is
// bounded: submit() refuses with 503 when it is full, so load turns into
// Retry-After, not memory.
// Prompt cache: a slot keeps its KV cache after a job, and a new job goes to
// the free slot whose cached tokens share the longest prefix with its prompt
// (llama.cpp's cache_prompt): a follow-up turn of a conversation feeds only
// its new tokens. Positions a steered job changed are never reused.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "infer/text_generator.h"
#include "model/model.h"
#include "serve/metrics.h"
#include "tokenizer/tokenizer.h"

namespace masque::serve {

using Clock = std::chrono::steady_clock;

// What one engine step produced for a job (or its end).
struct StreamEvent {
  std::string text;                // new text safe to show (may be empty)
  int new_tokens = 0;              // tokens sampled in this step (0 or 1)
  std::vector<float> projections;  // per monitored vector, for this step's token
  bool final = false;
  std::string finish_reason;  // final: "stop", "length", "cancelled", "timeout"
  int prompt_tokens = 0;      // final: usage
  int completion_tokens = 0;  // final: usage
  int cached_tokens = 0;      // final: prompt tokens taken from the slot's cache
};

// A job's event queue between the scheduler and one HTTP thread.
class Channel {
 public:
  void push(StreamEvent event);
  // The next event, or nothing after `wait` without one.
  std::optional<StreamEvent> pop(std::chrono::milliseconds wait);
  // Every event queued now (waiting up to `wait` for the first): a reader
  // that fell behind the engine sends them in one write, not one per token.
  std::vector<StreamEvent> pop_all(std::chrono::milliseconds wait);
  void cancel() { cancelled_ = true; }  // the reader is gone: free the slot
  bool cancelled() const { return cancelled_; }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StreamEvent> events_;
  std::atomic<bool> cancelled_{false};
};

// Steering and monitoring of one job, resolved to vectors (0-based
// resid_post layer index: the residual after block layer+1; -1 = the token
// embedding).
struct JobSteer {
  int layer = 0;
  std::shared_ptr<const std::vector<float>> vector;
  float coefficient = 0;
};
struct JobMonitor {
  int layer = 0;
  std::shared_ptr<const std::vector<float>> unit;  // the vector / |vector|
};

struct Job {
  std::vector<std::int32_t> prompt;  // fits the context with options.max_tokens
  GenerateOptions options;           // cancel is ignored: use Channel::cancel
  std::vector<JobSteer> steer;
  std::vector<JobMonitor> monitor;
  Clock::time_point deadline = Clock::time_point::max();
  // A chat reply: a role token (<|system|>, <|user|>, <|assistant|>) or
  // <|pad|> ends it like <|end|>, so control tokens never reach the text.
  bool chat = false;
};

struct SchedulerOptions {
  int slots = 4;
  int max_queue = 64;
  int threads = 0;  // engine threads; 0 = the process-wide count
  // While slots decode, a step feeds at most this many rows (decoded tokens
  // plus prompt chunks; see Scheduler::step).
  int step_rows = 32;
};

class Scheduler {
 public:
  Scheduler(const Model& model, const Tokenizer& tokenizer, SchedulerOptions options,
            ServeMetrics* metrics = nullptr);
  ~Scheduler();  // stop(cancel) and join
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job; ApiError 503 (queue full, or stopping) or 400 (a job the
  // model cannot take). The channel ends with a final event in every case.
  std::shared_ptr<Channel> submit(Job job);

  // Stop admitting; finish running and queued jobs within `grace`, then
  // cancel what is left, and join the thread. Idempotent.
  void stop(std::chrono::milliseconds grace);
  bool stopping() const { return stopping_; }
  int queued() const;
  int active() const;
  int slots() const { return options_.slots; }

 private:
  struct Slot;
  struct Pending {
    Job job;
    std::shared_ptr<Channel> channel;
  };
  void loop();
  void admit(std::unique_lock<std::mutex>& lock);
  void step();
  void sample_rows(const float* logits, std::size_t vocab);
  void finish_slot(Slot& slot, const std::string& reason);

  const Model& model_;
  const Tokenizer& tokenizer_;
  const std::vector<int> eos_ids_;  // every stop id of the model (config.json's eos_token_id)
  std::vector<int> chat_end_ids_;   // eos_ids_ and the role and pad tokens (Job::chat)
  SchedulerOptions options_;
  ServeMetrics* metrics_;
  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::atomic<int> active_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cancel_all_{false};
  bool exit_ = false;
  std::thread thread_;
  struct EngineState;
  std::unique_ptr<EngineState> engine_;
};

}  // namespace masque::serve
