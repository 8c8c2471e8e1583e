#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/config/sections/prompt.h"
#include "common/error.h"
#include "common/log.h"
#include "data/chat_template.h"
#include "data/sampler.h"
#include "data/tiny_tokenizer.h"

namespace tokenfocus::data {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// Portable randomness: only mt19937_64 output and exact double arithmetic (no libm), so a seed
// gives the same dataset on every machine.
struct Random {
  std::mt19937_64 rng;
  double uniform() { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool chance(double p) { return uniform() < p; }
  int64_t below(int64_t n) {
    return static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(n)));
  }
  // Irwin–Hall: the sum of 12 uniforms minus 6 has mean 0 and variance 1, close to normal.
  double normal() {
    double s = 0;
    for (int i = 0; i < 12; ++i) s += uniform();
    return s - 6.0;
  }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(below(static_cast<int64_t>(v.size())))];
  }
  template <class T>
  const T& pick_other(const std::vector<T>& v, const T& not_this) {
    while (true) {
      const T& x = pick(v);
      if (x != not_this) return x;
    }
  }
};

const std::vector<std::string> kCountWords{"one", "two", "three"};

enum class Layout { kFree, kSide, kLeftOf };

struct ObjectPlan {
  std::string colour, shape;
  int64_t count = 1;
};

// What the prompt asks for.
struct PromptPlan {
  std::vector<ObjectPlan> objects;  // 1 or 2, distinct colours and shapes
  Layout layout = Layout::kFree;
  int side = 0;  // kSide: 0 = left, 1 = right
  std::string text;
};

// What the image shows, slot by slot (slot i renders the prompt's object i, maybe wrongly).
struct ObjectActual {
  bool present = true;
  std::string colour, shape;
  int64_t count = 1;
};
struct SceneActual {
  std::vector<ObjectActual> objects;
  bool layout_correct = true;  // side or left-of order as the prompt says
};

std::string plural(const std::string& shape) {
  return shape + "s";
}

PromptPlan make_prompt(Random& r) {
  PromptPlan p;
  const bool two = r.chance(0.5);
  ObjectPlan a{r.pick(synthetic_colours()), r.pick(synthetic_shapes()), 1};
  p.objects.push_back(a);
  if (two) {
    ObjectPlan b{r.pick_other(synthetic_colours(), a.colour),
                 r.pick_other(synthetic_shapes(), a.shape), 1};
    p.objects.push_back(b);
    p.layout = r.chance(0.35) ? Layout::kLeftOf : Layout::kFree;
    p.text = fmt::format("a {} {} {} a {} {}", a.colour, a.shape,
                         p.layout == Layout::kLeftOf ? "left of" : "and", b.colour, b.shape);
  } else if (r.chance(0.3)) {
    p.objects[0].count = 2 + r.below(2);
    p.text = fmt::format("{} {} {}", kCountWords[static_cast<size_t>(p.objects[0].count - 1)],
                         a.colour, plural(a.shape));
  } else {
    p.layout = r.chance(0.4) ? Layout::kSide : Layout::kFree;
    p.side = static_cast<int>(r.below(2));
    p.text = fmt::format(
        "a {} {}{}", a.colour, a.shape,
        p.layout == Layout::kSide ? (p.side == 0 ? " on the left" : " on the right") : "");
  }
  return p;
}

