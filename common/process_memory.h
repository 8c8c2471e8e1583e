// This process's resident memory from /proc/self/status (Linux): what `tokenfocus train` logs
// before it builds a model and at its peak, so a memory plan (docs/memory.md) can be checked
// against what a run really held. 0 where /proc is unavailable.
#pragma once

#include <cstdint>

namespace tokenfocus {

int64_t resident_bytes();       // VmRSS: resident now (anonymous + file-backed pages)
int64_t peak_resident_bytes();  // VmHWM: the largest VmRSS since the process started

}  // namespace tokenfocus
