// Request parsing and validation for the OpenAI-compatible endpoints: the
// body's bytes (UTF-8, JSON, object) to a CompletionRequest the scheduler can
// run: prompt token ids, sampling options and the `masque` extension. Every
// refusal is an ApiError 400 naming the field, so a client learns what to fix;
// nothing here knows HTTP or the model beyond its tokenizer and context.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "infer/text_generator.h"
#include "posttrain/chat_format.h"
#include "tokenizer/tokenizer.h"

namespace masque::serve {

enum class Endpoint { kChat, kCompletion };

// One steering entry: add coefficient * vector at resid_post after block
// `layer` (1-based, as persona vectors are stored; 0 = the token embedding)
// on the response tokens.
struct SteerSpec {
  std::string vector;
  int layer = -1;  // -1: not given (the vector's default layer)
  float coefficient = 0;
};

// The request body's "masque" object.
struct MasqueExtension {
  std::vector<SteerSpec> steer;
  std::vector<std::string> monitor;  // vector names whose projections stream with the reply
  bool empty() const { return steer.empty() && monitor.empty(); }
};

struct RequestLimits {
  int context = 0;               // tokens of prompt + reply (the server's --ctx)
  int max_tokens_limit = 2048;   // largest max_tokens a request may ask for
  int default_max_tokens = 256;  // when the request gives none (capped to fit the context)
  std::size_t max_stop_strings = 8;
  std::size_t max_messages = 1024;
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;                 // echoed back; any value is accepted (one model is served)
  std::vector<std::int32_t> prompt;  // ids for the engine (<|bos|> first)
  GenerateOptions options;           // max_tokens, temperature, top_p, seed, stop
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  MasqueExtension masque;
};

// Whether `text` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool valid_utf8(std::string_view text);

// Body bytes to a JSON object: ApiError 400 for invalid UTF-8, invalid JSON
// or a non-object.
Json parse_body(std::string_view body);

// A chat conversation from OpenAI "messages" (content a string or an array
// of {"type": "text", "text": ...} parts; role "developer" is a system turn).
// Content is plain text: "<|user|>" typed by a user is text, never a role token.
Conversation parse_messages(const Json& messages);

// The whole request. `fallback_seed` seeds requests that give no "seed".
CompletionRequest parse_completion_request(const Json& body, Endpoint endpoint,
                                           const Tokenizer& tokenizer, const RequestLimits& limits,
                                           std::uint64_t fallback_seed);

// The "masque" object alone (unknown fields refused), for tests and the routes.
MasqueExtension parse_masque_extension(const Json& value);

}  // namespace masque::serve
