// ApiError: a request the server refuses, carrying the HTTP status and the
// fields of OpenAI's error object ({"error": {message, type, param, code}}),
// so every layer below the HTTP routes can say *why* in the shape clients
// (the openai package maps 400/401/404/429/5xx to its exception classes)
// already understand.
#pragma once
#include <string>
#include <utility>

#include "core/error.h"

namespace masque::serve {

class ApiError : public InputError {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {})
      : InputError(message), status_(status), param_(std::move(param)), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string param_;
  std::string code_;
};

// OpenAI's error "type" for a status (invalid_request_error, authentication_error, ...).
inline const char* error_type_for_status(int status) {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 408:
    case 504:
      return "timeout_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "unavailable_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace masque::serve
