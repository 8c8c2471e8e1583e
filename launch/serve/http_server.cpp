#include "launch/serve/http_server.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/log.h"
#include "launch/serve/pair_rewards.h"
#include "launch/serve/request_error.h"
#include "launch/serve/scoring_service.h"
#include "scoring/scorer.h"

namespace tokenfocus::launch::serve {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

const char* reason(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 403:
      return "forbidden";
    case 404:
      return "no such route";
    case 405:
      return "method not allowed";
    case 413:
      return "body too large";
    case 422:
      return "unprocessable image";
    case 503:
      return "busy";
    default:
      return status >= 500 ? "internal error" : "error";
  }
}

void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& where) {
  ordered_json error = {{"status", status}, {"message", message}};
  if (!where.empty()) error["where"] = where;
  res.status = status;
  if (status == 503) res.set_header("Retry-After", "1");
  // An error may quote the body's bytes: replace what is not UTF-8 rather than fail to answer.
  res.set_content(
      ordered_json{{"error", error}}.dump(-1, ' ', false, ordered_json::error_handler_t::replace) +
          "\n",
      "application/json");
}

void send_json(httplib::Response& res, const ordered_json& body) {
  res.status = 200;
  res.set_content(body.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n",
                  "application/json");
}

// Runs a route's body; every error becomes a JSON answer and the server keeps serving.
template <class Body>
void guarded(httplib::Response& res, Body body) {
  try {
    body();
  } catch (const RequestError& e) {
    send_error(res, e.status(), e.message(), e.where());
  } catch (const UserError& e) {
    send_error(res, 422, e.what(), "");
  } catch (const std::exception& e) {
    log::error("serve: internal error: {}", e.what());
    send_error(res, 500, e.what(), "");
  }
}

// Stops `server` on SIGTERM / SIGINT. The signals are blocked in every thread (the mask is set
// before any thread starts), so only this thread's sigtimedwait sees them.
class SignalWatch {
 public:
  explicit SignalWatch(httplib::Server& server) {
    thread_ = std::thread([this, &server] {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGTERM);
      sigaddset(&set, SIGINT);
      const timespec tick{0, 100'000'000};
      while (!done_) {
        const int signal = sigtimedwait(&set, nullptr, &tick);
        if (signal == SIGTERM || signal == SIGINT) {
          log::info("serve: {} received: finishing in-flight requests",
                    signal == SIGTERM ? "SIGTERM" : "SIGINT");
          server.stop();
          return;
        }
      }
    });
  }
  ~SignalWatch() {
    done_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not end the server
}

}  // namespace

int run_server(const ServeOptions& options) {
  block_stop_signals();
  ServeMetrics metrics;
  ScoringService service(options.models, options.image_root, scoring::choose_device(options.device),
                         options.batcher, metrics);
  const size_t max_items = options.batcher.max_queue;

  httplib::Server server;
  const size_t threads = std::max<size_t>(options.threads, 1);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(options.max_body);
  server.set_tcp_nodelay(true);

  // Per request thread: when its request started (set before routing, read by the logger).
  static thread_local Clock::time_point started;
  server.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    started = Clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_logger([&metrics](const httplib::Request& req, const httplib::Response& res) {
    static const std::vector<std::string> routes = {"/v1/score", "/v1/reward/pairs", "/health",
                                                    "/metrics"};
    const bool known = std::find(routes.begin(), routes.end(), req.path) != routes.end();
    const double seconds = started == Clock::time_point{}
                               ? 0.0
                               : std::chrono::duration<double>(Clock::now() - started).count();
    started = Clock::time_point{};
    metrics.request_done(known ? req.path : "other", res.status, seconds);
  });
  // httplib's own refusals (unknown route, body over the limit, unparsable HTTP) get JSON too.
  server.set_error_handler(httplib::Server::HandlerWithResponse([&options](const httplib::Request&,
                                                                           httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string message =
        res.status == 413 ? fmt::format("body larger than --max-body ({} bytes)", options.max_body)
                          : reason(res.status);
    send_error(res, res.status, message, "");
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr e) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          what = x.what();
        } catch (...) {
        }
        send_error(res, 500, what, "");
      });

  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, ordered_json{{"status", "ok"},
                                {"models", options.models},
                                {"queue_depth", service.queue_depth()},
                                {"max_queue", max_items}});
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.prometheus_text(service.queue_depth()), "text/plain; version=0.0.4");
  });
  server.Post("/v1/score", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const std::vector<ScoreItem> items = parse_score_request(req.body, max_items);
      const std::vector<scoring::SampleScores> scores = service.score(items);
      ordered_json results = ordered_json::array();
      for (size_t i = 0; i < items.size(); ++i)
        results.push_back(service.item_json(items[i], scores[i]));
      send_json(res, ordered_json{{"results", results}});
    });
  });
  server.Post("/v1/reward/pairs", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const std::vector<PromptGroup> groups = parse_pairs_request(req.body, max_items);
      std::vector<ScoreItem> items;
      for (const auto& g : groups) items.insert(items.end(), g.items.begin(), g.items.end());
      const std::vector<scoring::SampleScores> scores = service.score(items);
      ordered_json out = ordered_json::array();
      size_t next = 0;
      for (const auto& g : groups) {
        std::vector<double> rewards;
        for (size_t i = 0; i < g.items.size(); ++i) rewards.push_back(scores[next + i].score);
        next += g.items.size();
        const GroupAdvantages a = pair_group_advantages(rewards);
        ordered_json per_prompt_scores = ordered_json::array(),
                     per_prompt_advantages = ordered_json::array();
        size_t k = 0;
        for (size_t n : g.images_per_prompt) {
          ordered_json s = ordered_json::array(), adv = ordered_json::array();
          for (size_t i = 0; i < n; ++i, ++k) {
            s.push_back(rewards[k]);
            adv.push_back(a.advantages[k]);
          }
          per_prompt_scores.push_back(s);
          per_prompt_advantages.push_back(adv);
        }
        out.push_back(ordered_json{{"scores", per_prompt_scores},
                                   {"advantages", per_prompt_advantages},
                                   {"mean", a.mean},
                                   {"std", a.std}});
      }
      send_json(res, ordered_json{{"groups", out}});
    });
  });

  const int port = options.port == 0
                       ? server.bind_to_any_port(options.host)
                       : (server.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port <= 0)
    throw_user_error("serve: cannot listen on {}:{} (in use, or not an address of this machine)",
                     options.host, options.port);
  if (!options.port_file.empty())
    write_file_atomically(options.port_file, fmt::format("{}\n", port));
  log::info(
      "serve: {} model(s), listening on http://{}:{} (max batch {}, max wait {} ms, queue {})",
      options.models.size(), options.host, port, options.batcher.max_batch,
      options.batcher.max_wait.count() / 1000.0, options.batcher.max_queue);
  {
    SignalWatch watch(server);
    server.listen_after_bind();  // returns after stop(), once in-flight requests are answered
  }
  service.stop();
  log::info("serve: drained; exiting");
  return 0;
}

}  // namespace tokenfocus::launch::serve
