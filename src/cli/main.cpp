// masque CLI entry point: builds the command tree from the registry, parses,
// and is the single place where errors are caught, printed and turned into a
// nonzero exit status (1 = user-actionable error, 2 = internal bug).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "cli/command.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/threads.h"

namespace masque::cli {
namespace {

std::vector<std::pair<std::string, CommandSetup>>& registry() {
  static std::vector<std::pair<std::string, CommandSetup>> commands;
  return commands;
}

GlobalOptions g_options;

}  // namespace

CommandRegistrar::CommandRegistrar(std::string name, CommandSetup setup) {
  registry().emplace_back(std::move(name), std::move(setup));
}

const GlobalOptions& global_options() { return g_options; }

}  // namespace masque::cli

int main(int argc, char** argv) {
  using namespace masque;
  CLI::App app{
      "masque: build an assistant persona from a corpus of characters, and measure how.\n"
      "Run `masque demo` for the whole pipeline on the built-in persona world."};
  app.set_help_all_flag("--help-all", "Show help for every command");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--threads", cli::g_options.threads, "CPU threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("-q,--quiet", cli::g_options.quiet, "No progress bars");
  app.add_option("--backend", cli::g_options.backend,
                 "Device for models: cpu, or cuda where built with CUDA and a GPU is present")
      ->capture_default_str();
  app.parse_complete_callback([] {
    set_default_backend(backend_by_name(cli::g_options.backend));
    set_num_threads(cli::g_options.threads);
    if (cli::g_options.quiet) set_progress_enabled(false);
  });

  auto& commands = cli::registry();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, setup] : commands) setup(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message (or the help) and returns its own codes
    // (104-114 for a bad flag); a usage error is a user error like any
    // other, so it exits 1. --help and --version stay 0.
    return app.exit(e) == 0 ? 0 : 1;
  } catch (const masque::Error& e) {
    std::fprintf(stderr, "masque: error: %s\n", e.what());
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    // A path masque could not create, read or rename (permissions, a file
    // where a directory belongs, a full or read-only disk): the user's to fix.
    std::fprintf(stderr, "masque: error: %s (check the path, its permissions and free space)\n",
                 e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "masque: error: out of memory (try a smaller batch, model or input)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "masque: internal error: %s (please report this)\n", e.what());
    return 2;
  }
  return 0;
}
