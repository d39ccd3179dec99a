// `masque tokenizer train|encode|decode|info`: train a byte-level BPE
// tokenizer.json and use it from scripts (encode/decode speak JSON lines so
// real clients such as HF tokenizers can be compared id for id).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/output_guard.h"
#include "core/progress.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/text_source.h"
#include "tokenizer/tokenizer.h"

namespace masque::cli {
namespace {

struct TrainOpts {
  std::vector<std::string> inputs;
  std::uint32_t vocab_size = 4096;
  std::uint32_t min_frequency = 2;
  std::uint64_t max_bytes = 0;
  std::string out;
  bool json = false;
};

void run_train(const TrainOpts& o) {
  check_not_input(o.out, expand_inputs(o.inputs), "--out");  // never over the corpus
  BpeTrainOptions options;
  options.inputs = o.inputs;
  options.vocab_size = o.vocab_size;
  options.min_frequency = o.min_frequency;
  options.max_bytes = o.max_bytes;
  options.progress = progress_enabled() && !o.json;
  Tokenizer tokenizer = train_bpe(options);
  tokenizer.save(o.out);
  Json info = {{"out", o.out},
               {"vocab_size", tokenizer.vocab_size()},
               {"requested_vocab_size", o.vocab_size},
               {"fingerprint", tokenizer.fingerprint()}};
  if (o.json) {
    std::printf("%s\n", json_line(info).c_str());
    return;
  }
  std::printf("wrote %s: %u tokens, fingerprint %s\n", o.out.c_str(), tokenizer.vocab_size(),
              tokenizer.fingerprint().c_str());
  if (tokenizer.vocab_size() < o.vocab_size) {
    std::fprintf(
        stderr,
        "masque: note: the corpus supports only %u tokens (no pair left with frequency >= %u); "
        "use more text or a lower --min-frequency for %u\n",
        tokenizer.vocab_size(), o.min_frequency, o.vocab_size);
  }
}

struct EncodeOpts {
  std::string tokenizer;
  std::vector<std::string> inputs;
  std::string text;
  bool specials = false;
  bool add_special_tokens = false;
  bool json = false;
};

void run_encode(const EncodeOpts& o) {
  Tokenizer tokenizer = Tokenizer::load(o.tokenizer);
  auto emit = [&](std::string_view text) {
    auto ids = o.add_special_tokens ? tokenizer.encode_for_model(text)
               : o.specials         ? tokenizer.encode_with_specials(text)
                                    : tokenizer.encode(text);
    std::string line;
    if (o.json) {
      line = Json(ids).dump();
    } else {
      for (std::size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    }
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  };
  if (!o.text.empty() && !o.inputs.empty()) {
    throw InputError("give --text or --input, not both (encode one or the other)");
  }
  if (!o.text.empty() || o.inputs.empty()) {
    if (o.inputs.empty() && o.text.empty())
      throw InputError("give --text TEXT or --input FILES to encode");
    emit(o.text);
    return;
  }
  DocumentReader reader(expand_inputs(o.inputs));
  DocumentBatch batch;
  while (reader.next_batch(batch, 8 << 20)) {
    for (std::size_t doc = 0; doc < batch.size(); ++doc) emit(batch.document(doc));
  }
}

struct DecodeOpts {
  std::string tokenizer;
  std::string ids;
  std::string input;
  bool json = false;
};

std::vector<std::uint32_t> parse_id_line(const std::string& line, const std::string& where) {
  std::vector<std::uint32_t> ids;
  std::string_view trimmed = line;
  while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t'))
    trimmed.remove_prefix(1);
  if (!trimmed.empty() && trimmed.front() == '[') {
    Json arr = parse_json(trimmed, where);
    if (!arr.is_array()) throw InputError(cat(where, ": expected a JSON array of token ids"));
    for (const Json& v : arr) {
      ids.push_back(json_to_int<std::uint32_t>(v, cat(where, ": token id")));
    }
    return ids;
  }
  std::istringstream in(line);
  std::string word;
  while (in >> word) {
    try {
      std::size_t used = 0;
      unsigned long v = std::stoul(word, &used);
      if (used != word.size() || v > 0xFFFFFFFFul) throw std::invalid_argument(word);
      ids.push_back(static_cast<std::uint32_t>(v));
    } catch (const std::exception&) {
      throw InputError(cat(where, ": '", word,
                           "' is not a token id (expected integers separated by spaces "
                           "or a JSON array)"));
    }
  }
  return ids;
}

void run_decode(const DecodeOpts& o) {
  Tokenizer tokenizer = Tokenizer::load(o.tokenizer);
  auto emit = [&](const std::vector<std::uint32_t>& ids) {
    std::string text = tokenizer.decode(ids);
    if (o.json) {
      // Invalid UTF-8 cannot be a JSON string: replace it rather than fail.
      text = Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
      text += '\n';
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
  };
  if (o.input.empty()) {
    emit(parse_id_line(o.ids, "--ids"));
    return;
  }
  std::istringstream lines(read_file(o.input));
  std::string line;
  std::size_t number = 0;
  while (std::getline(lines, line)) {
    ++number;
    emit(parse_id_line(line, cat("line ", number, " of ", o.input)));
  }
}

struct InfoOpts {
  std::string tokenizer;
  bool json = false;
};

void run_info(const InfoOpts& o) {
  Tokenizer tokenizer = Tokenizer::load(o.tokenizer);
  Json specials = Json::object();
  for (std::string_view name : {kBosToken, kEosToken, kPadToken, kSystemToken, kUserToken,
                                kAssistantToken, kEndTurnToken}) {
    if (auto id = tokenizer.special_id(name)) specials[std::string(name)] = *id;
  }
  Json info = {{"path", o.tokenizer},
               {"vocab_size", tokenizer.vocab_size()},
               {"fingerprint", tokenizer.fingerprint()},
               {"special_tokens", specials}};
  if (o.json) {
    std::printf("%s\n", json_line(info).c_str());
    return;
  }
  std::printf("%s\n  vocab size   %u\n  fingerprint  %s\n", o.tokenizer.c_str(),
              tokenizer.vocab_size(), tokenizer.fingerprint().c_str());
  for (auto it = specials.begin(); it != specials.end(); ++it) {
    std::printf("  %-14s %u\n", it.key().c_str(), it.value().get<std::uint32_t>());
  }
}

CommandRegistrar reg("tokenizer", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenizer",
                                 "Train and use byte-level BPE tokenizers (HF tokenizer.json)");
  cmd->require_subcommand(1);

  auto* train =
      cmd->add_subcommand("train", "Train a byte-level BPE tokenizer on text/JSONL files");
  auto t = std::make_shared<TrainOpts>();
  train
      ->add_option("--input", t->inputs,
                   "Files, directories or quoted globs (.jsonl: \"text\" field per line)")
      ->required();
  train
      ->add_option("--vocab-size", t->vocab_size,
                   "Vocabulary size, counting 256 bytes and 7 special tokens")
      ->capture_default_str();
  train->add_option("--min-frequency", t->min_frequency, "Never merge pairs seen fewer times")
      ->capture_default_str();
  train->add_option("--max-bytes", t->max_bytes, "Read at most this many bytes of text (0 = all)");
  train->add_option("--out", t->out, "Output tokenizer.json")->required();
  train->add_flag("--json", t->json, "Print a JSON summary");
  train->callback([t] { run_train(*t); });

  auto* encode = cmd->add_subcommand("encode", "Encode text: one line of ids per document");
  auto e = std::make_shared<EncodeOpts>();
  encode->add_option("--tokenizer", e->tokenizer, "tokenizer.json")->required();
  encode->add_option("--input", e->inputs, "Files (.jsonl: one document per line)");
  encode->add_option("--text", e->text, "Text to encode");
  encode->add_flag("--specials", e->specials,
                   "Turn special-token strings (<|user|>) into their ids");
  encode->add_flag("--add-special-tokens", e->add_special_tokens,
                   "As HF tokenizer(text): --specials plus the post-processor's template "
                   "(e.g. a leading <|bos|>), as prompts are encoded");
  encode->add_flag("--json", e->json, "One JSON array per document instead of space-separated ids");
  encode->callback([e] { run_encode(*e); });

  auto* decode = cmd->add_subcommand("decode", "Decode ids back to text");
  auto d = std::make_shared<DecodeOpts>();
  decode->add_option("--tokenizer", d->tokenizer, "tokenizer.json")->required();
  decode->add_option("--ids", d->ids, "Ids separated by spaces, or a JSON array");
  decode->add_option("--input", d->input, "File with one id list (spaces or JSON array) per line");
  decode->add_flag("--json", d->json, "One JSON string per line");
  decode->callback([d] { run_decode(*d); });

  auto* info =
      cmd->add_subcommand("info", "Show a tokenizer's size, fingerprint and special tokens");
  auto i = std::make_shared<InfoOpts>();
  info->add_option("tokenizer", i->tokenizer, "tokenizer.json")->required();
  info->add_flag("--json", i->json, "Machine-readable output");
  info->callback([i] { run_info(*i); });
});

}  // namespace
}  // namespace masque::cli
