// Command registry: each src/cli/cmd_*.cpp registers its subcommands with a
// static CommandRegistrar, so adding a command never edits main.cpp.
//
//   static masque::cli::CommandRegistrar reg("sample", [](CLI::App& app) {
//     auto* cmd = app.add_subcommand("sample", "Generate text from a model");
//     ... options ...
//     cmd->callback([opts] { run_sample(*opts); });
//   });
//
// Callbacks throw masque::Error on failure; main() prints it and exits 1.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace masque::cli {

using CommandSetup = std::function<void(CLI::App&)>;

struct CommandRegistrar {
  CommandRegistrar(std::string name, CommandSetup setup);
};

// Options every command shares (set in main before callbacks run).
struct GlobalOptions {
  std::string backend = "cpu";
  int threads = 0;     // 0 = all cores
  bool quiet = false;  // no progress bars
};
const GlobalOptions& global_options();

}  // namespace masque::cli
