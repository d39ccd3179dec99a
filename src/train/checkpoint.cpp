// Checkpoint writer/reader. The model directory part is exactly what
// transformers' save_pretrained would write for a LlamaForCausalLM, so a
// checkpoint loads offline with AutoModelForCausalLM/AutoTokenizer.
#include "train/checkpoint.h"

#include <cstdio>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "infer/model_dir.h"
#include "infer/model_weights.h"
#include "io/safetensors.h"
#include "tokenizer/chat_template.h"

namespace masque {
namespace fs = std::filesystem;

namespace {

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t parse_hex64(const std::string& text, std::string_view where) {
  if (text.empty() || text.size() > 16 ||
      text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    throw FormatError(cat(where, ": '", text, "' is not a 64-bit hex number"));
  }
  return std::stoull(text, nullptr, 16);
}

}  // namespace

Json TrainerState::to_json() const {
  Json rng = Json::array();
  for (std::uint64_t word : data_rng) rng.push_back(hex64(word));
  return {{"format", "masque-trainer-state"},
          {"version", 1},
          {"step", step},
          {"data_rng_state", rng},
          {"tokens_seen", tokens_seen},
          {"elapsed_seconds", elapsed_seconds},
          {"num_threads", num_threads},
          {"config_hash", config_hash},
          {"tokenizer_fingerprint", tokenizer_fingerprint},
          {"train_loss", train_loss},
          {"options", options}};
}

TrainerState TrainerState::from_json(const Json& json, std::string_view where) {
  if (get_field<std::string>(json, "format", where) != "masque-trainer-state") {
    throw FormatError(cat(where, ": not a masque trainer state file"));
  }
  if (get_field<int>(json, "version", where) != 1) {
    throw FormatError(
        cat(where, ": unsupported trainer state version (written by a newer masque?)"));
  }
  TrainerState state;
  state.step = get_field<std::int64_t>(json, "step", where);
  const Json& rng = json.at("data_rng_state");
  if (!rng.is_array() || rng.size() != 4) {
    throw FormatError(cat(where, ": data_rng_state must be 4 hex strings"));
  }
  for (std::size_t i = 0; i < 4; ++i) {
    if (!rng[i].is_string())
      throw FormatError(cat(where, ": data_rng_state must be 4 hex strings"));
    state.data_rng[i] = parse_hex64(rng[i].get<std::string>(), where);
  }
  state.tokens_seen = get_field<std::uint64_t>(json, "tokens_seen", where);
  state.elapsed_seconds = get_field<double>(json, "elapsed_seconds", where);
  state.num_threads = get_field<int>(json, "num_threads", where);
  state.config_hash = get_field<std::string>(json, "config_hash", where);
  state.tokenizer_fingerprint = get_field<std::string>(json, "tokenizer_fingerprint", where);
  state.train_loss = get_field<float>(json, "train_loss", where);
  state.options = json.value("options", Json::object());
  return state;
}

std::string config_hash(const ModelConfig& config) {
  Hasher64 hasher;
  hasher.add(config.to_json().dump());
  return hasher.hex();
}

std::string first_config_difference(const ModelConfig& a, const ModelConfig& b) {
  const Json ja = a.to_json();
  const Json jb = b.to_json();
  for (auto it = ja.begin(); it != ja.end(); ++it) {
    if (!jb.contains(it.key()) || jb.at(it.key()) != it.value()) {
      return cat(it.key(), " (", it.value().dump(), " vs ",
                 jb.contains(it.key()) ? jb.at(it.key()).dump() : "absent", ")");
    }
  }
  for (auto it = jb.begin(); it != jb.end(); ++it) {
    if (!ja.contains(it.key())) return cat(it.key(), " (absent vs ", it.value().dump(), ")");
  }
  return "";
}

void write_tokenizer_files(const fs::path& dir, const Tokenizer& tokenizer, int model_max_length) {
  tokenizer.save(dir / "tokenizer.json");
  Json config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                 {"model_max_length", model_max_length},
                 {"clean_up_tokenization_spaces", false}};
  const std::pair<const char*, std::string_view> roles[] = {
      {"bos_token", kBosToken}, {"eos_token", kEosToken}, {"pad_token", kPadToken}};
  for (const auto& [key, token] : roles) {
    if (tokenizer.special_id(token)) config[key] = std::string(token);
  }
  // Same format as posttrain/chat_format.h, so apply_chat_template matches masque.
  if (supports_chat_format(tokenizer)) config["chat_template"] = chat_template_jinja();
  write_json_file(dir / "tokenizer_config.json", config);
}

