// PEFT LoRA adapter directories (see peft.h).
#include "posttrain/peft.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/json_util.h"
#include "io/safetensors.h"

namespace masque {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPrefix = "base_model.model.";

// "model.layers.0.self_attn.q_proj.weight" -> PEFT's tensor name for A or B.
std::string peft_name(const std::string& weight_name, const char* which) {
  const std::string module =
      weight_name.substr(0, weight_name.size() - std::string(".weight").size());
  return cat(kPrefix, module, ".", which, ".weight");
}

// Keys whose value never changes the adapter's function: bookkeeping,
// training-only settings (dropout) and initialization choices (the weights
// are in the file).
const std::set<std::string>& inert_keys() {
  static const std::set<std::string> keys{
      "task_type",     "auto_mapping",      "peft_version",   "base_model_name_or_path",
      "revision",      "inference_mode",    "lora_dropout",   "init_lora_weights",
      "megatron_core", "qalora_group_size", "layers_pattern", "loftq_config"};
  return keys;
}

bool is_empty_value(const Json& v) {
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) ||
         ((v.is_object() || v.is_array()) && v.empty());
}

}  // namespace

PeftLoraConfig read_peft_config(const fs::path& dir) {
  const fs::path path = dir / "adapter_config.json";
  if (!fs::is_regular_file(path)) {
    throw InputError(
        cat(dir.string(), " has no adapter_config.json: not a PEFT adapter directory"));
  }
  const std::string where = path.string();
  const Json config = read_json_file(path);
  if (!config.is_object()) throw InputError(cat(where, ": expected a JSON object"));
  const auto refuse = [&](const std::string& key, const std::string& why) {
    throw InputError(cat(where, ": field '", key, "' is ", config.at(key).dump(), ": ", why));
  };
  if (get_field_or<std::string>(config, "peft_type", where, "") != "LORA") {
    throw InputError(cat(where, ": peft_type must be \"LORA\" (masque reads LoRA adapters only)"));
  }
  PeftLoraConfig out;
  for (const auto& [key, value] : config.items()) {
    if (key == "peft_type" || key == "r" || key == "lora_alpha" || key == "target_modules" ||
        inert_keys().count(key)) {
      continue;
    }
    if (key == "bias") {
      if (value != "none") refuse(key, "masque's LoRA trains no biases: \"none\" only");
      continue;
    }
    if (!is_empty_value(value)) {
      refuse(key,
             "masque cannot honour this PEFT setting (it changes what the adapter computes): "
             "only plain LoRA (W + lora_alpha / r * B A) is supported");
    }
  }
  out.rank = get_field<int>(config, "r", where);
  out.alpha = get_field<float>(config, "lora_alpha", where);
  if (out.rank < 1) refuse("r", "must be >= 1");
  if (!(out.alpha > 0)) refuse("lora_alpha", "must be > 0");
  if (!config.contains("target_modules") || !config.at("target_modules").is_array() ||
      config.at("target_modules").empty()) {
    throw InputError(cat(where,
                         ": target_modules must be a non-empty list of module names such as "
                         "[\"q_proj\", \"v_proj\"] (regex strings are not supported)"));
  }
  for (const Json& m : config.at("target_modules")) {
    if (!m.is_string()) refuse("target_modules", "entries must be strings");
    out.target_modules.push_back(m.get<std::string>());
  }
  std::sort(out.target_modules.begin(), out.target_modules.end());
  return out;
}

void save_peft_adapter(const LoraAdapter& lora, float alpha,
                       const std::vector<std::string>& target_modules,
                       const std::string& base_model, const fs::path& dir) {
  const std::vector<float> host = lora.params_host();
  SafetensorsWriter writer;
  const std::int64_t r = lora.rank();
  for (const LoraAdapter::TargetInfo& t : lora.target_info()) {
    writer.add_f32(peft_name(t.weight_name, "lora_A"), {r, t.in}, host.data() + t.a_offset);
    writer.add_f32(peft_name(t.weight_name, "lora_B"), {t.out, r}, host.data() + t.b_offset);
  }
  writer.write(dir / "adapter_model.safetensors");
  std::vector<std::string> modules = target_modules;
  std::sort(modules.begin(), modules.end());
  const Json config = {{"peft_type", "LORA"},
                       {"task_type", "CAUSAL_LM"},
                       {"base_model_name_or_path", base_model},
                       {"r", lora.rank()},
                       {"lora_alpha", alpha},
                       {"lora_dropout", 0.0},
                       {"target_modules", modules},
                       {"bias", "none"},
                       {"fan_in_fan_out", false},
                       {"use_rslora", false},
                       {"use_dora", false},
                       {"modules_to_save", nullptr},
                       {"layers_to_transform", nullptr},
                       {"rank_pattern", Json::object()},
                       {"alpha_pattern", Json::object()},
                       {"init_lora_weights", true},
                       {"inference_mode", true}};
  write_json_file(dir / "adapter_config.json", config);
}

void load_peft_adapter(LoraAdapter& lora, const fs::path& dir) {
  const fs::path path = dir / "adapter_model.safetensors";
  if (!fs::is_regular_file(path)) {
    throw InputError(cat(dir.string(),
                         " has no adapter_model.safetensors (PEFT adapters saved with "
                         "safe_serialization=False are not supported)"));
  }
  const SafetensorsFile file(path);
  std::vector<float> host(lora.size());
  std::set<std::string> used;
  const std::int64_t r = lora.rank();
  for (const LoraAdapter::TargetInfo& t : lora.target_info()) {
    for (const auto& [which, shape, offset] :
         {std::tuple<const char*, std::vector<std::int64_t>, std::size_t>{
              "lora_A", {r, t.in}, t.a_offset},
          {"lora_B", {t.out, r}, t.b_offset}}) {
      const std::string name = peft_name(t.weight_name, which);
      if (!file.contains(name)) {
        throw FormatError(cat(path.string(), " lacks tensor '", name,
                              "' (the adapter's target_modules and the model disagree)"));
      }
      const std::vector<float> values = file.to_f32(name, &shape);
      std::copy(values.begin(), values.end(), host.begin() + static_cast<std::ptrdiff_t>(offset));
      used.insert(name);
    }
  }
  for (const TensorInfo& t : file.tensors()) {
    if (!used.count(t.name)) {
      throw FormatError(cat(path.string(), " holds tensor '", t.name,
                            "' which masque's LoRA adapter has no place for (only "
                            "base_model.model.<module>.lora_A/lora_B.weight of the target "
                            "modules are supported)"));
    }
  }
  lora.set_params_host(host);
}

}  // namespace masque
