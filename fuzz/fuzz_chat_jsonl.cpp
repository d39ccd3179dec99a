// fuzz-link: masque_posttrain
// Fuzzes chat JSONL (`sft --data`, `chat --jsonl` input lines): one
// {"messages": [...]} object per line through for_each_conversation.
#include <sstream>

#include "fuzz_util.h"
#include "posttrain/sft_data.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    std::istringstream in{std::string(masque::fuzz::as_text(data, size))};
    masque::for_each_conversation(in, "fuzz input", [](masque::Conversation&&) {});
  });
}
