// Building blocks of the persona-vector recipes (E7-E10): a vector from
// world-written reply pairs, paired-probe preferences and held-out losses
// under optional steering, projections at the last prompt token, the
// separation of held-out pairs along a vector, and prompts whose
// instructions push a trait to graded degrees. Judge-free: every "expressed
// trait" here is the model's log-likelihood preference between two world
// replies that differ only in the trait's piece (posttrain/assistant_probe.h).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/intervention.h"
#include "model/model.h"
#include "persona/persona_vector.h"
#include "posttrain/assistant_probe.h"
#include "posttrain/chat_format.h"
#include "tokenizer/tokenizer.h"
#include "world/traits.h"

namespace masque::experiment {

// Sum of log p over each conversation's Assistant tokens (and closing
// <|end|>), with `steer` (may be null) applied at every position; tokens[i]
// receives the number of scored tokens when given.
std::vector<double> steered_log_likelihoods(const Model& model, const Tokenizer& tokenizer,
                                            const std::vector<Conversation>& conversations,
                                            const Interventions* steer,
                                            std::vector<int>* tokens = nullptr);

// Per pair: log p(positive reply) − log p(negative reply), in nats.
std::vector<double> probe_deltas(const Model& model, const Tokenizer& tokenizer,
                                 const std::vector<ProbePair>& pairs, const Interventions* steer);

// Mean negative log-likelihood per Assistant token of each conversation.
std::vector<double> per_token_losses(const Model& model, const Tokenizer& tokenizer,
                                     const std::vector<Conversation>& conversations,
                                     const Interventions* steer);

// Mean-diff vector of the response-mean activations of the pairs'
// positive vs negative conversations (every pair kept: the world wrote
// them); best layer by separation (vectors/direction.h).
persona::PersonaVector written_vector(const Model& model, const Tokenizer& tokenizer,
                                      const std::vector<ProbePair>& pairs, std::string_view trait);

// Each present layer replaced by a Gaussian direction of the same norm.
void randomize_layers(persona::PersonaVector& vector, std::uint64_t seed);

// Per pair: the cosine between v(layer) and the pair's activation difference
// (positive reply's response mean minus the negative's). Near 1 when the
// vector is the direction that separates new pairs; a random direction of
// the same norm gives about ±1/sqrt(hidden) (the positive control's null).
std::vector<double> pair_separation(const Model& model, const Tokenizer& tokenizer,
                                    const std::vector<ProbePair>& pairs,
                                    const persona::PersonaVector& vector, int layer);

// The same at every layer the vector has: out[L][pair] (empty where absent),
// from one activation capture (which layer separates new pairs).
std::vector<std::vector<double>> pair_separation_by_layer(const Model& model,
                                                          const Tokenizer& tokenizer,
                                                          const std::vector<ProbePair>& pairs,
                                                          const persona::PersonaVector& vector);

// Projection (a·v)/|v| at the last prompt token of each conversation (the
// prompt a model continues as the Assistant).
std::vector<double> prompt_last_projections(const Model& model, const Tokenizer& tokenizer,
                                            const std::vector<Conversation>& prompts,
                                            const persona::PersonaVector& vector, int layer);

// |level| request sentences for the trait's pole sign(level) (the world's
// training phrasings, so an Assistant post-trained on inoculated sets knows
// them), deterministic in (seed, item); "" for level 0.
std::string graded_request(world::Trait trait, int level, std::uint64_t seed, int item);

double cosine(std::span<const float> a, std::span<const float> b);

}  // namespace masque::experiment