fs::path save_checkpoint(const fs::path& run_dir, const Model& model, AdamW& optimizer,
                         const Tokenizer& tokenizer, const TrainerState& state, int keep) {
  const fs::path root = run_dir / "checkpoints";
  const fs::path final_dir = root / cat("step-", state.step);
  {
    AtomicDir dir(final_dir);
    const fs::path tmp = dir.path();
    const ModelConfig& config = model.config();
    save_model_weights(model, tmp / "model.safetensors");
    write_json_file(tmp / "config.json", config.to_json());
    write_json_file(tmp / "generation_config.json", {{"bos_token_id", config.bos_token_id},
                                                     {"eos_token_id", config.eos_token_id},
                                                     {"_from_model_config", true}});
    write_tokenizer_files(tmp, tokenizer, config.max_position_embeddings);

    SafetensorsWriter opt;
    const std::vector<float> m = optimizer.moment_host('m');
    const std::vector<float> v = optimizer.moment_host('v');
    for (const ParamView& p : model.params()) {
      opt.add_f32("m." + p.name, p.shape, m.data() + p.offset);
      opt.add_f32("v." + p.name, p.shape, v.data() + p.offset);
    }
    opt.set_metadata("optimizer", "adamw");
    opt.set_metadata("step", std::to_string(optimizer.steps()));
    opt.write(tmp / "optimizer.safetensors");
    // trainer_state.json last: its presence marks the contents as complete
    // even to a reader that ignores the rename protocol.
    write_json_file(tmp / "trainer_state.json", state.to_json());
    dir.commit();
  }
  // Retention: newest `keep` complete-or-not checkpoints stay; older go.
  const auto checkpoints = list_checkpoints(run_dir);
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 1)); i < checkpoints.size(); ++i) {
    std::error_code ec;
    fs::remove_all(checkpoints[i].dir, ec);
  }
  // Temporaries left by a save that was killed (".step-N.<suffix>").
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".step-", 0) == 0) fs::remove_all(entry.path(), ec);
  }
  return final_dir;
}

void load_optimizer_state(const fs::path& checkpoint_dir, const Model& model, AdamW& optimizer) {
  const fs::path path = checkpoint_dir / "optimizer.safetensors";
  const SafetensorsFile file(path);
  std::vector<float> host;
  for (const ParamView& p : model.params()) {
    for (const char* which : {"m.", "v."}) {
      const std::string name = which + p.name;
      if (!file.contains(name)) {
        throw FormatError(cat(path.string(), " lacks tensor '", name,
                              "' (optimizer state from another model; start a fresh run)"));
      }
      if (file.info(name).shape != p.shape) {
        throw FormatError(cat(path.string(), ": tensor '", name, "' has the wrong shape"));
      }
      host.resize(p.numel);
      file.read_f32(name, host.data(), p.numel);
      optimizer.set_moment(which[0], host.data(), p.offset, p.numel);
    }
  }
  const auto it = file.metadata().find("step");
  if (it == file.metadata().end())
    throw FormatError(cat(path.string(), " lacks the 'step' metadata"));
  try {
    optimizer.set_steps(std::stoll(it->second));
  } catch (const std::exception&) {
    throw FormatError(cat(path.string(), ": metadata step '", it->second, "' is not a number"));
  }
}

TrainerState read_trainer_state(const fs::path& checkpoint_dir) {
  const fs::path path = checkpoint_dir / "trainer_state.json";
  try {
    return TrainerState::from_json(read_json_file(path), path.string());
  } catch (const InputError& e) {
    throw FormatError(e.what());
  }
}

}  // namespace masque