// Perturbs the plan: full match (30%), partial (55%) or mismatch (15%).
SceneActual make_scene(const PromptPlan& plan, Random& r) {
  SceneActual s;
  const double u = r.uniform();
  const bool full = u < 0.30, mismatch = u >= 0.85;
  for (const auto& o : plan.objects) {
    ObjectActual a{true, o.colour, o.shape, o.count};
    if (mismatch) {
      a.present = r.chance(0.7);
      a.colour = r.pick_other(synthetic_colours(), o.colour);
      a.shape = r.pick_other(synthetic_shapes(), o.shape);
    } else if (!full) {
      a.present = r.chance(0.85);
      if (r.chance(0.45)) a.colour = r.pick_other(synthetic_colours(), o.colour);
      if (r.chance(0.35)) a.shape = r.pick_other(synthetic_shapes(), o.shape);
      if (o.count > 1 && r.chance(0.5))
        a.count = o.count == 2 ? (r.chance(0.5) ? 1 : 3) : 1 + r.below(2);
    }
    s.objects.push_back(a);
  }
  s.layout_correct = full || (!mismatch && r.chance(0.5)) || (mismatch && r.chance(0.2));
  if (!full) {
    // A partial scene must differ from the prompt somewhere: break the first object's colour.
    bool any_wrong = !s.layout_correct && plan.layout != Layout::kFree;
    for (size_t i = 0; i < s.objects.size(); ++i) {
      const auto& a = s.objects[i];
      const auto& o = plan.objects[i];
      any_wrong |= !a.present || a.colour != o.colour || a.shape != o.shape || a.count != o.count;
    }
    if (!any_wrong) s.objects[0].colour = r.pick_other(synthetic_colours(), plan.objects[0].colour);
  }
  return s;
}

// Prompt elements in EvalMuse's "name (category)" form with whether the scene satisfies them.
std::vector<std::pair<std::string, bool>> judge_elements(const PromptPlan& plan,
                                                         const SceneActual& s) {
  std::vector<std::pair<std::string, bool>> out;
  for (size_t i = 0; i < plan.objects.size(); ++i) {
    const auto& o = plan.objects[i];
    const auto& a = s.objects[i];
    const std::string shape_name = o.count > 1 ? plural(o.shape) : o.shape;
    out.emplace_back(shape_name + " (object)", a.present && a.shape == o.shape);
    out.emplace_back(o.colour + " (color)", a.present && a.colour == o.colour);
    if (o.count > 1)
      out.emplace_back(kCountWords[static_cast<size_t>(o.count - 1)] + " (counting)",
                       a.present && a.count == o.count);
  }
  if (plan.layout == Layout::kSide)
    out.emplace_back(std::string(plan.side == 0 ? "left" : "right") + " (location)",
                     s.objects[0].present && s.layout_correct);
  if (plan.layout == Layout::kLeftOf)
    out.emplace_back("left of (spatial)",
                     s.objects[0].present && s.objects[1].present && s.layout_correct);
  return out;
}

RgbImage render(const PromptPlan& plan, const SceneActual& s, int64_t size, Random& r) {
  RgbImage image;
  image.width = image.height = size;
  image.pixels.resize(static_cast<size_t>(size * size * 3));
  const double grey = r.uniform(70, 140);
  uint8_t background[3];
  for (auto& c : background)
    c = static_cast<uint8_t>(std::clamp(grey + r.uniform(-10, 10), 0.0, 255.0));
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = background[i % 3];

  // Objects sit in the cells of a 2×2 grid, one copy per cell: at 56 px a cell is exactly one
  // merged vision token of the tiny Qwen2-VL models (2×2 patches of 14 px), so each token shows
  // at most one shape and a tiny model trained from scratch sees colour and shape cleanly.
  // Cells: 0 = top left, 1 = top right, 2 = bottom left, 3 = bottom right.
  const double cell = static_cast<double>(size) / 2.0;
  std::vector<int> free_cells{0, 1, 2, 3};
  auto take_cell = [&](int column) {  // column 0 = left, 1 = right, -1 = any
    std::vector<size_t> candidates;
    for (size_t i = 0; i < free_cells.size(); ++i)
      if (column < 0 || free_cells[i] % 2 == column) candidates.push_back(i);
    if (candidates.empty())  // the column is full: any free cell
      for (size_t i = 0; i < free_cells.size(); ++i) candidates.push_back(i);
    const size_t pick =
        candidates[static_cast<size_t>(r.below(static_cast<int64_t>(candidates.size())))];
    const int c = free_cells[pick];
    free_cells.erase(free_cells.begin() + static_cast<std::ptrdiff_t>(pick));
    return c;
  };
  for (size_t slot = 0; slot < s.objects.size(); ++slot) {
    const auto& a = s.objects[slot];
    if (!a.present) continue;
    uint8_t rgb[3];
    synthetic_colour_rgb(a.colour, rgb);
    for (auto& c : rgb) c = static_cast<uint8_t>(std::clamp(c + r.uniform(-12, 12), 0.0, 255.0));
    // Which column the layout asks for: the side, or left-of order (swapped when it is wrong).
    int column = -1;
    if (plan.layout == Layout::kSide) column = s.layout_correct ? plan.side : 1 - plan.side;
    if (plan.layout == Layout::kLeftOf) column = (slot == 0) == s.layout_correct ? 0 : 1;
    const double radius = r.uniform(0.30, 0.40) * cell;
    for (int64_t copy = 0; copy < a.count && !free_cells.empty(); ++copy) {
      const int c = take_cell(copy == 0 ? column : (column < 0 ? -1 : column));
      const double jitter = 0.5 * cell - radius - 1.0;
      const double cx = (c % 2 + 0.5) * cell + r.uniform(-jitter, jitter);
      const double cy = (c / 2 + 0.5) * cell + r.uniform(-jitter, jitter);
      draw_shape(image, ShapeSpec{a.shape, {rgb[0], rgb[1], rgb[2]}, cx, cy, radius});
    }
  }
  for (auto& p : image.pixels)
    p = static_cast<uint8_t>(std::clamp(p + r.uniform(-6, 6), 0.0, 255.0));
  return image;
}

