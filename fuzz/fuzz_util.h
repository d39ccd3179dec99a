// Shared by the libFuzzer harnesses (fuzz/fuzz_*.cpp). A harness feeds the
// input to one parser through fuzz_guard: the clean rejections a user can act
// on (InputError, FormatError) pass; any other escape (a bare masque::Error,
// a std:: or nlohmann exception) aborts, so libFuzzer records it as a crash
// beside the sanitizers' reports. See docs/fuzzing.md.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <typeinfo>

#include "core/error.h"

namespace masque::fuzz {

template <class Fn>
int guard(Fn&& fn) {
  try {
    fn();
  } catch (const InputError&) {
  } catch (const FormatError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: escaped %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz: escaped a non-std exception\n");
    std::abort();
  }
  return 0;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A private directory for harnesses whose parser reads files (shards,
// metrics.jsonl): /dev/shm when present, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string tmpl = std::string(base) + "/masque-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl.data())) std::abort();
    static const std::string keep = tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(keep, ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace masque::fuzz
