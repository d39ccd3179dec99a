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
  } catch (const nlohmann::json::exception& e) {
    // out_of_range.406: a number such as 1e400 that no double holds.
    throw FormatError(cat(what, " is not usable JSON: ", e.what(),
                          " (write numbers within the range of a 64-bit float)"));
  }
}

Json read_json_file(const std::filesystem::path& path) {
  std::string text = read_file(path);
  return parse_json(text, cat("file ", path));
}

std::string json_line(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void write_json_file(const std::filesystem::path& path, const Json& value) {
  // Model-generated text can hold invalid UTF-8 (byte-level BPE samples any
  // byte sequence); it is written as U+FFFD rather than failing the write.
  write_file_atomic(path, value.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
}

std::int64_t get_int_field(const Json& object, std::string_view key, std::string_view where,
                           std::int64_t lo, std::int64_t hi) {
  const auto value = get_field<std::int64_t>(object, key, where);
  if (value < lo || value > hi) {
    throw InputError(
        cat(where, ": field '", key, "' must be between ", lo, " and ", hi, ", got ", value));
  }
  return value;
}

std::int64_t get_int_field_or(const Json& object, std::string_view key, std::string_view where,
                              std::int64_t lo, std::int64_t hi, std::int64_t fallback) {
  if (!object.is_object() || !object.contains(std::string(key)) ||
      object.at(std::string(key)).is_null()) {
    return fallback;
  }
  return get_int_field(object, key, where, lo, hi);
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
