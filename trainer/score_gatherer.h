// The losses' ScoreGatherer (the PLCC term's view of the other ranks) over a trainer Communicator.
#pragma once

#include "losses/score_gatherer.h"
#include "trainer/communicator.h"

namespace tokenfocus::trainer {

class CommunicatorScoreGatherer : public losses::ScoreGatherer {
 public:
  explicit CommunicatorScoreGatherer(Communicator& comm) : comm_(comm) {}
  // One collective per call whatever the local row count (it may be 0), so ranks never diverge.
  torch::Tensor all_gather_rows(const torch::Tensor& local) override {
    return comm_.all_gather_rows(local.detach().contiguous());
  }
  int world_size() const override { return comm_.world_size(); }
  int rank() const override { return comm_.rank(); }

 private:
  Communicator& comm_;
};

}  // namespace tokenfocus::trainer
