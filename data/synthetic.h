// The demo's synthetic dataset: small rendered images of coloured shapes with prompts that match
// them fully, partly or not at all, element labels and simulated annotators' scores, written in
// the EvalMuse layout so it loads through read_records like the real data
// (docs/formats/records.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/records.h"

namespace tokenfocus::data {

struct SyntheticOptions {
  int64_t train_samples = 400;
  int64_t test_samples = 100;
  uint64_t seed = 0;
  int64_t image_size = 56;        // square images: 56 px = 2×2 merged Qwen2-VL tokens
  int64_t images_per_prompt = 4;  // like EvalMuse: several generators per prompt
  int64_t annotators = 3;
  double score_noise = 0.4;        // std of each annotator's score around the true quality
  double label_flip = 0.08;        // chance an annotator gets an element label wrong
  double unsure_split = 0.25;      // share of records with split_confidence 0
  double unsure_label_flip = 0.3;  // their extra chance per annotator of a flipped element label
  int64_t vocab_size = 512;        // tokenizer.json trained on the prompts and questions
};

struct SyntheticSample {
  Record record;  // img_path relative to the dataset folder; scores always filled
  RgbImage image;
};

// `split` ("train"/"test") names the image folder and the prompt ids; the stream is a pure
// function of (options.seed, split).
std::vector<SyntheticSample> generate_synthetic_split(const SyntheticOptions& options,
                                                      const std::string& split, int64_t count);

// Renders one image of `size`×`size` pixels (exposed for tests and the renderer's own checks).
struct ShapeSpec {
  std::string shape;  // "circle", "square", "triangle"
  uint8_t rgb[3];
  double cx, cy, radius;  // pixels
};
void draw_shape(RgbImage& image, const ShapeSpec& shape);
// The colour and shape vocabulary, with the RGB values the renderer uses.
const std::vector<std::string>& synthetic_colours();
const std::vector<std::string>& synthetic_shapes();
void synthetic_colour_rgb(const std::string& colour, uint8_t rgb[3]);

// Writes DIR/train.json, DIR/test.json (no scores, element keys with empty lists),
// DIR/test_ground_truth.json (the challenge's eval layout: floats), DIR/images/{train,test}/*.png
// and DIR/tokenizer.json (byte-level BPE over the prompts and questions). Every file goes through a
// temporary name and a rename.
void write_synthetic_dataset(const std::string& dir, const SyntheticOptions& options);

}  // namespace tokenfocus::data
