// SteeredTextGenerator: a TextGenerator whose every call runs under fixed
// interventions (e.g. --steer), so code written against the narrow
// TextGenerator interface (persona evaluation, probes) can be steered
// without knowing it. Batches stay batches: batch_row i is prompt i.
#pragma once
#include <string>
#include <vector>

#include "infer/model_generator.h"
#include "model/intervention.h"

namespace masque::vectors {

class SteeredTextGenerator final : public TextGenerator {
 public:
  SteeredTextGenerator(ModelTextGenerator& generator, const Interventions* interventions)
      : generator_(generator), interventions_(interventions) {}

  std::string generate(const std::string& prompt, const GenerateOptions& options) override {
    return generator_.run(prompt, options, {}, interventions_).text;
  }
  std::vector<std::string> generate_batch(const std::vector<std::string>& prompts,
                                          const std::vector<GenerateOptions>& options) override {
    std::vector<std::vector<std::int32_t>> ids;
    for (const std::string& p : prompts) ids.push_back(generator_.encode_prompt(p));
    std::vector<std::string> out;
    for (GenerationResult& r : generator_.run_batch(std::move(ids), options, interventions_)) {
      out.push_back(std::move(r.text));
    }
    return out;
  }

 private:
  ModelTextGenerator& generator_;
  const Interventions* interventions_;
};

}  // namespace masque::vectors
