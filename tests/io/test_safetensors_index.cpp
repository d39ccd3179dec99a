// Sharded safetensors: a directory with model.safetensors.index.json reads
// as one set of tensors, and every inconsistency between the index and the
// shards is a FormatError naming it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json_util.h"
#include "io/safetensors_index.h"

namespace fs = std::filesystem;
using namespace masque;

namespace {

struct ShardDir {
  fs::path path;
  explicit ShardDir(const std::string& name)
      : path(fs::temp_directory_path() /
             ("masque_index_test_" + std::to_string(::getpid()) + "_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
    const std::vector<float> a{1, 2, 3, 4}, b{5, 6};
    SafetensorsWriter one, two;
    one.add_f32("a", {2, 2}, a.data());
    two.add_f32("b", {2}, b.data());
    one.write(path / "model-00001-of-00002.safetensors");
    two.write(path / "model-00002-of-00002.safetensors");
    index = {
        {"metadata", {{"total_size", 24}}},
        {"weight_map",
         {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}}}};
  }
  ~ShardDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string error() const {
    write_json_file(path / "model.safetensors.index.json", index);
    try {
      SafetensorsSet::open_dir(path);
    } catch (const FormatError& e) {
      return e.what();
    }
    return "";
  }
  Json index;
};

TEST(SafetensorsIndex, ShardsReadAsOneSet) {
  ShardDir dir("ok");
  EXPECT_EQ(dir.error(), "");
  const SafetensorsSet set = SafetensorsSet::open_dir(dir.path);
  EXPECT_EQ(set.names(), (std::vector<std::string>{"a", "b"}));
  std::vector<float> b(2);
  set.read_f32("b", b.data(), b.size());
  EXPECT_EQ(b, (std::vector<float>{5, 6}));
  EXPECT_EQ(set.info("a").shape, (std::vector<std::int64_t>{2, 2}));
}

TEST(SafetensorsIndex, InconsistenciesAreNamed) {
  {
    ShardDir dir("missing");
    dir.index["weight_map"]["b"] = "model-00003-of-00002.safetensors";
    EXPECT_NE(dir.error().find("shard model-00003-of-00002.safetensors"), std::string::npos);
  }
  {
    ShardDir dir("escape");
    dir.index["weight_map"]["b"] = "../model-00002-of-00002.safetensors";
    EXPECT_NE(dir.error().find("is not a file name in the model directory"), std::string::npos);
  }
  {
    ShardDir dir("wrong_shard");
    dir.index["weight_map"]["b"] = "model-00001-of-00002.safetensors";
    EXPECT_NE(dir.error().find("tensor 'b' is listed in model-00001"), std::string::npos);
  }
  {
    ShardDir dir("unlisted");
    const std::vector<float> b{5, 6}, extra{7};
    SafetensorsWriter two;
    two.add_f32("b", {2}, b.data());
    two.add_f32("extra", {1}, extra.data());
    two.write(dir.path / "model-00002-of-00002.safetensors");
    EXPECT_NE(dir.error().find("holds tensor 'extra' which the index does not list"),
              std::string::npos)
        << dir.error();
  }
  {
    ShardDir dir("unknown_key");
    dir.index["weights"] = Json::object();
    EXPECT_THROW(dir.error(), InputError);
  }
}

}  // namespace
