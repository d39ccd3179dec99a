// `masque debug forward`: one forward/backward pass on given token ids,
// dumping logits, loss and every parameter gradient (HF names) to a
// safetensors file, so tests/python/test_hf_parity.py can compare masque
// with transformers' LlamaForCausalLM tensor by tensor. With
// --interventions the pass runs under them (logits and gradients alike)
// and each observe entry i adds observe.<i>, which
// tests/python/test_interventions_hf.py compares with torch forward hooks.
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
  std::string interventions;       // JSON array of specs (docs/interventions.md)
  int response_from = 0;           // positions >= this are response tokens
  bool has_response_from = false;  // --response-from given: the call has a prompt/response split
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
  // Positions >= --response-from are response tokens, for interventions
  // scoped to prompt or response positions.
  std::vector<std::uint8_t> response;
  if (o.has_response_from) {
    if (o.response_from < 0 || o.response_from > T) {
      throw InputError(cat("--response-from ", o.response_from, " must be in [0, ", T,
                           "] (the length of --tokens)"));
    }
    response.assign(static_cast<std::size_t>(T), 0);
    for (int t = o.response_from; t < T; ++t) response[t] = 1;
  }
  const int layers = model.config().num_hidden_layers;
  const int hidden = model.config().hidden_size;
  cli::InterventionsFile file;
  if (!o.interventions.empty()) {
    file = cli::load_interventions_file(o.interventions, layers, hidden, /*allow_observe=*/true,
                                        !response.empty());
  }
  const std::uint8_t* mask = response.empty() ? nullptr : response.data();
  // Observe only in the logits pass: the training pass would append the same
  // rows a second time.
  const Interventions modifying = file.modifying(layers, hidden);
  const CallOptions logits_call{o.interventions.empty() ? nullptr : &file.all, mask};
  const CallOptions backward_call{o.interventions.empty() ? nullptr : &modifying, mask};

  model.reserve(1, T);
  std::vector<float> logits(static_cast<std::size_t>(T) * static_cast<std::size_t>(vocab));
  model.forward_logits(tokens.data(), 1, T, logits.data(), logits_call);
  model.zero_grad();
  const float loss =
      model.forward_backward(tokens.data(), targets.data(), 1, T, 1.0f, backward_call);

  SafetensorsWriter writer;
  writer.add_f32("logits", {T, vocab}, logits.data());
  writer.add_f32("loss", {1}, &loss);
  std::vector<float> grad;
  for (const ParamView& p : model.params()) {
    grad.resize(p.numel);
    model.read_grad(p, grad.data());  // through the backend: any device
    writer.add_f32("grad." + p.name, p.shape, grad.data());
  }
  // observe.<i>: entry i's rows [rows, hidden], in row (= position) order.
  std::size_t observed = 0;
  for (std::size_t i = 0; i < file.observations.size(); ++i) {
    const Observation* obs = file.observations[i].get();
    if (obs == nullptr) continue;
    const std::int64_t rows = static_cast<std::int64_t>(obs->pos.size());
    const float none = 0.0f;  // an entry whose positions missed every row: [0, hidden]
    writer.add_f32(cat("observe.", i), {rows, hidden}, rows > 0 ? obs->values.data() : &none);
    ++observed;
  }
  writer.set_metadata("model", loaded.dir.string());
  if (!o.interventions.empty()) writer.set_metadata("interventions", o.interventions);
  writer.write(o.out);
  std::printf("%s\n", json_line(Json({{"loss", loss},
                                      {"out", o.out},
                                      {"tensors", model.params().size() + 2 + observed},
                                      {"interventions", file.specs.size()},
                                      {"observations", observed}}))
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
  fwd->add_option("--out", o->out, "Output .safetensors (logits, loss, grad.<param>, observe.<i>)")
      ->required();
  fwd->add_option(
      "--interventions", o->interventions,
      "JSON array of intervention specs applied to logits and gradients; observe entry i is "
      "dumped as observe.<i> (docs/interventions.md)");
  auto* response_from = fwd->add_option(
      "--response-from", o->response_from,
      "Positions >= N are response tokens (for positions \"prompt\" / \"response\")");
  fwd->callback([o, response_from] {
    o->has_response_from = response_from->count() > 0;
    run_forward(*o);
  });
  auto* st = cmd->add_subcommand("safetensors",
                                 "Validate a .safetensors file and list its tensors (JSON)");
  auto path = std::make_shared<std::string>();
  st->add_option("file", *path, "The .safetensors file")->required();
  st->callback([path] { run_safetensors(*path); });
});

}  // namespace
