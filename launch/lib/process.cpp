#include "launch/lib/process.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"

extern char** environ;

namespace tokenfocus::launch {

std::string self_executable() {
  return std::filesystem::read_symlink("/proc/self/exe").string();
}

int run_process(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (rc != 0) throw_user_error("cannot start '{}': {}", argv[0], std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      throw_internal_error("waitpid for '{}' failed: {}", argv[0], std::strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string capture_process(const std::vector<std::string>& argv) {
  std::string command;
  for (const std::string& a : argv) command += "'" + a + "' ";  // arguments are our own paths/ids
  std::FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw_user_error("cannot start '{}'", argv[0]);
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    output.append(buffer.data(), n);
  const int status = pclose(pipe);
  if (status != 0)
    throw_user_error("'{}' failed (exit status {}): {}", fmt::join(argv, " "),
                     WIFEXITED(status) ? WEXITSTATUS(status) : status, output);
  return output;
}

std::vector<std::string> local_mpirun_prefix(int ranks) {
  std::vector<std::string> prefix{"mpirun",          "-np",       std::to_string(ranks),
                                  "--oversubscribe", "--bind-to", "none"};
  if (geteuid() == 0) prefix.push_back("--allow-run-as-root");
  return prefix;
}

}  // namespace tokenfocus::launch
