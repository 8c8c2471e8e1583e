// What a user should hear before a run starts rather than after it trained for hours: settings
// that make a later stage unable to give what it normally gives. `launch` and `sweep` print them.
#pragma once

#include <string>
#include <vector>

#include "common/config/run_config.h"

namespace tokenfocus::launch {

// One line per notice; empty when there is nothing to say.
std::vector<std::string> run_notices(const config::RunConfig& run);

}  // namespace tokenfocus::launch
