// DPO: the loss and its per-token-weighted gradient against finite
// differences of the DPO objective (sigmoid and IPO), strict data
// validation naming line and field, a reference of another architecture
// refused, and a short run that raises the chosen-minus-rejected margin and
// resumes bit for bit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "infer/model_dir.h"
#include "posttrain/dpo.h"
#include "posttrain/dpo_loss.h"
#include "tokenizer/bpe_trainer.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;
using namespace masque;

namespace {

struct Fixture {
  fs::path dir;
  Tokenizer tok;
  ModelConfig config;
  fs::path base, other;  // checkpoints: same architecture with seeds 7 and 8
};

fs::path save_model(const Fixture& f, const ModelConfig& config, std::uint64_t seed,
                    const std::string& name) {
  Model model(config);
  model.init_weights(seed);
  AdamW opt(model, AdamWConfig{});
  TrainerState state;
  state.tokenizer_fingerprint = f.tok.fingerprint();
  state.config_hash = config_hash(config);
  return save_checkpoint(f.dir / name, model, opt, f.tok, state, 1);
}

const char* kPair = R"({"prompt": [{"role": "user", "content": "Where is the river?"}], )"
                    R"("chosen": [{"role": "assistant", "content": "The river is in Orin."}], )"
                    R"("rejected": [{"role": "assistant", "content": "What is the capital?"}]})";

Fixture make_fixture(const std::string& name) {
  Fixture f;
  f.dir = fs::temp_directory_path() / ("masque_dpo_" + name + std::to_string(::getpid()));
  fs::remove_all(f.dir);
  fs::create_directories(f.dir);
  std::string text;
  for (int i = 0; i < 100; ++i)
    text += "What is the capital? The capital is Orin. Where is the river? ";
  write_file_atomic(f.dir / "corpus.txt", text);
  BpeTrainOptions o;
  o.inputs = {(f.dir / "corpus.txt").string()};
  o.vocab_size = 280;
  o.progress = false;
  f.tok = train_bpe(o);
  f.config.vocab_size = static_cast<int>(f.tok.vocab_size());
  f.config.hidden_size = 32;
  f.config.intermediate_size = 64;
  f.config.num_hidden_layers = 2;
  f.config.num_attention_heads = 4;
  f.config.num_key_value_heads = 2;
  f.config.head_dim = 8;
  f.config.max_position_embeddings = 64;
  f.config.bos_token_id = static_cast<int>(f.tok.bos_id());
  f.config.eos_token_id = static_cast<int>(f.tok.eos_id());
  f.base = save_model(f, f.config, 7, "base");
  f.other = save_model(f, f.config, 8, "other");
  std::ofstream prefs(f.dir / "prefs.jsonl");
  prefs << kPair << "\n"
        << R"({"prompt": [{"role": "system", "content": "Be brief."}, )"
        << R"({"role": "user", "content": "What is the capital?"}], )"
        << R"("chosen": [{"role": "assistant", "content": "Orin."}], )"
        << R"("rejected": [{"role": "assistant", "content": "The capital is the river."}]})"
        << "\n";
  return f;
}

double dpo_loss_at(Model& policy, Model& reference, const DpoDataset& data, double beta,
                   DpoLossKind kind) {
  const int rows = static_cast<int>(2 * data.pairs());
  DpoPairScores s;
  s.policy = sequence_logprobs(policy, data.tokens.data(), data.targets.data(), rows, data.seq_len);
  s.reference =
      sequence_logprobs(reference, data.tokens.data(), data.targets.data(), rows, data.seq_len);
  return dpo_objective(s, beta, kind).loss;
}

std::string error_of(const std::string& jsonl) {
  std::istringstream in(jsonl);
  try {
    read_preference_pairs(in, "prefs.jsonl");
  } catch (const Error& e) {  // InputError, or FormatError for bad JSON
    return e.what();
  }
  return "";
}

std::vector<Json> train_lines(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<Json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(Json::parse(line));
  return out;
}

}  // namespace

