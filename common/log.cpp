#include "common/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>

#include "common/error.h"

namespace tokenfocus::log {
namespace {

struct State {
  std::mutex mutex;
  Level level = Level::kInfo;
  int rank = 0;
  int world_size = 1;
  bool all_ranks_to_console = false;
  std::FILE* rank_file = nullptr;
  bool status_drawn = false;  // a status line is on the console (erased before the next line)
};

State& state() {
  static State s;
  return s;
}

const char* level_name(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "?";
}

std::string timestamp() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t seconds = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03d}Z", buffer, millis);
}

// With the mutex held.
void erase_status(State& s) {
  if (!s.status_drawn) return;
  std::fputs("\r\033[K", stderr);
  s.status_drawn = false;
}

}  // namespace

Level parse_level(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn" || name == "warning") return Level::kWarn;
  if (name == "error") return Level::kError;
  throw_user_error("unknown log level '{}' (expected debug, info, warn or error)", name);
}

void set_level(Level level) { state().level = level; }
Level level() { return state().level; }

void set_rank(int rank, int world_size) {
  state().rank = rank;
  state().world_size = world_size;
}
int rank() { return state().rank; }

void set_all_ranks_to_console(bool enabled) { state().all_ranks_to_console = enabled; }

void open_rank_file(const std::string& directory) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  std::filesystem::create_directories(directory);
  const std::string path = fmt::format("{}/rank{}.log", directory, s.rank);
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (!file) throw_user_error("cannot open log file {} for appending", path);
  if (s.rank_file) std::fclose(s.rank_file);
  s.rank_file = file;
}

void close_rank_file() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.rank_file) std::fclose(s.rank_file);
  s.rank_file = nullptr;
}

void write(Level level, std::string_view message) {
  State& s = state();
  if (level < s.level) return;
  const std::string rank_tag = s.world_size > 1 ? fmt::format(" [rank {}]", s.rank) : "";
  const std::string line =
      fmt::format("{} [{}]{} {}\n", timestamp(), level_name(level), rank_tag, message);
  std::lock_guard<std::mutex> lock(s.mutex);
  // Errors reach the console from every rank: a failing rank must never be silent.
  if (s.rank == 0 || s.all_ranks_to_console || level == Level::kError) {
    erase_status(s);
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }
  if (s.rank_file) {
    std::fputs(line.c_str(), s.rank_file);
    std::fflush(s.rank_file);
  }
}

void status(std::string_view text) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  std::fprintf(stderr, "\r%.*s\033[K", static_cast<int>(text.size()), text.data());
  std::fflush(stderr);
  s.status_drawn = true;
}

void clear_status() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  erase_status(s);
  std::fflush(stderr);
}

}  // namespace tokenfocus::log
