// `tokenfocus serve`: the JSON HTTP API over a ScoringService (docs/cli.md has the API with curl
// examples). cpp-httplib (Debian's libcpp-httplib-dev) does HTTP: parsing, keep-alive, the body
// size limit and a pool of request threads. Binds to 127.0.0.1 unless told otherwise; SIGTERM or
// SIGINT stops accepting, lets in-flight requests finish, scores what is queued, and returns 0.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "launch/serve/dynamic_batcher.h"

namespace tokenfocus::launch::serve {

struct ServeOptions {
  std::vector<std::string> models;  // exported fold model folders; several = a bag
  std::string image_root;           // "" = base64 images only
  std::string host = "127.0.0.1";
  int port = 8000;        // 0 = any free port (see port_file)
  std::string port_file;  // when set, the bound port is written there (atomically)
  std::string device = "auto";
  BatcherOptions batcher;
  size_t max_body = 64u << 20;  // bytes
  size_t threads = 64;          // request threads: requests decoded and waiting at once
};

int run_server(const ServeOptions& options);

}  // namespace tokenfocus::launch::serve
