// GGUF writer/reader: round trips of every metadata type and tensor type,
// the element-type codecs (F16 exact on representable values, Q8_0 within
// half a quantization step), and the strict reader's refusals, each of which
// must be a FormatError naming the field (never a crash or a huge allocation).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "io/gguf.h"

namespace masque {
namespace {

GgufWriter small_writer() {
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("test"));
  w.set("a.u32", GgufValue::u32(7));
  w.set("a.i32", GgufValue::i32(-3));
  w.set("a.f32", GgufValue::f32(0.5f));
  w.set("a.bool", GgufValue::boolean(true));
  w.set("a.u64", GgufValue::u64(1ull << 40));
  w.set("a.f64", GgufValue::f64(-2.25));
  w.set("a.strs", GgufValue::strings({"x", "", "Ġhello"}));
  w.set("a.i32s", GgufValue::i32s({1, -2, 3}));
  std::vector<float> t(8 * 3);
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i) - 4.0f;
  w.add_tensor_f32("t.weight", GgmlType::F32, {8, 3}, t.data());
  std::vector<float> v{1, 2, 3};
  w.add_tensor_f32("v", GgmlType::F32, {3}, v.data());
  return w;
}

GgufContents parse(const std::string& bytes) {
  return parse_gguf(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "test");
}

std::string error_of(const std::string& bytes) {
  try {
    parse(bytes);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(Gguf, RoundTripsMetadataAndTensors) {
  const std::string bytes = small_writer().serialize();
  const GgufContents c = parse(bytes);
  EXPECT_EQ(c.version, 3u);
  ASSERT_EQ(c.metadata.size(), 9u);
  const auto& get = [&](const std::string& k) -> const GgufValue& {
    return c.metadata[c.key_index.at(k)].second;
  };
  EXPECT_EQ(get("general.architecture").as_string("k"), "test");
  EXPECT_EQ(get("a.u32").as_u64("k"), 7u);
  EXPECT_EQ(get("a.u32").type(), GgufType::U32);
  EXPECT_EQ(get("a.i32").as_i64("k"), -3);
  EXPECT_THROW(get("a.i32").as_u64("k"), FormatError);
  EXPECT_EQ(get("a.f32").as_f64("k"), 0.5);
  EXPECT_TRUE(get("a.bool").as_bool("k"));
  EXPECT_EQ(get("a.u64").as_u64("k"), 1ull << 40);
  EXPECT_EQ(get("a.f64").as_f64("k"), -2.25);
  EXPECT_EQ(get("a.strs").as_strings("k"), (std::vector<std::string>{"x", "", "Ġhello"}));
  EXPECT_EQ(get("a.i32s").as_i64s("k"), (std::vector<std::int64_t>{1, -2, 3}));
  EXPECT_THROW(get("a.u32").as_string("k"), FormatError);
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[0].name, "t.weight");
  EXPECT_EQ(c.tensors[0].dims, (std::vector<std::uint64_t>{8, 3}));
  EXPECT_EQ(c.tensors[0].offset, 0u);
  EXPECT_EQ(c.tensors[1].offset, 96u);  // 96 bytes, already 32-aligned
  EXPECT_EQ(c.data_offset % 32, 0u);
  EXPECT_EQ(bytes.size(), c.data_offset + 96 + 32);  // last tensor padded
  float first;
  std::memcpy(&first, bytes.data() + c.data_offset, 4);
  EXPECT_EQ(first, -4.0f);
}

TEST(Gguf, FileReaderDecodesAndWritesAtomically) {
  const auto path = std::filesystem::temp_directory_path() / "masque_gguf_io_test.gguf";
  small_writer().write(path);
  const GgufFile f(path);
  EXPECT_EQ(f.get("a.u32").as_u64("a.u32"), 7u);
  EXPECT_THROW(f.get("missing"), FormatError);
  const std::vector<float> v = f.tensor_f32("v");
  EXPECT_EQ(v, (std::vector<float>{1, 2, 3}));
  EXPECT_THROW(f.tensor("nope"), FormatError);
  std::filesystem::remove(path);
}

TEST(Gguf, ControlVectorFileHasF32DirectionTensors) {
  const auto path = std::filesystem::temp_directory_path() / "masque_gguf_cvec_test.gguf";
  write_gguf_f32(path,
                 {{"general.architecture", GgufValue::string("controlvector")},
                  {"controlvector.model_hint", GgufValue::string("llama")},
                  {"controlvector.layer_count", GgufValue::u32(2)}},
                 {{"direction.1", {}, {1, 2, 3, 4}}, {"direction.2", {}, {5, 6, 7, 8}}});
  const GgufFile f(path);
  EXPECT_EQ(f.get("general.architecture").as_string(""), "controlvector");
  EXPECT_EQ(f.tensor("direction.2").type, GgmlType::F32);
  EXPECT_EQ(f.tensor_f32("direction.2"), (std::vector<float>{5, 6, 7, 8}));
  std::filesystem::remove(path);
}

TEST(Gguf, F16IsExactOnHalfValuesAndRoundsToNearest) {
  const std::vector<float> x{0.0f,      -0.0f,
                             1.0f,      -2.5f,
                             65504.0f,  6.1035156e-05f,
                             5.96e-08f, 1.0f + 1.0f / 4096};  // last: a tie, rounds to even (1.0)
  const std::string enc = ggml_encode(GgmlType::F16, x.data(), x.size());
  std::vector<float> back(x.size());
  ggml_decode(GgmlType::F16, reinterpret_cast<const std::uint8_t*>(enc.data()), x.size(),
              back.data());
  for (std::size_t i = 0; i + 2 < x.size(); ++i) EXPECT_EQ(back[i], x[i]) << i;
  EXPECT_NEAR(back[6], 5.96e-08f, 1e-9f);
  EXPECT_EQ(back[7], 1.0f);
}

TEST(Gguf, Q8_0IsWithinHalfAStepPerBlock) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> x(32 * 16);
  for (float& v : x) v = normal(rng);
  x[5] = 0.0f;
  std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // an all-zero block
  const std::string enc = ggml_encode(GgmlType::Q8_0, x.data(), x.size());
  ASSERT_EQ(enc.size(), 16u * 34u);
  std::vector<float> back(x.size());
  ggml_decode(GgmlType::Q8_0, reinterpret_cast<const std::uint8_t*>(enc.data()), x.size(),
              back.data());
  for (std::size_t b = 0; b < 16; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    const float step = amax / 127.0f;
    for (int i = 0; i < 32; ++i) {
      // half a step, plus the f16 rounding of the scale (2^-11 relative) times 127
      EXPECT_LE(std::fabs(back[b * 32 + i] - x[b * 32 + i]), 0.5f * step + amax * 1e-3f + 1e-12f);
    }
  }
  EXPECT_EQ(back[64], 0.0f);
  EXPECT_THROW(ggml_encode(GgmlType::Q8_0, x.data(), 33), InputError);
}

