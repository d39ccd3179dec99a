// Resume refuses what does not belong to the run: checkpoint files damaged or
// swapped after the save (checksums, run id), values no training produces
// (NaN weights, negative second moments, a negative step), and settings that
// differ from the run's saved ones (unless forced). A non-finite loss before
// any update is blamed on the starting weights, not on the learning rate.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/threads.h"
#include "io/safetensors.h"
#include "tiny_data.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

using namespace masque;
namespace fs = std::filesystem;

namespace {

TrainOptions tiny_options(const test_world::TinyWorld& w, const fs::path& out) {
  TrainOptions o;
  o.model = w.config;
  o.data_dir = w.data_dir;
  o.tokenizer_path = w.tokenizer_path;
  o.out_dir = out;
  o.batch_size = 4;
  o.seq_len = 16;
  o.steps = 2;
  o.lr = 1e-2f;
  o.warmup_steps = 2;
  o.eval_every = 0;
  o.checkpoint_every = 2;
  o.keep_checkpoints = 2;
  o.seed = 42;
  o.progress = false;
  return o;
}

// Overwrites element 0 of tensor `name` in a safetensors file with `value`.
void poke_f32(const fs::path& file, const std::string& name, float value) {
  std::uint64_t begin = 0;
  {
    const SafetensorsFile st(file);
    begin = st.info(name).begin;
  }
  std::string bytes = read_file(file);
  std::uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  std::memcpy(bytes.data() + 8 + header + begin, &value, 4);
  write_file_atomic(file, bytes);
}

// Turns a checkpoint into one written before checksums and run ids.
void strip_integrity_fields(const fs::path& checkpoint) {
  Json state = read_json_file(checkpoint / "trainer_state.json");
  state.erase("checksums");
  state.erase("state_checksum");
  state.erase("run_id");
  write_json_file(checkpoint / "trainer_state.json", state);
}

class ResumeSafety : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_num_threads(1);
    world_ = new test_world::TinyWorld(test_world::make_tiny_world_with_data("resume_safety"));
    train_model(tiny_options(*world_, world_->dir / "good"));
    TrainOptions other = tiny_options(*world_, world_->dir / "other");
    other.seed = 7;
    train_model(other);
  }
  static void TearDownTestSuite() {
    fs::remove_all(world_->dir);
    delete world_;
    set_num_threads(0);
  }
  // A fresh copy of the good two-step run, to damage.
  fs::path copy_of_good(const std::string& name) {
    const fs::path run = world_->dir / name;
    fs::remove_all(run);
    fs::copy(world_->dir / "good", run, fs::copy_options::recursive);
    return run;
  }
  // The error of resuming `run` to step 4.
  std::string resume_error(const fs::path& run) {
    TrainOptions o = tiny_options(*world_, run);
    o.steps = 4;
    o.resume = true;
    try {
      train_model(o);
    } catch (const Error& e) {
      return e.what();
    }
    return "resumed";
  }
  static test_world::TinyWorld* world_;
};
test_world::TinyWorld* ResumeSafety::world_ = nullptr;

}  // namespace

TEST_F(ResumeSafety, CheckpointsCarryChecksumsAndARunId) {
  const fs::path step2 = world_->dir / "good/checkpoints/step-2";
  const TrainerState state = read_trainer_state(step2);
  EXPECT_EQ(state.run_id.size(), 16u);
  EXPECT_TRUE(state.checksums.contains("model.safetensors"));
  EXPECT_TRUE(state.checksums.contains("optimizer.safetensors"));
  EXPECT_EQ(SafetensorsFile(step2 / "optimizer.safetensors").metadata().at("run_id"), state.run_id);
  EXPECT_NE(read_trainer_state(world_->dir / "other/checkpoints/step-2").run_id, state.run_id);
  verify_checkpoint_files(step2, state);  // intact: passes
}

TEST_F(ResumeSafety, FilesFromAnotherRunAreRefused) {
  const fs::path run = copy_of_good("swapped_weights");
  fs::copy_file(world_->dir / "other/checkpoints/step-2/model.safetensors",
                run / "checkpoints/step-2/model.safetensors", fs::copy_options::overwrite_existing);
  std::string e = resume_error(run);
  EXPECT_NE(e.find("model.safetensors does not match its checksum"), std::string::npos) << e;

  const fs::path run2 = copy_of_good("swapped_optimizer");
  fs::copy_file(world_->dir / "other/checkpoints/step-2/optimizer.safetensors",
                run2 / "checkpoints/step-2/optimizer.safetensors",
                fs::copy_options::overwrite_existing);
  e = resume_error(run2);
  EXPECT_NE(e.find("belongs to another run"), std::string::npos) << e;
}

