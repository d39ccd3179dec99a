// `masque debug forward`: one forward/backward pass on given token ids,
// dumping logits, loss and every parameter gradient (HF names) to a
// safetensors file, so tests/python/test_hf_parity.py can compare masque
// with transformers' LlamaForCausalLM tensor by tensor.
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/parse_util.h"
#include "core/error.h"
#include "core/json_util.h"
#include "infer/model_dir.h"
#include "io/safetensors.h"

namespace {

using namespace masque;

struct Opts {
  std::string model_dir;
  std::string tokens;
  std::string targets;
  std::string out;
};

void run_forward(const Opts& o) {
  LoadedModel loaded = load_model_dir(o.model_dir);
  Model& model = *loaded.model;
  const std::vector<std::int32_t> tokens = cli::parse_id_list(o.tokens, "--tokens");
  std::vector<std::int32_t> targets;
  if (o.targets.empty()) {  // next-token targets, last position ignored (HF labels=input_ids)
    targets.assign(tokens.begin() + 1, tokens.end());
    targets.push_back(-1);
  } else {
    targets = cli::parse_id_list(o.targets, "--targets", -1);
  }
  const int T = static_cast<int>(tokens.size());
  const int vocab = model.config().vocab_size;
  if (targets.size() != tokens.size())
    throw InputError("--targets must have as many ids as --tokens");
  if (T > model.config().max_position_embeddings) {
    throw InputError(cat("--tokens has ", T, " ids, more than max_position_embeddings ",
                         model.config().max_position_embeddings));
  }
  for (std::int32_t id : tokens) {
    if (id < 0 || id >= vocab)
      throw InputError(cat("token id ", id, " is outside the vocabulary of ", vocab));
  }
  model.reserve(1, T);
  std::vector<float> logits(static_cast<std::size_t>(T) * static_cast<std::size_t>(vocab));
  model.forward_logits(tokens.data(), 1, T, logits.data());
  model.zero_grad();
  const float loss = model.forward_backward(tokens.data(), targets.data(), 1, T, 1.0f);

  SafetensorsWriter writer;
  writer.add_f32("logits", {T, vocab}, logits.data());
  writer.add_f32("loss", {1}, &loss);
  for (const ParamView& p : model.params()) writer.add_f32("grad." + p.name, p.shape, p.grad);
  writer.set_metadata("model", loaded.dir.string());
  writer.write(o.out);
  std::printf("%s\n", Json({{"loss", loss}, {"out", o.out}, {"tensors", model.params().size() + 2}})
                          .dump()
                          .c_str());
}

// Validates a safetensors file as the reference reader does and lists it.
void run_safetensors(const std::string& path) {
  const SafetensorsFile file(path);
  Json tensors = Json::array();
  for (const TensorInfo& t : file.tensors()) {
    tensors.push_back({{"name", t.name},
                       {"dtype", std::string(dtype_name(t.dtype))},
                       {"shape", t.shape},
                       {"data_offsets", {t.begin, t.end}}});
  }
  std::printf("%s\n", Json({{"file", path}, {"metadata", file.metadata()}, {"tensors", tensors}})
                          .dump(-1, ' ', false, Json::error_handler_t::replace)
                          .c_str());
}

masque::cli::CommandRegistrar reg("debug", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("debug", "Developer tools for parity checks");
  cmd->require_subcommand(1);
  auto* fwd = cmd->add_subcommand("forward", "Dump logits, loss and all gradients for token ids");
  auto o = std::make_shared<Opts>();
  fwd->add_option("--model", o->model_dir, "Checkpoint, run directory or HF Llama directory")
      ->required();
  fwd->add_option("--tokens", o->tokens, "Comma-separated token ids")->required();
  fwd->add_option("--targets", o->targets,
                  "Comma-separated targets (-1 = ignored); default next token");
  fwd->add_option("--out", o->out, "Output .safetensors (logits, loss, grad.<param>)")->required();
  fwd->callback([o] { run_forward(*o); });
  auto* st = cmd->add_subcommand("safetensors",
                                 "Validate a .safetensors file and list its tensors (JSON)");
  auto path = std::make_shared<std::string>();
  st->add_option("file", *path, "The .safetensors file")->required();
  st->callback([path] { run_safetensors(*path); });
});

}  // namespace
