#include "launch/lib/run_notices.h"

namespace tokenfocus::launch {

std::vector<std::string> run_notices(const config::RunConfig& run) {
  std::vector<std::string> notices;
  if (!run.prompt.element_questions)
    notices.push_back(
        "prompt.element_questions is false: `ensemble` will bag, stack and blend the overall "
        "score and write its report (element accuracy and the final score n/a), but no NTIRE "
        "submission can be written without element predictions");
  return notices;
}

}  // namespace tokenfocus::launch
