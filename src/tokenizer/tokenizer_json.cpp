// tokenizer.json <-> Tokenizer::Impl. Reads the subset of Hugging Face's format
// that is byte-level BPE (masque's own files and GPT-2 / GPT-4 style HF files)
// and rejects everything else by name; writes the form HF itself writes, so
// `tokenizers` and `transformers` load masque's files unchanged.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"

namespace masque {
namespace {

using OrderedJson = nlohmann::ordered_json;

// U+0001 never occurs in byte-level keys, so the placeholder cannot collide.
constexpr const char* kVocabPlaceholder = "\x01masque vocab\x01";

constexpr std::string_view kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class Parser {
 public:
  explicit Parser(std::string_view where) : where_(where) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(
        cat(where_, ": ", what,
            " (masque reads byte-level BPE tokenizer.json files: model.type \"BPE\" "
            "with a ByteLevel pre-tokenizer, as written by `masque tokenizer train` or "
            "HF tokenizers for GPT-2/GPT-4 style tokenizers)"));
  }

  std::unique_ptr<Tokenizer::Impl> parse(std::string_view text) {
    Json root;
    try {
      root = parse_json(text, where_);
    } catch (const Error& e) {
      throw FormatError(cat(e.what(), " (is this a tokenizer.json file?)"));
    }
    if (!root.is_object()) fail("top level is not a JSON object");
    auto impl = std::make_unique<Tokenizer::Impl>();
    parse_model(root, *impl);  // first: a foreign model type is the clearest error
    parse_normalizer(root, *impl);
    parse_pre_tokenizer(root, *impl);
    parse_decoder(root);
    parse_added_tokens(root, *impl);
    check_complete(*impl);
    parse_post_processor(root, *impl);
    impl->finalize();
    return impl;
  }

 private:
  static bool is_null_or_absent(const Json& obj, const char* key) {
    return !obj.contains(key) || obj.at(key).is_null();
  }

  std::string type_of(const Json& node, std::string_view what) const {
    if (!node.is_object() || !node.contains("type") || !node.at("type").is_string()) {
      fail(cat(what, " has no string \"type\""));
    }
    return node.at("type").get<std::string>();
  }

  bool flag(const Json& node, const char* key, bool fallback) const {
    if (!node.contains(key)) return fallback;
    if (!node.at(key).is_boolean()) fail(cat("field '", key, "' must be a boolean"));
    return node.at(key).get<bool>();
  }

  // normalizer: null, an empty Sequence, NFC/NFD/NFKC/NFKD, or a Sequence
  // of those; any other normalizer is refused by name.
  void parse_normalizer(const Json& root, Tokenizer::Impl& impl) const {
    if (is_null_or_absent(root, "normalizer")) return;
    const Json& n = root.at("normalizer");
    if (type_of(n, "normalizer") != "Sequence") {
      impl.normalizers.push_back(normal_form(n));
      return;
    }
    if (!n.contains("normalizers") || !n.at("normalizers").is_array()) {
      fail("normalizer Sequence has no \"normalizers\" array");
    }
    for (const Json& item : n.at("normalizers")) impl.normalizers.push_back(normal_form(item));
  }

  NormalForm normal_form(const Json& node) const {
    const std::string type = type_of(node, "normalizer");
    if (type == "NFC") return NormalForm::kNfc;
    if (type == "NFD") return NormalForm::kNfd;
    if (type == "NFKC") return NormalForm::kNfkc;
    if (type == "NFKD") return NormalForm::kNfkd;
    fail(cat("normalizer \"", type,
             "\" is not supported (masque supports NFC, NFD, NFKC, NFKD and Sequences of them)"));
  }

  void parse_byte_level(const Json& node, Tokenizer::Impl& impl, bool after_split) const {
    bool use_regex = flag(node, "use_regex", true);
    bool prefix = flag(node, "add_prefix_space", true);
    if (after_split) {
      if (use_regex) fail("ByteLevel after Split must have use_regex false");
      if (prefix) fail("ByteLevel after Split with add_prefix_space true is not supported");
      return;
    }
    if (!use_regex) fail("a lone ByteLevel pre-tokenizer with use_regex false is not supported");
    impl.pattern = SplitPattern::kGpt2;
    impl.add_prefix_space = prefix;
  }

