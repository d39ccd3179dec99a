// `masque tokenize`: documents -> [<|bos|>, ids...] -> train/val shards, built
// in a temporary directory that is renamed into place only when complete.
// Batches of documents are encoded by num_threads() workers and written in
// input order, so the output is identical for any thread count.
#include "data/tokenize_corpus.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/output_guard.h"
#include "core/progress.h"
#include "core/threads.h"
#include "data/shard.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/text_source.h"

namespace masque {
namespace fs = std::filesystem;

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Deterministic validation documents: the k document indices with the smallest
// hash, k = round(n * fraction), at least 1 (if fraction > 0 and n >= 2) and
// at most n - 1 so training always has data.
std::vector<std::uint8_t> choose_val_documents(std::uint64_t n, double fraction) {
  std::vector<std::uint8_t> is_val(n, 0);
  if (fraction <= 0.0 || n < 2) return is_val;
  auto k = static_cast<std::uint64_t>(std::llround(static_cast<double>(n) * fraction));
  k = std::clamp<std::uint64_t>(k, 1, n - 1);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> keyed(n);
  for (std::uint64_t i = 0; i < n; ++i) keyed[i] = {splitmix64(i), i};
  std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(k - 1), keyed.end());
  for (std::uint64_t i = 0; i < k; ++i) is_val[keyed[i].second] = 1;
  return is_val;
}

// One split's shards: rotates to a new file every shard_tokens tokens.
class SplitWriter {
 public:
  SplitWriter(fs::path dir, std::string split, const Tokenizer& tokenizer,
              std::uint64_t shard_tokens)
      : dir_(std::move(dir)),
        split_(std::move(split)),
        tokenizer_(tokenizer),
        shard_tokens_(shard_tokens) {}

  void add_document(const std::uint32_t* ids, std::size_t count) {
    ++documents_;
    while (count > 0) {
      if (!writer_ || writer_->num_tokens() >= shard_tokens_) rotate();
      std::size_t take = static_cast<std::size_t>(
          std::min<std::uint64_t>(count, shard_tokens_ - writer_->num_tokens()));
      writer_->append(ids, take);
      ids += take;
      count -= take;
      tokens_ += take;
    }
  }

  void finish() {
    if (!writer_) return;
    shards_.push_back({{"file", name_}, {"tokens", writer_->num_tokens()}});
    writer_->finish();
    writer_.reset();
  }

  Json meta() const {
    return Json{{"documents", documents_}, {"tokens", tokens_}, {"shards", shards_}};
  }
  std::uint64_t tokens() const { return tokens_; }

 private:
  void rotate() {
    finish();
    char name[64];
    std::snprintf(name, sizeof(name), "%s_%06zu.bin", split_.c_str(), shards_.size());
    name_ = name;
    writer_ = std::make_unique<ShardWriter>(dir_ / name_, tokenizer_.vocab_size(),
                                            tokenizer_.fingerprint());
  }

  fs::path dir_;
  std::string split_;
  const Tokenizer& tokenizer_;
  std::uint64_t shard_tokens_;
  std::unique_ptr<ShardWriter> writer_;
  std::string name_;
  Json shards_ = Json::array();
  std::uint64_t documents_ = 0;
  std::uint64_t tokens_ = 0;
};

void check_output_dir(const fs::path& out) {
  check_output_kind(out, ArtifactKind::Shards, "--out");  // never over a run, world, ...
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) {
    throw InputError(
        cat("--out ", out, " exists and is not a directory (choose another output path)"));
  }
  // Replacing a directory is only safe when it is an earlier masque tokenize output.
  if (!fs::is_empty(out, ec) && !fs::exists(out / "meta.json", ec)) {
    throw InputError(cat("--out ", out,
                         " is a non-empty directory that masque did not write (no meta.json); "
                         "choose a new output directory or remove it"));
  }
}

}  // namespace

