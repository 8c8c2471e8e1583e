// Safetensors reading and writing, checked against an independent pure-Python reader/writer run by
// the reference Python (struct + json + hashlib; torch only to make bf16/fp16 bytes): tensors must
// agree byte for byte (sha256 of each tensor's bytes), conversions exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/sha256.h"
#include "models/safetensors.h"
#include "tests/models/safetensors/reference_python.h"

namespace tokenfocus::models {
namespace {

using testing::run_reference_python;
using testing::TempDir;

// name dtype shape sha256 per line, and one "meta key value" line per metadata entry.
const char* kPythonListing = R"PY(
import hashlib, json, struct, sys
with open(sys.argv[1], "rb") as f:
    b = f.read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = b[8 + n:]
for k, v in sorted(h.pop("__metadata__", {}).items()):
    print("meta", k, v)
for k in sorted(h):
    v = h[k]
    s, e = v["data_offsets"]
    print(k, v["dtype"], json.dumps(v["shape"], separators=(",", ":")), hashlib.sha256(data[s:e]).hexdigest())
)PY";

std::string shape_json(c10::IntArrayRef sizes) {
  std::string text = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) text += (i ? "," : "") + std::to_string(sizes[i]);
  return text + "]";
}

std::string tensor_sha(const torch::Tensor& tensor) {
  const torch::Tensor data = tensor.contiguous();
  return sha256_hex(std::string_view(static_cast<const char*>(data.data_ptr()),
                                     data.numel() * data.element_size()));
}

std::string our_listing(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  std::ostringstream out;
  for (const auto& [key, value] : file.metadata()) out << "meta " << key << " " << value << "\n";
  for (const auto& name : file.names()) {
    const torch::Tensor tensor = file.get(name);
    out << name << " " << safetensors_dtype_name(file.entry(name).dtype) << " "
        << shape_json(tensor.sizes()) << " " << tensor_sha(tensor) << "\n";
  }
  return out.str();
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Safetensors, ReadsTheGoldenCheckpointByteForByteLikePython) {
  for (const char* path : {"../shared/golden/qwen2_vl/model.safetensors",
                           "../shared/golden/qwen2_vl/case_1x4x4.safetensors"}) {
    const std::string expected = run_reference_python(kPythonListing, {path});
    EXPECT_GT(expected.size(), 100u);
    EXPECT_EQ(our_listing(path), expected) << path;
  }
}

