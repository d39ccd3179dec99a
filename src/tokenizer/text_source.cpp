// Input expansion (files, directories, globs) and the streaming document
// reader. Files are memory-mapped, so a corpus never needs to fit in RAM; a
// batch holds copies of whole documents only.
#include "tokenizer/text_source.h"

#include <glob.h>

#include <algorithm>

#include "core/error.h"
#include "core/json_util.h"
#include "tokenizer/bpe_trainer.h"

namespace masque {
namespace fs = std::filesystem;

namespace {

bool has_glob_chars(const std::string& pattern) {
  return pattern.find_first_of("*?[") != std::string::npos;
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

}  // namespace

std::vector<std::size_t> DocumentBatch::balanced_cuts(int parts) const {
  std::vector<std::size_t> cuts(static_cast<std::size_t>(parts) + 1, size());
  cuts[0] = 0;
  std::size_t doc = 0;
  for (int part = 1; part < parts; ++part) {
    std::size_t goal =
        bytes.size() * static_cast<std::size_t>(part) / static_cast<std::size_t>(parts);
    while (doc < size() && ends[doc] < goal) ++doc;
    cuts[part] = std::max(cuts[part - 1], doc);
  }
  return cuts;
}

bool is_jsonl_path(const fs::path& path) { return path.extension() == ".jsonl"; }

std::vector<fs::path> expand_inputs(const std::vector<std::string>& patterns) {
  if (patterns.empty()) {
    throw InputError("no input given (pass --input with files, directories or glob patterns)");
  }
  std::vector<fs::path> files;
  for (const std::string& pattern : patterns) {
    std::error_code ec;
    if (fs::is_directory(pattern, ec)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::recursive_directory_iterator(pattern)) {
        if (entry.is_regular_file()) found.push_back(entry.path());
      }
      if (found.empty()) throw InputError(cat("input directory '", pattern, "' contains no files"));
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(pattern, ec)) {
      files.emplace_back(pattern);
    } else if (has_glob_chars(pattern)) {
      glob_t result{};
      int rc = ::glob(pattern.c_str(), 0, nullptr, &result);
      std::size_t before = files.size();
      if (rc == 0) {
        for (std::size_t idx = 0; idx < result.gl_pathc; ++idx) {
          if (fs::is_regular_file(result.gl_pathv[idx], ec))
            files.emplace_back(result.gl_pathv[idx]);
        }
      }
      ::globfree(&result);
      if (files.size() == before) {
        throw InputError(cat("input pattern '", pattern,
                             "' matches no files (check the path; quote the "
                             "pattern so the shell does not expand it)"));
      }
    } else {
      throw InputError(cat("input file '", pattern, "' does not exist (check the path)"));
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

DocumentReader::DocumentReader(std::vector<fs::path> files, std::uint64_t max_bytes)
    : files_(std::move(files)), max_bytes_(max_bytes) {
  for (const fs::path& file : files_) {
    std::error_code ec;
    auto size = fs::file_size(file, ec);
    if (ec) throw InputError(cat("cannot read input file ", file, ": ", ec.message()));
    total_file_bytes_ += size;
  }
}

std::uint64_t DocumentReader::file_bytes_done() const {
  return finished_file_bytes_ + (current_open_ ? offset_ : 0);
}

bool DocumentReader::open_next_file() {
  if (current_open_) {
    finished_file_bytes_ += current_.size();
    current_ = MappedFile();
    current_open_ = false;
  }
  if (next_file_ >= files_.size()) return false;
  const fs::path& path = files_[next_file_++];
  current_ = MappedFile(path);
  current_open_ = true;
  current_jsonl_ = is_jsonl_path(path);
  offset_ = 0;
  line_ = 0;
  return true;
}

bool DocumentReader::next_batch(DocumentBatch& batch, std::size_t target_bytes) {
  batch.clear();
  auto budget_left = [&] { return max_bytes_ == 0 || document_bytes_ < max_bytes_; };
  while (batch.bytes.size() < target_bytes && budget_left()) {
    if (!current_open_ || !current_jsonl_ || offset_ >= current_.size()) {
      if (!open_next_file()) break;
      if (!current_jsonl_) {  // the whole file is one document (possibly empty)
        batch.bytes.append(reinterpret_cast<const char*>(current_.data()), current_.size());
        batch.ends.push_back(batch.bytes.size());
        document_bytes_ += current_.size();
        offset_ = current_.size();
      }
      continue;
    }
    std::string_view data(reinterpret_cast<const char*>(current_.data()), current_.size());
    std::size_t newline = data.find('\n', offset_);
    std::size_t line_end = newline == std::string_view::npos ? data.size() : newline;
    std::string_view line = data.substr(offset_, line_end - offset_);
    offset_ = newline == std::string_view::npos ? data.size() : newline + 1;
    ++line_;
    if (is_blank(line)) continue;
    std::string where = cat("line ", line_, " of ", current_.path().string());
    Json doc;
    try {
      doc = parse_json(line, where);
    } catch (const Error& e) {
      throw InputError(
          cat(e.what(), " (each JSONL line must be an object with a \"text\" string)"));
    }
    if (!doc.is_object() || !doc.contains("text") || !doc.at("text").is_string()) {
      throw InputError(cat(where, ": expected an object with a \"text\" string, got ",
                           line.substr(0, 80), " (fix or remove the line)"));
    }
    const std::string& text = doc.at("text").get_ref<const std::string&>();
    batch.bytes.append(text);
    batch.ends.push_back(batch.bytes.size());
    document_bytes_ += text.size();
  }
  return !batch.ends.empty();
}

std::uint64_t count_documents(const std::vector<fs::path>& files) {
  std::uint64_t count = 0;
  for (const fs::path& path : files) {
    if (!is_jsonl_path(path)) {
      ++count;
      continue;
    }
    MappedFile file(path);
    std::string_view data(reinterpret_cast<const char*>(file.data()), file.size());
    std::size_t offset = 0;
    while (offset < data.size()) {
      std::size_t newline = data.find('\n', offset);
      std::size_t end = newline == std::string_view::npos ? data.size() : newline;
      if (!is_blank(data.substr(offset, end - offset))) ++count;
      offset = end + 1;
    }
  }
  return count;
}

}  // namespace masque