TEST(Gguf, WriterRefusesBadTensors) {
  GgufWriter w;
  std::vector<float> x(64);
  w.add_tensor_f32("a", GgmlType::F32, {64}, x.data());
  EXPECT_THROW(w.add_tensor_f32("a", GgmlType::F32, {64}, x.data()), InputError);
  EXPECT_THROW(w.add_tensor_f32("b", GgmlType::Q8_0, {16, 4}, x.data()), InputError);
  EXPECT_THROW(w.add_tensor("c", GgmlType::F32, {4}, std::string(15, '\0')), InputError);
  EXPECT_THROW(w.add_tensor_f32(std::string(64, 'n'), GgmlType::F32, {64}, x.data()), InputError);
  EXPECT_THROW(w.set("general.alignment", GgufValue::u32(24)), InputError);
}

TEST(Gguf, HonoursACustomAlignment) {
  GgufWriter w = small_writer();
  w.set("general.alignment", GgufValue::u32(64));
  const GgufContents c = parse(w.serialize());
  EXPECT_EQ(c.alignment, 64u);
  EXPECT_EQ(c.data_offset % 64, 0u);
  EXPECT_EQ(c.tensors[1].offset, 128u);
}

// --- strict reader -----------------------------------------------------------

void put_u32_at(std::string& s, std::size_t at, std::uint32_t v) { std::memcpy(&s[at], &v, 4); }
void put_u64_at(std::string& s, std::size_t at, std::uint64_t v) { std::memcpy(&s[at], &v, 8); }

// A file with one u32 key "k" and one F32 tensor "t" of 8 floats; the byte
// offsets of each field are fixed.
struct Tiny {
  std::string bytes;
  static constexpr std::size_t kKeyType = 24 + 8 + 1;  // after "GGUF",ver,counts,len,"k"
  static constexpr std::size_t kTensorName = kKeyType + 4 + 4;
  static constexpr std::size_t kNDims = kTensorName + 8 + 1;
  static constexpr std::size_t kDim0 = kNDims + 4;
  static constexpr std::size_t kType = kDim0 + 8;
  static constexpr std::size_t kOffset = kType + 4;
  Tiny() {
    GgufWriter w;
    w.set("k", GgufValue::u32(1));
    std::vector<float> x(8, 1.0f);
    w.add_tensor_f32("t", GgmlType::F32, {8}, x.data());
    bytes = w.serialize();
  }
};

TEST(GgufReader, AcceptsTheBaseline) { EXPECT_NO_THROW(parse(Tiny().bytes)); }

