#include "trainer/vqa_task.h"

#include <chrono>
#include <cstring>
#include <optional>

#include "common/error.h"
#include "losses/batch_targets.h"
#include "models/batch_tensors.h"

namespace tokenfocus::trainer {
namespace {

// Per-sample predictions travel between ranks as flat doubles:
// [score, q_1..q_K, n_elements, p_1..p_n] per sample, samples in local order.
std::string pack(const std::vector<double>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
}

std::vector<double> unpack(const std::string& bytes) {
  std::vector<double> values(bytes.size() / sizeof(double));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(double));
  return values;
}

}  // namespace

VqaTrainingTask::VqaTrainingTask(models::Backbone& model, const data::BatchBuilder& builder,
                                 std::vector<int64_t> train_records, const losses::TfPsLoss& loss,
                                 const losses::LabelHead& overall, const losses::LabelHead& element,
                                 Communicator& comm, EpochEnd epoch_end, int64_t forward_tokens)
    : model_(model),
      builder_(builder),
      train_records_(std::move(train_records)),
      loss_(loss),
      overall_(overall),
      element_(element),
      gatherer_(comm),
      epoch_end_(std::move(epoch_end)),
      forward_tokens_(forward_tokens) {}

std::vector<int64_t> VqaTrainingTask::records_of(const std::vector<int64_t>& samples) const {
  std::vector<int64_t> records;
  records.reserve(samples.size());
  for (int64_t s : samples) records.push_back(train_records_.at(static_cast<size_t>(s)));
  return records;
}

torch::Tensor VqaTrainingTask::loss_sum(const std::vector<int64_t>& samples) {
  const std::vector<int64_t> records = records_of(samples);
  model_.train();
  // The step's data wait: the loader's hand-over, or the whole build when it happens here.
  const auto t0 = std::chrono::steady_clock::now();
  data::Batch batch;
  if (loader_) {
    std::optional<data::Batch> next = loader_->next();  // re-throws a worker's error (its record)
    if (!next || next->sample_records != records)
      throw_internal_error("data loader: the prepared batch is not the one the loop asks for");
    batch = std::move(*next);
  } else {
    batch = builder_.build(records);
  }
  data_wait_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const torch::Device device = model_.lm_head_weight().device();
  const torch::Tensor hidden = models::hidden_at_batch(model_, batch, forward_tokens_);
  const losses::QuestionTargets targets =
      losses::question_targets_from(batch, overall_, element_).to(device);
  const losses::LossTerms terms = loss_(hidden, model_.lm_head_weight(), targets, &gatherer_);
  for (const auto& [name, value] : terms.named_values()) term_sums_[name] += value;
  ++term_batches_;
  // The loop divides by the samples this rank saw in the accumulation window; the loss's objective
  // is already a per-sample mean whose average over ranks is the global loss.
  return terms.objective * static_cast<double>(samples.size());
}

void VqaTrainingTask::set_loader(int64_t workers, int64_t prefetch) {
  workers_ = workers;
  prefetch_ = prefetch;
}

void VqaTrainingTask::begin_epoch(int64_t, const std::vector<std::vector<int64_t>>& plan) {
  loader_.reset();  // the previous epoch's threads stop first
  if (workers_ <= 0) return;
  std::vector<std::vector<int64_t>> records;
  for (const auto& samples : plan) records.push_back(records_of(samples));
  loader_ = std::make_unique<data::BatchLoader>(
      [this](const std::vector<int64_t>& indices) { return builder_.build(indices); },
      std::move(records), workers_, prefetch_);
}

double VqaTrainingTask::take_data_wait_seconds() {
  const double seconds = data_wait_;
  data_wait_ = 0;
  return seconds;
}

std::map<std::string, double> VqaTrainingTask::take_loss_terms() {
  std::map<std::string, double> means;
  for (const auto& [name, sum] : term_sums_)
    means[name] = sum / static_cast<double>(std::max<int64_t>(term_batches_, 1));
  term_sums_.clear();
  term_batches_ = 0;
  return means;
}

std::string VqaTrainingTask::end_of_epoch(int64_t epoch, Communicator& comm) {
  return epoch_end_ ? epoch_end_(epoch, comm) : std::string();
}

data::PredictionSet predict_records(models::Backbone& model, const data::BatchBuilder& builder,
                                    const std::vector<data::Record>& records,
                                    const std::vector<int64_t>& record_indices,
                                    const losses::LabelHead& overall,
                                    const losses::LabelHead& element,
                                    const PredictorOptions& options, Communicator& comm) {
  const int world = comm.world_size();
  const int rank = comm.rank();
  std::vector<int64_t> mine;
  for (size_t i = static_cast<size_t>(rank); i < record_indices.size();
       i += static_cast<size_t>(world))
    mine.push_back(record_indices[i]);

  model.eval();
  // The read-out gathers label rows of the LM head: its index tensors live where the model does.
  const torch::Device device = model.lm_head_weight().device();
  const losses::LabelHead overall_head = overall.to(device), element_head = element.to(device);
  const int64_t num_labels = overall.token_ids.size(0);
  std::vector<double> packed;
  for (size_t start = 0; start < mine.size(); start += static_cast<size_t>(options.batch_size)) {
    const std::vector<int64_t> chunk(
        mine.begin() + static_cast<std::ptrdiff_t>(start),
        mine.begin() + static_cast<std::ptrdiff_t>(
                           std::min(mine.size(), start + static_cast<size_t>(options.batch_size))));
    for (const scoring::SampleScores& s : scoring::score_batch(
             model, builder.build(chunk), overall_head, element_head, options.readout)) {
      packed.push_back(s.score);
      packed.insert(packed.end(), s.label_probs.begin(), s.label_probs.end());
      packed.push_back(static_cast<double>(s.element_probs.size()));
      packed.insert(packed.end(), s.element_probs.begin(), s.element_probs.end());
    }
  }

  const std::vector<std::string> all = comm.all_gather_bytes(pack(packed));
  data::PredictionSet predictions;
  predictions.num_labels = num_labels;
  if (rank != 0) return predictions;
  std::vector<std::vector<double>> per_rank;
  std::vector<size_t> cursor(static_cast<size_t>(world), 0);
  for (const std::string& bytes : all) per_rank.push_back(unpack(bytes));
  for (size_t i = 0; i < record_indices.size(); ++i) {
    const size_t r = i % static_cast<size_t>(world);
    const std::vector<double>& v = per_rank[r];
    size_t& c = cursor[r];
    const data::Record& record = records.at(static_cast<size_t>(record_indices[i]));
    const double s = v.at(c++);
    std::vector<double> probs(
        v.begin() + static_cast<std::ptrdiff_t>(c),
        v.begin() + static_cast<std::ptrdiff_t>(c + static_cast<size_t>(num_labels)));
    c += static_cast<size_t>(num_labels);
    const size_t n = static_cast<size_t>(v.at(c++));
    std::vector<double> element_probs(v.begin() + static_cast<std::ptrdiff_t>(c),
                                      v.begin() + static_cast<std::ptrdiff_t>(c + n));
    c += n;
    std::vector<std::string> keys;
    for (const auto& element_record : record.elements) keys.push_back(element_record.key);
    if (keys.size() != n) {  // element questions switched off: no element predictions
      keys.clear();
      element_probs.clear();
    }
    predictions.add(record.img_path, s, probs, keys, element_probs);
  }
  return predictions;
}

}  // namespace tokenfocus::trainer
