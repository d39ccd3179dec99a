// run_train_loop (see train_loop.h). Per optimizer step:
//   lr = schedule(step); optimizer.begin_step(); zero grads
//   for each of grad_accum micro-batches: loss += forward_backward(B x T, 1/accum)
//   stop on a non-finite loss or gradient norm (the last checkpoint stays)
//   clip to grad_clip; optimizer.step(lr); log; maybe evaluate; maybe checkpoint
// Everything a step depends on (weights, optimizer moments and count, the
// data state, the step number) is in the checkpoint, so a resumed run repeats
// the uninterrupted run's losses bit for bit at a fixed thread count.
#include "train/train_loop.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/progress.h"
#include "core/threads.h"
#include "dist/stop_notice.h"
#include "infer/model_dir.h"
#include "infer/model_weights.h"
#include "train/checkpoint_retention.h"
#include "train/metrics_log.h"

namespace masque {
namespace fs = std::filesystem;

float FullAdamW::clip_gradients(float max_norm) { return clip_grad_norm(model_, max_norm); }

void FullAdamW::step(float lr) { adamw_.step(lr); }

fs::path FullAdamW::save_checkpoint(const fs::path& run_dir, const Tokenizer& tokenizer,
                                    const TrainerState& state, int keep) {
  return masque::save_checkpoint(run_dir, model_, adamw_, tokenizer, state, keep);
}

bool FullAdamW::checkpoint_is_resumable(const fs::path& dir, std::string* why) const {
  return checkpoint_is_complete(dir, /*need_trainer_state=*/true, why);
}

void FullAdamW::load_checkpoint(const fs::path& dir) {
  load_model_weights(model_, dir / "model.safetensors");
  const std::string bad = first_nonfinite_param(model_);
  if (!bad.empty()) {
    throw FormatError(cat((dir / "model.safetensors").string(), ": weight ", bad,
                          " holds a NaN or infinity; the checkpoint is corrupt (resume from ",
                          "another checkpoint or start a fresh run)"));
  }
  load_optimizer_state(dir, model_, adamw_);
}

std::string resume_option_difference(const Json& saved, const Json& requested,
                                     std::span<const OptionFlag> checked) {
  for (const OptionFlag& option : checked) {
    if (!saved.contains(option.key) || !requested.contains(option.key)) continue;
    const Json& was = saved.at(option.key);
    const Json& now = requested.at(option.key);
    if (was != now) {
      return cat(option.flag, ": the run used ", json_line(was), ", now ", json_line(now));
    }
  }
  return "";
}

void refuse_changed_options(const fs::path& checkpoint, const Json& saved, const Json& requested,
                            std::span<const OptionFlag> checked, std::string_view inputs) {
  std::string diff = resume_option_difference(saved, requested, checked);
  if (diff.empty() && saved != requested) diff = "the saved options differ";
  if (!diff.empty()) {
    throw InputError(cat("--resume: ", diff, " (", checkpoint.string(), "); resume with the same ",
                         inputs, " and hyper-parameters"));
  }
}

namespace {

std::string hex_float(float value) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%a", static_cast<double>(value));
  return buf;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Exclusive lock on RUN_DIR/train.lock for the life of the run, so two
// trainers (train or sft) never interleave checkpoints and metrics. flock is
// released by the kernel when the process dies, even by kill -9, so no stale
// locks.
class RunDirLock {
 public:
  explicit RunDirLock(const fs::path& run_dir) {
    const fs::path path = run_dir / "train.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(cat("cannot create ", path.string(), ": ", std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw InputError(cat("another training run (`masque train`, `sft` or `dpo`) is running in ",
                           run_dir.string(), " (wait for it to finish or stop it first)"));
    }
  }
  ~RunDirLock() { ::close(fd_); }
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

// The newest checkpoint the optimizer can resume from, skipping broken ones
// (a kill during a save, a truncated file) with a warning.
fs::path newest_resumable_checkpoint(const fs::path& run_dir, const Optimizer& optimizer) {
  const auto checkpoints = list_checkpoints(run_dir);
  std::string newest_why;
  for (const CheckpointEntry& c : checkpoints) {
    std::string why;
    if (optimizer.checkpoint_is_resumable(c.dir, &why)) {
      try {  // files damaged or swapped after the save count as broken
        verify_checkpoint_files(c.dir, read_trainer_state(c.dir));
        return c.dir;
      } catch (const Error& e) {
        why = e.what();
      }
    }
    if (newest_why.empty()) newest_why = why;
    std::fprintf(stderr, "masque: warning: skipping broken checkpoint %s: %s\n", c.dir.c_str(),
                 why.c_str());
  }
  throw FormatError(cat("no complete checkpoint in ", (run_dir / "checkpoints").string(), " (all ",
                        checkpoints.size(), " are broken; the newest: ", newest_why,
                        "; start a fresh run)"));
}