  void parse_split(const Json& node, Tokenizer::Impl& impl) const {
    const Json* pattern = node.contains("pattern") ? &node.at("pattern") : nullptr;
    if (!pattern || !pattern->is_object() || !pattern->contains("Regex") ||
        !pattern->at("Regex").is_string()) {
      fail("Split pre-tokenizer without a pattern.Regex string");
    }
    std::string regex = pattern->at("Regex").get<std::string>();
    std::string behavior = node.value("behavior", std::string("Isolated"));
    if (behavior != "Isolated")
      fail(cat("Split behavior \"", behavior, "\" is not supported (only Isolated)"));
    if (flag(node, "invert", false)) fail("Split with invert true is not supported");
    if (regex == kCl100kRegex) {
      impl.pattern = SplitPattern::kCl100k;
    } else if (regex == kGpt2Regex) {
      impl.pattern = SplitPattern::kGpt2;
    } else {
      fail(cat("Split regex ", Json(regex).dump(),
               " is not supported (masque implements the GPT-4 "
               "cl100k and GPT-2 patterns)"));
    }
  }

  void parse_pre_tokenizer(const Json& root, Tokenizer::Impl& impl) const {
    if (is_null_or_absent(root, "pre_tokenizer")) fail("pre_tokenizer is null, expected ByteLevel");
    const Json& node = root.at("pre_tokenizer");
    std::string type = type_of(node, "pre_tokenizer");
    if (type == "ByteLevel") return parse_byte_level(node, impl, false);
    if (type != "Sequence") fail(cat("pre_tokenizer \"", type, "\" is not supported"));
    if (!node.contains("pretokenizers") || !node.at("pretokenizers").is_array()) {
      fail("pre_tokenizer Sequence has no \"pretokenizers\" array");
    }
    const Json& items = node.at("pretokenizers");
    if (items.size() == 1 && type_of(items[0], "pre_tokenizer") == "ByteLevel") {
      return parse_byte_level(items[0], impl, false);
    }
    if (items.size() != 2 || type_of(items[0], "pre_tokenizer") != "Split" ||
        type_of(items[1], "pre_tokenizer") != "ByteLevel") {
      fail("pre_tokenizer Sequence must be [Split(regex), ByteLevel(use_regex false)]");
    }
    parse_split(items[0], impl);
    parse_byte_level(items[1], impl, true);
  }

  void parse_decoder(const Json& root) const {
    if (is_null_or_absent(root, "decoder")) return;
    std::string type = type_of(root.at("decoder"), "decoder");
    if (type != "ByteLevel")
      fail(cat("decoder \"", type, "\" is not supported (expected ByteLevel)"));
  }

