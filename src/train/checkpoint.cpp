// Checkpoint writer/reader. The model directory part is exactly what
// transformers' save_pretrained would write for a LlamaForCausalLM, so a
// checkpoint loads offline with AutoModelForCausalLM/AutoTokenizer.
#include "train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
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

std::string hex32(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", static_cast<unsigned>(v));
  return buf;
}

std::uint32_t crc32_text(std::string_view text) { return crc32(text.data(), text.size()); }

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

// CRC-32 of the state's fields except itself, over their one-line JSON
// (key order is fixed, and doubles print exactly, so a re-read state hashes
// the same).
std::string state_checksum(Json json) {
  json.erase("state_checksum");
  return hex32(crc32_text(json_line(json)));
}

}  // namespace

Json TrainerState::to_json() const {
  Json rng = Json::array();
  for (std::uint64_t word : data_rng) rng.push_back(hex64(word));
  Json json = {{"format", "masque-trainer-state"},
               {"version", 1},
               {"step", step},
               {"data_rng_state", rng},
               {"tokens_seen", tokens_seen},
               {"elapsed_seconds", elapsed_seconds},
               {"num_threads", num_threads},
               {"world_size", world_size},
               {"config_hash", config_hash},
               {"tokenizer_fingerprint", tokenizer_fingerprint},
               {"train_loss", train_loss},
               {"options", options},
               {"run_id", run_id},
               {"checksums", checksums}};
  json["state_checksum"] = state_checksum(json);
  return json;
}

TrainerState TrainerState::from_json(const Json& json, std::string_view where) {
  if (get_field<std::string>(json, "format", where) != "masque-trainer-state") {
    throw FormatError(cat(where, ": not a masque trainer state file"));
  }
  if (get_field<int>(json, "version", where) != 1) {
    throw FormatError(
        cat(where, ": unsupported trainer state version (written by a newer masque?)"));
  }
  if (json.contains("state_checksum")) {
    const std::string want = get_field<std::string>(json, "state_checksum", where);
    if (state_checksum(json) != want) {
      throw FormatError(cat(where, ": the contents do not match their checksum (the file was ",
                            "edited or damaged after the save); resume from another checkpoint ",
                            "or start a fresh run"));
    }
  }
  TrainerState state;
  state.step = get_field<std::int64_t>(json, "step", where);
  if (state.step < 1) {
    throw FormatError(cat(where, ": step ", state.step,
                          " is not a completed step (a checkpoint holds step >= 1); the file "
                          "is corrupt"));
  }
  // contains() first: at() on a missing key escapes as a nlohmann exception
  // (found by fuzz/fuzz_trainer_state.cpp).
  if (!json.contains("data_rng_state")) {
    throw FormatError(cat(where, ": missing required field 'data_rng_state'"));
  }
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
  state.world_size = get_field_or<int>(json, "world_size", where, 1);
  if (state.world_size < 1) {
    throw FormatError(cat(where, ": world_size ", state.world_size, " is not a process count ",
                          "(>= 1); the file is corrupt"));
  }
  state.config_hash = get_field<std::string>(json, "config_hash", where);
  state.tokenizer_fingerprint = get_field<std::string>(json, "tokenizer_fingerprint", where);
  state.train_loss = get_field<float>(json, "train_loss", where);
  if (!(state.elapsed_seconds >= 0 && std::isfinite(state.elapsed_seconds)) ||
      state.num_threads < 0 || !std::isfinite(state.train_loss)) {
    throw FormatError(cat(where, ": elapsed_seconds, num_threads or train_loss is out of range ",
                          "(negative or not finite); the file is corrupt"));
  }
  state.options = json.value("options", Json::object());
  state.run_id = get_field_or<std::string>(json, "run_id", where, "");
  if (json.contains("checksums")) {
    state.checksums = json.at("checksums");
    if (!state.checksums.is_object()) {
      throw FormatError(cat(where, ": checksums must be an object {file: crc32}"));
    }
    for (const auto& [file, sum] : state.checksums.items()) {
      if (!sum.is_string() || file.find('/') != std::string::npos || file.rfind("..", 0) == 0) {
        throw FormatError(cat(where, ": checksums entry '", file, "' is malformed"));
      }
    }
  }
  return state;
}

std::string new_run_id() {
  std::random_device device;
  const std::uint64_t now =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const std::uint64_t id = (static_cast<std::uint64_t>(device()) << 32 ^ device()) ^
                           (now * 0x9e3779b97f4a7c15ULL) ^ static_cast<std::uint64_t>(::getpid());
  return hex64(id);
}

