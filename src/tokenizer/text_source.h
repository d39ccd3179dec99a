// Reading corpora: input paths/globs -> files -> documents. A .jsonl file gives
// one document per non-blank line (its "text" string); any other file is one
// plain-text document. Used by the BPE trainer and by `masque tokenize`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"

namespace masque {

// A run of whole documents stored back to back.
struct DocumentBatch {
  std::string bytes;
  std::vector<std::size_t> ends;  // document i is bytes[ends[i-1] .. ends[i])

  std::size_t size() const { return ends.size(); }
  std::string_view document(std::size_t index) const {
    std::size_t begin = index == 0 ? 0 : ends[index - 1];
    return std::string_view(bytes).substr(begin, ends[index] - begin);
  }
  void clear() {
    bytes.clear();
    ends.clear();
  }
  // Cuts the documents into `parts` contiguous ranges of about equal bytes:
  // range p is documents [cuts[p], cuts[p + 1]). For splitting work by thread.
  std::vector<std::size_t> balanced_cuts(int parts) const;
};

class DocumentReader {
 public:
  // max_bytes > 0 stops after that many document bytes (whole documents).
  explicit DocumentReader(std::vector<std::filesystem::path> files, std::uint64_t max_bytes = 0);

  // Replaces batch with the next documents, about target_bytes in total (at
  // least one document). Returns false when the input is exhausted. Malformed
  // JSONL lines throw InputError naming file:line.
  bool next_batch(DocumentBatch& batch, std::size_t target_bytes);

  std::uint64_t total_file_bytes() const { return total_file_bytes_; }
  std::uint64_t file_bytes_done() const;  // for progress bars

 private:
  bool open_next_file();

  std::vector<std::filesystem::path> files_;
  std::uint64_t max_bytes_;
  std::uint64_t document_bytes_ = 0;
  std::uint64_t total_file_bytes_ = 0;
  std::uint64_t finished_file_bytes_ = 0;
  std::size_t next_file_ = 0;
  MappedFile current_;
  bool current_open_ = false;
  bool current_jsonl_ = false;
  std::size_t offset_ = 0;  // read position in current_
  std::size_t line_ = 0;    // lines consumed in current_ (JSONL)
};

bool is_jsonl_path(const std::filesystem::path& path);

// Number of documents the inputs hold (JSONL: non-blank lines), without
// parsing JSON; lets `masque tokenize` pick its validation split up front.
std::uint64_t count_documents(const std::vector<std::filesystem::path>& files);

}  // namespace masque