TokenizeStats tokenize_corpus(const Tokenizer& tokenizer, const TokenizeOptions& options) {
  if (!(options.val_fraction >= 0.0 && options.val_fraction < 1.0)) {
    throw InputError(cat("--val-fraction ", options.val_fraction, " must be in [0, 1)"));
  }
  if (options.shard_tokens == 0) throw InputError("--shard-tokens must be positive");
  if (options.out_dir.empty()) throw InputError("no output directory given (pass --out DIR)");
  const std::uint32_t bos = tokenizer.bos_id();
  std::vector<fs::path> files = expand_inputs(options.inputs);
  check_output_dir(options.out_dir);
  check_not_input(options.out_dir, files, "--out", /*replaces_dir=*/true);
  const std::uint64_t total_documents = count_documents(files);
  if (total_documents == 0) {
    throw InputError(cat("the corpus has no documents (", files.size(),
                         " input file(s), all empty JSONL): give --input files that contain text"));
  }
  const std::vector<std::uint8_t> is_val =
      choose_val_documents(total_documents, options.val_fraction);

  AtomicDir out(options.out_dir);
  SplitWriter train(out.path(), "train", tokenizer, options.shard_tokens);
  SplitWriter val(out.path(), "val", tokenizer, options.shard_tokens);
  DocumentReader reader(files);
  std::unique_ptr<ProgressBar> bar;
  if (options.progress)
    bar = std::make_unique<ProgressBar>("tokenize", reader.total_file_bytes(), "B");

  const int threads = std::max(1, num_threads());
  struct WorkerOutput {
    std::vector<std::uint32_t> ids;
    std::vector<std::size_t> ends;  // per document
  };
  std::vector<WorkerOutput> outputs(threads);
  TokenizeStats stats;
  DocumentBatch batch;
  std::uint64_t doc_index = 0;
  while (reader.next_batch(batch, std::size_t{16} << 20)) {
    const std::vector<std::size_t> cut = batch.balanced_cuts(threads);
    auto work = [&](int t) {
      WorkerOutput& o = outputs[t];
      o.ids.clear();
      o.ends.clear();
      for (std::size_t doc = cut[t]; doc < cut[t + 1]; ++doc) {
        o.ids.push_back(bos);
        std::vector<std::uint32_t> ids = options.specials
                                             ? tokenizer.encode_with_specials(batch.document(doc))
                                             : tokenizer.encode(batch.document(doc));
        o.ids.insert(o.ids.end(), ids.begin(), ids.end());
        o.ends.push_back(o.ids.size());
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (std::thread& th : pool) th.join();
    for (int t = 0; t < threads; ++t) {
      const WorkerOutput& o = outputs[t];
      for (std::size_t d = 0; d < o.ends.size(); ++d) {
        std::size_t begin = d == 0 ? 0 : o.ends[d - 1];
        bool to_val = doc_index < is_val.size() && is_val[doc_index];
        (to_val ? val : train).add_document(o.ids.data() + begin, o.ends[d] - begin);
        ++doc_index;
      }
    }
    stats.bytes += batch.bytes.size();
    if (bar) bar->set(reader.file_bytes_done());
  }
  train.finish();
  val.finish();
  if (bar) bar->finish();

  stats.documents = doc_index;
  stats.train_tokens = train.tokens();
  stats.val_tokens = val.tokens();
  Json inputs = Json::array();
  for (const fs::path& file : files) inputs.push_back(file.string());
  Json meta = {{"format", "masque-shards"},
               {"version", 1},
               {"tokenizer_fingerprint", tokenizer.fingerprint()},
               {"vocab_size", tokenizer.vocab_size()},
               {"token_bytes", tokenizer.vocab_size() <= 65536 ? 2 : 4},
               {"bos_id", bos},
               {"documents", stats.documents},
               {"bytes", stats.bytes},
               {"val_fraction", options.val_fraction},
               {"shard_tokens", options.shard_tokens},
               {"inputs", inputs},
               {"train", train.meta()},
               {"val", val.meta()}};
  write_json_file(out.path() / "meta.json", meta);
  out.commit();
  return stats;
}

CorpusTokens train_and_tokenize(const std::vector<std::string>& inputs, std::uint32_t vocab_size,
                                const std::filesystem::path& tokenizer_path,
                                const std::filesystem::path& data_dir, double val_fraction,
                                bool progress, bool specials) {
  BpeTrainOptions bpe;
  bpe.inputs = inputs;
  bpe.vocab_size = vocab_size;
  bpe.progress = progress;
  CorpusTokens out{train_bpe(bpe), {}};
  out.tokenizer.save(tokenizer_path);
  TokenizeOptions tok;
  tok.inputs = inputs;
  tok.out_dir = data_dir;
  tok.val_fraction = val_fraction;
  tok.progress = progress;
  tok.specials = specials;
  out.stats = tokenize_corpus(out.tokenizer, tok);
  return out;
}

}  // namespace masque