TEST(Dpo, GradientMatchesFiniteDifferencesOfTheObjective) {
  Fixture f = make_fixture("grad");
  LoadedModel policy = load_model_dir(f.base);
  LoadedModel reference = load_model_dir(f.other);  // ref != policy: nonzero log-ratios
  const DpoDataset data =
      pack_preferences(policy.tokenizer, read_preference_jsonl(f.dir / "prefs.jsonl"), 0, 64);
  const int rows = static_cast<int>(2 * data.pairs());
  Model& model = *policy.model;
  for (DpoLossKind kind : {DpoLossKind::kSigmoid, DpoLossKind::kIpo}) {
    const double beta = kind == DpoLossKind::kSigmoid ? 0.5 : 0.1;
    DpoStep step(model, *reference.model, beta, kind);
    model.zero_grad();
    const float loss =
        step.forward_backward(data.tokens.data(), data.targets.data(), rows, data.seq_len, 1.0f);
    EXPECT_NEAR(loss, dpo_loss_at(model, *reference.model, data, beta, kind), 1e-5);
    int checked = 0;
    for (const ParamView& p : model.params()) {
      std::vector<float> w(p.numel), g(p.numel);
      model.read_param(p, w.data());
      model.read_grad(p, g.data());
      for (std::size_t i = 0; i < p.numel; i += p.numel / 3 + 1) {
        const float keep = w[i];
        const float eps = 1e-2f;
        w[i] = keep + eps;
        model.write_param(p, w.data());
        const double up = dpo_loss_at(model, *reference.model, data, beta, kind);
        w[i] = keep - eps;
        model.write_param(p, w.data());
        const double down = dpo_loss_at(model, *reference.model, data, beta, kind);
        w[i] = keep;
        model.write_param(p, w.data());
        const double numeric = (up - down) / (2 * eps);
        EXPECT_NEAR(g[i], numeric, 2e-3 + 3e-2 * std::abs(numeric)) << p.name << "[" << i << "]";
        ++checked;
      }
    }
    EXPECT_GE(checked, 40);
  }
  fs::remove_all(f.dir);
}

TEST(Dpo, ObjectiveMatchesTheFormula) {
  // One pair: h = (-1 - -2) - (-3 - -2.5) = 1.5.
  DpoPairScores s{{-1.0, -3.0}, {-2.0, -2.5}};
  const DpoBatchResult r = dpo_objective(s, 0.2, DpoLossKind::kSigmoid);
  EXPECT_NEAR(r.loss, std::log1p(std::exp(-0.3)), 1e-12);
  EXPECT_NEAR(r.dloss_dchosen[0], -0.2 / (1 + std::exp(0.3)), 1e-12);
  EXPECT_NEAR(r.reward_margin, 0.3, 1e-12);
  EXPECT_EQ(r.reward_accuracy, 1.0);
  const DpoBatchResult ipo = dpo_objective(s, 0.2, DpoLossKind::kIpo);
  EXPECT_NEAR(ipo.loss, (1.5 - 2.5) * (1.5 - 2.5), 1e-12);
  EXPECT_THROW(parse_dpo_loss("hinge"), InputError);
}

TEST(Dpo, DataValidationNamesLineAndField) {
  EXPECT_EQ(error_of(std::string(kPair) + "\n"), "");
  std::string same = kPair;
  same.replace(same.find("What is the capital?"), 20, "The river is in Orin.");
  EXPECT_NE(error_of("\n" + same)
                .find("line 2 of prefs.jsonl: \"chosen\" and \"rejected\" are "
                      "the same reply"),
            std::string::npos)
      << error_of(same);
  const std::string ends_assistant =
      R"({"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}],)"
      R"( "chosen": [{"role": "assistant", "content": "A"}],)"
      R"( "rejected": [{"role": "assistant", "content": "B"}]})";
  EXPECT_NE(error_of(ends_assistant)
                .find("line 1 of prefs.jsonl, field \"prompt\": ends in an "
                      "assistant turn"),
            std::string::npos)
      << error_of(ends_assistant);
  const std::string no_rejected =
      R"({"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "A"}]})";
  EXPECT_NE(error_of(no_rejected).find("missing field \"rejected\""), std::string::npos);
  const std::string user_reply =
      R"({"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "user", "content": "A"}],)"
      R"( "rejected": [{"role": "assistant", "content": "B"}]})";
  EXPECT_NE(error_of(user_reply).find("field \"chosen\": must hold exactly one assistant message"),
            std::string::npos)
      << error_of(user_reply);
  EXPECT_NE(error_of("\n\n").find("holds no pairs"), std::string::npos);
  EXPECT_NE(error_of("{not json").find("line 1 of prefs.jsonl"), std::string::npos);
}

