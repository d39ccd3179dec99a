// Scheduler (see scheduler.h): admission, the batched step, and slot release.
#include "serve/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>

#include "core/threads.h"
#include "infer/sequence_decoder.h"
#include "model/inference_engine.h"
#include "model/intervention.h"
#include "model/kv_cache.h"
#include "serve/api_error.h"

namespace masque::serve {
namespace {
// The smallest prompt chunk per step while slots decode (a prompt must not
// trickle in a token per step when nearly every row is taken).
constexpr int kMinPrefillChunk = 8;
}  // namespace

void Channel::push(StreamEvent event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  ready_.notify_one();
}

std::optional<StreamEvent> Channel::pop(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (!ready_.wait_for(lock, wait, [&] { return !events_.empty(); })) return std::nullopt;
  StreamEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::vector<StreamEvent> Channel::pop_all(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  std::vector<StreamEvent> out;
  if (!ready_.wait_for(lock, wait, [&] { return !events_.empty(); })) return out;
  out.reserve(events_.size());
  for (StreamEvent& e : events_) out.push_back(std::move(e));
  events_.clear();
  return out;
}

struct Scheduler::Slot {
  explicit Slot(const Model& model) : cache(model) {}
  KvCache cache;  // kept between jobs: its memory is reused, its tokens cleared
  std::optional<Pending> current;
  std::unique_ptr<SequenceDecoder> decoder;  // holds a reference to current->job.options
  std::vector<std::int32_t> feed;  // tokens not yet in the cache (prompt, or the last sampled)
  std::size_t fed = 0;  // of `feed`, tokens already in the cache (a prompt fed in chunks)
  int chunk = 0;        // tokens of `feed` this step feeds
  bool prefilled = false;
  // Cached positions that a new job may reuse: those no steering changed
  // (a steered job's reply positions are not what a plain prefill computes).
  int reusable = 0;
  int cached = 0;                         // this job's prompt tokens taken from the cache
  std::string text;                       // text the decoder released during this step
  std::vector<Observation> observations;  // one per monitored vector
};

struct Scheduler::EngineState {
  EngineState(const Model& model, int threads) : engine(model, EngineOptions{threads}) {}
  InferenceEngine engine;
  // A step's buffers, kept between steps.
  std::vector<Slot*> rows;
  std::vector<SequenceStep> steps;
  std::vector<std::optional<std::int32_t>> next;
  std::vector<int> new_tokens;
  std::vector<std::exception_ptr> errors;
};

Scheduler::Scheduler(const Model& model, const Tokenizer& tokenizer, SchedulerOptions options,
                     ServeMetrics* metrics)
    : model_(model),
      tokenizer_(tokenizer),
      eos_ids_(model.config().eos_token_ids()),
      options_(options),
      metrics_(metrics) {
  if (options_.slots < 1) throw InputError(cat("--parallel must be >= 1, got ", options_.slots));
  if (options_.max_queue < 0) throw InputError("the queue size must be >= 0");
  for (int i = 0; i < options_.slots; ++i) slots_.push_back(std::make_unique<Slot>(model_));
  // Resolved here, on the caller's thread: OpenMP's thread count is a
  // per-thread setting, and the scheduler thread would otherwise start with
  // the runtime default instead of --threads.
  engine_ = std::make_unique<EngineState>(model_,
                                          options_.threads > 0 ? options_.threads : num_threads());
  if (metrics_) metrics_->set_slots(options_.slots);
  chat_end_ids_ = eos_ids_;
  for (std::string_view special : {kSystemToken, kUserToken, kAssistantToken, kPadToken}) {
    if (auto id = tokenizer_.special_id(special)) chat_end_ids_.push_back(static_cast<int>(*id));
  }
  thread_ = std::thread([this] { loop(); });
  // Named so tools (bench/serve_load.py, top -H) can tell engine CPU from HTTP CPU.
  pthread_setname_np(thread_.native_handle(), "masque-engine");
}

Scheduler::~Scheduler() { stop(std::chrono::milliseconds(0)); }

int Scheduler::queued() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(queue_.size());
}

int Scheduler::active() const { return active_; }

std::shared_ptr<Channel> Scheduler::submit(Job job) {
  const auto& cfg = model_.config();
  if (job.prompt.empty()) throw ApiError(400, "the prompt is empty");
  for (std::int32_t id : job.prompt) {
    if (id < 0 || id >= cfg.vocab_size)
      throw ApiError(400, cat("token id ", id, " is outside the model's vocabulary"));
  }
  if (job.options.max_tokens < 1) throw ApiError(400, "max_tokens must be >= 1");
  if (static_cast<std::int64_t>(job.prompt.size()) + job.options.max_tokens >
      cfg.max_position_embeddings) {
    throw ApiError(
        400,
        cat("prompt and max_tokens exceed the model's context of ", cfg.max_position_embeddings),
        "max_tokens", "context_length_exceeded");
  }
  job.options.cancel = nullptr;
  auto channel = std::make_shared<Channel>();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw ApiError(503, "the server is shutting down");
    // A free slot takes the job at the next step; otherwise it waits in the bounded queue.
    const int waiting = static_cast<int>(queue_.size()) - (options_.slots - active_);
    if (waiting >= options_.max_queue)
      throw ApiError(503, "the server is busy: every slot is in use and the queue is full");
    queue_.push_back({std::move(job), channel});
    if (metrics_) metrics_->set_queue_depth(static_cast<int>(queue_.size()));
  }
  wake_.notify_one();
  return channel;
}

