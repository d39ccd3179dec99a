// Tests for core utilities: atomic writes, CRC-32, RNG determinism, JSON field errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/hash.h"
#include "core/json_util.h"
#include "core/mapped_file.h"
#include "core/output_dir.h"
#include "core/rng.h"

namespace fs = std::filesystem;
using namespace masque;

namespace {
fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("masque_core_" + name + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}
}  // namespace

TEST(AtomicFile, CommitWritesAndAbortLeavesNothing) {
  fs::path dir = temp_dir("atomic");
  write_file_atomic(dir / "a.txt", "hello");
  EXPECT_EQ(read_file(dir / "a.txt"), "hello");
  {
    AtomicFile f(dir / "b.txt");
    f.write("partial");
    // destroyed without commit
  }
  EXPECT_FALSE(fs::exists(dir / "b.txt"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(AtomicFile, MissingDirectoryIsClearError) {
  try {
    AtomicFile f("/nonexistent_dir_masque/x.bin");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos);
  }
}

TEST(AtomicDir, ReplacesExistingDirectoryWhole) {
  fs::path dir = temp_dir("adir");
  {
    AtomicDir d(dir / "ckpt");
    write_file_atomic(d.path() / "x", "1");
    d.commit();
  }
  {
    AtomicDir d(dir / "ckpt");
    write_file_atomic(d.path() / "y", "2");
    d.commit();
  }
  EXPECT_FALSE(fs::exists(dir / "ckpt" / "x"));
  EXPECT_EQ(read_file(dir / "ckpt" / "y"), "2");
  {
    AtomicDir d(dir / "other");
    write_file_atomic(d.path() / "z", "3");
  }
  EXPECT_FALSE(fs::exists(dir / "other"));
  fs::remove_all(dir);
}

TEST(Crc32, MatchesKnownVector) {
  const char* s = "123456789";
  EXPECT_EQ(crc32(s, 9), 0xCBF43926u);
  // Incremental equals one-shot.
  EXPECT_EQ(crc32(s + 4, 5, crc32(s, 4)), 0xCBF43926u);
}

TEST(Rng, DeterministicAndRestorable) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
  auto state = a.state();
  double x = a.uniform();
  b.set_state(state);
  EXPECT_EQ(b.uniform(), x);
  Rng c(1);
  double mean = 0;
  for (int i = 0; i < 20000; ++i) mean += c.normal();
  EXPECT_NEAR(mean / 20000, 0.0, 0.05);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(c.below(7), 7u);
}

TEST(JsonUtil, FieldErrorsNameTheField) {
  Json j = Json::parse(R"({"a": 3, "b": "x"})");
  EXPECT_EQ(get_field<int>(j, "a", "cfg"), 3);
  EXPECT_EQ(get_field_or<int>(j, "c", "cfg", 7), 7);
  try {
    get_field<int>(j, "b", "cfg.json");
    FAIL();
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'b'"), std::string::npos);
    EXPECT_NE(m.find("integer"), std::string::npos);
  }
  EXPECT_THROW(get_field<int>(j, "missing", "cfg"), InputError);
  EXPECT_THROW(parse_json("{bad", "test"), FormatError);
}

TEST(JsonUtil, IntegersAreCheckedNotWrapped) {
  const Json j = Json::parse(
      R"({"big": 4294967304, "neg": -3, "frac": 2.5, "huge": 18446744073709551615, "ok": 7})");
  auto message = [&](auto&& call) -> std::string {
    try {
      call();
    } catch (const InputError& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_NE(
      message([&] { get_field<std::uint32_t>(j, "big", "spec"); }).find("'big' is out of range"),
      std::string::npos);
  EXPECT_NE(message([&] { get_field<int>(j, "huge", "spec"); }).find("out of range"),
            std::string::npos);
  EXPECT_NE(message([&] { get_field<std::uint64_t>(j, "neg", "spec"); }).find("non-negative"),
            std::string::npos);
  EXPECT_NE(message([&] { get_field<int>(j, "frac", "spec"); }).find("must be an integer"),
            std::string::npos);
  EXPECT_EQ(get_field<std::uint64_t>(j, "huge", "spec"), 18446744073709551615ULL);
  EXPECT_EQ(get_int_field(j, "ok", "spec", 1, 10), 7);
  EXPECT_EQ(get_int_field_or(j, "absent", "spec", 1, 10, 4), 4);
  const std::string range = message([&] { get_int_field(j, "ok", "spec.json", 1, 5); });
  EXPECT_NE(range.find("spec.json: field 'ok' must be between 1 and 5, got 7"), std::string::npos)
      << range;
  EXPECT_NE(message([&] {
              json_to_int<std::int32_t>(j["big"], "positions entry");
            }).find("positions entry is out of range"),
            std::string::npos);
  // A float field beyond float's range is refused, not turned into inf.
  EXPECT_THROW(get_field<float>(Json::parse(R"({"lr": 1e300})"), "lr", "x"), InputError);
}

TEST(JsonUtil, NumbersBeyondDoubleAreAFormatError) {
  // nlohmann throws out_of_range (not parse_error) for 1e400: it must still
  // be a FormatError naming the source, not an internal error.
  try {
    parse_json(R"({"ai_fraction": 1e400})", "file spec.json");
    FAIL() << "1e400 accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("spec.json"), std::string::npos) << e.what();
  }
}

TEST(JsonUtil, InvalidUtf8IsReplacedInOutput) {
  Json j = {{"reply", std::string("ok \xff\xfe end")}};
  EXPECT_THROW((void)j.dump(), Json::type_error) << "nlohmann's default throws";
  const std::string line = json_line(j);
  EXPECT_EQ(line, "{\"reply\":\"ok \xef\xbf\xbd\xef\xbf\xbd end\"}");
  EXPECT_EQ(parse_json(line, "line")["reply"], "ok \xef\xbf\xbd\xef\xbf\xbd end");
}

TEST(OutputDir, UnusableOutputIsRefusedBeforeAnyWork) {
  const fs::path dir = temp_dir("outdir");
  write_file_atomic(dir / "file", "x");
  EXPECT_THROW(check_output_dir_writable(dir / "file", "--out"), InputError);
  EXPECT_THROW(check_output_dir_writable(dir / "file" / "sub", "--out"), InputError);
  try {
    check_output_dir_writable(dir / "file" / "sub", "--out");
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--out"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a directory"), std::string::npos) << e.what();
  }
  check_output_dir_writable(dir / "new" / "deeper", "--out");  // creatable: fine
  check_output_dir_writable(dir, "--out");
  EXPECT_FALSE(fs::exists(dir / "new")) << "the check creates nothing";
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1)
      << "no probe file left behind";
  fs::remove_all(dir);
}

TEST(MappedFile, MapsAndRejectsMissing) {
  fs::path dir = temp_dir("map");
  write_file_atomic(dir / "m", "abc");
  MappedFile m(dir / "m");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.data()[1], 'b');
  EXPECT_THROW(MappedFile(dir / "nope"), FormatError);
  fs::remove_all(dir);
}
