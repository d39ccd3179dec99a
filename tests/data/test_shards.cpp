// Shard format: writer/reader round trips (u16 and u32), strict validation of
// damaged files, ShardSet across shard boundaries, and `tokenize_corpus`
// (split, determinism across thread counts, no output on failure).
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>

#include "../tokenizer/test_helpers.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/threads.h"
#include "data/shard.h"
#include "data/tokenize_corpus.h"

namespace masque {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint32_t> iota_ids(std::size_t n, std::uint32_t modulo) {
  std::vector<std::uint32_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<std::uint32_t>((i * 7919) % modulo);
  return ids;
}

void write_shard(const fs::path& path, const std::vector<std::uint32_t>& ids, std::uint32_t vocab,
                 const std::string& fp = "0123456789abcdef") {
  ShardWriter writer(path, vocab, fp);
  writer.append(ids.data(), ids.size());
  writer.finish();
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

void expect_format_error(const fs::path& path, const std::string& needle) {
  try {
    ShardReader reader(path);
    ADD_FAILURE() << "opening " << path << " should fail";
  } catch (const FormatError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_NE(msg.find(path.filename().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("masque tokenize"), std::string::npos) << msg;  // the fix
  }
}

TEST(Shard, RoundTripsU16AndU32) {
  fs::path dir = test::scratch_dir("shard_rt");
  for (std::uint32_t vocab : {1000u, 65536u, 70000u}) {
    auto ids = iota_ids(12345, vocab);
    fs::path path = dir / ("s" + std::to_string(vocab) + ".bin");
    write_shard(path, ids, vocab);
    ShardReader reader(path);
    EXPECT_EQ(reader.num_tokens(), ids.size());
    EXPECT_EQ(reader.vocab_size(), vocab);
    EXPECT_EQ(reader.token_bytes(), vocab <= 65536 ? 2u : 4u);
    EXPECT_EQ(reader.tokenizer_fingerprint(), "0123456789abcdef");
    EXPECT_EQ(fs::file_size(path), 64 + ids.size() * reader.token_bytes());
    std::vector<std::int32_t> out(100);
    reader.read(5000, 100, out.data());
    for (int i = 0; i < 100; ++i) ASSERT_EQ(out[i], static_cast<std::int32_t>(ids[5000 + i]));
    EXPECT_THROW(reader.read(12300, 100, out.data()), InputError);
  }
  fs::remove_all(dir);
}

TEST(Shard, WriterRejectsOutOfRangeIdsAndLeavesNothingUnfinished) {
  fs::path dir = test::scratch_dir("shard_unfinished");
  {
    ShardWriter writer(dir / "a.bin", 100, "fp");
    std::uint32_t bad = 100;
    EXPECT_THROW(writer.append(&bad, 1), InputError);
  }  // destroyed without finish()
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(Shard, ReaderRejectsDamagedFiles) {
  fs::path dir = test::scratch_dir("shard_bad");
  auto ids = iota_ids(1000, 500);
  fs::path good = dir / "good.bin";
  write_shard(good, ids, 500);
  std::string bytes = slurp(good);

  spit(dir / "short.bin", bytes.substr(0, 40));
  expect_format_error(dir / "short.bin", "shorter than");
  spit(dir / "truncated.bin", bytes.substr(0, bytes.size() - 2));
  expect_format_error(dir / "truncated.bin", "truncated");
  std::string magic = bytes;
  magic[0] = 'X';
  spit(dir / "magic.bin", magic);
  expect_format_error(dir / "magic.bin", "wrong magic");
  std::string version = bytes;
  version[8] = 9;
  spit(dir / "version.bin", version);
  expect_format_error(dir / "version.bin", "version 9");
  std::string flipped = bytes;
  flipped[100] ^= 0x01;
  spit(dir / "crc.bin", flipped);
  expect_format_error(dir / "crc.bin", "checksum");
  EXPECT_THROW(ShardReader(dir / "absent.bin"), FormatError);

  ShardReader reader(good);
  EXPECT_NO_THROW(reader.check_tokenizer(500, "0123456789abcdef"));
  EXPECT_THROW(reader.check_tokenizer(501, "0123456789abcdef"), FormatError);
  EXPECT_THROW(reader.check_tokenizer(500, "ffffffffffffffff"), FormatError);
  fs::remove_all(dir);
}

TEST(ShardSet, ReadsAcrossShardBoundaries) {
  fs::path dir = test::scratch_dir("shardset");
  auto ids = iota_ids(3000, 1000);
  write_shard(dir / "train_000000.bin", {ids.begin(), ids.begin() + 1000}, 1000);
  write_shard(dir / "train_000001.bin", {ids.begin() + 1000, ids.begin() + 1500}, 1000);
  write_shard(dir / "train_000002.bin", {ids.begin() + 1500, ids.end()}, 1000);
  ShardSet set(dir, "train");
  EXPECT_EQ(set.num_shards(), 3u);
  EXPECT_EQ(set.num_tokens(), 3000u);
  std::vector<std::int32_t> out(1200);
  set.read(900, 1200, out.data());
  for (int i = 0; i < 1200; ++i) ASSERT_EQ(out[i], static_cast<std::int32_t>(ids[900 + i]));
  EXPECT_THROW(set.read(2000, 1001, out.data()), InputError);
  EXPECT_FALSE(ShardSet::has_split(dir, "val"));
  EXPECT_THROW(ShardSet(dir, "val"), InputError);
  // A shard from another tokenizer cannot join the set.
  write_shard(dir / "train_000003.bin", {1, 2, 3}, 2000);
  EXPECT_THROW(ShardSet(dir, "train"), FormatError);
  fs::remove_all(dir);
}

class TokenizeCorpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("tokenize");
    corpus_ = test::write_corpus(dir_, 300, 5);
    tokenizer_ = std::make_unique<Tokenizer>(test::train_small(corpus_));
  }
  void TearDown() override {
    set_num_threads(0);
    fs::remove_all(dir_);
  }
  TokenizeOptions options(const fs::path& out) {
    TokenizeOptions o;
    o.inputs = {corpus_.string()};
    o.out_dir = out;
    o.val_fraction = 0.05;
    o.shard_tokens = 1000;
    o.progress = false;
    return o;
  }
  fs::path dir_, corpus_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(TokenizeCorpusTest, WritesShardsMetaAndDocuments) {
  fs::path out = dir_ / "shards";
  TokenizeStats stats = tokenize_corpus(*tokenizer_, options(out));
  EXPECT_EQ(stats.documents, 300u);
  Json meta = read_json_file(out / "meta.json");
  EXPECT_EQ(meta["tokenizer_fingerprint"], tokenizer_->fingerprint());
  EXPECT_EQ(meta["val"]["documents"], 15);  // round(300 * 0.05)
  EXPECT_EQ(meta["train"]["documents"], 285);
  ShardSet train(out, "train"), val(out, "val");
  EXPECT_GT(train.num_shards(), 1u);
  EXPECT_EQ(train.num_tokens(), stats.train_tokens);
  EXPECT_EQ(val.num_tokens(), stats.val_tokens);
  EXPECT_NO_THROW(train.check_tokenizer(tokenizer_->vocab_size(), tokenizer_->fingerprint()));
  // Every document starts with <|bos|>; decoding the stream gives the texts back.
  std::vector<std::int32_t> all(train.num_tokens());
  train.read(0, all.size(), all.data());
  EXPECT_EQ(all[0], static_cast<std::int32_t>(tokenizer_->bos_id()));
  EXPECT_EQ(std::count(all.begin(), all.end(), static_cast<std::int32_t>(tokenizer_->bos_id())),
            285);
  std::vector<std::uint32_t> ids(all.begin(), all.end());
  std::string text = tokenizer_->decode(ids);
  EXPECT_NE(text.find("<|bos|>"), std::string::npos);
  // No temporary directories left beside the output.
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST_F(TokenizeCorpusTest, OutputDoesNotDependOnThreadCount) {
  set_num_threads(1);
  tokenize_corpus(*tokenizer_, options(dir_ / "one"));
  set_num_threads(3);
  tokenize_corpus(*tokenizer_, options(dir_ / "three"));
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "one")) {
    std::string name = entry.path().filename().string();
    EXPECT_EQ(slurp(entry.path()), slurp(dir_ / "three" / name)) << name;
    ++compared;
  }
  EXPECT_GE(compared, 2) << "meta.json and at least one shard were compared";
}

TEST_F(TokenizeCorpusTest, FailureLeavesNoOutput) {
  fs::path bad = dir_ / "zz_bad.jsonl";
  spit(bad, "{\"text\": \"fine\"}\nnot json\n");
  TokenizeOptions o = options(dir_ / "out");
  o.inputs.push_back(bad.string());
  try {
    tokenize_corpus(*tokenizer_, o);
    ADD_FAILURE() << "a malformed JSONL line must fail";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2 of"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "out"));
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
  // A non-empty directory masque did not write is never replaced.
  fs::create_directories(dir_ / "mine");
  spit(dir_ / "mine" / "precious.txt", "keep");
  EXPECT_THROW(tokenize_corpus(*tokenizer_, options(dir_ / "mine")), InputError);
  EXPECT_TRUE(fs::exists(dir_ / "mine" / "precious.txt"));
  // Bad options.
  TokenizeOptions frac = options(dir_ / "x");
  frac.val_fraction = 1.0;
  EXPECT_THROW(tokenize_corpus(*tokenizer_, frac), InputError);
}

}  // namespace
}  // namespace masque
