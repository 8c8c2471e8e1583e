// The golden Qwen tokenizer, loaded once for every test of this suite (tests run from the source
// root).
#pragma once

#include "data/tokenizer.h"

namespace tokenfocus::data::testing {

inline const Tokenizer& qwen_tokenizer() {
  static const Tokenizer tokenizer =
      Tokenizer::from_file("../shared/golden/tokenizer/tokenizer.json");
  return tokenizer;
}

}  // namespace tokenfocus::data::testing