// Hash of the weights (and the optimizer's view of them through the
// checkpointed step), so ranks can check they hold the same model.
std::uint64_t weights_fingerprint(const Model& model) {
  Hasher64 hash;
  const std::size_t n = model.num_params();
  if (model.backend().host_addressable()) {
    hash.add(model.param_data(), n * sizeof(float));
  } else {
    std::vector<float> host(n);
    model.backend().download(host.data(), model.param_data(), n * sizeof(float));
    hash.add(host.data(), n * sizeof(float));
  }
  return hash.value();
}

// Every rank must hold rank 0's value; `what` says what differs and why.
void require_same(dist::Communicator& comm, std::uint64_t value, const std::string& what) {
  const std::vector<std::uint64_t> all = comm.all_gather(value);
  for (std::size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) throw Error(cat("rank ", r, "'s ", what));
  }
}

double target_count(const Batch& batch) {
  double count = 0;
  for (const std::int32_t t : batch.targets) count += t >= 0 ? 1.0 : 0.0;
  return count;
}

// How rank 0 tells the others what it decided under the lock.
constexpr const char* kRefused = "refused";
constexpr const char* kFresh = "fresh";
constexpr const char* kResume = "resume:";

}  // namespace

TrainResult run_train_loop(const TrainLoopOptions& options, Model& model,
                           const Tokenizer& tokenizer, BatchSource& batches, Optimizer& optimizer,
                           const TrainLoopHooks& hooks, const StepCallback& on_step) {
  dist::Communicator* comm =
      options.comm != nullptr && options.comm->size() > 1 ? options.comm : nullptr;
  if (comm == nullptr && dist::launched_as_rank()) {
    throw InputError(cat("`masque ", options.command, "` cannot run as one of ",
                         dist::launched_world_size(),
                         " mpirun ranks (only train and sft are data-parallel); run it as one "
                         "process"));
  }
  const bool lead = comm == nullptr || comm->rank() == 0;
  // Fresh run or resume, decided by rank 0 under the lock. A refusal leaves
  // no empty run directory behind.
  std::error_code ec;
  bool created_out_dir = false;
  std::unique_ptr<RunDirLock> lock;
  std::int64_t start_step = 0;
  TrainerState state;
  fs::path last_checkpoint;
  if (lead) {
    try {
      created_out_dir = !fs::exists(options.out_dir, ec);
      fs::create_directories(options.out_dir, ec);
      if (ec) throw Error(cat("cannot create ", options.out_dir.string(), ": ", ec.message()));
      // Outside the cleanup below: a run that loses the race for the lock
      // must not remove the directory the winner is using.
      lock = std::make_unique<RunDirLock>(options.out_dir);
    } catch (...) {
      if (comm) dist::broadcast_string(*comm, kRefused, 0);
      throw;
    }
    try {
      const bool has_checkpoints = !list_checkpoints(options.out_dir).empty();
      if (options.resume && has_checkpoints) {
        last_checkpoint = newest_resumable_checkpoint(options.out_dir, optimizer);
        state = read_trainer_state(last_checkpoint);
        if (state.run_id.empty()) state.run_id = new_run_id();  // a run from before run ids
        if (hooks.check_resume) hooks.check_resume(last_checkpoint, state);
        optimizer.load_checkpoint(last_checkpoint);
        batches.restore(state.data_rng);
        start_step = state.step;
        if (start_step >= options.steps) {
          throw InputError(cat("--resume: the run in ", options.out_dir.string(),
                               " is already at step ", start_step, " of ", options.steps, " (",
                               options.when_complete, ")"));
        }
        const int processes = comm ? comm->size() : 1;
        if (state.world_size != processes) {
          std::fprintf(stderr,
                       "masque: note: the run was trained by %d processes and continues with %d: "
                       "the global batch and the data order are the same, so it is the same run, "
                       "but the gradient sums are split differently, so losses match an "
                       "uninterrupted run to float rounding, not bit for bit\n",
                       state.world_size, processes);
        }
      } else {
        if (has_checkpoints) {
          throw InputError(cat(options.out_dir.string(),
                               " already holds a run; pass --resume to continue it "
                               "or choose a new --out"));
        }
        if (hooks.init_fresh) hooks.init_fresh();
        state.run_id = new_run_id();
      }
    } catch (...) {
      if (comm) dist::broadcast_string(*comm, kRefused, 0);
      if (created_out_dir) {
        lock.reset();
        fs::remove_all(options.out_dir, ec);
      }
      throw;
    }
    if (comm) {
      dist::broadcast_string(
          *comm, last_checkpoint.empty() ? std::string(kFresh) : kResume + last_checkpoint.string(),
          0);
    }
  } else {
    // The other ranks follow: the same seeded init, or the checkpoint rank 0
    // resumes from, which they read themselves (a shared --out).
    const std::string decision = dist::broadcast_string(*comm, "", 0);
    if (decision == kRefused) {
      throw InputError(
          cat("rank ", comm->rank(), ": rank 0 refused to start the run (its message says why)"));
    }
    if (decision.rfind(kResume, 0) == 0) {
      last_checkpoint = decision.substr(std::strlen(kResume));
      try {
        state = read_trainer_state(last_checkpoint);
        optimizer.load_checkpoint(last_checkpoint);
      } catch (const Error& e) {
        throw Error(cat("rank ", comm->rank(), " cannot load the checkpoint ",
                        last_checkpoint.string(), " that rank 0 resumes from (", e.what(),
                        "); --out must be on a filesystem every rank can read (only rank 0 "
                        "writes to it)"));
      }
      batches.restore(state.data_rng);
      start_step = state.step;
    } else if (hooks.init_fresh) {
      hooks.init_fresh();
    }
  }
  if (comm) {
    // Same command on every rank (the settings) and the same starting model.
    require_same(*comm, Hasher64().add(json_line(options.options)).value(),
                 "settings differ from rank 0's: start every rank with the same command");
    require_same(*comm, weights_fingerprint(model),
                 "starting weights differ from rank 0's (a different --init-from, or a "
                 "checkpoint rank 0 did not resume from): start every rank with the same command "
                 "and the same files");
  }

  std::unique_ptr<MetricsLog> metrics;
  if (lead) {
    write_json_file(options.out_dir / "run.json", options.options);
    metrics = std::make_unique<MetricsLog>(options.out_dir / "metrics.jsonl",
                                           start_step > 0 ? start_step : -1);
  }

  model.reserve(options.batch_size, options.seq_len);
  const int global_batch =
      options.global_batch_size > 0 ? options.global_batch_size : options.batch_size;
  const std::uint64_t tokens_per_step = static_cast<std::uint64_t>(global_batch) *
                                        static_cast<std::uint64_t>(options.seq_len) *
                                        static_cast<std::uint64_t>(options.grad_accum);
  TrainResult result;
  result.final_val_loss = std::nanf("");
  result.steps_done = start_step;
  result.final_train_loss = state.train_loss;
  state.num_threads = num_threads();
  state.world_size = comm ? comm->size() : 1;
  state.config_hash = config_hash(model.config());
  state.tokenizer_fingerprint = tokenizer.fingerprint();
  state.options = options.options;

  std::unique_ptr<ProgressBar> bar;
  if (lead && options.progress && progress_enabled()) {
    bar = std::make_unique<ProgressBar>(
        options.command, static_cast<std::uint64_t>(options.steps - start_step), "step");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double elapsed_before = state.elapsed_seconds;

  const auto save = [&](std::int64_t step) {
    if (comm) {
      require_same(*comm, weights_fingerprint(model),
                   cat("weights differ from rank 0's after step ", step,
                       " (the ranks drifted apart: a bug in masque, please report it)"));
    }
    if (!lead) return;
    state.step = step;
    state.data_rng = batches.state();
    state.elapsed_seconds = elapsed_before + seconds_since(t0);
    // Retention is done here, not by the save: only checkpoints the
    // optimizer can resume from count toward --keep.
    last_checkpoint = optimizer.save_checkpoint(options.out_dir, tokenizer, state,
                                                std::numeric_limits<int>::max());
    prune_checkpoints(options.out_dir, options.keep_checkpoints,
                      [&](const fs::path& dir, std::string* why) {
                        return optimizer.checkpoint_is_resumable(dir, why);
                      });
    if (comm) dist::note_last_checkpoint(last_checkpoint.string());
  };
  const auto diverged = [&](const char* what, float value, std::int64_t step, const char* fix) {
    const std::string kept = last_checkpoint.empty() ? std::string("no checkpoint was written yet")
                                                     : cat("the last good checkpoint ",
                                                           last_checkpoint.string(), " is kept");
    return NumericError(cat("training diverged: the ", what, " is ", value, " at step ", step, "; ",
                            kept, ". Lower --lr (now ", options.schedule.lr, ")", fix));
  };

  // A non-finite value at the first step of this process comes before any
  // update, so the learning rate cannot be its cause: the starting weights
  // or the data are.
  const auto bad_start = [&](const char* what, float value, std::int64_t step) {
    const std::string source =
        start_step > 0 ? cat("the checkpoint ", last_checkpoint.string())
                       : std::string("the initial weights (--init-from or the seeded init)");
    const std::string bad = first_nonfinite_param(model);
    return NumericError(
        cat("training stopped: the ", what, " is ", value, " at step ", step,
            ", before this run updated any weight, so the learning rate is not the cause: ",
            bad.empty() ? cat("the weights of ", source,
                              " are finite but produce non-finite values (extreme weights or ",
                              "corrupt input data)")
                        : cat("weight ", bad, " of ", source, " is NaN or infinite (corrupt)"),
            ". Start from another checkpoint or model, or check the data"));
  };

  Batch batch;
  const float grad_scale = 1.0f / static_cast<float>(options.grad_accum);
  std::int64_t saved_step = start_step;
  for (std::int64_t step = start_step + 1; step <= options.steps; ++step) {
    const auto step_start = std::chrono::steady_clock::now();
    const float lr = options.schedule.at(step);
    optimizer.begin_step();
    model.zero_grad();
    double loss_sum = 0.0;
    const auto forward_backward = [&](float scale) {
      return hooks.forward_backward
                 ? hooks.forward_backward(batch, scale)
                 : model.forward_backward(batch.tokens.data(), batch.targets.data(),
                                          options.batch_size, options.seq_len, scale);
    };
    for (int micro = 0; micro < options.grad_accum; ++micro) {
      batches.next(step, micro, batch);
      if (comm == nullptr) {
        loss_sum += forward_backward(grad_scale);
        continue;
      }
      // This rank's share of the micro-batch's target tokens weights its
      // mean loss and gradient, so the sum over ranks is the mean over the
      // whole micro-batch, as one process computes it.
      const double mine = target_count(batch);
      double all = mine;
      comm->sum_doubles(&all, 1);
      if (mine == 0 || all == 0) continue;  // nothing to learn from here
      const double share = mine / all;
      loss_sum += share * forward_backward(static_cast<float>(grad_scale * share));
    }
    if (comm) {
      comm->sum_doubles(&loss_sum, 1);
      comm->sum_floats(model.grad_data(), model.num_params(), model.backend(), options.reduction);
    }
    const float loss = static_cast<float>(loss_sum / options.grad_accum);
    if (!std::isfinite(loss) && step == start_step + 1) throw bad_start("loss", loss, step);
    if (!std::isfinite(loss)) {
      throw diverged("loss", loss, step,
                     ", raise --warmup or --grad-clip, then --resume or start again");
    }
    const float grad_norm = optimizer.clip_gradients(options.grad_clip);
    if (!std::isfinite(grad_norm) && step == start_step + 1) {
      throw bad_start("gradient norm", grad_norm, step);
    }
    if (!std::isfinite(grad_norm)) {
      throw diverged("gradient norm", grad_norm, step, " or raise --warmup");
    }
    optimizer.step(lr);
    state.tokens_seen += tokens_per_step;
    state.train_loss = loss;
    const double step_seconds = seconds_since(step_start);
    const double run_seconds = seconds_since(t0);
    const double tok_per_s =
        static_cast<double>(tokens_per_step * static_cast<std::uint64_t>(step - start_step)) /
        std::max(run_seconds, 1e-9);
    Json line = {{"type", "train"},
                 {"step", step},
                 {"loss", loss},
                 {"loss_hex", hex_float(loss)},
                 {"lr", lr},
                 {"grad_norm", grad_norm},
                 {"tokens", state.tokens_seen},
                 {"step_seconds", step_seconds},
                 {"tok_per_s", tok_per_s}};
    if (hooks.step_metrics) line.update(hooks.step_metrics());
    if (metrics) metrics->append(line);
    result.train_curve.emplace_back(step, loss);
    result.final_train_loss = loss;
    result.steps_done = step;

    if (hooks.evaluate && options.eval_every > 0 &&
        (step % options.eval_every == 0 || step == options.steps)) {
      const float val_loss = hooks.evaluate();
      if (metrics)
        metrics->append({{"type", "val"},
                         {"step", step},
                         {"loss", val_loss},
                         {"loss_hex", hex_float(val_loss)}});
      result.val_curve.emplace_back(step, val_loss);
      result.final_val_loss = val_loss;
    }
    if ((options.checkpoint_every > 0 && step % options.checkpoint_every == 0) ||
        step == options.steps) {
      save(step);
      saved_step = step;
    }
    if (bar) {
      bar->set_postfix(cat("step ", step, "/", options.steps, " loss ", loss, " ",
                           human_count(tok_per_s), " tok/s"));
      bar->set(static_cast<std::uint64_t>(step - start_step));
    }
    if (on_step) on_step(step, loss);
  }
  if (saved_step != options.steps) save(options.steps);
  if (bar) bar->finish();
  const double total_seconds = seconds_since(t0);
  result.tokens_per_second =
      static_cast<double>(tokens_per_step *
                          static_cast<std::uint64_t>(options.steps - start_step)) /
      std::max(total_seconds, 1e-9);
  result.last_checkpoint = last_checkpoint;
  if (comm) dist::mark_clean_exit();
  return result;
}

}  // namespace masque
