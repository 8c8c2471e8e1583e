// The `tokenfocus` executable: builds the command tree from the registry, parses, runs the chosen
// command, and reports any error exactly once with the exit codes of common/error.h.
#include <cstdio>
#include <map>
#include <sstream>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/log.h"
#include "launch/command_registry.h"
#include "trainer/build_info.h"

namespace {

using tokenfocus::launch::CommandRun;

// Finds or creates the sub-app for each word of `path` below `root`.
CLI::App* subcommand_at(CLI::App& root, const std::string& path,
                        std::map<std::string, CLI::App*>& made) {
  std::istringstream words(path);
  std::string word, prefix;
  CLI::App* parent = &root;
  while (words >> word) {
    prefix += (prefix.empty() ? "" : " ") + word;
    auto it = made.find(prefix);
    if (it == made.end()) {
      CLI::App* child = parent->add_subcommand(word, "");
      it = made.emplace(prefix, child).first;
    }
    parent = it->second;
  }
  return parent;
}

}  // namespace

int main(int argc, char** argv) {
  namespace tf = tokenfocus;
  CLI::App app{
      "tokenfocus: fine-tune and ensemble vision-language models as text-to-image alignment "
      "scorers (TokenFocus-VQA, NTIRE 2025 Track 1)"};
  app.require_subcommand(1);
  std::string version = tf::trainer::build_info();
  version.pop_back();  // CLI11 ends the line itself
  app.set_version_flag("--version", version, "The project, libtorch, CUDA and NCCL versions");
  std::string log_level = "info";
  bool quiet = false;
  bool all_ranks = false;
  app.add_option("--log-level", log_level, "debug, info, warn or error")->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors");
  app.add_flag("--log-all-ranks", all_ranks, "Every MPI rank logs to the console, not only rank 0");

  std::map<std::string, CLI::App*> made;
  std::vector<std::pair<CLI::App*, CommandRun>> runs;
  for (const auto& entry : tf::launch::registered_commands()) {
    CLI::App* command = subcommand_at(app, entry.path, made);
    command->description(entry.description);
    if (entry.setup) runs.emplace_back(command, entry.setup(*command));
  }
  // Groups ("config", "data", "debug") need one of their sub-commands.
  for (auto& [path, command] : made)
    if (!command->get_subcommands({}).empty()) command->require_subcommand(1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? tf::kExitOk : tf::kExitUserError;
  }

  try {
    tf::log::set_level(quiet ? tf::log::Level::kWarn : tf::log::parse_level(log_level));
    tf::log::set_all_ranks_to_console(all_ranks);
    for (auto& [command, run] : runs)
      if (command->parsed() && command->get_subcommands().empty()) return run();
    tf::throw_internal_error("no command ran");
  } catch (const tf::UserError& e) {
    tf::log::error("{}", e.what());
    return tf::kExitUserError;
  } catch (const std::exception& e) {
    tf::log::error("internal error: {}", e.what());
    return tf::kExitInternalError;
  }
}
