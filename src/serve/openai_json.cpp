// OpenAI response shapes (see openai_json.h).
#include "serve/openai_json.h"

#include <mutex>
#include <random>

#include "core/error.h"
#include "serve/api_error.h"

namespace masque::serve {

Json error_json(int status, const std::string& message, const std::string& param,
                const std::string& code) {
  Json error = {{"message", message},
                {"type", error_type_for_status(status)},
                {"param", param.empty() ? Json(nullptr) : Json(param)},
                {"code", code.empty() ? Json(nullptr) : Json(code)}};
  return {{"error", error}};
}

std::string dump_json(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json usage_json(int prompt_tokens, int completion_tokens, int cached_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

namespace {
Json base(const ResponseHeader& h, bool chunk) {
  const bool chat = h.endpoint == Endpoint::kChat;
  return {
      {"id", h.id},
      {"object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
      {"created", h.created},
      {"model", h.model},
      {"system_fingerprint", "masque"}};
}
Json reason(const std::string& r) { return r.empty() ? Json(nullptr) : Json(r); }
}  // namespace

Json completion_json(const ResponseHeader& h, const std::string& text,
                     const std::string& finish_reason, int prompt_tokens, int completion_tokens,
                     int cached_tokens) {
  Json out = base(h, false);
  Json choice = {{"index", 0}, {"finish_reason", reason(finish_reason)}, {"logprobs", nullptr}};
  if (h.endpoint == Endpoint::kChat)
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  else
    choice["text"] = text;
  out["choices"] = Json::array({choice});
  out["usage"] = usage_json(prompt_tokens, completion_tokens, cached_tokens);
  return out;
}

Json chunk_json(const ResponseHeader& h, const std::string& text, const std::string& finish_reason,
                bool with_role) {
  Json out = base(h, true);
  Json choice = {{"index", 0}, {"finish_reason", reason(finish_reason)}, {"logprobs", nullptr}};
  if (h.endpoint == Endpoint::kChat) {
    Json delta = Json::object();
    if (with_role) delta["role"] = "assistant";
    if (with_role || !text.empty()) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  out["choices"] = Json::array({choice});
  return out;
}

Json usage_chunk_json(const ResponseHeader& h, int prompt_tokens, int completion_tokens,
                      int cached_tokens) {
  Json out = base(h, true);
  out["choices"] = Json::array();
  out["usage"] = usage_json(prompt_tokens, completion_tokens, cached_tokens);
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  if (!valid_utf8(text)) {
    out += dump_json(Json(std::string(text)));  // rare: nlohmann's replacement rules
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

ChunkFormatter::ChunkFormatter(const ResponseHeader& header) {
  // A text that only this code writes splits the rendered chunk around it.
  static const std::string kSentinel = "\x01masque-chunk-text\x01";
  const std::string whole = dump_json(chunk_json(header, kSentinel, "", false));
  std::string quoted;
  append_json_string(quoted, kSentinel);
  const std::size_t at = whole.find(quoted);
  if (at == std::string::npos) throw Error("ChunkFormatter: the chunk does not hold its text");
  prefix_ = "data: " + whole.substr(0, at);
  suffix_ = whole.substr(at + quoted.size()) + "\n\n";
}

void ChunkFormatter::append(std::string& out, std::string_view text) const {
  out += prefix_;
  append_json_string(out, text);
  out += suffix_;
}

std::string new_response_id(Endpoint endpoint) {
  static std::mutex mutex;
  static std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t a, b;
  {
    std::lock_guard lock(mutex);
    a = rng();
    b = rng();
  }
  char hex[25];
  std::snprintf(hex, sizeof hex, "%016llx%08llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b & 0xffffffffu));
  return std::string(endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-") + hex;
}

}  // namespace masque::serve
