// JSON parsing/writing with file- and field-naming errors.
#include "core/json_util.h"

#include "core/atomic_file.h"

namespace masque {

std::string json_type_name(const Json& value) { return value.type_name(); }

Json parse_json(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(cat(what, " is not valid JSON: ", e.what()));
  }
}

Json read_json_file(const std::filesystem::path& path) {
  std::string text = read_file(path);
  return parse_json(text, cat("file ", path));
}

void write_json_file(const std::filesystem::path& path, const Json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

}  // namespace masque