uint64_t split_stream(const std::string& split) {  // FNV-1a: portable string hash
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : split) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace

std::vector<SyntheticSample> generate_synthetic_split(const SyntheticOptions& options,
                                                      const std::string& split, int64_t count) {
  if (options.image_size < 28)
    throw_user_error("synthetic data: image size {} is below 28 px", options.image_size);
  if (options.images_per_prompt < 1 || options.annotators < 1)
    throw_user_error("synthetic data: images per prompt and annotators must be positive");
  Random r{std::mt19937_64(mix_seed(options.seed, split_stream(split)))};
  // EvalMuse's split_confidence on its own stream, so the scenes and scores stay those of `r`:
  // records with split_confidence 0 have less reliable element labels (more flips), which is what
  // data.element_flags can down-weight.
  Random flags{std::mt19937_64(mix_seed(options.seed, split_stream(split) + 1))};
  std::vector<SyntheticSample> out;
  PromptPlan plan;
  for (int64_t i = 0; i < count; ++i) {
    if (i % options.images_per_prompt == 0) plan = make_prompt(r);
    const SceneActual scene = make_scene(plan, r);
    const auto truths = judge_elements(plan, scene);
    SyntheticSample sample;
    Record& rec = sample.record;
    rec.prompt_id = fmt::format("{}{:05d}", split, i / options.images_per_prompt);
    rec.prompt = plan.text;
    rec.img_path = fmt::format("images/{}/{:06d}.png", split, i);
    const bool unsure_split = flags.chance(options.unsure_split);
    rec.flags.promt_meaningless = 0;
    rec.flags.split_confidence = unsure_split ? 0 : 1;
    rec.flags.attribute_confidence = 1;
    double satisfied = 0;
    for (const auto& [key, truth] : truths) {
      Element e;
      e.key = key;
      split_element_key(key, e.name, e.category);
      for (int64_t a = 0; a < options.annotators; ++a) {
        bool label = truth != r.chance(options.label_flip);
        if (unsure_split && flags.chance(options.unsure_label_flip)) label = !label;
        e.labels.push_back(label ? 1.0 : 0.0);
      }
      double sum = 0;
      for (double l : e.labels) sum += l;
      e.mean = sum / static_cast<double>(e.labels.size());
      satisfied += truth ? 1.0 : 0.0;
      rec.elements.push_back(std::move(e));
    }
    // True quality 1..5 from the satisfied fraction; each annotator rounds a noisy view of it.
    const double quality = 1.0 + 4.0 * satisfied / static_cast<double>(truths.size());
    double sum = 0;
    for (int64_t a = 0; a < options.annotators; ++a) {
      const double score =
          std::clamp(std::floor(quality + options.score_noise * r.normal() + 0.5), 1.0, 5.0);
      rec.annotator_scores.push_back(score);
      sum += score;
    }
    rec.mos = sum / static_cast<double>(options.annotators);
    sample.image = render(plan, scene, options.image_size, r);
    out.push_back(std::move(sample));
  }
  return out;
}