TEST(GgufReader, RefusesBadMagicAndVersion) {
  Tiny t;
  t.bytes[0] = 'X';
  EXPECT_NE(error_of(t.bytes).find("bad magic"), std::string::npos);
  Tiny v;
  put_u32_at(v.bytes, 4, 4);
  EXPECT_NE(error_of(v.bytes).find("version 4"), std::string::npos);
  put_u32_at(v.bytes, 4, 1);
  EXPECT_NE(error_of(v.bytes).find("version 1"), std::string::npos);
  put_u32_at(v.bytes, 4, 0x03000000u);
  EXPECT_NE(error_of(v.bytes).find("big-endian"), std::string::npos);
}

TEST(GgufReader, EveryTruncationIsAFormatError) {
  const std::string full = Tiny().bytes;
  for (std::size_t n = 0; n < full.size(); ++n) {
    const std::string cut = full.substr(0, n);
    EXPECT_THROW(parse(cut), FormatError) << "prefix of " << n << " bytes";
  }
}

TEST(GgufReader, RefusesOverflowingCounts) {
  Tiny t;
  put_u64_at(t.bytes, 8, ~0ull);
  EXPECT_NE(error_of(t.bytes).find("tensor_count"), std::string::npos);
  Tiny k;
  put_u64_at(k.bytes, 16, 1ull << 60);
  EXPECT_NE(error_of(k.bytes).find("kv_count"), std::string::npos);
  Tiny s;
  put_u64_at(s.bytes, 24, ~0ull);  // key length
  EXPECT_NE(error_of(s.bytes).find("length"), std::string::npos);
  Tiny d;
  put_u64_at(d.bytes, Tiny::kDim0, 1ull << 62);
  put_u32_at(d.bytes, Tiny::kNDims, 1);
  EXPECT_FALSE(error_of(d.bytes).empty());
}

TEST(GgufReader, RefusesUnknownTypes) {
  Tiny t;
  put_u32_at(t.bytes, Tiny::kKeyType, 13);
  EXPECT_NE(error_of(t.bytes).find("unknown value type 13"), std::string::npos);
  Tiny g;
  put_u32_at(g.bytes, Tiny::kType, 2);  // Q4_0: real ggml type masque does not handle
  const std::string e = error_of(g.bytes);
  EXPECT_NE(e.find("ggml type 2"), std::string::npos) << e;
  EXPECT_NE(e.find("tensor t"), std::string::npos) << e;
  Tiny h;
  put_u32_at(h.bytes, Tiny::kType, 999);
  EXPECT_NE(error_of(h.bytes).find("ggml type 999"), std::string::npos);
}

TEST(GgufReader, RefusesBadDimsAndOffsets) {
  Tiny z;
  put_u32_at(z.bytes, Tiny::kNDims, 0);
  EXPECT_NE(error_of(z.bytes).find("0 dims"), std::string::npos);
  Tiny o;
  put_u64_at(o.bytes, Tiny::kOffset, 32);
  const std::string e = error_of(o.bytes);
  EXPECT_NE(e.find("offset 32, expected 0"), std::string::npos) << e;
  EXPECT_NE(e.find("at byte " + std::to_string(Tiny::kOffset)), std::string::npos) << e;
  Tiny big;
  put_u64_at(big.bytes, Tiny::kDim0, 64);  // 256 bytes of data in a file that has 32
  EXPECT_NE(error_of(big.bytes).find("past the end"), std::string::npos);
}

TEST(GgufReader, RefusesDuplicates) {
  GgufWriter w;
  w.set("k", GgufValue::u32(1));
  w.set("j", GgufValue::u32(2));
  std::string bytes = w.serialize();
  bytes[24 + 8 + 1 + 4 + 4 + 8] = 'k';  // rename "j" to "k"
  EXPECT_NE(error_of(bytes).find("duplicate metadata key k"), std::string::npos);

  GgufWriter t;
  std::vector<float> x(8);
  t.add_tensor_f32("a", GgmlType::F32, {8}, x.data());
  t.add_tensor_f32("b", GgmlType::F32, {8}, x.data());
  std::string tb = t.serialize();
  const std::size_t second_name = 24 + (8 + 1 + 4 + 8 + 4 + 8) + 8;
  ASSERT_EQ(tb[second_name], 'b');
  tb[second_name] = 'a';
  EXPECT_NE(error_of(tb).find("duplicate tensor name a"), std::string::npos);
}

TEST(GgufReader, RefusesNestedArraysAndBadAlignment) {
  GgufWriter w;
  w.set("arr", GgufValue::i32s({1, 2}));
  std::string bytes = w.serialize();
  put_u32_at(bytes, 24 + 8 + 3 + 4, 9);  // element type ARRAY
  EXPECT_NE(error_of(bytes).find("nested array"), std::string::npos);

  GgufWriter a;
  a.set("general.alignment", GgufValue::u32(32));
  std::string ab = a.serialize();
  put_u32_at(ab, 24 + 8 + 17 + 4, 24);
  EXPECT_NE(error_of(ab).find("not a power of two"), std::string::npos);
}

}  // namespace
}  // namespace masque
