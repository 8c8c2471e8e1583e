// Random initialisation and model folders for tiny InternVL configs (tests, the demo), written as
// a folder `load_backbone` reads back.
#pragma once

#include <cstdint>
#include <string>

#include "models/internvl_model.h"

namespace tokenfocus::models {

// OpenGVLab's initialisation: linear / conv / embedding weights ~ N(0, initializer_range²)
// (vision range for vision_model, LLM range elsewhere), biases 0, norm weights 1, layer scales
// ls1/ls2 = initializer_factor, class and position embeddings ~ N(0, 1) (torch.randn as
// InternVisionEmbeddings creates them), the LLM's padding_idx row 0. Deterministic for a seed.
void init_internvl_weights(InternVLBackbone& backbone, uint64_t seed);

// Writes config.json and model.safetensors into `dir` (created if needed; via temporary names).
void write_internvl_model_folder(const std::string& dir, InternVLBackbone& backbone);

// `tokenfocus model init` for an internvl_chat config: build, initialise with `seed`, write.
void init_internvl_model_folder(const std::string& config_path, const std::string& dir,
                                uint64_t seed);

}  // namespace tokenfocus::models