void write_synthetic_dataset(const std::string& dir, const SyntheticOptions& options) {
  if (options.train_samples < 1) throw_user_error("synthetic data: --n must be at least 1");
  const auto train = generate_synthetic_split(options, "train", options.train_samples);
  const auto test = generate_synthetic_split(options, "test", options.test_samples);
  fs::create_directories(fs::path(dir) / "images" / "train");
  fs::create_directories(fs::path(dir) / "images" / "test");

  auto record_json = [](const Record& r, bool with_scores) {
    Json j;
    j["prompt_id"] = r.prompt_id;
    j["prompt"] = r.prompt;
    j["type"] = "synthetic";
    j["img_path"] = r.img_path;
    if (with_scores) {
      Json scores = Json::array();
      for (double s : r.annotator_scores) scores.push_back(static_cast<int>(s));
      j["total_score"] = scores;
    }
    Json elements = Json::object();
    for (const auto& e : r.elements) {
      Json labels = Json::array();
      if (with_scores)
        for (double l : e.labels) labels.push_back(static_cast<int>(l));
      elements[e.key] = labels;
    }
    j["element_score"] = elements;
    j["promt_meaningless"] = r.flags.promt_meaningless.value_or(0);  // sic: EvalMuse's spelling
    j["split_confidence"] = r.flags.split_confidence.value_or(1);
    j["attribute_confidence"] = r.flags.attribute_confidence.value_or(1);
    return j;
  };
  Json train_json = Json::array(), test_json = Json::array(), truth_json = Json::array();
  for (const auto& s : train) {
    write_png((fs::path(dir) / s.record.img_path).string(), s.image);
    train_json.push_back(record_json(s.record, true));
  }
  for (const auto& s : test) {
    write_png((fs::path(dir) / s.record.img_path).string(), s.image);
    test_json.push_back(record_json(s.record, false));
    Json truth;
    truth["prompt"] = s.record.prompt;
    truth["img_path"] = s.record.img_path;
    truth["total_score"] = *s.record.mos;
    Json elements = Json::object();
    for (const auto& e : s.record.elements) elements[e.key] = *e.mean;
    truth["element_score"] = elements;
    truth_json.push_back(truth);
  }
  write_file_atomically((fs::path(dir) / "train.json").string(), train_json.dump(1) + "\n");
  write_file_atomically((fs::path(dir) / "test.json").string(), test_json.dump(1) + "\n");
  write_file_atomically((fs::path(dir) / "test_ground_truth.json").string(),
                        truth_json.dump(1) + "\n");

  // The tiny tokenizer learns whole words from the prompts, the default questions, the answers and
  // the chat templates' fixed text (role names, Qwen's default system message), so every colour,
  // shape, count and label is one token and a sequence's preamble is a few tokens, not bytes.
  const config::PromptConfig prompt_defaults;
  std::vector<std::string> corpus;
  for (const auto* split : {&train, &test})
    for (const auto& s : *split) {
      corpus.push_back(s.record.prompt);
      corpus.push_back(fill_question(prompt_defaults.overall_question, "prompt", s.record.prompt));
      for (const auto& e : s.record.elements)
        corpus.push_back(fill_question(prompt_defaults.element_question, "element", e.name));
      corpus.push_back(template_text(ChatTemplateKind::kQwen2VL, std::nullopt));
    }
  for (const auto& label : prompt_defaults.overall_labels.labels) corpus.push_back(label);
  for (const auto& label : prompt_defaults.element_labels.labels) corpus.push_back(label);
  write_file_atomically((fs::path(dir) / "tokenizer.json").string(),
                        make_tiny_tokenizer_json(corpus, options.vocab_size));
  log::info("synthetic data: {} training and {} test images ({}×{} px) in {}", train.size(),
            test.size(), options.image_size, options.image_size, dir);
}

}  // namespace tokenfocus::data
