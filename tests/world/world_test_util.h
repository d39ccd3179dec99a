// Shared helpers for the world tests: a small spec that renders in well under
// a second, and a scratch directory removed at the end of the test.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "world/spec.h"

namespace masque::world::testing {

inline WorldSpec small_spec() {
  WorldSpec spec;
  spec.characters = 16;
  spec.documents = {120, 120, 200, 10, 60, 40};
  spec.biographies_per_character = 1;
  spec.eval_documents = 64;
  return spec;
}

class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("masque_world_") + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace masque::world::testing