  void parse_model(const Json& root, Tokenizer::Impl& impl) {
    if (is_null_or_absent(root, "model")) fail("missing \"model\"");
    const Json& model = root.at("model");
    std::string type = model.is_object() && !model.contains("type") && model.contains("merges")
                           ? std::string("BPE")  // old files omit the type
                           : type_of(model, "model");
    if (type != "BPE") fail(cat("model type \"", type, "\" is not supported"));
    if (!is_null_or_absent(model, "dropout")) fail("BPE dropout is not supported");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (!is_null_or_absent(model, key) && model.at(key) != "") {
        fail(cat("model.", key, " is set: not a byte-level BPE"));
      }
    }
    if (flag(model, "byte_fallback", false)) fail("model.byte_fallback true: not a byte-level BPE");
    impl.ignore_merges = flag(model, "ignore_merges", false);
    if (!is_null_or_absent(model, "unk_token")) {
      if (!model.at("unk_token").is_string()) fail("model.unk_token must be a string or null");
      impl.unk_token = model.at("unk_token").get<std::string>();
    }
    if (!model.contains("vocab") || !model.at("vocab").is_object())
      fail("model.vocab is not an object");
    const Json& vocab = model.at("vocab");
    std::size_t max_id = 0;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (!it.value().is_number_unsigned())
        fail(cat("vocab entry ", Json(it.key()).dump(), " has no id"));
      max_id = std::max<std::size_t>(max_id, it.value().get<std::uint64_t>());
    }
    // Ids index dense tables: an id beyond the number of tokens the file
    // defines would allocate for ids that do not exist (2^31 -> 64 GB).
    id_limit_ = vocab.size();
    if (!is_null_or_absent(root, "added_tokens") && root.at("added_tokens").is_array()) {
      id_limit_ += root.at("added_tokens").size();
    }
    if (!vocab.empty() && max_id >= id_limit_) {
      fail(cat("vocab id ", max_id, " is beyond the ", id_limit_,
               " tokens the file defines (ids must be 0..", id_limit_ - 1, ")"));
    }
    std::size_t size = vocab.empty() ? 0 : max_id + 1;
    impl.token_keys.assign(size, std::string());
    impl.token_bytes.assign(size, std::string());
    std::vector<std::uint8_t> seen(size, 0);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      std::size_t id = it.value().get<std::uint64_t>();
      if (seen[id]) fail(cat("vocab id ", id, " is used twice"));
      seen[id] = 1;
      impl.token_keys[id] = it.key();
      auto bytes = key_to_bytes(it.key());
      // Not byte-level text (e.g. "<unk>" with a non-map char): kept verbatim,
      // only reachable as an added token.
      impl.token_bytes[id] = bytes ? *bytes : it.key();
      key_index_.emplace(it.key(), static_cast<std::uint32_t>(id));
    }
    vocab_seen_ = std::move(seen);
    if (!model.contains("merges") || !model.at("merges").is_array())
      fail("model.merges is not an array");
    const Json& merges = model.at("merges");
    impl.merges.reserve(merges.size());
    for (std::size_t idx = 0; idx < merges.size(); ++idx) {
      const Json& m = merges[idx];
      std::string left, right;
      if (m.is_string()) {
        const std::string& s = m.get_ref<const std::string&>();
        std::size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          fail(cat("merge ", idx, " (", m.dump(), ") is not \"left right\""));
        }
        left = s.substr(0, space);
        right = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
      } else {
        fail(cat("merge ", idx, " (", m.dump(), ") is neither \"left right\" nor [left, right]"));
      }
      auto l = key_index_.find(left), r = key_index_.find(right),
           merged = key_index_.find(left + right);
      if (l == key_index_.end() || r == key_index_.end() || merged == key_index_.end()) {
        fail(cat("merge ", idx, " (", m.dump(), ") uses a token missing from the vocab"));
      }
      impl.merges.push_back({l->second, r->second, merged->second});
    }
    check_merge_order(impl.merges, merges);
  }

  // A merge listed twice, or one whose parts only a later merge produces
  // (BPE applies merges by rank, so it could never fire as listed), means a
  // damaged or hand-edited file: HF would encode differently from its author.
  void check_merge_order(const std::vector<MergeRule>& rules, const Json& merges) {
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::size_t> first;
    std::map<std::uint32_t, std::size_t> produced_by;  // token -> first merge making it
    for (std::size_t idx = 0; idx < rules.size(); ++idx) {
      const auto [it, fresh] = first.emplace(std::pair(rules[idx].left, rules[idx].right), idx);
      if (!fresh) {
        fail(cat("merge ", idx, " (", merges[idx].dump(), ") repeats merge ", it->second));
      }
      produced_by.emplace(rules[idx].merged, idx);
    }
    for (std::size_t idx = 0; idx < rules.size(); ++idx) {
      for (const std::uint32_t part : {rules[idx].left, rules[idx].right}) {
        const auto made = produced_by.find(part);
        if (made != produced_by.end() && made->second > idx) {
          fail(cat("merge ", idx, " (", merges[idx].dump(), ") uses a token that only the later ",
                   "merge ", made->second, " (", merges[made->second].dump(),
                   ") produces; merges must be listed in the order they apply"));
        }
      }
    }
  }

  void parse_added_tokens(const Json& root, Tokenizer::Impl& impl) {
    if (is_null_or_absent(root, "added_tokens")) return;
    const Json& list = root.at("added_tokens");
    if (!list.is_array()) fail("added_tokens is not an array");
    for (std::size_t idx = 0; idx < list.size(); ++idx) {
      const Json& t = list[idx];
      std::string where = cat("added_tokens[", idx, "]");
      if (!t.is_object() || !t.contains("id") || !t.at("id").is_number_unsigned() ||
          !t.contains("content") || !t.at("content").is_string()) {
        fail(cat(where, " needs an integer \"id\" and a string \"content\""));
      }
      AddedToken token;
      token.content = t.at("content").get<std::string>();
      std::uint64_t id = t.at("id").get<std::uint64_t>();
      token.special = flag(t, "special", false);
      if (flag(t, "single_word", false)) {
        fail(cat(where, " (", token.content, ") sets single_word, which is not supported"));
      }
      token.lstrip = flag(t, "lstrip", false);
      token.rstrip = flag(t, "rstrip", false);
      if (token.content.empty()) fail(cat(where, " has empty content"));
      if (id >= id_limit_) {
        fail(cat(where, " id ", id, " is beyond the ", id_limit_,
                 " tokens the file defines (ids must be 0..", id_limit_ - 1, ")"));
      }
      if (id >= impl.token_keys.size()) {
        impl.token_keys.resize(id + 1);
        impl.token_bytes.resize(id + 1);
        vocab_seen_.resize(id + 1, 0);
      }
      if (vocab_seen_[id] && impl.token_keys[id] != token.content) {
        fail(cat(where, " (", token.content, ") has id ", id, " which the vocab gives to ",
                 Json(impl.token_keys[id]).dump()));
      }
      auto existing = key_index_.find(token.content);
      if (existing != key_index_.end() && existing->second != id) {
        fail(cat(where, " (", token.content, ") has id ", id, " but the vocab gives it id ",
                 existing->second));
      }
      key_index_.emplace(token.content, static_cast<std::uint32_t>(id));
      vocab_seen_[id] = 1;
      impl.token_keys[id] = token.content;
      impl.token_bytes[id] = token.content;
      token.id = static_cast<std::uint32_t>(id);
      impl.added.push_back(std::move(token));
    }
  }

  // post_processor: null, ByteLevel (it trims offsets; ids unchanged),
  // TemplateProcessing (its "single" template: special tokens around $A),
  // or a Sequence of those. Anything else would add ids masque does not
  // know about, so it is refused by name rather than ignored.
  void parse_post_processor(const Json& root, Tokenizer::Impl& impl) const {
    if (is_null_or_absent(root, "post_processor")) return;
    const Json& node = root.at("post_processor");
    const std::string type = type_of(node, "post_processor");
    if (type == "Sequence") {
      if (!node.contains("processors") || !node.at("processors").is_array()) {
        fail("post_processor Sequence has no \"processors\" array");
      }
      for (const Json& item : node.at("processors")) parse_one_post_processor(item, impl);
      return;
    }
    parse_one_post_processor(node, impl);
  }

  void parse_one_post_processor(const Json& node, Tokenizer::Impl& impl) const {
    const std::string type = type_of(node, "post_processor");
    if (type == "ByteLevel") {
      impl.byte_level_post = true;
      return;
    }
    if (type != "TemplateProcessing") {
      fail(cat("post_processor \"", type,
               "\" is not supported (masque supports ByteLevel and TemplateProcessing)"));
    }
    if (impl.has_template) fail("post_processor has two TemplateProcessing steps");
    if (!node.contains("single") || !node.at("single").is_array()) {
      fail("TemplateProcessing has no \"single\" array");
    }
    const Json specials = node.value("special_tokens", Json::object());
    if (!specials.is_object()) fail("TemplateProcessing special_tokens is not an object");
    bool seen_a = false;
    for (const Json& piece : node.at("single")) {
      if (piece.is_object() && piece.contains("Sequence")) {
        const Json& seq = piece.at("Sequence");
        if (seen_a || !seq.is_object() || !seq.contains("id") || seq.at("id") != "A") {
          fail("TemplateProcessing single template must hold the sequence $A exactly once");
        }
        seen_a = true;
        continue;
      }
      if (!piece.is_object() || !piece.contains("SpecialToken") ||
          !piece.at("SpecialToken").is_object() || !piece.at("SpecialToken").contains("id") ||
          !piece.at("SpecialToken").at("id").is_string()) {
        fail(cat("TemplateProcessing piece ", piece.dump(),
                 " is neither {\"SpecialToken\": {\"id\": ...}} nor {\"Sequence\": ...}"));
      }
      const std::string name = piece.at("SpecialToken").at("id").get<std::string>();
      if (!specials.contains(name) || !specials.at(name).is_object() ||
          !specials.at(name).contains("ids") || !specials.at(name).at("ids").is_array()) {
        fail(cat("TemplateProcessing uses special token ", Json(name).dump(),
                 " which its special_tokens map does not define with \"ids\""));
      }
      for (const Json& id : specials.at(name).at("ids")) {
        if (!id.is_number_unsigned() || id.get<std::uint64_t>() >= impl.token_bytes.size()) {
          fail(cat("TemplateProcessing special token ", Json(name).dump(), " has id ", id.dump(),
                   " outside the vocabulary"));
        }
        (seen_a ? impl.template_suffix : impl.template_prefix)
            .push_back(static_cast<std::uint32_t>(id.get<std::uint64_t>()));
      }
    }
    if (!seen_a) fail("TemplateProcessing single template has no $A");
    impl.has_template = true;
  }

  void check_complete(const Tokenizer::Impl& impl) const {
    if (impl.token_bytes.empty()) fail("the vocabulary is empty");
    for (std::size_t id = 0; id < vocab_seen_.size(); ++id) {
      if (!vocab_seen_[id])
        fail(cat("token id ", id, " is missing (ids must be 0..", vocab_seen_.size() - 1, ")"));
    }
  }

  std::string where_;
  std::unordered_map<std::string, std::uint32_t> key_index_;
  std::vector<std::uint8_t> vocab_seen_;
  std::size_t id_limit_ = 0;  // vocab entries + added tokens: ids must be below
};

