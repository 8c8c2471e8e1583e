// `tokenfocus config show CONFIG [--set k=v ...]`: the resolved YAML and its SHA-256.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/config/run_config.h"
#include "launch/command_registry.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_config_show(CLI::App& command) {
  struct Options {
    std::string config;
    std::vector<std::string> overrides;
  };
  auto options = std::make_shared<Options>();
  command.add_option("config", options->config, "Run config (YAML)")->required();
  command.add_option("--set", options->overrides, "Override a key: a.b.c=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command.footer("Prints the config with every default filled in, in canonical form, then its hash.");
  return [options] {
    const auto resolved = config::load_run_config(options->config, options->overrides);
    std::fputs(resolved.canonical_yaml.c_str(), stdout);
    std::printf("# sha256: %s\n", resolved.hash.c_str());
    return 0;
  };
}

TOKENFOCUS_COMMAND("config", "Inspect and resolve run configs", nullptr);
TOKENFOCUS_COMMAND("config show", "Print the resolved config (defaults filled in) and its hash",
                   setup_config_show);

}  // namespace
}  // namespace tokenfocus::launch