TEST_F(ResumeSafety, EditedTrainerStateIsRefused) {
  const fs::path run = copy_of_good("edited_state");
  const fs::path file = run / "checkpoints/step-2/trainer_state.json";
  Json state = read_json_file(file);
  state["step"] = -3;  // would train with a negative LR
  write_json_file(file, state);
  std::string e = resume_error(run);
  EXPECT_NE(e.find("do not match their checksum"), std::string::npos) << e;
  // Without the checksum (an older file), the range check still refuses it.
  state.erase("state_checksum");
  write_json_file(file, state);
  e = resume_error(run);
  EXPECT_NE(e.find("step -3"), std::string::npos) << e;
}

TEST_F(ResumeSafety, ValuesNoTrainingProducesAreRefusedEvenWithoutChecksums) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  {
    const fs::path run = copy_of_good("nan_weight");
    strip_integrity_fields(run / "checkpoints/step-2");
    poke_f32(run / "checkpoints/step-2/model.safetensors", "model.norm.weight", nan);
    const std::string e = resume_error(run);
    EXPECT_NE(e.find("model.norm.weight holds a NaN or infinity"), std::string::npos) << e;
  }
  {
    const fs::path run = copy_of_good("negative_moment");
    strip_integrity_fields(run / "checkpoints/step-2");
    poke_f32(run / "checkpoints/step-2/optimizer.safetensors", "v.model.norm.weight", -1.0f);
    const std::string e = resume_error(run);
    EXPECT_NE(e.find("second moments must be finite and >= 0"), std::string::npos) << e;
  }
  {  // the same damage in a checkpoint with checksums is caught by them first
    const fs::path run = copy_of_good("nan_checked");
    poke_f32(run / "checkpoints/step-2/model.safetensors", "model.norm.weight", nan);
    const std::string e = resume_error(run);
    EXPECT_NE(e.find("does not match its checksum"), std::string::npos) << e;
  }
}

TEST_F(ResumeSafety, OldCheckpointsWithoutChecksumsStillResumeBitExact) {
  const fs::path run = copy_of_good("old_format");
  strip_integrity_fields(run / "checkpoints/step-2");
  TrainOptions o = tiny_options(*world_, run);
  o.steps = 4;
  o.resume = true;
  const TrainResult resumed = train_model(o);
  EXPECT_EQ(resumed.train_curve.front().first, 3);
  // The same continuation as from the intact checkpoint.
  const fs::path intact = copy_of_good("old_format_reference");
  TrainOptions r = tiny_options(*world_, intact);
  r.steps = 4;
  r.resume = true;
  EXPECT_EQ(train_model(r).train_curve, resumed.train_curve);
  EXPECT_FALSE(read_trainer_state(run / "checkpoints/step-4").run_id.empty())
      << "new checkpoints of an old run get a run id";
}

TEST_F(ResumeSafety, NonFiniteLossBeforeAnyUpdateBlamesTheWeightsNotTheLr) {
  const fs::path init = world_->dir / "nan_init";
  fs::remove_all(init);
  fs::copy(world_->dir / "good/checkpoints/step-2", init, fs::copy_options::recursive);
  poke_f32(init / "model.safetensors", "model.norm.weight",
           std::numeric_limits<float>::quiet_NaN());
  TrainOptions o = tiny_options(*world_, world_->dir / "from_nan");
  o.init_from = init;
  try {
    train_model(o);
    FAIL() << "trained from NaN weights";
  } catch (const NumericError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("the learning rate is not the cause"), std::string::npos) << m;
    EXPECT_NE(m.find("model.norm.weight"), std::string::npos) << m;
    EXPECT_EQ(m.find("Lower --lr"), std::string::npos) << m;
  }
}

TEST_F(ResumeSafety, ChangedSettingsAreRefusedUnlessForced) {
  const fs::path run = copy_of_good("changed_settings");
  TrainOptions o = tiny_options(*world_, run);
  o.steps = 4;
  o.resume = true;
  o.warmup_steps = 3;
  try {
    train_model(o);
    FAIL() << "resumed with another --warmup";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--warmup: the run used 2, now 3"), std::string::npos) << m;
    EXPECT_NE(m.find("--force"), std::string::npos) << m;
  }
  o.force = true;
  EXPECT_EQ(train_model(o).steps_done, 4);
}

TEST_F(ResumeSafety, FlagsLeftOutTakeTheRunsSavedValues) {
  const TrainerState state = read_trainer_state(world_->dir / "good/checkpoints/step-2");
  TrainOptions o;  // CLI defaults: warmup 50, lr 3e-3, batch 16, ...
  apply_saved_options(o, state.options, {"steps"});
  EXPECT_EQ(o.warmup_steps, 2);
  EXPECT_EQ(o.lr, 1e-2f);
  EXPECT_EQ(o.batch_size, 4);
  EXPECT_EQ(o.seq_len, 16);
  EXPECT_EQ(o.seed, 42u);
  EXPECT_EQ(o.eval_every, 0);
  EXPECT_EQ(o.data_dir, world_->data_dir);
  EXPECT_EQ(o.steps, TrainOptions{}.steps) << "a flag the user gave keeps its value";
}
