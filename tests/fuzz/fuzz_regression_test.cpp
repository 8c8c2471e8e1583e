// Every seed (corpus/) and every input the fuzzer ever flagged (regressions/) goes through the
// safetensors header parser: it must parse or throw UserError naming the input — never crash,
// never throw anything else. Runs under gcc in CI; the libFuzzer target itself needs clang.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "common/error.h"
#include "models/safetensors_header.h"

namespace tokenfocus::models {
namespace {

std::vector<std::filesystem::path> inputs_in(const char* folder) {
  std::vector<std::filesystem::path> files;
  const auto dir = std::filesystem::path(TOKENFOCUS_SOURCE_DIR) / "tests/fuzz" / folder;
  for (const auto& item : std::filesystem::directory_iterator(dir))
    if (item.is_regular_file() && item.path().extension() != ".md") files.push_back(item.path());
  std::sort(files.begin(), files.end());
  return files;
}

// "parsed" or "refused"; any other exception escapes and fails the test.
std::string feed(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(stream)),
                                   std::istreambuf_iterator<char>());
  try {
    const auto header =
        parse_safetensors_header(bytes.data(), bytes.size(), path.filename().string());
    for (const auto& entry : header.entries)
      EXPECT_LE(header.data_start + entry.end, bytes.size()) << path;
    return "parsed";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(path.filename().string()), std::string::npos) << e.what();
    return "refused";
  }
}

TEST(SafetensorsFuzzRegression, SeedCorpusParsesOrIsRefusedAsNamed) {
  const auto files = inputs_in("corpus");
  ASSERT_GE(files.size(), 20u);
  for (const auto& path : files) {
    const bool bad = path.filename().string().rfind("bad_", 0) == 0;
    EXPECT_EQ(feed(path), bad ? "refused" : "parsed") << path;
  }
}

TEST(SafetensorsFuzzRegression, RegressionInputsNeverCrash) {
  const auto files = inputs_in("regressions");
  ASSERT_GE(files.size(), 1u);
  for (const auto& path : files) {
    const std::string outcome = feed(path);
    EXPECT_TRUE(outcome == "parsed" || outcome == "refused") << path;
  }
}

TEST(SafetensorsFuzzRegression, WriterOutputParsesBack) {
  const auto path = std::filesystem::temp_directory_path() / "tokenfocus_fuzz_writer.safetensors";
  const float values[3] = {1, 2, 3};
  const uint16_t half[2] = {0x3c00, 0x4000};
  write_safetensors_file(
      path.string(),
      {{"b", SafetensorsDtype::kF16, {2}, half, 4}, {"a", SafetensorsDtype::kF32, {3}, values, 12}},
      {{"format", "pt"}});
  std::ifstream stream(path, std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(stream)),
                                   std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  const auto header = parse_safetensors_header(bytes.data(), bytes.size(), path.string());
  ASSERT_EQ(header.entries.size(), 2u);
  EXPECT_EQ(header.entries[0].name, "a");  // sorted by name
  EXPECT_EQ(header.entries[0].begin, 0u);  // wider dtype first in the buffer
  EXPECT_EQ(header.entries[1].begin, 12u);
  EXPECT_EQ(header.data_start % 8, 0u);
  EXPECT_EQ(header.metadata.at("format"), "pt");
}

}  // namespace
}  // namespace tokenfocus::models
