// Request parsing and validation (see request.h).
#include "serve/request.h"

#include <cmath>
#include <set>

#include "serve/api_error.h"

namespace masque::serve {
namespace {

[[noreturn]] void bad(std::string_view param, std::string message) {
  throw ApiError(400, std::move(message), std::string(param));
}

const Json* find(const Json& object, std::string_view key) {
  auto it = object.find(std::string(key));
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

double number_field(const Json& body, std::string_view key, double lo, double hi, double fallback) {
  const Json* v = find(body, key);
  if (!v) return fallback;
  if (!v->is_number()) bad(key, cat("'", key, "' must be a number, got ", json_type_name(*v)));
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    bad(key, cat("'", key, "' must be in [", lo, ", ", hi, "], got ", v->dump()));
  return x;
}

bool bool_field(const Json& body, std::string_view key, bool fallback) {
  const Json* v = find(body, key);
  if (!v) return fallback;
  if (!v->is_boolean()) bad(key, cat("'", key, "' must be a boolean, got ", json_type_name(*v)));
  return v->get<bool>();
}

const std::string& string_value(const Json& v, std::string_view param, std::string_view what) {
  if (!v.is_string()) bad(param, cat(what, " must be a string, got ", json_type_name(v)));
  return v.get_ref<const std::string&>();
}

std::vector<std::string> parse_stop(const Json& body, const RequestLimits& limits) {
  const Json* v = find(body, "stop");
  std::vector<std::string> out;
  if (!v) return out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const Json& s : *v) out.push_back(string_value(s, "stop", "each stop sequence"));
  } else {
    bad("stop", cat("'stop' must be a string or an array of strings, got ", json_type_name(*v)));
  }
  if (out.size() > limits.max_stop_strings)
    bad("stop", cat("at most ", limits.max_stop_strings, " stop sequences, got ", out.size()));
  for (const std::string& s : out) {
    if (s.empty()) bad("stop", "stop sequences must not be empty");
  }
  return out;
}

// Unsupported OpenAI options are refused rather than silently ignored when
// they would change the result.
void refuse_unsupported(const Json& body) {
  if (const Json* n = find(body, "n")) {
    if (!n->is_number_integer() || n->get<std::int64_t>() != 1)
      bad("n", "only n = 1 is supported (send several requests for several choices)");
  }
  for (const char* key : {"frequency_penalty", "presence_penalty"}) {
    if (const Json* v = find(body, key)) {
      if (!v->is_number()) bad(key, cat("'", key, "' must be a number"));
      if (v->get<double>() != 0) bad(key, cat("'", key, "' is not supported (use 0 or omit it)"));
    }
  }
  if (const Json* v = find(body, "logprobs")) {
    if (!(v->is_boolean() && !v->get<bool>()) && !(v->is_number_integer() && v->get<int>() == 0))
      bad("logprobs", "'logprobs' is not supported");
  }
  if (const Json* v = find(body, "tools")) {
    if (!v->is_array() || !v->empty()) bad("tools", "tools are not supported");
  }
}

std::vector<std::int32_t> to_ids(const std::vector<std::uint32_t>& ids) {
  return {ids.begin(), ids.end()};
}

std::vector<std::int32_t> completion_prompt(const Json& body, const Tokenizer& tokenizer) {
  const Json* p = find(body, "prompt");
  if (!p) bad("prompt", "missing required field 'prompt'");
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
  std::vector<std::int32_t> ids;
  if (p->is_string()) {
    // Raw completion text: special-token strings are parsed and the
    // tokenizer's post-processor adds what HF's tokenizer(text) adds (a BOS
    // for masque's tokenizers), as `masque sample` does.
    return to_ids(tokenizer.encode_for_model(p->get<std::string>()));
  }
  if (p->is_array()) {
    for (const Json& t : *p) {
      if (!t.is_number_integer())
        bad("prompt", "'prompt' must be a string, one string in an array, or token ids");
      const std::int64_t id = t.get<std::int64_t>();
      if (id < 0 || id >= static_cast<std::int64_t>(tokenizer.vocab_size()))
        bad("prompt",
            cat("token id ", id, " is outside the vocabulary of ", tokenizer.vocab_size()));
      ids.push_back(static_cast<std::int32_t>(id));
    }
    if (ids.empty()) bad("prompt", "'prompt' is empty");
    return ids;
  }
  bad("prompt", cat("'prompt' must be a string or token ids, got ", json_type_name(*p)));
}

}  // namespace

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<std::size_t>(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<std::size_t>(len);
  }
  return true;
}

