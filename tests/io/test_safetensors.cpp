// safetensors writer/reader: round trips, every rejection the reference reader
// makes, and a mutation fuzzer that must only ever see clean loads or
// FormatErrors (never a crash or an out-of-bounds read; run under ASan too).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json_util.h"
#include "core/rng.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;
using namespace masque;

namespace {

// One directory per process, removed when the test binary exits.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("masque_io_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path temp_dir() {
  static TempDir dir;
  return dir.path;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string sample_file() {
  SafetensorsWriter writer;
  std::vector<float> a(6);
  for (int i = 0; i < 6; ++i) a[i] = 0.5f * static_cast<float>(i) - 1.0f;
  writer.add_f32("model.embed_tokens.weight", {2, 3}, a.data());
  std::vector<std::int32_t> b{7, -8, 9};
  writer.add("ids", DType::I32, {3}, b.data(), b.size() * 4);
  std::vector<std::uint16_t> c{f32_to_bf16(1.5f), f32_to_bf16(-2.0f)};
  writer.add("half", DType::BF16, {2}, c.data(), 4);
  writer.set_metadata("step", "12");
  return writer.serialize();
}

// Header JSON + buffer -> file bytes, padded like the reference writer.
std::string make_file(std::string header, const std::string& buffer, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + buffer;
}

void expect_rejected(const std::string& bytes, const std::string& fragment) {
  try {
    SafetensorsFile::validate_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                    bytes.size(), "x.safetensors", nullptr, nullptr);
    FAIL() << "accepted a file that should fail with '" << fragment << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("x.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Safetensors, RoundTripAndLayout) {
  const std::string bytes = sample_file();
  std::uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u) << "header must be padded to a multiple of 8";
  const Json header = Json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  EXPECT_EQ(header["__metadata__"]["step"], "12");

  const fs::path path = temp_dir() / "roundtrip.safetensors";
  write_bytes(path, bytes);
  SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  const std::vector<std::int64_t> shape{2, 3};
  const auto a = file.to_f32("model.embed_tokens.weight", &shape);
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a[5], 1.5f);
  const auto half = file.to_f32("half");
  EXPECT_EQ(half[0], 1.5f);
  EXPECT_EQ(half[1], -2.0f);
  std::int32_t ids[3];
  std::memcpy(ids, file.data("ids"), 12);
  EXPECT_EQ(ids[1], -8);
  const std::vector<std::int64_t> wrong{3, 2};
  EXPECT_THROW(file.to_f32("model.embed_tokens.weight", &wrong), FormatError);
  EXPECT_THROW(file.to_f32("ids"), FormatError);  // not a float dtype
  EXPECT_THROW(file.info("nope"), FormatError);
}

TEST(Safetensors, WriterRejectsSizeMismatch) {
  SafetensorsWriter writer;
  float x[3] = {1, 2, 3};
  EXPECT_THROW(writer.add("x", DType::F32, {2, 2}, x, sizeof(x)), InputError);
  EXPECT_THROW(writer.add("__metadata__", DType::F32, {3}, x, sizeof(x)), InputError);
}

TEST(Safetensors, AtomicWriteLeavesNoTempFiles) {
  const fs::path dir = temp_dir() / "atomic";
  fs::remove_all(dir);
  fs::create_directories(dir);
  SafetensorsWriter writer;
  float x = 1;
  writer.add_f32("x", {1}, &x);
  writer.write(dir / "w.safetensors");
  int count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++count;
  EXPECT_EQ(count, 1);
  SafetensorsFile file(dir / "w.safetensors");
  EXPECT_EQ(file.to_f32("x")[0], 1.0f);
}

