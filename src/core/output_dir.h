// check_output_dir_writable: refuse an unusable output directory (a file, a
// path under a file, a read-only directory or file system) before a command
// spends minutes on work it then cannot save. Commands call it first thing.
#pragma once
#include <filesystem>
#include <string_view>

namespace masque {

// InputError naming `flag` ("--out") and the path when `dir` exists and is
// not a directory, when a component of its path is a file, or when masque
// cannot create files in it (or, if it does not exist yet, in its nearest
// existing ancestor, where it would be created). Creates nothing that stays.
void check_output_dir_writable(const std::filesystem::path& dir, std::string_view flag);

}  // namespace masque
