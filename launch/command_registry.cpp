#include "launch/command_registry.h"

namespace tokenfocus::launch {
namespace {

std::vector<CommandEntry>& entries() {
  static std::vector<CommandEntry> all;  // built during static initialisation, read by main()
  return all;
}

}  // namespace

bool register_command(std::string path, std::string description, CommandSetup setup) {
  entries().push_back({std::move(path), std::move(description), setup});
  return true;
}

const std::vector<CommandEntry>& registered_commands() { return entries(); }

}  // namespace tokenfocus::launch
