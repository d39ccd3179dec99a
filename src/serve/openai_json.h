// The JSON shapes of OpenAI's API that the server writes: error objects,
// chat.completion / text_completion responses, their streamed chunks and
// usage, so the route code only decides *what* to send.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "serve/request.h"

namespace masque::serve {

// {"error": {"message", "type", "param", "code"}}.
Json error_json(int status, const std::string& message, const std::string& param = {},
                const std::string& code = {});

// Text that may hold invalid UTF-8 (byte-level BPE can sample any byte) as
// JSON, with invalid bytes replaced by U+FFFD.
std::string dump_json(const Json& value);

Json usage_json(int prompt_tokens, int completion_tokens);

// Identity shared by every chunk of one response.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kChat;
  std::string id;  // "chatcmpl-..." / "cmpl-..."
  std::int64_t created = 0;
  std::string model;
};

// One complete (non-streamed) response.
Json completion_json(const ResponseHeader& header, const std::string& text,
                     const std::string& finish_reason, int prompt_tokens, int completion_tokens);

// One streamed chunk. Chat: delta {role?, content?}; completion: text.
// finish_reason empty = null. with_role: the first chat chunk.
Json chunk_json(const ResponseHeader& header, const std::string& text,
                const std::string& finish_reason, bool with_role);
// The include_usage chunk: choices [] and usage.
Json usage_chunk_json(const ResponseHeader& header, int prompt_tokens, int completion_tokens);

// A fresh response id ("chatcmpl-" + 24 hex digits).
std::string new_response_id(Endpoint endpoint);

}  // namespace masque::serve