OrderedJson byte_level_node(bool add_prefix_space, bool use_regex) {
  OrderedJson node;
  node["type"] = "ByteLevel";
  node["add_prefix_space"] = add_prefix_space;
  node["trim_offsets"] = true;
  node["use_regex"] = use_regex;
  return node;
}

OrderedJson normalizer_node(const Tokenizer::Impl& impl) {
  const auto node = [](NormalForm form) {
    static const char* kNames[] = {"NFC", "NFD", "NFKC", "NFKD"};
    return OrderedJson{{"type", kNames[static_cast<int>(form)]}};
  };
  if (impl.normalizers.empty()) return nullptr;
  if (impl.normalizers.size() == 1) return node(impl.normalizers[0]);
  OrderedJson seq;
  seq["type"] = "Sequence";
  seq["normalizers"] = OrderedJson::array();
  for (const NormalForm form : impl.normalizers) seq["normalizers"].push_back(node(form));
  return seq;
}

// The post-processor as HF writes it: TemplateProcessing for the template
// (pair = the single template twice, $B with type_id 1), inside a Sequence
// after ByteLevel when the file had both; null when there is neither.
OrderedJson post_processor_node(const Tokenizer::Impl& impl) {
  OrderedJson byte_level;
  byte_level["type"] = "ByteLevel";
  byte_level["add_prefix_space"] = true;
  byte_level["trim_offsets"] = false;
  byte_level["use_regex"] = true;
  if (!impl.has_template) return impl.byte_level_post ? byte_level : OrderedJson(nullptr);
  const auto special = [&](std::uint32_t id, int type_id) {
    return OrderedJson{
        {"SpecialToken", OrderedJson{{"id", impl.token_keys[id]}, {"type_id", type_id}}}};
  };
  const auto sequence = [](const char* name, int type_id) {
    return OrderedJson{{"Sequence", OrderedJson{{"id", name}, {"type_id", type_id}}}};
  };
  OrderedJson single = OrderedJson::array(), pair = OrderedJson::array();
  for (const std::uint32_t id : impl.template_prefix) single.push_back(special(id, 0));
  single.push_back(sequence("A", 0));
  for (const std::uint32_t id : impl.template_suffix) single.push_back(special(id, 0));
  pair = single;
  for (const std::uint32_t id : impl.template_prefix) pair.push_back(special(id, 1));
  pair.push_back(sequence("B", 1));
  for (const std::uint32_t id : impl.template_suffix) pair.push_back(special(id, 1));
  OrderedJson specials = OrderedJson::object();
  for (const auto* ids : {&impl.template_prefix, &impl.template_suffix}) {
    for (const std::uint32_t id : *ids) {
      const std::string& key = impl.token_keys[id];
      specials[key] = OrderedJson{
          {"id", key}, {"ids", OrderedJson::array({id})}, {"tokens", OrderedJson::array({key})}};
    }
  }
  OrderedJson tmpl;
  tmpl["type"] = "TemplateProcessing";
  tmpl["single"] = std::move(single);
  tmpl["pair"] = std::move(pair);
  tmpl["special_tokens"] = std::move(specials);
  if (!impl.byte_level_post) return tmpl;
  OrderedJson seq;
  seq["type"] = "Sequence";
  seq["processors"] = OrderedJson::array({byte_level, tmpl});
  return seq;
}

}  // namespace