std::map<std::string, torch::Tensor> every_dtype() {
  torch::manual_seed(3);
  return {
      {"f32", torch::randn({3, 5})},
      {"f64", torch::randn({2}, torch::kFloat64)},
      {"bf16", torch::randn({4, 2}).to(torch::kBFloat16)},
      {"f16", torch::randn({7}).to(torch::kFloat16)},
      {"i64", torch::arange(-3, 3, torch::kInt64)},
      {"i32", torch::arange(0, 5, torch::kInt32).reshape({5, 1})},
      {"i16", torch::tensor({-2, 9}, torch::kInt16)},
      {"i8", torch::tensor({-128, 127}, torch::kInt8)},
      {"u8", torch::tensor({0, 255, 7}, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::empty({0, 3})},
      {"strided", torch::randn({4, 6}).t()},  // non-contiguous: written in logical order
  };
}

TEST(Safetensors, WrittenFilesReadBackIdenticallyHereAndInPython) {
  TempDir dir("st_roundtrip");
  const std::string path = dir.file("all.safetensors");
  const auto tensors = every_dtype();
  save_safetensors(path, tensors, {{"format", "pt"}, {"note", "r\u00e9sum\u00e9"}});

  const auto loaded = load_safetensors(path);
  ASSERT_EQ(loaded.size(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    ASSERT_TRUE(loaded.count(name)) << name;
    EXPECT_EQ(loaded.at(name).scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(loaded.at(name), tensor)) << name;
  }
  EXPECT_EQ(SafetensorsFile::open(path).metadata().at("note"), "r\u00e9sum\u00e9");
  EXPECT_EQ(our_listing(path), run_reference_python(kPythonListing, {path}));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST(Safetensors, HeaderIsSortedPaddedAndTensorsAligned) {
  TempDir dir("st_layout");
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path, every_dtype(), {{"format", "pt"}});
  const std::string report = run_reference_python(R"PY(
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
text = b[8:8 + n].decode()
keys = list(json.loads(text).keys())
h = json.loads(text); h.pop("__metadata__")
sizes = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "BF16": 2, "F16": 2, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
aligned = all(v["data_offsets"][0] % sizes[v["dtype"]] == 0 for v in h.values())
print(n % 8, keys == sorted(keys), aligned, text.rstrip(" ") == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")))
)PY",
                                                  {path});
  EXPECT_EQ(report, "0 True True True\n");
}

TEST(Safetensors, Bf16AndFp16ConvertExactlyAsTorchDoes) {
  TempDir dir("st_convert");
  const std::string path = dir.file("half.safetensors");
  const std::string expected_path = dir.file("expected.f32");
  // Python writes bf16/fp16 bytes with its own writer, and the float32 values torch gets from them.
  run_reference_python(R"PY(
import json, struct, sys, torch
torch.manual_seed(0)
x = torch.randn(64) * 100
x[:4] = torch.tensor([0.0, -0.0, 65504.0, 1e-7])
bf, hf = x.to(torch.bfloat16), x.to(torch.float16)
blobs = [("a_bf16", "BF16", bf.view(torch.int16).numpy().tobytes()), ("b_f16", "F16", hf.view(torch.int16).numpy().tobytes())]
header, data = {}, b""
for name, dtype, raw in blobs:
    header[name] = {"dtype": dtype, "shape": [8, 8], "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
text = json.dumps(header).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text + data)
open(sys.argv[2], "wb").write(bf.float().numpy().tobytes() + hf.float().numpy().tobytes())
)PY",
                       {path, expected_path});
  std::ifstream stream(expected_path, std::ios::binary);
  std::vector<float> expected(128);
  stream.read(reinterpret_cast<char*>(expected.data()), expected.size() * sizeof(float));
  const torch::Tensor want = torch::from_blob(expected.data(), {2, 8, 8}).clone();

  const SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(file.get("a_bf16").scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(file.get("a_bf16", torch::kFloat32), want[0]));
  EXPECT_TRUE(torch::equal(file.get("b_f16", torch::kFloat32), want[1]));
  // And back down: f32 -> bf16 conversion is torch's round-to-nearest-even.
  EXPECT_TRUE(torch::equal(file.get("b_f16", torch::kBFloat16), want[1].to(torch::kBFloat16)));
}

TEST(Safetensors, TensorsViewTheMappingWithoutCopiesAndOutliveTheFileObject) {
  TempDir dir("st_zero_copy");
  const std::string path = dir.file("z.safetensors");
  save_safetensors(path, {{"w", torch::arange(12, torch::kFloat32).reshape({3, 4})}});
  torch::Tensor first, second;
  {
    const SafetensorsFile file = SafetensorsFile::open(path);
    first = file.get("w");
    second = file.get("w");
    EXPECT_EQ(first.data_ptr(), second.data_ptr());  // same mapped bytes, no copy
    EXPECT_EQ(file.get("w", torch::kFloat32).data_ptr(), first.data_ptr());
  }
  // The mapping is private: writing into a tensor neither crashes nor changes the file.
  first.mul_(2);
  EXPECT_FLOAT_EQ(second[1][1].item<float>(), 10.0f);
  EXPECT_FLOAT_EQ(SafetensorsFile::open(path).get("w")[1][1].item<float>(), 5.0f);
}

TEST(Safetensors, EveryMalformedSeedIsRefusedNamingTheFile) {
  // The fuzz seed corpus holds one file per way of being malformed (tests/fuzz/make_corpus.py).
  const std::filesystem::path corpus =
      std::filesystem::path(TOKENFOCUS_SOURCE_DIR) / "tests/fuzz/corpus";
  int refused = 0, accepted = 0;
  for (const auto& item : std::filesystem::directory_iterator(corpus)) {
    const std::string path = item.path().string();
    const bool bad = item.path().filename().string().rfind("bad_", 0) == 0;
    const std::string error = error_of([&] { load_safetensors(path); });
    if (bad) {
      EXPECT_NE(error.find(path), std::string::npos) << path << ": " << error;
      ++refused;
    } else if (error.find("not supported by libtorch") == std::string::npos) {
      EXPECT_EQ(error, "no error") << path;
      ++accepted;
    }
  }
  EXPECT_GE(refused, 15);
  EXPECT_GE(accepted, 4);
}

TEST(Safetensors, MessagesSayWhatIsWrong) {
  const std::string corpus = std::string(TOKENFOCUS_SOURCE_DIR) + "/tests/fuzz/corpus/";
  auto error = [&](const std::string& name) {
    return error_of([&] { SafetensorsFile::open(corpus + name); });
  };
  EXPECT_NE(error("bad_length_beyond_file.safetensors").find("beyond the end of the file"),
            std::string::npos);
  EXPECT_NE(error("bad_length_absurd.safetensors").find("absurd"), std::string::npos);
  EXPECT_NE(error("bad_json.safetensors").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error("bad_unknown_dtype.safetensors").find("tensor \"w\": unknown dtype \"F31\""),
            std::string::npos);
  EXPECT_NE(error("bad_size_mismatch.safetensors").find("tensor \"w\": F32 [2] needs 8 bytes"),
            std::string::npos);
  EXPECT_NE(error("bad_overlap.safetensors").find("overlap"), std::string::npos);
  EXPECT_NE(error("bad_hole.safetensors").find("hole"), std::string::npos);
  EXPECT_NE(error("bad_trailing_bytes.safetensors").find("trailing"), std::string::npos);
  EXPECT_NE(error("bad_negative_shape.safetensors").find("non-negative"), std::string::npos);
  EXPECT_NE(error("bad_overflow_shape.safetensors").find("overflows"), std::string::npos);
  EXPECT_NE(error("bad_duplicate_key.safetensors").find("repeats the key \"w\""),
            std::string::npos);
  EXPECT_NE(error("bad_offsets_beyond.safetensors").find("beyond the data buffer"),
            std::string::npos);
}

TEST(Safetensors, AbsentTensorsAndUnsupportedConversionsNameFileAndTensor) {
  const std::string golden = "../shared/golden/qwen2_vl/case_1x4x4.safetensors";
  const SafetensorsFile file = SafetensorsFile::open(golden);
  EXPECT_TRUE(file.contains("input_ids"));
  EXPECT_FALSE(file.contains("nope"));
  EXPECT_EQ(error_of([&] { file.get("nope"); }), golden + ": no tensor named \"nope\"");
  EXPECT_NE(error_of([&] {
              file.get("input_ids", torch::kFloat32);
            }).find(golden + ": tensor \"input_ids\" is I64"),
            std::string::npos);
  const std::string mixed =
      std::string(TOKENFOCUS_SOURCE_DIR) + "/tests/fuzz/corpus/valid_mixed.safetensors";
  const SafetensorsFile valid = SafetensorsFile::open(mixed);
  // libtorch 2.x reads U16 and F8_E4M3 (0x38 is 1.0 in e4m3fn).
  EXPECT_EQ(valid.get("i").scalar_type(), torch::kUInt16);
  EXPECT_EQ(valid.get("i").to(torch::kInt64).item<int64_t>(), 1);
  EXPECT_EQ(valid.get("h").scalar_type(), torch::kFloat8_e4m3fn);
  EXPECT_FLOAT_EQ(valid.get("h").to(torch::kFloat32).item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(valid.get("c", torch::kFloat32)[1].item<float>(), 2.0f);  // BF16 0x4000
  EXPECT_EQ(error_of([] {
              SafetensorsFile::open("/nonexistent/x.safetensors");
            }).rfind("/nonexistent/x.safetensors: cannot open", 0),
            0u);
}

}  // namespace
}  // namespace tokenfocus::models
