// Predictions store: round trip, merge across fold files, header disagreement errors, and the file
// read back by h5py alone (.venv's h5py), which prints the layout.
#include <gtest/gtest.h>
#include <unistd.h>  // getpid: ctest runs tests in parallel processes; each gets its own folder

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "data/prediction_store.h"

namespace tokenfocus::data {
namespace {

namespace fs = std::filesystem;

StoreHeader header() {
  StoreHeader h;
  h.backbone = "qwen2_vl_tiny";
  h.config_yaml = "name: demo\nseed: 3\n";
  h.config_hash = "ab12cd";
  h.code_version = "0.1.0";
  h.labels = {"1", "2", "3", "4", "5"};
  h.label_values = {1, 2, 3, 4, 5};
  h.num_folds = 2;
  return h;
}

FoldPredictions fold_predictions(int64_t fold) {
  FoldPredictions p;
  p.fold = fold;
  p.oof.add(fmt::format("m/{}a.png", fold), 3.25, {0.1, 0.2, 0.2, 0.3, 0.2},
            {"red (color)", "小红书 (other)"}, {0.9, 0.25});
  p.oof.add(fmt::format("m/{}b.png", fold), 1.5, {0.6, 0.3, 0.05, 0.05, 0.0}, {},
            {});  // no elements
  p.oof.add(fmt::format("m/{}c.png", fold), 4.75, {0, 0, 0.05, 0.15, 0.8}, {"circle (shape)"},
            {0.5});
  p.test.add("t/1.png", 2.0 + fold, {0.2, 0.2, 0.2, 0.2, 0.2}, {"cat (animal)"}, {0.125});
  p.metrics = {{"srcc", 0.75}, {"plcc", 0.8}, {"epoch", 3}};
  return p;
}

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / (name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void expect_equal(const PredictionSet& a, const PredictionSet& b) {
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.score, b.score);  // stored as IEEE f64: bit-exact
  EXPECT_EQ(a.num_labels, b.num_labels);
  EXPECT_EQ(a.label_probs, b.label_probs);
  EXPECT_EQ(a.element_offsets, b.element_offsets);
  EXPECT_EQ(a.element_keys, b.element_keys);
  EXPECT_EQ(a.element_prob, b.element_prob);
}

TEST(PredictionStore, RoundTripAndMerge) {
  const auto run = fresh_dir("tokenfocus_store_run");
  write_fold_predictions(run.string(), header(), fold_predictions(1));
  write_fold_predictions(run.string(), header(), fold_predictions(0));
  EXPECT_TRUE(fs::exists(run / "predictions/qwen2_vl_tiny/fold0.h5"));
  for (const auto& entry : fs::directory_iterator(run / "predictions/qwen2_vl_tiny"))
    EXPECT_EQ(entry.path().extension(), ".h5") << entry.path();  // no temporary left
  auto other = header();
  other.backbone = "internvl_tiny";
  write_fold_predictions(run.string(), other, fold_predictions(0));

  const auto stores = read_run_stores(run.string());
  ASSERT_EQ(stores.size(), 2u);
  EXPECT_EQ(stores[0].header.backbone, "internvl_tiny");
  const auto& store = stores[1];
  EXPECT_EQ(store.header.config_yaml, header().config_yaml);
  EXPECT_EQ(store.header.labels, header().labels);
  EXPECT_EQ(store.header.label_values, header().label_values);
  EXPECT_EQ(store.header.num_folds, 2);
  ASSERT_EQ(store.folds.size(), 2u);
  for (int64_t f = 0; f < 2; ++f) {
    EXPECT_EQ(store.folds[f].fold, f);
    expect_equal(store.folds[f].oof, fold_predictions(f).oof);
    expect_equal(store.folds[f].test, fold_predictions(f).test);
    EXPECT_EQ(store.folds[f].metrics, fold_predictions(f).metrics);
  }
  fs::remove_all(run);
}

TEST(PredictionStore, EmptyTestSetRoundTrips) {
  const auto run = fresh_dir("tokenfocus_store_empty");
  auto p = fold_predictions(0);
  p.test = PredictionSet{};
  write_fold_predictions(run.string(), header(), p);
  const auto back = read_fold_predictions(fold_predictions_path(run.string(), "qwen2_vl_tiny", 0));
  EXPECT_EQ(back.test.size(), 0u);
  EXPECT_EQ(back.test.element_offsets, std::vector<int64_t>{0});
  fs::remove_all(run);
}

TEST(PredictionStore, FoldFilesFromDifferentRunsAreRejected) {
  const auto run = fresh_dir("tokenfocus_store_mixed");
  write_fold_predictions(run.string(), header(), fold_predictions(0));
  auto changed = header();
  changed.config_hash = "ffff";
  write_fold_predictions(run.string(), changed, fold_predictions(1));
  try {
    read_backbone_store((run / "predictions/qwen2_vl_tiny").string());
    FAIL();
  } catch (const UserError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("fold0.h5 and "), std::string::npos) << m;
    EXPECT_NE(m.find("fold1.h5 disagree on config_hash ab12cd vs ffff"), std::string::npos) << m;
  }
  changed = header();
  changed.labels = {"1", "2", "3", "4", "five"};
  write_fold_predictions(run.string(), changed, fold_predictions(1));
  EXPECT_THROW(read_backbone_store((run / "predictions/qwen2_vl_tiny").string()), UserError);
  fs::remove_all(run);
}

TEST(PredictionStore, NonStoreFilesGiveOneClearError) {
  const auto dir = fresh_dir("tokenfocus_store_bad");
  fs::create_directories(dir / "predictions/b");
  std::ofstream(dir / "predictions/b/fold0.h5") << "not hdf5";
  try {
    read_run_stores(dir.string());
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("fold0.h5: not an HDF5 file"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(read_run_stores((dir / "nothing").string()), UserError);
  EXPECT_THROW(
      {
        FoldPredictions p = fold_predictions(0);
        p.oof.score.pop_back();
        write_fold_predictions(dir.string(), header(), p);
      },
      InternalError);
  fs::remove_all(dir);
}

// h5py alone reads the file: prints its layout, and checks values against what we wrote.
TEST(PredictionStore, ReadableByH5py) {
  const auto run = fresh_dir("tokenfocus_store_h5py");
  write_fold_predictions(run.string(), header(), fold_predictions(1));
  const auto file = fold_predictions_path(run.string(), "qwen2_vl_tiny", 1);
  const auto script = run / "check.py";
  std::ofstream(script) << R"PY(
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
def show(name, obj):
    kind = "group" if isinstance(obj, h5py.Group) else f"dataset {obj.shape} {obj.dtype}"
    print(f"/{name}: {kind}")
print("/: attrs", sorted(f.attrs.keys()))
f.visititems(show)
assert int(f.attrs["schema_version"]) == 1
assert f.attrs["backbone"] == "qwen2_vl_tiny"
assert list(f.attrs["labels"]) == ["1", "2", "3", "4", "5"]
assert np.array_equal(f.attrs["label_values"], [1, 2, 3, 4, 5])
assert int(f.attrs["fold"]) == 1 and int(f.attrs["num_folds"]) == 2
oof = f["oof"]
keys = [k.decode() for k in oof["keys"][:]]
assert keys == ["m/1a.png", "m/1b.png", "m/1c.png"], keys
assert np.array_equal(oof["score"][:], [3.25, 1.5, 4.75])
assert oof["label_probs"].shape == (3, 5)
assert abs(oof["label_probs"][2, 4] - 0.8) < 1e-15
off = oof["element_offsets"][:]
assert list(off) == [0, 2, 2, 3], off
ek = [k.decode() for k in oof["element_keys"][:]]
assert ek == ["red (color)", "小红书 (other)", "circle (shape)"], ek
assert np.array_equal(oof["element_prob"][:], [0.9, 0.25, 0.5])
assert float(f["metrics"].attrs["srcc"]) == 0.75
assert f["test"]["keys"][0].decode() == "t/1.png"
print("H5PY_OK")
)PY";
  const std::string command =
      std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " + script.string() + " " + file + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = pclose(pipe);
  std::printf("%s", output.c_str());
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("H5PY_OK"), std::string::npos) << output;
  fs::remove_all(run);
}

}  // namespace
}  // namespace tokenfocus::data
