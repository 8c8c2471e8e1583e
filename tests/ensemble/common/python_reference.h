// Runs a Python snippet under the project's reference Python (.venv: scipy, scikit-learn, numpy)
// on JSON input and returns its JSON output, so tests compare against the reference libraries
// themselves. A missing interpreter or module fails the test (Python's ImportError is printed); it
// never skips.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace tokenfocus::testing {

// The snippet reads the variable `data` (parsed input) and must set `result` (JSON-serialisable).
inline nlohmann::json run_reference_python(const std::string& snippet,
                                           const nlohmann::json& input) {
  const std::string stem =
      "/tmp/tokenfocus_ref_" + std::to_string(::getpid()) + "_" + std::to_string(std::rand());
  {
    std::ofstream(stem + ".in.json") << input.dump();
    std::ofstream script(stem + ".py");
    script << "import json, sys\nimport numpy as np\n"
           << "data = json.load(open(sys.argv[1]))\nresult = None\n"
           << snippet << "\n"
           << "json.dump(result, open(sys.argv[2], 'w'))\n";
  }
  const std::string command = std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " + stem + ".py " +
                              stem + ".in.json " + stem + ".out.json";
  if (std::system(command.c_str()) != 0) {
    throw std::runtime_error("the reference Python failed (is .venv installed? make deps): " +
                             command);
  }
  std::ifstream in(stem + ".out.json");
  nlohmann::json out = nlohmann::json::parse(in);
  std::remove((stem + ".in.json").c_str());
  std::remove((stem + ".py").c_str());
  std::remove((stem + ".out.json").c_str());
  return out;
}

}  // namespace tokenfocus::testing
