// Errors and exit codes shared by every stage. Errors are exceptions carrying their full context
// (file, record, key); launch/main.cpp reports each one exactly once and maps it to an exit code.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace tokenfocus {

// Process exit codes, documented in docs/cli.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitUserError = 1,      // bad input or configuration: one clear message on stderr
  kExitInternalError = 2,  // a bug or an unexpected failure of the machine
  kExitRequeue = 75,       // checkpointed after a preemption signal: requeue me (EX_TEMPFAIL)
};

// Bad input: malformed files, unknown config keys, missing images, mismatched ranks.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Something that should not happen whatever the input (a broken invariant, a failed syscall).
class InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void throw_user_error(fmt::format_string<Args...> format, Args&&... args) {
  throw UserError(fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
[[noreturn]] void throw_internal_error(fmt::format_string<Args...> format, Args&&... args) {
  throw InternalError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tokenfocus
