#include "trainer/training_loop.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "data/sampler.h"
#include "trainer/checkpoint.h"
#include "trainer/gradient_reducer.h"
#include "trainer/lr_schedule.h"
#include "trainer/optimizer.h"
#include "models/autocast.h"
#include "trainer/preemption.h"
#include "trainer/progress.h"
#include "trainer/zero_optimizer.h"

namespace tokenfocus::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Where each phase of the current logging window spent its time (per rank).
struct Timeline {
  double forward = 0, backward = 0, allreduce_wait = 0, optimizer = 0;
  double data_wait = 0;  // part of forward: loss_sum waiting for its batch (data.loader)
  nlohmann::json to_json() const {
    return {{"forward", forward},
            {"data_wait", data_wait},
            {"backward", backward},
            {"allreduce_wait", allreduce_wait},
            {"optimizer", optimizer}};
  }
};

class MetricsLog {
 public:
  MetricsLog(const std::string& path, bool enabled) {
    if (!enabled || path.empty()) return;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    out_.open(path, std::ios::app);
    if (!out_) throw_user_error("cannot write metrics log {}", path);
  }
  void write(const nlohmann::json& line) {
    if (!out_.is_open()) return;
    out_ << line.dump() << "\n";
    out_.flush();
  }

 private:
  std::ofstream out_;
};

std::map<std::string, torch::Tensor> weights_of(const std::vector<NamedParameter>& parameters) {
  std::map<std::string, torch::Tensor> weights;
  for (const auto& p : parameters) weights[p.name] = p.tensor.detach();
  return weights;
}

}  // namespace

