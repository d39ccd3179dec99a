// Command-line options of the bench_* programs: each names its options once
// (value options and flags), and unknown options or a missing value are an
// InputError that lists the usage. Benchmarks only; masque's CLI uses CLI11.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace masque::bench {

class BenchArgs {
 public:
  explicit BenchArgs(std::string usage) : usage_(std::move(usage)) {}

  // --name VALUE, handed to set.
  BenchArgs& value(std::string name, std::function<void(const std::string&)> set) {
    options_.push_back({std::move(name), true, std::move(set)});
    return *this;
  }
  BenchArgs& value(std::string name, std::string* out) {
    return value(std::move(name), [out](const std::string& v) { *out = v; });
  }
  BenchArgs& value(std::string name, int* out) {
    return value(std::move(name), [out](const std::string& v) { *out = std::stoi(v); });
  }
  // --name alone sets *out.
  BenchArgs& flag(std::string name, bool* out) {
    options_.push_back({std::move(name), false, [out](const std::string&) { *out = true; }});
    return *this;
  }

  void parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      const Option* found = nullptr;
      for (const Option& o : options_) {
        if (o.name == arg) found = &o;
      }
      if (found == nullptr) throw InputError(cat("unknown option ", arg, ": use ", usage_));
      if (!found->takes_value) {
        found->set("");
        continue;
      }
      if (i + 1 >= argc) throw InputError(cat(arg, " needs a value"));
      found->set(argv[++i]);
    }
  }

 private:
  struct Option {
    std::string name;
    bool takes_value;
    std::function<void(const std::string&)> set;
  };
  std::string usage_;
  std::vector<Option> options_;
};

}  // namespace masque::bench