Json file_checksums(const fs::path& dir, std::initializer_list<const char*> names) {
  Json sums = Json::object();
  for (const char* name : names) sums[name] = hex32(crc32_text(read_file(dir / name)));
  return sums;
}

void verify_checkpoint_files(const fs::path& dir, const TrainerState& state) {
  const fs::path optimizer = dir / "optimizer.safetensors";
  if (!state.run_id.empty() && fs::exists(optimizer)) {
    const SafetensorsFile file(optimizer);
    const auto it = file.metadata().find("run_id");
    if (it != file.metadata().end() && it->second != state.run_id) {
      throw FormatError(cat(optimizer.string(), " belongs to another run (run id ", it->second,
                            ", this checkpoint's is ", state.run_id,
                            "); resume from another checkpoint or start a fresh run"));
    }
  }
  if (state.checksums.empty()) {
    std::fprintf(stderr,
                 "masque: note: %s has no checksums (written by an older masque); its files "
                 "are not verified\n",
                 dir.c_str());
    return;
  }
  for (const auto& [name, sum] : state.checksums.items()) {
    const fs::path path = dir / name;
    if (!fs::exists(path)) {
      throw FormatError(cat(path.string(), " is missing (listed in trainer_state.json)"));
    }
    const std::string actual = hex32(crc32_text(read_file(path)));
    if (actual != sum.get<std::string>()) {
      throw FormatError(cat(path.string(), " does not match its checksum in trainer_state.json (",
                            actual, " vs ", sum.get<std::string>(),
                            "): it was damaged or replaced after the save, e.g. by a file of "
                            "another run; resume from another checkpoint or start a fresh run"));
    }
  }
}

std::string first_nonfinite_param(const Model& model) {
  std::vector<float> host;
  for (const ParamView& p : model.params()) {
    host.resize(p.numel);
    model.read_param(p, host.data());
    for (float x : host) {
      if (!std::isfinite(x)) return p.name;
    }
  }
  return "";
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

void write_generation_config(const fs::path& dir, const ModelConfig& config,
                             const Tokenizer& tokenizer) {
  std::vector<int> stops = config.eos_token_ids();
  if (const auto end = tokenizer.special_id(kEndTurnToken)) {
    if (std::find(stops.begin(), stops.end(), static_cast<int>(*end)) == stops.end()) {
      stops.push_back(static_cast<int>(*end));
    }
  }
  Json generation = {{"bos_token_id", config.bos_token_id},
                     {"eos_token_id", stops.size() == 1 ? Json(stops[0]) : Json(stops)}};
  if (const auto pad = tokenizer.special_id(kPadToken)) generation["pad_token_id"] = *pad;
  write_json_file(dir / "generation_config.json", generation);
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
    write_generation_config(tmp, config, tokenizer);
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
    opt.set_metadata("run_id", state.run_id);
    opt.write(tmp / "optimizer.safetensors");
    // trainer_state.json last: its presence marks the contents as complete
    // even to a reader that ignores the rename protocol. It carries the
    // checksums of the weights and optimizer files, verified on resume.
    TrainerState with_sums = state;
    with_sums.checksums = file_checksums(tmp, {"model.safetensors", "optimizer.safetensors"});
    write_json_file(tmp / "trainer_state.json", with_sums.to_json());
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
      // m may have any sign; v is a mean of squares, so never negative.
      for (float x : host) {
        if (!std::isfinite(x) || (which[0] == 'v' && x < 0)) {
          throw FormatError(cat(path.string(), ": tensor '", name, "' holds ", x,
                                which[0] == 'v' ? " (second moments must be finite and >= 0)"
                                                : " (moments must be finite)",
                                "; the file is corrupt: resume from another checkpoint or start "
                                "a fresh run"));
        }
      }
      optimizer.set_moment(which[0], host.data(), p.offset, p.numel);
    }
  }
  const auto it = file.metadata().find("step");
  if (it == file.metadata().end())
    throw FormatError(cat(path.string(), " lacks the 'step' metadata"));
  long long steps = -1;
  try {
    std::size_t used = 0;
    steps = std::stoll(it->second, &used);
    if (used != it->second.size()) steps = -1;
  } catch (const std::exception&) {
    steps = -1;
  }
  if (steps < 0) {
    throw FormatError(cat(path.string(), ": metadata step '", it->second,
                          "' is not a non-negative integer (the file is corrupt)"));
  }
  optimizer.set_steps(steps);
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
