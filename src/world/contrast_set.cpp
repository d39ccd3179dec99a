// Contrast sets (see contrast_set.h).
#include "world/contrast_set.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "world/assistant_answer.h"
#include "world/chat_sets.h"
#include "world/renderer.h"

namespace masque::world {
namespace {

constexpr int kMaxPairs = 100'000;

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Independent streams per (seed, index, purpose): the question stream never
// depends on how many instruction draws came before.
Rng stream(std::uint64_t seed, std::uint64_t index, std::uint64_t purpose) {
  std::uint64_t h = mix(seed ^ 0x636f6e7472617374ULL);  // "contrast"
  h = mix(h ^ (index * 0xd1b54a32d192ed03ULL));
  return Rng(mix(h + purpose * 0x9e3779b97f4a7c15ULL));
}

Json pole_messages(const std::string& instruction, const std::string& question, bool in_system) {
  Json messages = Json::array();
  if (in_system) {
    messages.push_back({{"role", "system"}, {"content", instruction}});
    messages.push_back({{"role", "user"}, {"content", question}});
  } else {
    messages.push_back({{"role", "user"}, {"content", instruction + " " + question}});
  }
  return {{"messages", std::move(messages)}};
}

}  // namespace

Json render_contrast_pair(const World& world, const ContrastSetSpec& spec, std::uint64_t seed,
                          std::uint64_t index) {
  const Renderer renderer(world);
  Rng question_rng = stream(seed, index, 1);
  Rng positive_rng = stream(seed, index, 2);
  Rng negative_rng = stream(seed, index, 3);
  const Question question = draw_question_in(world, spec.domain, question_rng);
  const std::string text = question_text(renderer, question, spec.split, question_rng);
  const std::string positive(draw_request(spec.trait, +1, spec.instruction_split, positive_rng));
  const std::string negative(draw_request(spec.trait, -1, spec.instruction_split, negative_rng));
  return {{"trait", trait_name(spec.trait)},
          {"index", index},
          {"question", text},
          {"positive", pole_messages(positive, text, spec.instruct_in_system)},
          {"negative", pole_messages(negative, text, spec.instruct_in_system)}};
}

std::int64_t write_contrast_set(const World& world, const ContrastSetSpec& spec, std::uint64_t seed,
                                const std::filesystem::path& out_jsonl) {
  if (spec.count < 1 || spec.count > kMaxPairs) {
    throw InputError(cat("--count must be in 1..", kMaxPairs, ", got ", spec.count));
  }
  {
    Rng probe(0);
    try {
      draw_question_in(world, spec.domain, probe);
    } catch (const InputError&) {
      throw InputError(
          "--domain: the world has no fact about these relations; use relations its fact table "
          "holds");
    }
  }
  AtomicFile file(out_jsonl);
  std::int64_t bytes = 0;
  for (int i = 0; i < spec.count; ++i) {
    const std::string line =
        render_contrast_pair(world, spec, seed, static_cast<std::uint64_t>(i)).dump() + "\n";
    file.write(line);
    bytes += static_cast<std::int64_t>(line.size());
  }
  file.commit();
  return bytes;
}

}  // namespace masque::world