LoopResult run_training(TrainingTask& task, Communicator& comm, const LoopOptions& options) {
  const auto& optim = options.optim;
  const int world = comm.world_size();
  install_preemption_handlers();

  auto parameters = trainable_parameters(task.module());
  if (parameters.empty())
    throw_user_error("{}: the model has no trainable parameters", options.label);
  // distributed.zero: 1 shards AdamW's state (ZeroAdamW); the reducer then reduce-scatters.
  const int64_t zero_stage = options.distributed.zero;
  GradientReducer reducer(comm, parameters, options.distributed.bucket_mb, options.config_hash,
                          zero_stage ? GradientSync::kReduceScatter : GradientSync::kAllReduce);
  reducer.broadcast_parameters();
  const AdamWOptions adamw_options{optim.beta1, optim.beta2, optim.eps, optim.weight_decay};
  std::optional<AdamW> adamw;
  std::optional<ZeroAdamW> zero_adamw;
  if (zero_stage)
    zero_adamw.emplace(reducer, adamw_options);
  else
    adamw.emplace(parameters, adamw_options);
  const std::string optimizer_file =
      zero_stage ? fmt::format("optimizer/rank{}.safetensors", comm.rank())
                 : std::string("optimizer.safetensors");

  data::SamplerOptions sampler_options;
  sampler_options.seed = options.seed;
  sampler_options.fold = options.fold;
  sampler_options.world_size = world;
  sampler_options.rank = comm.rank();
  sampler_options.batch_size = optim.micro_batch_size;
  const data::DistributedSampler sampler(task.num_train_samples(), sampler_options);
  const int64_t batches = sampler.batches_per_epoch();
  const int64_t accum = optim.grad_accum_steps;
  const int64_t steps_per_epoch = (batches + accum - 1) / accum;
  LrSchedule schedule;
  schedule.kind = optim.schedule;
  schedule.base_lr = optim.lr;
  schedule.total_steps = steps_per_epoch * optim.epochs;
  schedule.warmup_steps =
      static_cast<int64_t>(std::llround(optim.warmup_ratio * schedule.total_steps));

  CheckpointStore checkpoints(options.checkpoint_dir, options.output.keep_checkpoints);
  LoopResult result;
  int64_t epoch = 0, batch = 0;
  if (options.resume) {
    if (const auto folder = checkpoints.find_latest(comm)) {
      auto loaded = CheckpointStore::load(*folder, comm.rank(), world, zero_stage);
      if (loaded.state.config_hash != options.config_hash)
        throw_user_error(
            "--resume: {} was written by config {} but this run's config is {}; start a new run "
            "folder or restore the old config",
            *folder, loaded.state.config_hash, options.config_hash);
      load_parameters(parameters, loaded.weights, *folder + "/model.safetensors");
      if (zero_adamw)
        zero_adamw->load_state_dict(loaded.optimizer, *folder + "/" + optimizer_file);
      else
        adamw->load_state_dict(loaded.optimizer, *folder + "/" + optimizer_file);
      epoch = loaded.state.epoch;
      batch = loaded.state.batch_in_epoch;
      result.optimizer_steps = loaded.state.optimizer_steps;
      log::info("{}: resumed from {} (epoch {}, batch {}, step {})", options.label, *folder, epoch,
                batch, result.optimizer_steps);
    } else {
      log::info("{}: --resume found no complete checkpoint in {}; starting fresh", options.label,
                options.checkpoint_dir);
    }
  }

  ProgressBar bar(comm.rank() == 0 && log::level() == log::Level::kInfo);
  auto save = [&](int64_t at_epoch, int64_t at_batch) {
    CheckpointContents contents;
    contents.state = {at_epoch,         at_batch, result.optimizer_steps, world,
                      options.config_hash, zero_stage};
    contents.weights = weights_of(parameters);
    contents.optimizer = zero_adamw ? zero_adamw->state_dict() : adamw->state_dict();
    contents.write_extra = options.write_checkpoint_extra;
    result.last_checkpoint = checkpoints.save(comm, contents);
    log::info("{}: checkpoint {}", options.label, result.last_checkpoint);
  };

  MetricsLog metrics(options.metrics_path, comm.rank() == 0);
  const bool bf16 = optim.precision == "bf16";
  const int64_t total_steps = schedule.total_steps;
  ProgressState progress;
  progress.label = options.label;
  progress.total_steps = total_steps;
  progress.epochs = optim.epochs;
  progress.loss = std::nan("");
  double run_samples = 0;  // this rank's samples since this process started training
  Timeline timeline;
  double window_loss = 0, window_samples = 0;
  int64_t window_steps = 0;
  auto window_start = Clock::now();
  const auto run_start = Clock::now();
  const int64_t first_step = result.optimizer_steps;
  // Since this process started training (a resumed run measures from the resume). The rate assumes
  // every rank saw as many samples as this one (the sampler pads the epoch so that they do).
  auto run_rate = [&] { return run_samples * world / std::max(seconds_since(run_start), 1e-9); };
  auto eta_seconds = [&] {
    const double per_step =
        seconds_since(run_start) / std::max<int64_t>(1, result.optimizer_steps - first_step);
    return per_step * static_cast<double>(total_steps - result.optimizer_steps);
  };
  reducer.zero_grad();

  for (; epoch < optim.epochs; ++epoch, batch = 0) {
    {
      std::vector<std::vector<int64_t>> plan;
      for (int64_t b = batch; b < batches; ++b) plan.push_back(sampler.batch(epoch, b));
      task.begin_epoch(epoch, plan);
    }
    while (batch < batches) {
      // Step boundary: a preemption signal on any rank stops every rank here, after a checkpoint.
      if (comm.any(preemption_requested())) {
        log::warn("{}: signal {} received; checkpointing at step {} and exiting for requeue",
                  options.label, preemption_signal(), result.optimizer_steps);
        save(epoch, batch);
        result.preempted = true;
        return result;
      }
      const int64_t window_end = std::min(batches, batch + accum);
      int64_t window_local_samples = 0;
      for (int64_t b = batch; b < window_end; ++b)
        window_local_samples += sampler.batch(epoch, b).size();

      for (; batch < window_end; ++batch) {
        const auto samples = sampler.batch(epoch, batch);
        reducer.set_sync(batch + 1 == window_end);
        auto t0 = Clock::now();
        torch::Tensor loss_sum;
        {
          const models::AutocastScope autocast(comm.device().type(), bf16);
          loss_sum = task.loss_sum(samples);
        }
        timeline.forward += seconds_since(t0);
        timeline.data_wait += task.take_data_wait_seconds();
        window_loss += loss_sum.item<double>();
        window_samples += static_cast<double>(samples.size());
        run_samples += static_cast<double>(samples.size());
        t0 = Clock::now();
        (loss_sum / static_cast<double>(window_local_samples)).backward();
        timeline.backward += seconds_since(t0);
      }
      reducer.finish_backward();
      timeline.allreduce_wait += reducer.last_wait_seconds();

      auto t0 = Clock::now();
      // ZeRO: the norm over every rank's shard (all-reduced), so the same on every rank too.
      const double grad_norm = zero_adamw ? zero_adamw->clip_grad_norm(optim.max_grad_norm)
                                          : clip_grad_norm(parameters, optim.max_grad_norm);
      // Reduced gradients are identical on every rank, yet the decision is still agreed on so that
      // no rank can ever step alone.
      if (comm.any(!std::isfinite(grad_norm))) {
        if (optim.nonfinite == "stop")
          throw_user_error("{}: non-finite gradient norm ({}) at step {} (optim.nonfinite = stop)",
                           options.label, grad_norm, result.optimizer_steps);
        log::warn("{}: non-finite gradient norm at step {}: step skipped (optim.nonfinite = skip)",
                  options.label, result.optimizer_steps);
        ++result.skipped_steps;
      } else {
        const double lr = schedule.lr_at(result.optimizer_steps);
        if (zero_adamw)
          zero_adamw->step(lr);  // then all-gathers the parameters
        else
          adamw->step(lr);
      }
      reducer.zero_grad();
      ++result.optimizer_steps;
      ++window_steps;
      timeline.optimizer += seconds_since(t0);

      const bool last = epoch + 1 == optim.epochs && batch == batches;
      if (result.optimizer_steps % options.output.log_every_steps == 0 || last) {
        // Deterministic cadence: every rank joins this reduction at the same steps.
        auto totals = torch::tensor({window_loss, window_samples}, torch::kDouble);
        comm.all_reduce(totals, ReduceOp::kSum);
        const double mean_loss = totals[0].item<double>() / std::max(1.0, totals[1].item<double>());
        const double elapsed = seconds_since(window_start);
        const double rate = totals[1].item<double>() / std::max(elapsed, 1e-9);
        const double eta = eta_seconds();
        result.last_loss = mean_loss;
        progress.loss = mean_loss;
        nlohmann::json line{{"type", "train"},
                            {"run", options.label},
                            {"epoch", epoch},
                            {"step", result.optimizer_steps},
                            {"loss", mean_loss},
                            {"lr", schedule.lr_at(result.optimizer_steps - 1)},
                            {"grad_norm", grad_norm},
                            {"samples_per_s", rate},
                            {"timeline_rank0", timeline.to_json()},
                            {"steps_in_window", window_steps}};
        const auto terms = task.take_loss_terms();
        if (!terms.empty()) line["terms"] = terms;
        metrics.write(line);
        const double step_seconds =
            timeline.forward + timeline.backward + timeline.allreduce_wait + timeline.optimizer;
        if (!bar.active())
          log::info(
              "{} epoch {}/{} step {}/{} loss {:.4f} {:.1f} samples/s data wait {:.0f}% ETA "
              "{:.0f}s",
              options.label, epoch + 1, optim.epochs, result.optimizer_steps, total_steps,
              mean_loss, rate, 100.0 * timeline.data_wait / std::max(step_seconds, 1e-9), eta);
        // A rank much slower than the others shows up as large all-reduce waits on the fast ones.
        log::debug("timeline rank {}: {}", comm.rank(), timeline.to_json().dump());
        timeline = {};
        window_loss = window_samples = 0;
        window_steps = 0;
        window_start = Clock::now();
      }
      if (bar.active()) {  // every step, from rank 0's own clock
        progress.step = result.optimizer_steps;
        progress.epoch = epoch + 1;
        progress.samples_per_s = run_rate();
        progress.eta_seconds = eta_seconds();
        bar.update(progress);
      }
      if (options.output.checkpoint_every_steps > 0 &&
          result.optimizer_steps % options.output.checkpoint_every_steps == 0 && !last)
        save(epoch, batch);
    }
    const std::string evaluation = task.end_of_epoch(epoch, comm);
    if (!evaluation.empty()) {
      auto line = nlohmann::json::parse(evaluation);
      line["type"] = "eval";
      line["run"] = options.label;
      line["epoch"] = epoch;
      line["step"] = result.optimizer_steps;
      metrics.write(line);
      log::info("{} epoch {} eval {}", options.label, epoch + 1, evaluation);
    }
    if (options.output.checkpoint_every_steps == 0 || epoch + 1 == optim.epochs) save(epoch + 1, 0);
  }
  if (bar.active())
    log::info("{}: {} steps, last loss {:.4f}, {:.1f} samples/s", options.label,
              result.optimizer_steps, result.last_loss, run_rate());
  return result;
}

}  // namespace tokenfocus::trainer
