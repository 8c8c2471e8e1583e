// What the training loop trains for one (backbone, fold): VQA batches from data/, the focus head of
// models/, the TF+PS loss of losses/. Also the predictor that turns a trained backbone into scores
// (ŝ, q over S, element P(yes)) for a list of records, sharded over ranks.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "common/config/sections/loss.h"
#include "data/batch_builder.h"
#include "data/loader.h"
#include "data/prediction_store.h"
#include "losses/label_head.h"
#include "losses/tf_ps_loss.h"
#include "models/backbone.h"
#include "scoring/batch_scores.h"
#include "trainer/communicator.h"
#include "trainer/score_gatherer.h"
#include "trainer/training_loop.h"

namespace tokenfocus::trainer {

class VqaTrainingTask : public TrainingTask {
 public:
  using EpochEnd = std::function<std::string(int64_t epoch, Communicator& comm)>;

  // `train_records`: record indices of the training part of the fold (dataset position i of the
  // sampler is record train_records[i]). Everything referenced must outlive the task.
  // `forward_tokens` (optim.forward_tokens): > 0 runs each micro-batch in forwards of at most that
  // many padded tokens.
  VqaTrainingTask(models::Backbone& model, const data::BatchBuilder& builder,
                  std::vector<int64_t> train_records, const losses::TfPsLoss& loss,
                  const losses::LabelHead& overall, const losses::LabelHead& element,
                  Communicator& comm, EpochEnd epoch_end, int64_t forward_tokens = 0);

  torch::nn::Module& module() override { return model_; }
  int64_t num_train_samples() const override { return static_cast<int64_t>(train_records_.size()); }
  torch::Tensor loss_sum(const std::vector<int64_t>& samples) override;
  std::string end_of_epoch(int64_t epoch, Communicator& comm) override;
  // Means over the micro-batches since the last call of the global values tf_ps_loss reduced:
  // total, tf, ps, regression, plcc, element, element_tf, element_ps, element_regression, and the
  // global question counts.
  std::map<std::string, double> take_loss_terms() override;
  // With `workers` > 0 (data.loader.workers) the epoch's batches are built by that many threads,
  // at most `prefetch` ahead, and loss_sum takes them in order; 0 builds in the step. Either way
  // take_data_wait_seconds reports the time the step spent getting its batch.
  void set_loader(int64_t workers, int64_t prefetch);
  void begin_epoch(int64_t epoch, const std::vector<std::vector<int64_t>>& plan) override;
  double take_data_wait_seconds() override;

 private:
  // Record indices of sampler positions (dataset position i is record train_records_[i]).
  std::vector<int64_t> records_of(const std::vector<int64_t>& samples) const;

  models::Backbone& model_;
  const data::BatchBuilder& builder_;
  std::vector<int64_t> train_records_;
  const losses::TfPsLoss& loss_;
  const losses::LabelHead& overall_;
  const losses::LabelHead& element_;
  CommunicatorScoreGatherer gatherer_;
  EpochEnd epoch_end_;
  int64_t forward_tokens_ = 0;
  int64_t workers_ = 0, prefetch_ = 1;
  std::unique_ptr<data::BatchLoader> loader_;
  double data_wait_ = 0;
  std::map<std::string, double> term_sums_;
  int64_t term_batches_ = 0;
};

struct PredictorOptions {
  int64_t batch_size = 8;  // samples per forward
  scoring::ReadoutOptions readout;
};

// Predictions for `record_indices` (in that order). Each rank predicts every world_size-th record;
// rank 0 receives all of them (the other ranks get an empty set). Collective.
data::PredictionSet predict_records(models::Backbone& model, const data::BatchBuilder& builder,
                                    const std::vector<data::Record>& records,
                                    const std::vector<int64_t>& record_indices,
                                    const losses::LabelHead& overall,
                                    const losses::LabelHead& element,
                                    const PredictorOptions& options, Communicator& comm);

}  // namespace tokenfocus::trainer
