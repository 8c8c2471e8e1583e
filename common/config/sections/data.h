// `data:` — where records and images are, and how the loader feeds them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/check.h"

namespace tokenfocus::config {

struct LoaderConfig {
  int64_t workers = 2;   // decode threads
  int64_t prefetch = 4;  // batches decoded ahead of the trainer
  template <class V>
  void describe(V& v) {
    v("workers", workers, at_least(0));
    v("prefetch", prefetch, at_least(1));
  }
};

struct SyntheticDataConfig {
  int64_t train_samples = 0;  // > 0: `make demo` generates this many training images first
  int64_t test_samples = 0;
  int64_t seed = 0;
  int64_t image_size = 56;        // square images; 56 px = 2x2 merged Qwen2-VL tokens
  int64_t images_per_prompt = 4;  // several "generators" per prompt, as in EvalMuse
  template <class V>
  void describe(V& v) {
    v("train_samples", train_samples, at_least(0));
    v("test_samples", test_samples, at_least(0));
    v("seed", seed, at_least(0));
    v("image_size", image_size, in_range(28, 1024));
    v("images_per_prompt", images_per_prompt, at_least(1));
  }
};

// One rule of `data.element_flags`: the element questions of records whose EvalMuse flag `flag`
// equals `equals` weigh `weight` in training (0 = not asked). Several matching rules multiply.
// Records without the flag (test and ground-truth files) match no rule.
struct ElementFlagRule {
  std::string flag;
  double equals = 1;
  double weight = 0;
  template <class V>
  void describe(V& v) {
    v("flag", flag,
      one_of({"promt_meaningless", "split_confidence", "attribute_confidence"}).and_required());
    v("equals", equals);
    v("weight", weight, at_least(0.0));
  }
};

// `data.pseudo_labels`: a teacher's predictions for unlabelled records join training as soft
// targets. They only ever train: no fold evaluates, and no store or ensemble row holds, them.
struct PseudoLabelsConfig {
  std::string predictions;  // "" = off; a predictions store (.h5: its test rows) or a submission
  std::string records;      // the unlabelled records they are for ("" = data.test_records)
  double weight = 1.0;      // weight of each pseudo-labelled question in the loss
  // Teacher confidence below which a question is not asked: max(P(yes), P(no)) for elements,
  // the largest label probability for the overall question (stores only: a submission has none).
  double min_confidence = 0.0;
  template <class V>
  void describe(V& v) {
    v("predictions", predictions);
    v("records", records);
    v("weight", weight, positive());
    v("min_confidence", min_confidence, in_range(0.0, 1.0));
  }
};

struct DataConfig {
  std::string train_records;  // EvalMuse-format JSON with scores
  std::string test_records;   // JSON without scores ("" = no test set)
  std::string image_root;     // img_path values are relative to this folder
  std::string missing_images = "error";
  SyntheticDataConfig synthetic;
  LoaderConfig loader;
  std::vector<ElementFlagRule> element_flags;
  PseudoLabelsConfig pseudo_labels;
  template <class V>
  void describe(V& v) {
    v("train_records", train_records);
    v("test_records", test_records);
    v("image_root", image_root);
    v("missing_images", missing_images, one_of({"error", "skip"}));
    v("synthetic", synthetic);
    v("loader", loader);
    v("element_flags", element_flags);
    v("pseudo_labels", pseudo_labels);
  }
};

}  // namespace tokenfocus::config