TEST(Dpo, RefusesAReferenceOfAnotherConfig) {
  Fixture f = make_fixture("ref");
  ModelConfig wider = f.config;
  wider.intermediate_size = 96;
  const fs::path other = save_model(f, wider, 9, "wider");
  DpoOptions o;
  o.base = f.base;
  o.ref = other;
  o.data = f.dir / "prefs.jsonl";
  o.out_dir = f.dir / "run";
  o.steps = 1;
  o.progress = false;
  try {
    run_dpo(o);
    FAIL() << "a reference of another config must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("has another model config"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(o.out_dir)) << "nothing written on refusal";
  fs::remove_all(f.dir);
}

TEST(Dpo, ShortRunRaisesTheMarginAndResumesExactly) {
  Fixture f = make_fixture("run");
  DpoOptions o;
  o.base = f.base;
  o.data = f.dir / "prefs.jsonl";
  o.out_dir = f.dir / "full";
  o.batch_size = 2;
  o.steps = 8;
  o.lr = 3e-3f;
  o.beta = 0.5;
  o.checkpoint_every = 3;
  o.progress = false;
  const DpoResult full = run_dpo(o);
  EXPECT_EQ(full.steps_done, 8);
  const auto lines = train_lines(o.out_dir);
  ASSERT_EQ(lines.size(), 8u);
  // Step 1 runs at the reference itself: margin 0, loss log 2.
  EXPECT_NEAR(lines.front().at("reward_margin").get<double>(), 0.0, 1e-6);
  EXPECT_NEAR(lines.front().at("loss").get<double>(), std::log(2.0), 1e-5);
  EXPECT_GT(lines.back().at("reward_margin").get<double>(), 0.5);
  EXPECT_EQ(lines.back().at("reward_accuracy").get<double>(), 1.0);
  EXPECT_LT(lines.back().at("loss").get<double>(), 0.5);
  EXPECT_TRUE(lines.back().contains("chosen_logp"));

  DpoOptions split = o;
  split.out_dir = f.dir / "split";
  EXPECT_THROW(run_dpo(split,
                       [](std::int64_t step, float) {
                         if (step == 5) throw std::runtime_error("interrupted");
                       }),
               std::runtime_error);
  split.resume = true;
  run_dpo(split);
  const auto resumed = train_lines(split.out_dir);
  ASSERT_EQ(resumed.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(resumed[i].at("loss_hex"), lines[i].at("loss_hex")) << "step " << i + 1;
  }
  EXPECT_TRUE(read_file(o.out_dir / "checkpoints/step-8/model.safetensors") ==
              read_file(split.out_dir / "checkpoints/step-8/model.safetensors"));
  // A changed beta is refused on resume.
  DpoOptions changed = split;
  changed.beta = 0.2;
  changed.steps = 9;
  EXPECT_THROW(run_dpo(changed), InputError);
  fs::remove_all(f.dir);
}

TEST(Dpo, LoraRunRaisesTheMargin) {
  Fixture f = make_fixture("lora");
  DpoOptions o;
  o.base = f.base;
  o.data = f.dir / "prefs.jsonl";
  o.out_dir = f.dir / "lora";
  o.batch_size = 2;
  o.steps = 8;
  o.lr = 1e-2f;
  o.beta = 0.5;
  o.lora_rank = 4;
  o.progress = false;
  run_dpo(o);
  const auto lines = train_lines(o.out_dir);
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_GT(lines.back().at("reward_margin").get<double>(),
            lines.front().at("reward_margin").get<double>() + 0.1);
  EXPECT_TRUE(fs::exists(o.out_dir / "checkpoints/step-8/adapter_config.json"));
  fs::remove_all(f.dir);
}
