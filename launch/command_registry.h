// Commands register themselves under a path ("train", "config show", "debug tokenize") from their
// own file in launch/commands/, so adding a command never edits main.cpp.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tokenfocus::launch {

// Runs a command after parsing chose it; returns the process exit code (common/error.h).
using CommandRun = std::function<int()>;
// Adds the command's options to its (already created) CLI11 sub-app; returns how to run it.
using CommandSetup = CommandRun (*)(CLI::App& command);

struct CommandEntry {
  std::string path;         // space-separated, e.g. "config show"
  std::string description;  // one line for --help
  CommandSetup setup;       // nullptr for a group that only holds sub-commands ("config", "debug")
};

bool register_command(std::string path, std::string description, CommandSetup setup);
const std::vector<CommandEntry>& registered_commands();

}  // namespace tokenfocus::launch

#define TOKENFOCUS_CONCAT_INNER(a, b) a##b
#define TOKENFOCUS_CONCAT(a, b) TOKENFOCUS_CONCAT_INNER(a, b)
// TOKENFOCUS_COMMAND("config show", "Print the resolved config and its hash", setup_fn);
#define TOKENFOCUS_COMMAND(path, description, setup)                          \
  static const bool TOKENFOCUS_CONCAT(tokenfocus_command_registered_, __LINE__) = \
      ::tokenfocus::launch::register_command(path, description, setup)
