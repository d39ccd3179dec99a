// `masque version`: build information, for bug reports and scripts (--json).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/threads.h"
#include "core/version.h"

namespace {

masque::cli::CommandRegistrar reg("version", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print masque's version and build features");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Machine-readable output");
  cmd->callback([json] {
    nlohmann::json info = {{"version", std::string(masque::kMasqueVersion)},
                           {"threads", masque::num_threads()},
#ifdef MASQUE_HAVE_CUDA
                           {"cuda", true}
#else
                           {"cuda", false}
#endif
    };
    if (*json) {
      std::printf("%s\n", info.dump().c_str());
    } else {
      std::printf("masque %s (threads %d, cuda %s)\n", info["version"].get<std::string>().c_str(),
                  masque::num_threads(), info["cuda"].get<bool>() ? "yes" : "no");
    }
  });
});

}  // namespace