Json parse_body(std::string_view body) {
  if (body.empty()) throw ApiError(400, "the request body is empty; send a JSON object");
  if (!valid_utf8(body)) throw ApiError(400, "the request body is not valid UTF-8");
  Json value = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!value.is_object())
    throw ApiError(400, cat("the request body must be a JSON object, got ", json_type_name(value)));
  return value;
}

Conversation parse_messages(const Json& messages) {
  if (!messages.is_array())
    bad("messages", cat("'messages' must be an array, got ", json_type_name(messages)));
  if (messages.empty()) bad("messages", "'messages' is empty");
  Conversation conversation;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    const std::string here = cat("messages[", i, "]");
    if (!m.is_object()) bad("messages", cat(here, " must be an object, got ", json_type_name(m)));
    const Json* role = find(m, "role");
    if (!role) bad("messages", cat(here, " has no 'role'"));
    const std::string& r = string_value(*role, "messages", cat(here, ".role"));
    ChatMessage message;
    if (r == "system" || r == "developer")
      message.role = Role::kSystem;
    else if (r == "user")
      message.role = Role::kUser;
    else if (r == "assistant")
      message.role = Role::kAssistant;
    else
      bad("messages", cat(here, ".role '", r, "' is not system, developer, user or assistant"));
    const Json* content = find(m, "content");
    if (!content) bad("messages", cat(here, " has no 'content'"));
    if (content->is_string()) {
      message.content = content->get<std::string>();
    } else if (content->is_array()) {
      for (const Json& part : *content) {
        if (!part.is_object() || find(part, "type") == nullptr || part["type"] != "text" ||
            !find(part, "text") || !part["text"].is_string())
          bad("messages", cat(here, ".content parts must be {\"type\": \"text\", \"text\": ...}"));
        message.content += part["text"].get<std::string>();
      }
    } else {
      bad("messages", cat(here, ".content must be a string or an array of text parts, got ",
                          json_type_name(*content)));
    }
    conversation.push_back(std::move(message));
  }
  if (conversation.back().role == Role::kAssistant)
    bad("messages", "the last message must not be the assistant's (the reply is generated)");
  return conversation;
}

MasqueExtension parse_masque_extension(const Json& value) {
  if (!value.is_object())
    bad("masque", cat("'masque' must be an object, got ", json_type_name(value)));
  MasqueExtension ext;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (it.key() != "steer" && it.key() != "monitor")
      bad("masque", cat("unknown field 'masque.", it.key(), "' (known: steer, monitor)"));
  }
  if (const Json* steer = find(value, "steer")) {
    if (!steer->is_array()) bad("masque.steer", "'masque.steer' must be an array");
    for (std::size_t i = 0; i < steer->size(); ++i) {
      const Json& s = (*steer)[i];
      const std::string here = cat("masque.steer[", i, "]");
      if (!s.is_object()) bad("masque.steer", cat(here, " must be an object"));
      for (auto it = s.begin(); it != s.end(); ++it) {
        if (it.key() != "vector" && it.key() != "layer" && it.key() != "coefficient")
          bad("masque.steer",
              cat("unknown field '", here, ".", it.key(), "' (known: vector, layer, coefficient)"));
      }
      SteerSpec spec;
      const Json* v = find(s, "vector");
      if (!v || !v->is_string()) bad("masque.steer", cat(here, ".vector must be a string"));
      spec.vector = v->get<std::string>();
      const Json* layer = find(s, "layer");
      if (layer) {
        if (!layer->is_number_integer() || layer->get<std::int64_t>() < 0 ||
            layer->get<std::int64_t>() > 100000)
          bad("masque.steer",
              cat(here,
                  ".layer must be an integer >= 0 (0 = the token embedding, L = the "
                  "residual after block L)"));
        spec.layer = layer->get<int>();
      }
      const Json* c = find(s, "coefficient");
      if (!c || !c->is_number() || !std::isfinite(c->get<double>()) ||
          std::fabs(c->get<double>()) > 1000)
        bad("masque.steer", cat(here, ".coefficient must be a number in [-1000, 1000]"));
      spec.coefficient = c->get<float>();
      ext.steer.push_back(std::move(spec));
    }
  }
  if (const Json* monitor = find(value, "monitor")) {
    if (!monitor->is_array()) bad("masque.monitor", "'masque.monitor' must be an array of names");
    std::set<std::string> seen;
    for (const Json& name : *monitor) {
      const std::string& n = string_value(name, "masque.monitor", "each monitored vector");
      if (seen.insert(n).second) ext.monitor.push_back(n);
    }
  }
  return ext;
}

