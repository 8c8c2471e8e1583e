// Loading a real sharded bf16 checkpoint (transformers' save_pretrained, max_shard_size 100MB, over
// 500 MB; make_large_checkpoint.py) into bf16 costs about the checkpoint's size and no more: the
// module is built directly in bf16 (no float32 copy), the shards are memory-mapped, and each
// tensor's file pages are given back as soon as it is copied. Peak resident memory is measured as
// the growth of VmHWM over VmRSS just before the load (the peak is reset first, through
// /proc/self/clear_refs), so that libtorch's own footprint does not count; the bound is 1.2x the
// checkpoint's bytes. The same checkpoint loaded into float32 is printed beside it (about 2x: the
// float32 weights alone are twice the file). Its own binary: nothing else runs in the process.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "models/registry.h"
#include "models/safetensors.h"
#include "tests/models/safetensors/reference_python.h"

namespace tokenfocus::models {
namespace {

using tokenfocus::testing::TempDir;

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM").
int64_t status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  throw std::runtime_error("/proc/self/status has no " + field);
}

void reset_peak() {
  std::ofstream("/proc/self/clear_refs") << "5";  // "5": reset the peak RSS to the current RSS
}

int64_t checkpoint_bytes(const std::filesystem::path& dir) {
  int64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".safetensors") total += entry.file_size();
  return total;
}

// Peak growth of resident memory while `dtype` loads the checkpoint (the model is kept until the
// measurement is taken, then freed).
int64_t load_growth(const std::string& dir, torch::ScalarType dtype,
                    std::shared_ptr<Backbone>* keep = nullptr) {
  LoadOptions options;
  options.dtype = dtype;
  reset_peak();
  const int64_t before = status_bytes("VmRSS");
  auto model = load_backbone(dir, options);
  const int64_t growth = status_bytes("VmHWM") - before;
  if (keep) *keep = model;
  return growth;
}

TEST(Bf16Load, ShardedBf16CheckpointLoadsWithinOnePointTwoTimesItsSize) {
  TempDir scratch("bf16_large");
  const std::string dir = scratch.file("model");
  std::printf(
      "%s",
      tokenfocus::testing::run_reference_python(
          "import runpy, sys; sys.argv = sys.argv[1:]; "
          "runpy.run_path(sys.argv[0], run_name='__main__')",
          {std::string(TOKENFOCUS_SOURCE_DIR) + "/tests/models/bf16/make_large_checkpoint.py", dir})
          .c_str());
  ASSERT_TRUE(std::filesystem::exists(dir + "/model.safetensors.index.json")) << "not sharded";
  const int64_t bytes = checkpoint_bytes(dir);
  ASSERT_GE(bytes, 500LL << 20);

  std::shared_ptr<Backbone> model;
  const int64_t bf16 = load_growth(dir, torch::kBFloat16, &model);
  int64_t parameter_bytes = 0;
  for (const auto& item : model->named_parameters()) {
    ASSERT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
    parameter_bytes += item.value().numel() * 2;
  }
  // The weights are the file's: every tensor of the largest shard compared bit for bit.
  std::filesystem::path largest;
  int shards = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".safetensors") {
      ++shards;
      if (largest.empty() || entry.file_size() > std::filesystem::file_size(largest))
        largest = entry.path();
    }
  const SafetensorsFile shard = SafetensorsFile::open(largest.string());
  const auto parameters = model->named_parameters();
  for (const auto& name : shard.names())
    EXPECT_TRUE(torch::equal(parameters[name], shard.get(name))) << name;
  model.reset();

  const int64_t fp32 = load_growth(dir, torch::kFloat);
  const double mb = 1 << 20;
  std::printf(
      "[bf16-load] checkpoint %.0f MB in %d shards (parameters %.0f MB bf16): peak growth bf16 "
      "%.0f MB = %.3fx the checkpoint; float32 %.0f MB = %.3fx\n",
      bytes / mb, shards, parameter_bytes / mb, bf16 / mb, static_cast<double>(bf16) / bytes,
      fp32 / mb, static_cast<double>(fp32) / bytes);
  EXPECT_LE(bf16, 1.2 * static_cast<double>(bytes));
  EXPECT_GE(bf16, 0.9 * static_cast<double>(parameter_bytes)) << "the measurement missed the load";
}

}  // namespace
}  // namespace tokenfocus::models
