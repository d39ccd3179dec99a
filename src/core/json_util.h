// JSON helpers with errors a user can act on: which file, which field, what
// type was expected. Everything masque parses from JSON goes through these.
#pragma once
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "core/error.h"

namespace masque {

using Json = nlohmann::json;

// Parse a JSON file; FormatError names the file and the parser's position.
Json read_json_file(const std::filesystem::path& path);
// Parse text; `what` names the source in errors ("request body", "line 12 of x.jsonl").
Json parse_json(std::string_view text, std::string_view what);
// One line of JSON for stdout and JSONL files. A string that is not valid
// UTF-8 (model text: byte-level BPE samples any byte sequence; a path) is
// written with U+FFFD for each invalid byte instead of failing the output.
std::string json_line(const Json& value);
// Pretty-print and write atomically (temp file, fsync, rename); invalid UTF-8
// becomes U+FFFD as in json_line.
void write_json_file(const std::filesystem::path& path, const Json& value);

std::string json_type_name(const Json& value);

// Strict parsing: InputError naming `where`, the unknown key and the valid ones.
void reject_unknown_fields(const Json& object, const std::set<std::string>& known,
                           std::string_view where);

// One JSON value as an integer of type T, or InputError naming `what`
// ("field 'steps' of recipe.json", "token id"): not an integer (1.5, "3",
// 1e3 written as a float), negative for an unsigned T, or outside T's range.
// nlohmann's get<T>() would wrap silently (4294967304 -> 8 for a uint32).
template <class T>
T json_to_int(const Json& v, std::string_view what) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  if (!v.is_number_integer()) {
    throw InputError(
        cat(what, " must be an integer, got ", json_type_name(v), " (", v.dump(), ")"));
  }
  if (std::is_unsigned_v<T> && !v.is_number_unsigned() && v.get<long long>() < 0) {
    throw InputError(cat(what, " must be non-negative, got ", v.dump()));
  }
  const bool fits =
      v.is_number_unsigned()
          ? v.get<unsigned long long>() <=
                static_cast<unsigned long long>(std::numeric_limits<T>::max())
          : v.get<long long>() >= static_cast<long long>(std::numeric_limits<T>::min()) &&
                (std::is_unsigned_v<T> ||
                 v.get<long long>() <= static_cast<long long>(std::numeric_limits<T>::max()));
  if (!fits) {
    throw InputError(cat(what, " is out of range (", v.dump(), "; the largest allowed is ",
                         std::numeric_limits<T>::max(), ")"));
  }
  return v.get<T>();
}

// Required field of an expected type: get_field<int>(cfg, "hidden_size", "config.json").
template <class T>
T get_field(const Json& object, std::string_view key, std::string_view where) {
  if (!object.is_object()) {
    throw InputError(cat(where, ": expected a JSON object, got ", json_type_name(object)));
  }
  auto it = object.find(std::string(key));
  if (it == object.end()) {
    throw InputError(cat(where, ": missing required field '", key, "'"));
  }
  const Json& v = *it;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return json_to_int<T>(v, cat(where, ": field '", key, "'"));
  }
  bool ok;
  const char* expected;
  if constexpr (std::is_same_v<T, bool>) {
    ok = v.is_boolean();
    expected = "a boolean";
  } else if constexpr (std::is_floating_point_v<T>) {
    ok = v.is_number();
    expected = "a number";
  } else if constexpr (std::is_same_v<T, std::string>) {
    ok = v.is_string();
    expected = "a string";
  } else {
    ok = true;
    expected = "";
  }
  if (!ok) {
    throw InputError(cat(where, ": field '", key, "' must be ", expected, ", got ",
                         json_type_name(v), " (", v.dump(), ")"));
  }
  if constexpr (std::is_floating_point_v<T>) {
    // A double beyond float's range would become inf (undefined behaviour in the cast).
    const double d = v.get<double>();
    if (d > static_cast<double>(std::numeric_limits<T>::max()) ||
        d < -static_cast<double>(std::numeric_limits<T>::max())) {
      throw InputError(cat(where, ": field '", key, "' is out of range (", v.dump(), ")"));
    }
  }
  return v.get<T>();
}

// Integer field within the field's own range [lo, hi] (a count, a size): the
// InputError names the field and the range. Use it wherever a large value
// would make masque allocate or write without bound.
std::int64_t get_int_field(const Json& object, std::string_view key, std::string_view where,
                           std::int64_t lo, std::int64_t hi);
// The same when present; `fallback` when absent or null.
std::int64_t get_int_field_or(const Json& object, std::string_view key, std::string_view where,
                              std::int64_t lo, std::int64_t hi, std::int64_t fallback);

// Optional field: the default when absent, the same type check when present.
template <class T>
T get_field_or(const Json& object, std::string_view key, std::string_view where, T fallback) {
  if (!object.is_object() || !object.contains(std::string(key)) ||
      object.at(std::string(key)).is_null()) {
    return fallback;
  }
  return get_field<T>(object, key, where);
}

}  // namespace masque
