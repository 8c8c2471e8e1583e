// MPI backend of the Communicator (CPU tensors). Every collective is non-blocking and polled
// against a deadline; each rank also announces "I reached collective #n" to the others on a side
// communicator, so a rank whose collective times out can say which ranks never arrived.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <mpi.h>

#include "trainer/communicator.h"

namespace tokenfocus::trainer {

// MPI_Init_thread once per process (MPI_THREAD_MULTIPLE requested, so that collectives may be
// started from autograd hooks); MPI_Finalize at process exit. Returns the thread level provided.
int ensure_mpi_initialized();

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(double timeout_seconds);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  torch::Device device() const override { return torch::kCPU; }

  std::unique_ptr<CollectiveWork> all_reduce_async(torch::Tensor tensor, ReduceOp op) override;
  std::unique_ptr<CollectiveWork> reduce_scatter_async(torch::Tensor input, torch::Tensor output,
                                                       ReduceOp op) override;
  std::unique_ptr<CollectiveWork> all_gather_async(torch::Tensor shard,
                                                   torch::Tensor output) override;
  void broadcast(torch::Tensor tensor, int root) override;
  torch::Tensor all_gather_rows(const torch::Tensor& rows) override;
  void barrier() override;
  bool any(bool flag) override;
  std::vector<std::string> all_gather_bytes(const std::string& bytes) override;

  // Host-buffer primitives shared with the NCCL backend's control plane.
  void broadcast_bytes(void* data, int64_t bytes, int root);
  // Polls `requests` until all complete; past the deadline logs the missing ranks and aborts.
  void wait_requests(std::vector<MPI_Request>& requests, const std::string& what, int64_t sequence);
  bool test_requests(std::vector<MPI_Request>& requests);
  // Announces arrival at a new collective; returns its sequence number.
  int64_t begin_collective();
  MPI_Comm comm() const { return comm_; }
  double timeout_seconds() const { return timeout_seconds_; }

 private:
  void drain_arrivals();
  [[noreturn]] void abort_on_timeout(const std::string& what, int64_t sequence);

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm arrivals_comm_ = MPI_COMM_NULL;  // side channel for "reached collective #n" notices
  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  double timeout_seconds_;
  int64_t sequence_ = 0;
  std::vector<int64_t> last_seen_;  // highest collective number each rank announced
  struct PendingNotice {
    std::unique_ptr<int64_t> value;
    MPI_Request request;
  };
  std::deque<PendingNotice> pending_notices_;
};

}  // namespace tokenfocus::trainer