void Scheduler::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  if (!thread_.joinable()) return;
  const auto until = Clock::now() + grace;
  while (Clock::now() < until) {
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty() && active_ == 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard lock(mutex_);
    cancel_all_ = true;
    exit_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Scheduler::admit(std::unique_lock<std::mutex>& lock) {
  const auto now = Clock::now();
  // Drop queued jobs whose reader left or whose time ran out before a slot freed.
  for (auto it = queue_.begin(); it != queue_.end();) {
    const char* reason = nullptr;
    if (cancel_all_ || it->channel->cancelled())
      reason = "cancelled";
    else if (now >= it->job.deadline)
      reason = "timeout";
    if (reason) {
      StreamEvent e;
      e.final = true;
      e.finish_reason = reason;
      e.prompt_tokens = static_cast<int>(it->job.prompt.size());
      it->channel->push(std::move(e));
      if (metrics_) metrics_->count_finished(reason);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  while (!queue_.empty()) {
    // The free slot whose cache shares the longest reusable prefix with the prompt.
    const std::vector<std::int32_t>& prompt = queue_.front().job.prompt;
    Slot* best = nullptr;
    std::size_t best_common = 0;
    for (auto& slot_ptr : slots_) {
      Slot& s = *slot_ptr;
      if (s.current) continue;
      const std::vector<std::int32_t>& cached = s.cache.tokens();
      const std::size_t limit = std::min(
          {cached.size(), prompt.size() - 1, static_cast<std::size_t>(std::max(0, s.reusable))});
      std::size_t common = 0;
      while (common < limit && cached[common] == prompt[common]) ++common;
      if (!best || common > best_common) {
        best = &s;
        best_common = common;
      }
    }
    if (!best) break;
    Slot& slot = *best;
    slot.current.emplace(std::move(queue_.front()));
    queue_.pop_front();
    const Job& job = slot.current->job;
    // Keep the common prefix (at least one prompt token is fed: its logits pick the first token).
    slot.cache.truncate(static_cast<int>(best_common));
    slot.cached = static_cast<int>(best_common);
    // A steered job changes its last prompt row and its reply (see step()).
    slot.reusable = job.steer.empty() ? std::numeric_limits<int>::max()
                                      : static_cast<int>(job.prompt.size()) - 1;
    slot.feed.assign(job.prompt.begin() + static_cast<std::ptrdiff_t>(best_common),
                     job.prompt.end());
    slot.fed = 0;
    slot.prefilled = false;
    slot.text.clear();
    slot.observations.assign(job.monitor.size(), Observation{});
    for (Observation& o : slot.observations) o.dim = model_.config().hidden_size;
    Slot* s = &slot;
    slot.decoder = std::make_unique<SequenceDecoder>(
        tokenizer_, job.options, job.options.seed,
        [s](const std::string& piece) { s->text += piece; }, job.chat ? chat_end_ids_ : eos_ids_);
    ++active_;
    if (metrics_) {
      metrics_->add_prompt_tokens(static_cast<std::int64_t>(job.prompt.size()));
      metrics_->add_cached_prompt_tokens(slot.cached);
    }
  }
  if (metrics_) {
    metrics_->set_queue_depth(static_cast<int>(queue_.size()));
    metrics_->set_active_slots(active_);
  }
  (void)lock;
}

void Scheduler::finish_slot(Slot& slot, const std::string& reason) {
  if (!slot.decoder->done()) slot.decoder->cancel();  // flushes held-back text into slot.text
  const GenerationResult& r = slot.decoder->result();
  StreamEvent e;
  e.text = std::move(slot.text);
  e.final = true;
  e.finish_reason = reason;
  e.prompt_tokens = static_cast<int>(slot.current->job.prompt.size());
  e.completion_tokens = static_cast<int>(r.tokens.size());
  e.cached_tokens = slot.cached;
  slot.current->channel->push(std::move(e));
  if (reason == "error") slot.reusable = 0;  // the failed step may have left the cache half-written
  if (metrics_) metrics_->count_finished(reason);
  slot.text.clear();
  slot.decoder.reset();  // before the job whose options it references
  slot.current.reset();
  --active_;
}

void Scheduler::step() {
  const ModelConfig& cfg = model_.config();
  std::vector<Slot*>& rows = engine_->rows;
  std::vector<SequenceStep>& steps = engine_->steps;
  rows.clear();
  steps.clear();
  Interventions interventions;
  int prefilled = 0, decoded = 0;
  // Chunked prefill: while slots decode, prompts join in chunks that keep
  // the step within options_.step_rows rows (the few-row matmul kernels'
  // range; one row more and every weight is packed for a GEMM, which cost
  // ~2.4 ms of a ~4 ms 16-row step on the C1 shape). With nothing decoding,
  // prompts go in whole: nobody waits, and large batches suit the GEMM.
  int decoding = 0;
  for (auto& slot_ptr : slots_) decoding += slot_ptr->current && slot_ptr->prefilled ? 1 : 0;
  int budget = std::numeric_limits<int>::max();
  if (decoding > 0 && decoding < options_.step_rows)
    budget = std::max(options_.step_rows - decoding, kMinPrefillChunk);
  for (auto& slot_ptr : slots_) {
    Slot& slot = *slot_ptr;
    if (!slot.current) continue;
    if (slot.prefilled) {
      slot.chunk = 1;
    } else {
      slot.chunk = static_cast<int>(
          std::min<std::size_t>(slot.feed.size() - slot.fed, static_cast<std::size_t>(budget)));
      if (slot.chunk == 0) continue;  // its prompt waits for the next step
      budget -= slot.chunk;
    }
    const std::span<const std::int32_t> tokens(slot.feed.data() + slot.fed,
                                               static_cast<std::size_t>(slot.chunk));
    const bool samples = slot.fed + tokens.size() == slot.feed.size();  // its logits give a token
    const int row = static_cast<int>(rows.size());
    rows.push_back(&slot);
    steps.push_back({&slot.cache, tokens, slot.prefilled, row});
    (slot.prefilled ? decoded : prefilled) += slot.chunk;
    const Job& job = slot.current->job;
    // Steering acts on the rows whose logits pick reply tokens, as `masque
    // sample/chat --steer-positions response` (Chen et al.): the reply's
    // rows and the last prompt row, which gives the first reply token.
    const int last_prompt_pos = static_cast<int>(job.prompt.size()) - 1;
    const bool feeds_last_prompt_row = !slot.prefilled;
    for (const JobSteer& s : job.steer) {
      Intervention add;
      add.site = s.layer < 0 ? InterventionSite::kEmbed : InterventionSite::kResidPost;
      add.layer = std::max(0, s.layer);
      add.kind = InterventionKind::kAdd;
      add.vector = *s.vector;
      add.alpha = s.coefficient;
      add.batch_row = row;
      if (feeds_last_prompt_row) {
        add.scope = PositionScope::kExplicit;
        add.positions = {last_prompt_pos};
      } else {
        add.scope = PositionScope::kResponse;
      }
      interventions.add(std::move(add), cfg.num_hidden_layers, cfg.hidden_size);
    }
    for (std::size_t k = 0; samples && k < job.monitor.size(); ++k) {
      // The residual at the last fed position: the one whose logits pick this step's token.
      slot.observations[k].clear();
      Intervention obs;
      obs.site = job.monitor[k].layer < 0 ? InterventionSite::kEmbed : InterventionSite::kResidPost;
      obs.layer = std::max(0, job.monitor[k].layer);
      obs.kind = InterventionKind::kObserve;
      obs.scope = PositionScope::kExplicit;
      obs.positions = {slot.cache.length() + slot.chunk - 1};
      obs.batch_row = row;
      obs.observation = &slot.observations[k];
      interventions.add(std::move(obs), cfg.num_hidden_layers, cfg.hidden_size);
    }
  }
  if (rows.empty()) return;  // cannot happen: a step with nothing decoding takes whole prompts
  const auto t0 = Clock::now();
  std::span<const float> logits;
  try {
    logits = engine_->engine.step(steps, interventions.empty() ? nullptr : &interventions);
  } catch (const std::exception& e) {
    // Requests were validated on submit; an engine error here is a bug or
    // out of memory. Fail these requests, keep serving others.
    std::fprintf(stderr, "masque serve: engine step failed: %s\n", e.what());
    for (Slot* slot : rows) finish_slot(*slot, "error");
    return;
  }
  if (metrics_)
    metrics_->record_step(decoded, prefilled,
                          std::chrono::duration<double>(Clock::now() - t0).count());
  for (Slot* slot : rows) slot->fed += static_cast<std::size_t>(slot->chunk);
  const std::size_t vocab = static_cast<std::size_t>(cfg.vocab_size);
  sample_rows(logits.data(), vocab);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    Slot& slot = *rows[i];
    if (slot.fed < slot.feed.size()) continue;  // a prompt chunk: the rest follows next step
    slot.prefilled = true;
    if (engine_->errors[i]) {
      try {
        std::rethrow_exception(engine_->errors[i]);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "masque serve: sampling failed: %s\n", e.what());
      }
      finish_slot(slot, "error");
      continue;
    }
    const std::optional<std::int32_t> next = engine_->next[i];
    StreamEvent e;
    e.new_tokens = engine_->new_tokens[i];
    if (metrics_) metrics_->add_completion_tokens(e.new_tokens);
    const Job& job = slot.current->job;
    for (std::size_t k = 0; k < job.monitor.size(); ++k) {
      const Observation& o = slot.observations[k];
      double dot = 0;
      if (o.values.size() == static_cast<std::size_t>(cfg.hidden_size)) {
        const std::vector<float>& u = *job.monitor[k].unit;
        for (int d = 0; d < cfg.hidden_size; ++d) dot += double(o.values[d]) * u[d];
      }
      e.projections.push_back(static_cast<float>(dot));
    }
    if (next) {
      slot.feed.assign(1, *next);
      slot.fed = 0;
      e.text = std::move(slot.text);
      slot.text.clear();
      slot.current->channel->push(std::move(e));
    } else {
      // The last token's event carries its projections; the final event its text.
      if (!e.projections.empty() || e.new_tokens > 0) slot.current->channel->push(std::move(e));
      finish_slot(slot, slot.decoder->result().finish_reason);
    }
  }
}

// Each slot samples its row and detokenizes (its own sampler, RNG and text,
// so the result does not depend on the order): spread over the engine's
// threads, which would otherwise wait while one thread samples every row
// (a sort over the vocabulary per row at temperature > 0).
void Scheduler::sample_rows(const float* logits, std::size_t vocab) {
  EngineState& st = *engine_;
  const int n = static_cast<int>(st.rows.size());
  st.next.assign(static_cast<std::size_t>(n), std::nullopt);
  st.new_tokens.assign(static_cast<std::size_t>(n), 0);
  st.errors.assign(static_cast<std::size_t>(n), nullptr);
  const int threads = std::min(n, st.engine.threads() > 0 ? st.engine.threads() : num_threads());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (int i = 0; i < n; ++i) {
    const Slot& slot = *st.rows[static_cast<std::size_t>(i)];
    if (slot.fed < slot.feed.size()) continue;  // a prompt chunk gives no token
    SequenceDecoder& decoder = *slot.decoder;
    try {
      const std::size_t before = decoder.result().tokens.size();
      st.next[static_cast<std::size_t>(i)] =
          decoder.next(std::span<const float>(logits + static_cast<std::size_t>(i) * vocab, vocab));
      st.new_tokens[static_cast<std::size_t>(i)] =
          static_cast<int>(decoder.result().tokens.size() - before);
    } catch (...) {
      st.errors[static_cast<std::size_t>(i)] = std::current_exception();
    }
  }
}

void Scheduler::loop() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return exit_ || !queue_.empty() || active_ > 0; });
      if (exit_ && queue_.empty() && active_ == 0) break;
      admit(lock);
    }
    const auto now = Clock::now();
    for (auto& slot_ptr : slots_) {
      Slot& slot = *slot_ptr;
      if (!slot.current) continue;
      if (cancel_all_ || slot.current->channel->cancelled())
        finish_slot(slot, "cancelled");
      else if (now >= slot.current->job.deadline)
        finish_slot(slot, "timeout");
    }
    if (active_ > 0) step();
    if (metrics_) metrics_->set_active_slots(active_);
  }
}

}  // namespace masque::serve
