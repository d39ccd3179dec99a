// Persona-vector flags shared by every command that generates text
// (sample, chat, eval persona; docs/persona-vectors.md):
//   --steer V[:LAYER[:COEF]]   add COEF * v(LAYER) (repeatable; LAYER defaults
//                              to the vector's best layer, COEF to 1)
//   --steer-positions all|prompt|response
//   --monitor V[:LAYER]        (chat) observe LAYER and print each reply's projection
// V is a masque vector (.safetensors) or a llama.cpp control vector (.gguf).
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "model/intervention.h"
#include "model/model.h"
#include "persona/persona_vector.h"
#include "tokenizer/tokenizer.h"

namespace masque::cli {

struct SteerFlags {
  std::vector<std::string> steer;
  std::string positions = "all";
  std::vector<std::string> monitor;
};

// Adds --steer and --steer-positions (and --monitor when with_monitor).
void add_steer_flags(CLI::App* cmd, SteerFlags& flags, bool with_monitor = false);

// "FILE[:LAYER[:COEF]]": trailing numeric fields are the layer and the
// coefficient (a path may itself hold ':'). InputError naming the flag.
struct SteerSpec {
  std::string path;
  int layer = -1;  // -1 = the vector's best layer
  float coef = 1.0f;
  bool has_coef = false;
};
SteerSpec parse_steer_spec(const std::string& text, const char* flag, bool allow_coef = true);

PositionScope parse_steer_positions(const std::string& text, const char* flag);

// One --monitor vector, observed at its layer on the prompt and the reply.
struct Monitor {
  persona::PersonaVector vector;
  int layer = 0;
  std::unique_ptr<Observation> prompt, response;
  // Projection of the last prompt row and of the mean reply row; clears both
  // observations. NaN where nothing was observed.
  std::pair<double, double> take();
};

// Everything the flags ask of one session: the add entries (in flag order)
// then the monitors' observe entries. Vectors are checked against the model.
struct Steering {
  std::vector<persona::PersonaVector> vectors;
  std::vector<SteerSpec> specs;
  std::vector<std::unique_ptr<Monitor>> monitors;
  Interventions interventions;
  bool empty() const { return interventions.empty(); }
  std::string describe() const;  // "kindness@L2x4" ...
};
Steering build_steering(const SteerFlags& flags, const Model& model, const Tokenizer& tokenizer);

// into += every entry of from (validated again against the model's shape).
void append_interventions(Interventions& into, const Interventions& from, const ModelConfig& cfg);

}  // namespace masque::cli
