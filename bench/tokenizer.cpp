// bench_tokenizer: masque's side of bench/tokenizer_bench.py. Times encoding
// of a JSONL corpus (one document per line) with a given tokenizer.json on N
// threads, excluding file reading, and prints one JSON line. The Python driver
// runs the HF tokenizers / tiktoken anchors on the same documents.
//
//   bench_tokenizer encode TOKENIZER.json CORPUS.jsonl THREADS [REPEATS]
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "tokenizer/text_source.h"

namespace {

int run(int argc, char** argv) {
  using namespace masque;
  if (argc < 5 || std::string(argv[1]) != "encode") {
    std::fprintf(stderr, "usage: %s encode TOKENIZER.json CORPUS.jsonl THREADS [REPEATS]\n",
                 argv[0]);
    return 2;
  }
  Tokenizer tokenizer = Tokenizer::load(argv[2]);
  DocumentReader reader({argv[3]});
  DocumentBatch docs;
  reader.next_batch(docs, ~std::size_t{0} >> 1);
  const int threads = std::max(1, std::atoi(argv[4]));
  const int repeats = argc > 5 ? std::max(1, std::atoi(argv[5])) : 3;
  double best = 1e30;
  std::uint64_t tokens = 0;
  for (int rep = 0; rep < repeats; ++rep) {
    std::atomic<std::size_t> next{0};
    std::atomic<std::uint64_t> count{0};
    auto start = std::chrono::steady_clock::now();
    auto work = [&] {
      std::uint64_t local = 0;
      for (std::size_t doc; (doc = next.fetch_add(1)) < docs.size();) {
        local += tokenizer.encode(docs.document(doc)).size();
      }
      count += local;
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& th : pool) th.join();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, seconds);
    tokens = count;
  }
  nlohmann::json out = {{"threads", threads},
                        {"documents", docs.size()},
                        {"bytes", docs.bytes.size()},
                        {"tokens", tokens},
                        {"seconds", best},
                        {"mb_per_s", static_cast<double>(docs.bytes.size()) / 1e6 / best}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const masque::Error& e) {
    std::fprintf(stderr, "bench_tokenizer: error: %s\n", e.what());
    return 1;
  }
}