TEST(Safetensors, RejectsWhatTheReferenceRejects) {
  const std::string f8(8, '\0');  // two F32 zeros
  expect_rejected("", "shorter than the 8-byte");
  expect_rejected(std::string(5, '\0'), "shorter than the 8-byte");
  {  // header length above 100 MB
    std::string b(16, '\0');
    const std::uint64_t n = 100'000'001;
    std::memcpy(b.data(), &n, 8);
    expect_rejected(b, "exceeds the limit");
  }
  {  // header past EOF
    std::string b = make_file("{}", "");
    b.resize(b.size() - 1);
    expect_rejected(b, "past the end");
  }
  expect_rejected(make_file("{\"a\": \xff}", ""), "UTF-8");
  expect_rejected(make_file("[1,2]", ""), "start with '{'");
  expect_rejected(make_file("{\"a\": ", ""), "not valid JSON");
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x)", f8),
                  "not valid JSON");
  expect_rejected(make_file(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", f8),
                  "unknown dtype");
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f8),
                  "negative dimension");
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f8),
                  "data_offsets");
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2]}})", f8), "lacks");
  expect_rejected(make_file(R"({"__metadata__":{"format":1}})", ""), "not a string");
  // Gap before the first tensor, overlap, gap between tensors.
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f8),
                  "gap or overlap");
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                            f8),
                  "gap or overlap");
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[0],"data_offsets":[6,6]}})",
                            f8),
                  "gap or overlap");
  // Size disagrees with shape x dtype.
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f8),
                  "need 12");
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[4611686018427387904,8],)"
                            R"("data_offsets":[0,8]}})",
                            f8),
                  "overflows");
  // Buffer not exactly filled: truncated and trailing bytes.
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f8 + "x"),
                  "trailing bytes");
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "1234"),
                  "truncated");
}

TEST(Safetensors, AcceptsWhatTheReferenceAccepts) {
  // Unpadded header, null metadata, zero-size tensor, tensors out of name order.
  const std::string f8(8, '\0');
  const std::string bytes =
      make_file(R"({"__metadata__":null,"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]},)"
                R"("a":{"dtype":"I8","shape":[4],"data_offsets":[4,8]}})",
                f8, /*pad=*/false);
  std::vector<TensorInfo> tensors;
  SafetensorsFile::validate_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
                                  "ok", &tensors, nullptr);
  ASSERT_EQ(tensors.size(), 3u);
  EXPECT_EQ(tensors[0].name, "z");
}

TEST(Safetensors, HalfConversions) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(3.0f)), 3.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  // Round to nearest even: 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125.
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 0x1p-8f)), 1.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7C00)));
}

// Random truncations, byte flips and rewritten header numbers: every variant
// either loads cleanly (and then every tensor is readable end to end) or
// throws FormatError.
TEST(Safetensors, MutationFuzz) {
  const std::string valid = sample_file();
  std::uint64_t header_len;
  std::memcpy(&header_len, valid.data(), 8);
  Rng rng(2024);
  int accepted = 0;
  int rejected = 0;
  const char* digits = "0123456789";
  for (int iter = 0; iter < 4000; ++iter) {
    std::string bytes = valid;
    const int mutations = 1 + static_cast<int>(rng.below(3));
    for (int m = 0; m < mutations; ++m) {
      switch (rng.below(5)) {
        case 0:  // truncate anywhere
          bytes.resize(rng.below(bytes.size() + 1));
          break;
        case 1:  // flip a random byte anywhere
          if (!bytes.empty())
            bytes[rng.below(bytes.size())] ^= static_cast<char>(1 + rng.below(255));
          break;
        case 2:  // flip a byte of the length prefix
          if (bytes.size() >= 8) bytes[rng.below(8)] ^= static_cast<char>(1 + rng.below(255));
          break;
        case 3: {  // rewrite a digit inside the header (offsets, shapes)
          if (bytes.size() < 8 + header_len) break;
          for (int tries = 0; tries < 64; ++tries) {
            const std::size_t pos = 8 + rng.below(header_len);
            if (bytes[pos] >= '0' && bytes[pos] <= '9') {
              bytes[pos] = digits[rng.below(10)];
              break;
            }
          }
          break;
        }
        default:  // append junk
          bytes.append(1 + rng.below(16), static_cast<char>(rng.below(256)));
      }
    }
    try {
      std::vector<TensorInfo> tensors;
      SafetensorsFile::validate_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                      bytes.size(), "fuzz", &tensors, nullptr);
      // Accepted: every tensor must lie inside the buffer; touch every byte.
      std::uint64_t n;
      std::memcpy(&n, bytes.data(), 8);
      unsigned sum = 0;
      for (const TensorInfo& t : tensors) {
        ASSERT_LE(t.end, bytes.size() - 8 - n);
        for (std::uint64_t b = t.begin; b < t.end; ++b)
          sum += static_cast<unsigned char>(bytes.at(8 + n + b));
      }
      (void)sum;
      ++accepted;
    } catch (const FormatError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(accepted, 10);  // byte flips inside tensor data stay valid
}
