// The two generation routes (/v1/chat/completions, /v1/completions): a
// parsed request becomes a scheduler job; the reply is collected (JSON) or
// relayed chunk by chunk as server-sent events through httplib's chunked
// content provider, which also notices a client that left and cancels its
// job so the slot frees at once.
#pragma once
#include <httplib.h>

#include "serve/http_server.h"

namespace masque::serve {

void handle_completion(const httplib::Request& req, httplib::Response& res, Endpoint endpoint,
                       ServeBackend& backend, const ServerOptions& options);

}  // namespace masque::serve
