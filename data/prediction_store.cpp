#include "data/prediction_store.h"

#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/log.h"

namespace tokenfocus::data {
namespace {

namespace fs = std::filesystem;

// Owns one HDF5 identifier; closes it with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  ~Handle() {
    if (id_ >= 0 && close_) close_(id_);
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// HDF5 prints its own error stack by default; we report errors ourselves, once.
void silence_hdf5() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

Handle vlen_string_type() {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

// ---- writing ----

struct Writer {
  std::string path;  // for messages

  void check(herr_t status, const std::string& what) const {
    if (status < 0) throw_user_error("{}: cannot write {} (HDF5 error)", path, what);
  }
  Handle space(const std::vector<hsize_t>& dims) const {
    if (dims.empty()) return Handle(H5Screate(H5S_SCALAR), H5Sclose);
    return Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  }
  void attr_string(hid_t where, const char* name, const std::string& value) const {
    auto type = vlen_string_type();
    auto sp = space({});
    Handle attr(H5Acreate2(where, name, type.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const char* data = value.c_str();
    check(attr.valid() ? H5Awrite(attr.get(), type.get(), &data) : -1,
          std::string("attribute ") + name);
  }
  void attr_int(hid_t where, const char* name, int64_t value) const {
    auto sp = space({});
    Handle attr(H5Acreate2(where, name, H5T_STD_I64LE, sp.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose);
    check(attr.valid() ? H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) : -1,
          std::string("attribute ") + name);
  }
  void attr_double(hid_t where, const char* name, double value) const {
    auto sp = space({});
    Handle attr(H5Acreate2(where, name, H5T_IEEE_F64LE, sp.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose);
    check(attr.valid() ? H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value) : -1,
          std::string("attribute ") + name);
  }
  void attr_strings(hid_t where, const char* name, const std::vector<std::string>& values) const {
    auto type = vlen_string_type();
    auto sp = space({values.size()});
    std::vector<const char*> data;
    for (const auto& v : values) data.push_back(v.c_str());
    Handle attr(H5Acreate2(where, name, type.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    check(attr.valid() ? (values.empty() ? 0 : H5Awrite(attr.get(), type.get(), data.data())) : -1,
          std::string("attribute ") + name);
  }
  void attr_doubles(hid_t where, const char* name, const std::vector<double>& values) const {
    auto sp = space({values.size()});
    Handle attr(H5Acreate2(where, name, H5T_IEEE_F64LE, sp.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose);
    check(attr.valid()
              ? (values.empty() ? 0 : H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, values.data()))
              : -1,
          std::string("attribute ") + name);
  }
  template <class T>
  void dataset(hid_t where, const char* name, const std::vector<hsize_t>& dims, hid_t file_type,
               hid_t mem_type, const T* data, size_t count) const {
    auto sp = space(dims);
    Handle set(H5Dcreate2(where, name, file_type, sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               H5Dclose);
    check(
        set.valid()
            ? (count == 0 ? 0 : H5Dwrite(set.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data))
            : -1,
        std::string("dataset ") + name);
  }
  void strings(hid_t where, const char* name, const std::vector<std::string>& values) const {
    auto type = vlen_string_type();
    std::vector<const char*> data;
    for (const auto& v : values) data.push_back(v.c_str());
    dataset(where, name, {values.size()}, type.get(), type.get(), data.data(), data.size());
  }
  void prediction_set(hid_t file, const char* group_name, const PredictionSet& set) const {
    Handle group(H5Gcreate2(file, group_name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    check(group.valid() ? 0 : -1, std::string("group ") + group_name);
    const hsize_t n = set.keys.size();
    strings(group.get(), "keys", set.keys);
    dataset(group.get(), "score", {n}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, set.score.data(),
            set.score.size());
    dataset(group.get(), "label_probs", {n, static_cast<hsize_t>(set.num_labels)}, H5T_IEEE_F64LE,
            H5T_NATIVE_DOUBLE, set.label_probs.data(), set.label_probs.size());
    dataset(group.get(), "element_offsets", {n + 1}, H5T_STD_I64LE, H5T_NATIVE_INT64,
            set.element_offsets.data(), set.element_offsets.size());
    strings(group.get(), "element_keys", set.element_keys);
    dataset(group.get(), "element_prob", {set.element_prob.size()}, H5T_IEEE_F64LE,
            H5T_NATIVE_DOUBLE, set.element_prob.data(), set.element_prob.size());
  }
};

// ---- reading ----

struct Reader {
  std::string path;

  [[noreturn]] void fail(const std::string& what) const {
    throw_user_error("{}: {} (not a tokenfocus predictions file of schema {}?)", path, what,
                     kPredictionStoreSchemaVersion);
  }
  Handle open_attr(hid_t where, const char* name) const {
    if (H5Aexists(where, name) <= 0) fail(fmt::format("attribute \"{}\" is missing", name));
    return Handle(H5Aopen(where, name, H5P_DEFAULT), H5Aclose);
  }
  hssize_t attr_count(const Handle& attr) const {
    Handle sp(H5Aget_space(attr.get()), H5Sclose);
    return H5Sget_simple_extent_npoints(sp.get());
  }
  std::vector<std::string> attr_strings(hid_t where, const char* name) const {
    auto attr = open_attr(where, name);
    const auto n = attr_count(attr);
    std::vector<char*> data(static_cast<size_t>(n), nullptr);
    auto type = vlen_string_type();
    if (n > 0 && H5Aread(attr.get(), type.get(), data.data()) < 0)
      fail(fmt::format("attribute \"{}\" is not a string", name));
    std::vector<std::string> out;
    for (char* s : data) {
      out.emplace_back(s ? s : "");
      H5free_memory(s);
    }
    return out;
  }
  std::string attr_string(hid_t where, const char* name) const {
    auto v = attr_strings(where, name);
    if (v.size() != 1) fail(fmt::format("attribute \"{}\" is not one string", name));
    return v[0];
  }
  std::vector<double> attr_doubles(hid_t where, const char* name) const {
    auto attr = open_attr(where, name);
    std::vector<double> out(static_cast<size_t>(attr_count(attr)));
    if (!out.empty() && H5Aread(attr.get(), H5T_NATIVE_DOUBLE, out.data()) < 0)
      fail(fmt::format("attribute \"{}\" is not numeric", name));
    return out;
  }
  int64_t attr_int(hid_t where, const char* name) const {
    auto attr = open_attr(where, name);
    int64_t value = 0;
    if (attr_count(attr) != 1 || H5Aread(attr.get(), H5T_NATIVE_INT64, &value) < 0)
      fail(fmt::format("attribute \"{}\" is not an integer", name));
    return value;
  }
  Handle open_set(hid_t group, const std::string& where, const char* name,
                  std::vector<hsize_t>& dims) const {
    if (H5Lexists(group, name, H5P_DEFAULT) <= 0)
      fail(fmt::format("dataset \"{}/{}\" is missing", where, name));
    Handle set(H5Dopen2(group, name, H5P_DEFAULT), H5Dclose);
    Handle sp(H5Dget_space(set.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(sp.get());
    dims.assign(static_cast<size_t>(std::max(rank, 0)), 0);
    if (rank > 0) H5Sget_simple_extent_dims(sp.get(), dims.data(), nullptr);
    return set;
  }
  template <class T>
  std::vector<T> numbers(hid_t group, const std::string& where, const char* name, hid_t mem_type,
                         std::vector<hsize_t>& dims) const {
    auto set = open_set(group, where, name, dims);
    size_t count = 1;
    for (auto d : dims) count *= d;
    std::vector<T> out(count);
    if (count > 0 && H5Dread(set.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
      fail(fmt::format("dataset \"{}/{}\" cannot be read as numbers", where, name));
    return out;
  }
  std::vector<std::string> strings(hid_t group, const std::string& where, const char* name) const {
    std::vector<hsize_t> dims;
    auto set = open_set(group, where, name, dims);
    if (dims.size() != 1)
      fail(fmt::format("dataset \"{}/{}\" is not one-dimensional", where, name));
    std::vector<char*> data(dims[0], nullptr);
    auto type = vlen_string_type();
    if (!data.empty() &&
        H5Dread(set.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0)
      fail(fmt::format("dataset \"{}/{}\" is not a list of strings", where, name));
    std::vector<std::string> out;
    for (char* s : data) {
      out.emplace_back(s ? s : "");
      H5free_memory(s);
    }
    return out;
  }
  PredictionSet prediction_set(hid_t file, const char* group_name) const {
    if (H5Lexists(file, group_name, H5P_DEFAULT) <= 0)
      fail(fmt::format("group \"{}\" is missing", group_name));
    Handle group(H5Gopen2(file, group_name, H5P_DEFAULT), H5Gclose);
    PredictionSet set;
    std::vector<hsize_t> dims;
    set.keys = strings(group.get(), group_name, "keys");
    set.score = numbers<double>(group.get(), group_name, "score", H5T_NATIVE_DOUBLE, dims);
    set.label_probs =
        numbers<double>(group.get(), group_name, "label_probs", H5T_NATIVE_DOUBLE, dims);
    if (dims.size() != 2)
      fail(fmt::format("dataset \"{}/label_probs\" is not two-dimensional", group_name));
    set.num_labels = static_cast<int64_t>(dims[1]);
    set.element_offsets =
        numbers<int64_t>(group.get(), group_name, "element_offsets", H5T_NATIVE_INT64, dims);
    set.element_keys = strings(group.get(), group_name, "element_keys");
    set.element_prob =
        numbers<double>(group.get(), group_name, "element_prob", H5T_NATIVE_DOUBLE, dims);
    try {
      set.validate(group_name);
    } catch (const InternalError& e) {
      fail(e.what());
    }
    return set;
  }
};

std::string describe_difference(const StoreHeader& a, const StoreHeader& b) {
  if (a.backbone != b.backbone)
    return fmt::format("backbone \"{}\" vs \"{}\"", a.backbone, b.backbone);
  if (a.config_hash != b.config_hash)
    return fmt::format("config_hash {} vs {}", a.config_hash, b.config_hash);
  if (a.labels != b.labels) return "the label set (labels)";
  if (a.label_values != b.label_values) return "the label values (label_values)";
  if (a.num_folds != b.num_folds)
    return fmt::format("num_folds {} vs {}", a.num_folds, b.num_folds);
  return {};
}

}  // namespace

void PredictionSet::add(const std::string& key, double score_value,
                        const std::vector<double>& probs,
                        const std::vector<std::string>& element_keys_of_sample,
                        const std::vector<double>& element_probs_of_sample) {
  if (keys.empty() && num_labels == 0) num_labels = static_cast<int64_t>(probs.size());
  if (static_cast<int64_t>(probs.size()) != num_labels)
    throw_internal_error("predictions for {}: {} label probabilities, expected {}", key,
                         probs.size(), num_labels);
  if (element_keys_of_sample.size() != element_probs_of_sample.size())
    throw_internal_error("predictions for {}: {} element keys but {} probabilities", key,
                         element_keys_of_sample.size(), element_probs_of_sample.size());
  keys.push_back(key);
  score.push_back(score_value);
  label_probs.insert(label_probs.end(), probs.begin(), probs.end());
  element_keys.insert(element_keys.end(), element_keys_of_sample.begin(),
                      element_keys_of_sample.end());
  element_prob.insert(element_prob.end(), element_probs_of_sample.begin(),
                      element_probs_of_sample.end());
  element_offsets.push_back(static_cast<int64_t>(element_keys.size()));
}

void PredictionSet::validate(const std::string& what) const {
  const size_t n = keys.size();
  if (score.size() != n) throw_internal_error("{}: {} keys but {} scores", what, n, score.size());
  if (num_labels < 0 || label_probs.size() != n * static_cast<size_t>(num_labels))
    throw_internal_error("{}: label_probs has {} values, expected {} × {}", what,
                         label_probs.size(), n, num_labels);
  if (element_offsets.size() != n + 1 || element_offsets.front() != 0)
    throw_internal_error("{}: element_offsets must have n+1 = {} entries starting at 0", what,
                         n + 1);
  for (size_t i = 0; i < n; ++i)
    if (element_offsets[i + 1] < element_offsets[i])
      throw_internal_error("{}: element_offsets decrease at sample {}", what, i);
  if (static_cast<size_t>(element_offsets.back()) != element_keys.size() ||
      element_keys.size() != element_prob.size())
    throw_internal_error("{}: element_offsets end at {}, with {} element keys and {} probabilities",
                         what, element_offsets.back(), element_keys.size(), element_prob.size());
}

std::string fold_predictions_path(const std::string& run_dir, const std::string& backbone,
                                  int64_t fold) {
  return (fs::path(run_dir) / "predictions" / backbone / fmt::format("fold{}.h5", fold)).string();
}

void write_fold_predictions(const std::string& run_dir, const StoreHeader& header,
                            const FoldPredictions& fold) {
  silence_hdf5();
  if (header.backbone.empty()) throw_internal_error("predictions store: empty backbone name");
  if (header.labels.size() != header.label_values.size())
    throw_internal_error("predictions store: {} labels but {} values", header.labels.size(),
                         header.label_values.size());
  fold.oof.validate("oof predictions");
  fold.test.validate("test predictions");
  for (const auto* set : {&fold.oof, &fold.test})
    if (!set->keys.empty() && set->num_labels != static_cast<int64_t>(header.labels.size()))
      throw_internal_error("predictions store: {} label probabilities per sample, label set has {}",
                           set->num_labels, header.labels.size());

  const std::string path = fold_predictions_path(run_dir, header.backbone, fold.fold);
  write_via_temporary(path, [&](const std::string& temp) {
    const Writer w{temp};
    Handle file(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (!file.valid()) throw_user_error("{}: cannot create predictions file", temp);
    const hid_t f = file.get();
    w.attr_int(f, "schema_version", kPredictionStoreSchemaVersion);
    w.attr_string(f, "backbone", header.backbone);
    w.attr_string(f, "config_yaml", header.config_yaml);
    w.attr_string(f, "config_hash", header.config_hash);
    w.attr_string(f, "code_version", header.code_version);
    w.attr_strings(f, "labels", header.labels);
    w.attr_doubles(f, "label_values", header.label_values);
    w.attr_int(f, "fold", fold.fold);
    w.attr_int(f, "num_folds", header.num_folds);
    w.prediction_set(f, "oof", fold.oof);
    w.prediction_set(f, "test", fold.test);
    Handle metrics(H5Gcreate2(f, "metrics", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    for (const auto& [name, value] : fold.metrics)
      w.attr_double(metrics.get(), name.c_str(), value);
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) throw_user_error("{}: flush failed", temp);
  });  // the file is closed (Handle) before the rename
}

FoldPredictions read_fold_predictions(const std::string& path, StoreHeader* header) {
  silence_hdf5();
  const Reader r{path};
  if (H5Fis_hdf5(path.c_str()) <= 0) throw_user_error("{}: not an HDF5 file (or missing)", path);
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) throw_user_error("{}: cannot open predictions file", path);
  const hid_t f = file.get();
  const auto version = r.attr_int(f, "schema_version");
  if (version != kPredictionStoreSchemaVersion)
    throw_user_error("{}: schema_version {} is not supported (this build reads {})", path, version,
                     kPredictionStoreSchemaVersion);
  StoreHeader h;
  h.backbone = r.attr_string(f, "backbone");
  h.config_yaml = r.attr_string(f, "config_yaml");
  h.config_hash = r.attr_string(f, "config_hash");
  h.code_version = r.attr_string(f, "code_version");
  h.labels = r.attr_strings(f, "labels");
  h.label_values = r.attr_doubles(f, "label_values");
  h.num_folds = r.attr_int(f, "num_folds");
  FoldPredictions out;
  out.fold = r.attr_int(f, "fold");
  out.oof = r.prediction_set(f, "oof");
  out.test = r.prediction_set(f, "test");
  if (H5Lexists(f, "metrics", H5P_DEFAULT) > 0) {
    Handle metrics(H5Gopen2(f, "metrics", H5P_DEFAULT), H5Gclose);
    H5O_info_t info;
    H5Oget_info(metrics.get(), &info);
    for (hsize_t i = 0; i < info.num_attrs; ++i) {
      Handle attr(H5Aopen_by_idx(metrics.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT,
                                 H5P_DEFAULT),
                  H5Aclose);
      const ssize_t len = H5Aget_name(attr.get(), 0, nullptr);
      std::string name(static_cast<size_t>(len), '\0');
      H5Aget_name(attr.get(), name.size() + 1, name.data());
      double value = 0;
      if (H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value) < 0)
        r.fail("metric \"" + name + "\" is not a number");
      out.metrics[name] = value;
    }
  }
  if (header) *header = std::move(h);
  return out;
}

BackboneStore read_backbone_store(const std::string& backbone_dir) {
  if (!fs::is_directory(backbone_dir))
    throw_user_error("{}: no such predictions folder", backbone_dir);
  static const std::regex kFoldFile(R"(fold(\d+)\.h5)");
  std::vector<std::pair<int64_t, std::string>> files;
  for (const auto& entry : fs::directory_iterator(backbone_dir)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, m, kFoldFile))
      files.emplace_back(std::stoll(m[1].str()), entry.path().string());
  }
  if (files.empty()) throw_user_error("{}: no fold<k>.h5 predictions files", backbone_dir);
  std::sort(files.begin(), files.end());
  BackboneStore store;
  std::string first_path;
  for (const auto& [number, path] : files) {
    StoreHeader header;
    auto fold = read_fold_predictions(path, &header);
    if (fold.fold != number)
      throw_user_error("{}: holds fold {} but is named fold{}.h5", path, fold.fold, number);
    if (first_path.empty()) {
      store.header = header;
      first_path = path;
    } else {
      const auto difference = describe_difference(store.header, header);
      if (!difference.empty())
        throw_user_error("{} and {} disagree on {}: they come from different runs", first_path,
                         path, difference);
      if (header.code_version != store.header.code_version)
        log::warn("{}: written by code version {}, {} by {}", path, header.code_version, first_path,
                  store.header.code_version);
    }
    if (fold.fold < 0 || fold.fold >= header.num_folds)
      throw_user_error("{}: fold {} is outside [0, num_folds={})", path, fold.fold,
                       header.num_folds);
    store.folds.push_back(std::move(fold));
  }
  return store;
}

std::vector<BackboneStore> read_run_stores(const std::string& run_dir) {
  const fs::path root = fs::path(run_dir) / "predictions";
  if (!fs::is_directory(root))
    throw_user_error("{}: no predictions folder (train first)", root.string());
  std::vector<std::string> dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) dirs.push_back(entry.path().string());
  std::sort(dirs.begin(), dirs.end());
  std::vector<BackboneStore> stores;
  for (const auto& dir : dirs) stores.push_back(read_backbone_store(dir));
  if (stores.empty()) throw_user_error("{}: no backbone folders", root.string());
  return stores;
}

}  // namespace tokenfocus::data
