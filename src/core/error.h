// Error types. Library code throws these with a message that names the cause
// and the fix; the CLI boundary (src/cli/main.cpp) is the one place that
// catches, prints and exits nonzero.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace masque {

// Concatenate anything streamable: cat("expected ", n, " tokens").
template <class... Args>
std::string cat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

// Base of every error a user can act on.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad user input: options, configs, specs, request bodies.
class InputError : public Error {
 public:
  using Error::Error;
};

// A file that is missing, truncated, corrupt or of a foreign format.
class FormatError : public Error {
 public:
  using Error::Error;
};

// Training diverged (NaN/inf) or a numeric invariant broke at run time.
class NumericError : public Error {
 public:
  using Error::Error;
};

}  // namespace masque
