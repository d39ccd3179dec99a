// `masque inspect SHARD`: a token shard's header, counts and a decoded sample.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "data/shard.h"
#include "tokenizer/tokenizer.h"

namespace masque::cli {
namespace {

struct Opts {
  std::string shard;
  std::string tokenizer;
  std::size_t sample = 64;
  bool json = false;
};

void run(const Opts& o) {
  namespace fs = std::filesystem;
  if (fs::is_directory(o.shard)) {
    throw InputError(cat(o.shard, " is a directory: pass one shard file, e.g. ",
                         (fs::path(o.shard) / "train_000000.bin").string()));
  }
  ShardReader reader(o.shard);
  std::optional<Tokenizer> tokenizer;
  if (!o.tokenizer.empty()) {
    tokenizer = Tokenizer::load(o.tokenizer);
    reader.check_tokenizer(tokenizer->vocab_size(), tokenizer->fingerprint());
  }
  // The document separator: from the tokenizer, else from the directory's meta.json.
  std::optional<std::uint32_t> bos;
  if (tokenizer) {
    bos = tokenizer->bos_id();
  } else {
    fs::path meta = fs::path(o.shard).parent_path() / "meta.json";
    std::error_code ec;
    if (fs::exists(meta, ec)) {
      Json m = read_json_file(meta);
      if (m.contains("bos_id") && m.at("bos_id").is_number_unsigned())
        bos = json_to_int<std::uint32_t>(m.at("bos_id"), cat(meta.string(), ": field 'bos_id'"));
    }
  }
  std::uint64_t documents = 0;
  std::vector<std::int32_t> chunk(1 << 16);
  for (std::uint64_t offset = 0; bos && offset < reader.num_tokens(); offset += chunk.size()) {
    std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(chunk.size(), reader.num_tokens() - offset));
    reader.read(offset, n, chunk.data());
    documents += std::count(chunk.begin(), chunk.begin() + n, static_cast<std::int32_t>(*bos));
  }
  std::size_t sample_n =
      static_cast<std::size_t>(std::min<std::uint64_t>(o.sample, reader.num_tokens()));
  std::vector<std::int32_t> sample(sample_n);
  reader.read(0, sample_n, sample.data());
  Json info = {{"path", o.shard},
               {"format_version", 1},
               {"vocab_size", reader.vocab_size()},
               {"token_bytes", reader.token_bytes()},
               {"num_tokens", reader.num_tokens()},
               {"tokenizer_fingerprint", reader.tokenizer_fingerprint()},
               {"sample_ids", sample}};
  if (bos) info["documents"] = documents;
  std::string text;
  if (tokenizer) {
    std::vector<std::uint32_t> ids(sample.begin(), sample.end());
    text = tokenizer->decode(ids);
    info["sample_text"] = text;  // invalid UTF-8 is replaced when printed
  }
  if (o.json) {
    std::printf("%s\n", info.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
    return;
  }
  std::printf(
      "%s\n  format        MASQSHRD v1\n  vocab size    %u (u%u tokens)\n  tokens        %llu\n"
      "  fingerprint   %s\n",
      o.shard.c_str(), reader.vocab_size(), reader.token_bytes() * 8,
      static_cast<unsigned long long>(reader.num_tokens()), reader.tokenizer_fingerprint().c_str());
  if (bos) std::printf("  documents     %llu\n", static_cast<unsigned long long>(documents));
  std::printf("  first %zu ids: %s\n", sample_n, Json(sample).dump().c_str());
  if (tokenizer) std::printf("  decoded:\n%s\n", text.c_str());
}

CommandRegistrar reg("inspect", [](CLI::App& app) {
  auto* cmd =
      app.add_subcommand("inspect", "Show a token shard's header, counts and a decoded sample");
  auto o = std::make_shared<Opts>();
  cmd->add_option("shard", o->shard, "Shard file (train_000000.bin, ...)")->required();
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json to decode the sample (optional)");
  cmd->add_option("--sample", o->sample, "Number of tokens to show")->capture_default_str();
  cmd->add_flag("--json", o->json, "Machine-readable output");
  cmd->callback([o] { run(*o); });
});

}  // namespace
}  // namespace masque::cli