std::string tokenizer_json_text(const Tokenizer::Impl& impl) {
  OrderedJson root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  OrderedJson added = OrderedJson::array();
  for (const AddedToken& token : impl.added) {
    OrderedJson t;
    t["id"] = token.id;
    t["content"] = token.content;
    t["single_word"] = false;
    t["lstrip"] = token.lstrip;
    t["rstrip"] = token.rstrip;
    t["normalized"] = false;
    t["special"] = token.special;
    added.push_back(std::move(t));
  }
  root["added_tokens"] = std::move(added);
  root["normalizer"] = normalizer_node(impl);
  if (impl.pattern == SplitPattern::kCl100k) {
    OrderedJson split;
    split["type"] = "Split";
    split["pattern"] = OrderedJson{{"Regex", std::string(kCl100kRegex)}};
    split["behavior"] = "Isolated";
    split["invert"] = false;
    OrderedJson seq;
    seq["type"] = "Sequence";
    seq["pretokenizers"] = OrderedJson::array({split, byte_level_node(false, false)});
    root["pre_tokenizer"] = std::move(seq);
  } else {
    root["pre_tokenizer"] = byte_level_node(impl.add_prefix_space, true);
  }
  root["post_processor"] = post_processor_node(impl);
  root["decoder"] = byte_level_node(true, true);
  OrderedJson model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = impl.unk_token.empty() ? OrderedJson(nullptr) : OrderedJson(impl.unk_token);
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = impl.ignore_merges;
  // The vocab is spliced in as text: ordered_json's object insert is a linear
  // search, quadratic for a 32k vocabulary.
  model["vocab"] = kVocabPlaceholder;
  OrderedJson merges = OrderedJson::array();
  for (const MergeRule& rule : impl.merges) {
    merges.push_back(OrderedJson::array({impl.token_keys[rule.left], impl.token_keys[rule.right]}));
  }
  model["merges"] = std::move(merges);
  root["model"] = std::move(model);
  std::string text = root.dump(2) + "\n";
  std::string vocab = "{";
  for (std::size_t id = 0; id < impl.token_keys.size(); ++id) {
    vocab += id == 0 ? "\n      " : ",\n      ";
    vocab += OrderedJson(impl.token_keys[id]).dump();
    vocab += ": ";
    vocab += std::to_string(id);
  }
  vocab += impl.token_keys.empty() ? "}" : "\n    }";
  std::string placeholder = OrderedJson(kVocabPlaceholder).dump();
  text.replace(text.find(placeholder), placeholder.size(), vocab);
  return text;
}

Tokenizer Tokenizer::from_json_text(std::string_view text, std::string_view where) {
  return Tokenizer(Parser(where).parse(text));
}

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw InputError(cat("tokenizer file ", path,
                         " does not exist (train one with `masque tokenizer "
                         "train --out ",
                         path.string(), "` or check the path)"));
  }
  return from_json_text(read_file(path), path.string());
}

std::string Tokenizer::to_json_text() const { return tokenizer_json_text(*impl_); }

void Tokenizer::save(const std::filesystem::path& path) const {
  write_file_atomic(path, to_json_text());
}

}  // namespace masque
