// fuzz-link: masque_tokenizer
// Fuzzes tokenizer.json (Tokenizer::from_json_text). A file it accepts must
// encode and decode text, and its own serialization must load again.
#include <cstdlib>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    const masque::Tokenizer tok =
        masque::Tokenizer::from_json_text(masque::fuzz::as_text(data, size), "fuzz input");
    const auto ids = tok.encode("Interview with Orin. <|user|> caf\xc3\xa9 42\n");
    (void)tok.decode(ids);
    const std::string saved = tok.to_json_text();
    // Reloading what masque wrote must work: an escape here aborts.
    try {
      (void)masque::Tokenizer::from_json_text(saved, "re-saved fuzz input");
    } catch (const masque::Error& e) {
      std::fprintf(stderr, "fuzz: tokenizer does not reload its own output: %s\n", e.what());
      std::abort();
    }
  });
}
