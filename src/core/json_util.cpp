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
  // Model-generated text can hold invalid UTF-8 (byte-level BPE samples any
  // byte sequence); it is written as U+FFFD rather than failing the write.
  write_file_atomic(path, value.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
}

void reject_unknown_fields(const Json& object, const std::set<std::string>& known,
                           std::string_view where) {
  if (!object.is_object()) {
    throw InputError(cat(where, ": expected a JSON object, got ", json_type_name(object)));
  }
  for (const auto& [key, value] : object.items()) {
    if (!known.count(key)) {
      std::string valid;
      for (const auto& name : known) valid += (valid.empty() ? "" : ", ") + name;
      throw InputError(cat(where, ": unknown field '", key, "' (valid fields: ", valid, ")"));
    }
  }
}

}  // namespace masque
