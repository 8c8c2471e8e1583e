// Runs loop_program under a real mpirun and checks what only whole processes can show:
//  - SIGTERM to one rank mid-run -> every rank checkpoints and exits 75; --resume then ends with
//    the same weights and predictions as the uninterrupted run, byte for byte (full training, and
//    LoRA, whose checkpoints hold only the adapter factors and their optimizer state);
//  - kill -9 of one rank -> mpirun and the other ranks exit non-zero within 60 s;
//  - a rank that stops answering (SIGSTOP) -> the others' collective deadline expires, they name
//    the missing rank and abort the job.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("tokenfocus-loop-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// mpirun -np `ranks` loop_program RUN_DIR args..., output to RUN_DIR/<log>.
pid_t start_job(const fs::path& run_dir, int ranks, const std::vector<std::string>& args,
                const std::string& log) {
  std::vector<std::string> argv = {TOKENFOCUS_TEST_MPIEXEC, "-np", std::to_string(ranks)};
  std::istringstream flags(TOKENFOCUS_TEST_MPIEXEC_FLAGS);
  for (std::string flag; flags >> flag;) argv.push_back(flag);
  argv.push_back(TOKENFOCUS_TEST_LOOP_PROGRAM);
  argv.push_back(run_dir.string());
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (auto& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log_path = (run_dir / log).string();
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "posix_spawn " << raw[0];
  return pid;
}

// Exit status of the job, or -1 when it did not end within `limit` (then it is killed).
int wait_job(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  int status = 0;
  while (Clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

pid_t rank_pid(const fs::path& run_dir, int rank, std::chrono::seconds limit) {
  const fs::path file = run_dir / "pids" / ("rank" + std::to_string(rank) + ".pid");
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    const std::string text = read_all(file);
    if (!text.empty() && text.back() == '\n') return static_cast<pid_t>(std::stol(text));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

// Waits until the metrics log has at least `steps` training lines.
bool wait_for_steps(const fs::path& run_dir, int steps, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    std::istringstream lines(read_all(run_dir / "metrics.jsonl"));
    int count = 0;
    for (std::string line; std::getline(lines, line);)
      count += line.find("\"type\":\"train\"") != std::string::npos;
    if (count >= steps) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Gone: no such process, or a zombie nobody reaped yet (it no longer runs).
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}

// The whole run, then the same run interrupted by SIGTERM to rank 1 and resumed: byte-identical
// final weights and predictions. `extra`: more loop_program arguments (--lora). Returns the
// uninterrupted run's folder (the caller removes it).
fs::path expect_resume_bit_for_bit(const std::string& name, const std::vector<std::string>& extra) {
  const fs::path whole = fresh_dir(name + "-whole");
  EXPECT_EQ(wait_job(start_job(whole, 2, extra, "log.txt"), std::chrono::seconds(240)), 0)
      << read_all(whole / "log.txt");

  const fs::path split = fresh_dir(name + "-split");
  std::vector<std::string> slow = {"--sleep-ms", "150"};
  slow.insert(slow.end(), extra.begin(), extra.end());
  const pid_t job = start_job(split, 2, slow, "log1.txt");
  EXPECT_TRUE(wait_for_steps(split, 3, std::chrono::seconds(120))) << read_all(split / "log1.txt");
  const pid_t rank1 = rank_pid(split, 1, std::chrono::seconds(5));
  EXPECT_GT(rank1, 0);
  if (rank1 > 0) kill(rank1, SIGTERM);  // one rank only: the flag reduction must stop both
  const int first = wait_job(job, std::chrono::seconds(120));
  EXPECT_EQ(first, 75) << read_all(split / "log1.txt");
  EXPECT_FALSE(fs::exists(split / "final.safetensors"));

  std::vector<std::string> resume = {"--resume"};
  resume.insert(resume.end(), extra.begin(), extra.end());
  EXPECT_EQ(wait_job(start_job(split, 2, resume, "log2.txt"), std::chrono::seconds(240)), 0)
      << read_all(split / "log2.txt");
  EXPECT_NE(read_all(split / "log2.txt").find("resumed from"), std::string::npos)
      << read_all(split / "log2.txt");
  const std::string expected_weights = read_all(whole / "final.safetensors");
  EXPECT_FALSE(expected_weights.empty());
  EXPECT_TRUE(read_all(split / "final.safetensors") == expected_weights)
      << "final weights differ after resume";
  EXPECT_TRUE(read_all(split / "predictions.safetensors") ==
              read_all(whole / "predictions.safetensors"))
      << "predictions differ after resume";
  fs::remove_all(split);
  return whole;
}

// The JSON header of a safetensors file (after its 8-byte little-endian length).
std::string safetensors_header(const fs::path& file) {
  const std::string bytes = read_all(file);
  if (bytes.size() < 8) return "";
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | static_cast<unsigned char>(bytes[i]);
  return bytes.substr(8, length);
}

TEST(TrainingLoop, SigtermThenResumeEqualsUninterruptedRunBitForBit) {
  fs::remove_all(expect_resume_bit_for_bit("full", {}));
}

TEST(TrainingLoop, LoraCheckpointsHoldTheAdapterOnlyAndResumeBitForBit) {
  const fs::path whole = expect_resume_bit_for_bit("lora", {"--lora"});
  int checkpoints = 0;
  for (const auto& entry : fs::directory_iterator(whole / "checkpoints")) {
    if (entry.path().filename().string().rfind("step-", 0) != 0) continue;
    ++checkpoints;
    const std::string model = safetensors_header(entry.path() / "model.safetensors");
    const std::string optimizer = safetensors_header(entry.path() / "optimizer.safetensors");
    for (const char* factor : {"\"fc1.lora_A.weight\"", "\"fc1.lora_B.weight\"",
                               "\"fc2.lora_A.weight\"", "\"fc2.lora_B.weight\""}) {
      EXPECT_NE(model.find(factor), std::string::npos) << factor << " in " << model;
      EXPECT_NE(optimizer.find(std::string("exp_avg/") + (factor + 1)), std::string::npos)
          << factor << " in " << optimizer;
    }
    // The frozen base weights are neither in the weights nor in the optimizer state.
    for (const char* base : {"fc1.weight\"", "fc1.bias\"", "fc2.weight\"", "fc2.bias\""}) {
      EXPECT_EQ(model.find(std::string("\"") + base), std::string::npos) << base << " in " << model;
      EXPECT_EQ(optimizer.find(std::string("/") + base), std::string::npos)
          << base << " in " << optimizer;
    }
  }
  EXPECT_GT(checkpoints, 0);
  fs::remove_all(whole);
}

TEST(TrainingLoop, KilledRankMakesEveryRankExitWithin60Seconds) {
  const fs::path dir = fresh_dir("kill9");
  const pid_t job =
      start_job(dir, 2, {"--sleep-ms", "100", "--epochs", "1000", "--timeout", "20"}, "log.txt");
  ASSERT_TRUE(wait_for_steps(dir, 2, std::chrono::seconds(120))) << read_all(dir / "log.txt");
  const pid_t rank0 = rank_pid(dir, 0, std::chrono::seconds(5));
  const pid_t rank1 = rank_pid(dir, 1, std::chrono::seconds(5));
  const auto killed_at = Clock::now();
  kill(rank1, SIGKILL);
  const int status = wait_job(job, std::chrono::seconds(60));
  const double seconds = std::chrono::duration<double>(Clock::now() - killed_at).count();
  const std::string log = read_all(dir / "log.txt");
  EXPECT_NE(status, -1) << "still running 60 s after kill -9:\n" << log;
  EXPECT_NE(status, 0) << log;
  // The surviving rank itself must be gone within the same 60 s (not only mpirun).
  while (!process_gone(rank0) && Clock::now() - killed_at < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const double survivor_seconds = std::chrono::duration<double>(Clock::now() - killed_at).count();
  EXPECT_TRUE(process_gone(rank0)) << "rank 0 still running 60 s after kill -9 of rank 1";
  EXPECT_LT(seconds, 60.0);
  // Either mpirun's own report or our collective watchdog names the missing rank.
  EXPECT_TRUE(log.find("rank 1") != std::string::npos ||
              log.find("never reached it: 1") != std::string::npos)
      << log;
  std::printf("kill -9 of rank 1: job exited with %d after %.1f s, rank 0 gone after %.1f s\n",
              status, seconds, survivor_seconds);
  fs::remove_all(dir);
}

TEST(TrainingLoop, StoppedRankTripsTheCollectiveDeadlineWhichNamesIt) {
  const fs::path dir = fresh_dir("sigstop");
  const pid_t job =
      start_job(dir, 2, {"--sleep-ms", "100", "--epochs", "1000", "--timeout", "3"}, "log.txt");
  ASSERT_TRUE(wait_for_steps(dir, 2, std::chrono::seconds(120))) << read_all(dir / "log.txt");
  const pid_t rank1 = rank_pid(dir, 1, std::chrono::seconds(5));
  const auto stopped_at = Clock::now();
  kill(rank1, SIGSTOP);  // alive but silent: mpirun sees nothing wrong, only the deadline can
  const int status = wait_job(job, std::chrono::seconds(60));
  const double seconds = std::chrono::duration<double>(Clock::now() - stopped_at).count();
  kill(rank1, SIGKILL);
  const std::string log = read_all(dir / "log.txt");
  EXPECT_NE(status, -1) << "still running 60 s after SIGSTOP:\n" << log;
  EXPECT_NE(status, 0) << log;
  EXPECT_NE(log.find("ranks that never reached it: 1"), std::string::npos) << log;
  std::printf("SIGSTOP of rank 1: job exited with %d after %.1f s\n", status, seconds);
  fs::remove_all(dir);
}

}  // namespace
