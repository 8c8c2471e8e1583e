// Levelled, timestamped, rank-aware logging. By default only rank 0 writes to the console; every
// rank can also write its own file in the run folder (log::open_rank_file).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace tokenfocus::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn", "error"; throws UserError naming the bad value.
Level parse_level(std::string_view name);

void set_level(Level level);
Level level();
// Rank and world size as MPI reports them; until called the process counts as rank 0 of 1.
void set_rank(int rank, int world_size);
int rank();
// When true every rank writes to the console, each line prefixed with its rank.
void set_all_ranks_to_console(bool enabled);
// Also append every line of this rank to DIR/rank<N>.log (created if needed).
void open_rank_file(const std::string& directory);
void close_rank_file();

void write(Level level, std::string_view message);

// A one-line status (a progress bar) redrawn in place on this rank's console, for callers that
// checked that stderr is a terminal. Every console line written through write() erases it first,
// so no log line ever lands in the middle of it; the next status() call draws it again.
void status(std::string_view text);
// Erases the status line if one is drawn.
void clear_status();

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::kDebug) write(Level::kDebug, fmt::format(f, std::forward<Args>(a)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::kInfo) write(Level::kInfo, fmt::format(f, std::forward<Args>(a)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::kWarn) write(Level::kWarn, fmt::format(f, std::forward<Args>(a)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... a) {
  write(Level::kError, fmt::format(f, std::forward<Args>(a)...));
}

}  // namespace tokenfocus::log
