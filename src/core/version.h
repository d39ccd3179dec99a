// masque's version string, for files that record which masque wrote them
// (persona vectors, reports). Keep in step with project(VERSION) in
// CMakeLists.txt.
#pragma once
#include <string_view>

namespace masque {

inline constexpr std::string_view kMasqueVersion = "0.1.0";

}  // namespace masque
