// `tokenfocus serve --model DIR [--model DIR2 ...]`: the trained scorer as an HTTP service for
// evaluation pipelines and RL reward loops (launch/serve/http_server.h; API in docs/cli.md).
#include <chrono>
#include <memory>

#include <CLI/CLI.hpp>

#include "launch/command_registry.h"
#include "launch/serve/http_server.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_serve(CLI::App& command) {
  struct Options {
    serve::ServeOptions serve;
    double max_wait_ms = 5;
  };
  auto o = std::make_shared<Options>();
  command
      .add_option("--model", o->serve.models,
                  "Exported fold model folder (RUN/models/<b>/fold<k>); repeat for a bag whose "
                  "scores are averaged")
      ->required()
      ->check(CLI::ExistingDirectory);
  command
      .add_option("--image-root", o->serve.image_root,
                  "Folder that {\"path\": ...} images are relative to (none: base64 only)")
      ->check(CLI::ExistingDirectory);
  command.add_option("--host", o->serve.host, "Address to bind")->capture_default_str();
  command.add_option("--port", o->serve.port, "Port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  command.add_option("--port-file", o->serve.port_file,
                     "Write the bound port here once listening (for --port 0)");
  command
      .add_option("--device", o->serve.device,
                  "auto (the first GPU when there is one), cuda (a GPU, or a clear error) or cpu")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cuda", "cpu"}));
  command.add_option("--max-batch", o->serve.batcher.max_batch, "Items per forward")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command
      .add_option("--max-wait-ms", o->max_wait_ms,
                  "How long the oldest queued item waits for others to share its forward")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command
      .add_option("--max-queue", o->serve.batcher.max_queue,
                  "Items admitted and not yet scored; beyond it requests get 503 + Retry-After")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command
      .add_option("--max-body", o->serve.max_body,
                  "Largest request body in bytes; KB/MB/GB suffixes are powers of 1024")
      ->transform(CLI::AsSizeValue(false))
      ->default_str("64MB");
  command
      .add_option("--threads", o->serve.threads,
                  "Request threads (requests decoded or waiting for their batch at once)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.footer(
      "POST /v1/score {\"items\": [{\"image\": {\"path\": P} | {\"base64\": B}, \"prompt\": T, "
      "\"elements\": [...]}]}; POST /v1/reward/pairs; GET /health; GET /metrics. SIGTERM drains "
      "and exits 0. docs/cli.md has the whole API.");
  return [o]() -> int {
    o->serve.batcher.max_wait =
        std::chrono::microseconds(static_cast<int64_t>(o->max_wait_ms * 1000.0));
    return serve::run_server(o->serve);
  };
}

TOKENFOCUS_COMMAND("serve", "Serve a trained scorer over HTTP (dynamic batching, pair rewards)",
                   setup_serve);

}  // namespace
}  // namespace tokenfocus::launch
