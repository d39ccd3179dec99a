// Data screening (see screen.h): two monitoring passes, the data's replies
// as they are and the model's greedy replies, compared per example.
#include "vectors/screen.h"

#include <cmath>

#include "core/error.h"
#include "vectors/monitor.h"

namespace masque::vectors {

Json ScreenResult::summary() const {
  auto num = [](double x) { return std::isnan(x) ? Json(nullptr) : Json(x); };
  return {{"layer", layer},
          {"examples", examples.size()},
          {"mean_delta", num(mean_delta.value)},
          {"low", num(mean_delta.low)},
          {"high", num(mean_delta.high)}};
}

ScreenResult screen_data(const Model& model, const Tokenizer& tokenizer,
                         const persona::PersonaVector& vector,
                         const std::vector<Conversation>& data, const ScreenOptions& options) {
  if (data.empty()) throw InputError("no examples to screen");
  std::vector<Conversation> prompts;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i].back().role != Role::kAssistant || data[i].size() < 2) {
      throw InputError(cat("example ", i,
                           " does not end with an Assistant reply after a prompt; screening "
                           "compares the data's reply with the model's own"));
    }
    prompts.push_back(data[i]);
    prompts.back().pop_back();
  }
  MonitorOptions m;
  m.layer = options.layer;
  m.max_tokens = options.max_tokens;
  m.temperature = 0.0f;  // y_model: the greedy reply
  m.seed = options.seed;
  m.batch = options.batch;
  m.bootstrap = 0;
  m.progress = options.progress;
  const MonitorResult given = monitor_projections(model, tokenizer, nullptr, vector, data, m);
  const MonitorResult own = monitor_projections(model, tokenizer, nullptr, vector, prompts, m);
  ScreenResult result;
  result.layer = given.layer;
  std::vector<double> deltas;
  for (std::size_t i = 0; i < data.size(); ++i) {
    ScreenExample e;
    e.index = static_cast<int>(i);
    e.data_projection = given.examples[i].response.value_or(0.0);
    e.model_projection = own.examples[i].response.value_or(0.0);
    e.delta = e.data_projection - e.model_projection;
    e.model_reply = own.examples[i].response_text;
    deltas.push_back(e.delta);
    result.examples.push_back(std::move(e));
  }
  result.mean_delta = persona::bootstrap_interval(
      deltas.size(), options.bootstrap, options.seed, [&](const std::vector<std::size_t>& idx) {
        double s = 0;
        for (std::size_t k : idx) s += deltas[k];
        return idx.empty() ? 0.0 : s / double(idx.size());
      });
  return result;
}

}  // namespace masque::vectors
