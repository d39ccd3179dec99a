// The JSON shapes of OpenAI's API that the server writes: error objects,
// chat.completion / text_completion responses, their streamed chunks and
// usage, so the route code only decides *what* to send.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
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

// cached_tokens: prompt tokens reused from the prompt cache (prompt_tokens_details).
Json usage_json(int prompt_tokens, int completion_tokens, int cached_tokens = 0);

// Identity shared by every chunk of one response.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kChat;
  std::string id;  // "chatcmpl-..." / "cmpl-..."
  std::int64_t created = 0;
  std::string model;
};

// One complete (non-streamed) response.
Json completion_json(const ResponseHeader& header, const std::string& text,
                     const std::string& finish_reason, int prompt_tokens, int completion_tokens,
                     int cached_tokens = 0);

// One streamed chunk. Chat: delta {role?, content?}; completion: text.
// finish_reason empty = null. with_role: the first chat chunk.
Json chunk_json(const ResponseHeader& header, const std::string& text,
                const std::string& finish_reason, bool with_role);
// The include_usage chunk: choices [] and usage.
Json usage_chunk_json(const ResponseHeader& header, int prompt_tokens, int completion_tokens,
                      int cached_tokens = 0);

// Streamed text chunks of one response as SSE bytes, cheaply: the JSON
// around the text is rendered once (by chunk_json), so each token costs only
// the escaping of its text. append() writes exactly
// "data: " + dump_json(chunk_json(header, text, "", false)) + "\n\n".
class ChunkFormatter {
 public:
  explicit ChunkFormatter(const ResponseHeader& header);
  void append(std::string& out, std::string_view text) const;

 private:
  std::string prefix_, suffix_;
};

// `text` as a JSON string literal (quotes included), exactly as dump_json
// writes it: invalid UTF-8 becomes U+FFFD.
void append_json_string(std::string& out, std::string_view text);

// A fresh response id ("chatcmpl-" + 24 hex digits).
std::string new_response_id(Endpoint endpoint);

}  // namespace masque::serve
