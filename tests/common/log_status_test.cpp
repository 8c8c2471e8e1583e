// log::status: a status line drawn in place is erased before the next console line, so a log line
// never lands in the middle of a progress bar; clear_status erases it once.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "common/log.h"

namespace tokenfocus {
namespace {

// Runs `body` with stderr redirected to a file and returns what it wrote.
template <class F>
std::string captured_stderr(F&& body) {
  const std::string path = testing::TempDir() + "/log_status_" + std::to_string(::getpid());
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  std::FILE* file = std::fopen(path.c_str(), "w");
  ::dup2(::fileno(file), STDERR_FILENO);
  body();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::fclose(file);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  std::remove(path.c_str());
  return text.str();
}

TEST(LogStatus, ALogLineErasesTheStatusLineFirst) {
  log::set_level(log::Level::kInfo);
  const std::string out = captured_stderr([] {
    log::status("bar 1");
    log::status("bar 2");
    log::info("a line");
    log::info("another line");  // nothing drawn: nothing to erase
    log::status("bar 3");
    log::clear_status();
    log::clear_status();  // already erased
  });
  const std::string erase = "\r\033[K";
  const size_t line = out.find("[info] a line\n");
  ASSERT_NE(line, std::string::npos) << out;
  const size_t line_start = out.rfind(erase, line);
  EXPECT_EQ(out.substr(0, line_start), "\rbar 1\033[K\rbar 2\033[K");
  EXPECT_EQ(out.substr(line_start, erase.size()), erase);
  const size_t second = out.find("[info] another line\n");
  ASSERT_NE(second, std::string::npos);
  const std::string tail = out.substr(second + std::string("[info] another line\n").size());
  EXPECT_EQ(tail, "\rbar 3\033[K" + erase);
  // Exactly one erase between the two lines (the first line's), none before the second.
  EXPECT_EQ(out.substr(line + 14, second - line - 14).find(erase), std::string::npos);
}

}  // namespace
}  // namespace tokenfocus
