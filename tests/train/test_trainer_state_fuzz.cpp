// Regressions found by fuzz/fuzz_trainer_state.cpp: every malformed
// trainer_state.json is a FormatError or InputError naming the file, never
// a nlohmann exception (which the CLI reports as an internal error, exit 2).
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/json_util.h"
#include "train/checkpoint.h"

using namespace masque;

TEST(TrainerStateFuzz, MissingDataRngStateIsAFormatError) {
  // The fuzzer's input: a valid state with the data_rng_state key renamed.
  const Json state = {{"format", "masque-trainer-state"},
                      {"version", 1},
                      {"step", 2},
                      {"optionsg_state", {"7bb7e6810256ba1f"}},
                      {"tokens_seen", 32},
                      {"elapsed_seconds", 0.1},
                      {"num_threads", 1},
                      {"config_hash", "ccd257da3b686448"},
                      {"tokenizer_fingerprint", "af403820a18c55b1"},
                      {"train_loss", 5.7}};
  try {
    TrainerState::from_json(state, "trainer_state.json");
    FAIL() << "accepted a state without data_rng_state";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("data_rng_state"), std::string::npos) << e.what();
  }
}