CompletionRequest parse_completion_request(const Json& body, Endpoint endpoint,
                                           const Tokenizer& tokenizer, const RequestLimits& limits,
                                           std::uint64_t fallback_seed) {
  CompletionRequest req;
  req.endpoint = endpoint;
  if (const Json* model = find(body, "model")) req.model = string_value(*model, "model", "'model'");
  refuse_unsupported(body);
  if (endpoint == Endpoint::kChat) {
    const Json* messages = find(body, "messages");
    if (!messages) bad("messages", "missing required field 'messages'");
    if (messages->is_array() && messages->size() > limits.max_messages)
      bad("messages", cat("at most ", limits.max_messages, " messages per request"));
    // masque's chat format, content as plain text: what `masque chat` feeds the model.
    req.prompt = chat_prompt_tokens(tokenizer, parse_messages(*messages));
  } else {
    req.prompt = completion_prompt(body, tokenizer);
  }
  req.stream = bool_field(body, "stream", false);
  if (const Json* so = find(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
    req.include_usage = bool_field(*so, "include_usage", false);
  }
  GenerateOptions& o = req.options;
  o.temperature = static_cast<float>(number_field(body, "temperature", 0, 2, 1.0));
  o.top_p = static_cast<float>(number_field(body, "top_p", 0, 1, 1.0));
  if (o.top_p <= 0) bad("top_p", "'top_p' must be in (0, 1]");
  if (const Json* k = find(body, "top_k")) {
    if (!k->is_number_integer() || k->get<std::int64_t>() < 0 || k->get<std::int64_t>() > 1000000)
      bad("top_k", "'top_k' must be an integer >= 0 (0 = off)");
    o.top_k = k->get<int>();
  }
  o.seed = fallback_seed;
  if (const Json* seed = find(body, "seed")) {
    if (!seed->is_number_integer()) bad("seed", "'seed' must be an integer");
    o.seed = seed->is_number_unsigned() ? seed->get<std::uint64_t>()
                                        : static_cast<std::uint64_t>(seed->get<std::int64_t>());
  }
  o.stop = parse_stop(body, limits);
  // llama.cpp's extension: run to max_tokens past end tokens (benchmarks,
  // tests). Raw completions only: a chat reply ends at its end-of-turn or a
  // role token, so control tokens never reach its text.
  o.ignore_eos = bool_field(body, "ignore_eos", false);
  if (o.ignore_eos && endpoint == Endpoint::kChat)
    bad("ignore_eos",
        "'ignore_eos' is for /v1/completions only (a chat reply ends at its turn's end)");

  const int prompt_len = static_cast<int>(req.prompt.size());
  if (prompt_len >= limits.context) {
    throw ApiError(400,
                   cat("the prompt has ", prompt_len, " tokens; the server's context is ",
                       limits.context, " (shorten the messages)"),
                   endpoint == Endpoint::kChat ? "messages" : "prompt", "context_length_exceeded");
  }
  const Json* mt = find(body, "max_completion_tokens");
  const char* mt_name = "max_completion_tokens";
  if (!mt) {
    mt = find(body, "max_tokens");
    mt_name = "max_tokens";
  }
  if (mt) {
    if (!mt->is_number_integer()) bad(mt_name, cat("'", mt_name, "' must be an integer"));
    const std::int64_t n = mt->get<std::int64_t>();
    if (n < 1 || n > limits.max_tokens_limit)
      bad(mt_name, cat("'", mt_name, "' must be in [1, ", limits.max_tokens_limit, "], got ", n));
    if (prompt_len + n > limits.context) {
      throw ApiError(400,
                     cat("the prompt (", prompt_len, " tokens) plus ", mt_name, " (", n,
                         ") exceeds the server's context of ", limits.context),
                     mt_name, "context_length_exceeded");
    }
    o.max_tokens = static_cast<int>(n);
  } else {
    o.max_tokens = std::min(limits.default_max_tokens, limits.context - prompt_len);
  }
  if (const Json* ext = find(body, "masque")) req.masque = parse_masque_extension(*ext);
  return req;
}

}  // namespace masque::serve
