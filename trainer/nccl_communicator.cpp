// Compiled to nothing without TOKENFOCUS_WITH_NCCL, which CMake defines only for a CUDA libtorch
// (so torch's CUDA headers are there). Collectives run on a dedicated stream from torch's pool
// that waits, through an event, for the work already queued on torch's *current* stream of the
// device (where the model's kernels went, whatever stream the caller made current); the caller's
// later work waits for the collective's event the same way, as ProcessGroupNCCL orders them.
#ifdef TOKENFOCUS_WITH_NCCL

#include "trainer/nccl_communicator.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>
#include <unistd.h>

#include <chrono>
#include <initializer_list>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "trainer/mpi_communicator.h"

namespace tokenfocus::trainer {
namespace {

void check_cuda(cudaError_t code, const char* what) {
  if (code != cudaSuccess) throw_internal_error("{} failed: {}", what, cudaGetErrorString(code));
}

void check_nccl(ncclResult_t code, const char* what) {
  if (code != ncclSuccess) throw_internal_error("{} failed: {}", what, ncclGetErrorString(code));
}

ncclDataType_t nccl_type(const torch::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case torch::kFloat:
      return ncclFloat32;
    case torch::kDouble:
      return ncclFloat64;
    case torch::kHalf:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kInt:
      return ncclInt32;
    case torch::kLong:
      return ncclInt64;
    case torch::kByte:
      return ncclUint8;
    case torch::kChar:
      return ncclInt8;
    default:
      throw_internal_error("the NCCL backend cannot reduce {} tensors",
                           c10::toString(tensor.scalar_type()));
  }
}

class NcclCommunicator;

class NcclWork : public CollectiveWork {
 public:
  NcclWork(NcclCommunicator* comm, cudaEvent_t done, std::vector<torch::Tensor> tensors,
           int64_t sequence)
      : comm_(comm), done_event_(done), tensors_(std::move(tensors)), sequence_(sequence) {}
  ~NcclWork() override;
  bool test() override;
  void wait() override;

 private:
  NcclCommunicator* comm_;
  cudaEvent_t done_event_;
  std::vector<torch::Tensor> tensors_;  // kept alive until the collective finished
  int64_t sequence_;
  bool done_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  explicit NcclCommunicator(double timeout_seconds) : control_(timeout_seconds) {
    int devices = 0;
    const cudaError_t status = cudaGetDeviceCount(&devices);
    if (status != cudaSuccess || devices == 0)
      throw_user_error(
          "NCCL backend needs a CUDA device; cudaGetDeviceCount returned {} ({}) on rank {}. Use "
          "distributed.backend: mpi on machines without GPUs",
          devices, status == cudaSuccess ? "no error" : cudaGetErrorString(status),
          control_.rank());
    device_index_ = control_.local_rank() % devices;
    // Before any other CUDA or NCCL call, so that every context lands on this rank's GPU.
    check_cuda(cudaSetDevice(device_index_), "cudaSetDevice");
    ncclUniqueId id;
    if (control_.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    control_.broadcast_bytes(&id, sizeof(id), 0);
    check_nccl(ncclCommInitRank(&comm_, control_.world_size(), id, control_.rank()),
               "ncclCommInitRank");
    stream_ = c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device_index_).stream();
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }

  std::string backend() const override { return "nccl"; }
  int rank() const override { return control_.rank(); }
  int world_size() const override { return control_.world_size(); }
  int local_rank() const override { return control_.local_rank(); }
  int local_size() const override { return control_.local_size(); }
  torch::Device device() const override { return torch::Device(torch::kCUDA, device_index_); }

  std::unique_ptr<CollectiveWork> all_reduce_async(torch::Tensor tensor, ReduceOp op) override {
    check_device_tensor(tensor, "all_reduce");
    const int64_t sequence = control_.begin_collective();
    order_after_compute({tensor});
    check_nccl(
        ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(), nccl_type(tensor),
                      op == ReduceOp::kAverage ? ncclAvg : ncclSum, comm_, stream_),
        "ncclAllReduce");
    return std::make_unique<NcclWork>(this, record_done(), std::vector<torch::Tensor>{tensor},
                                      sequence);
  }
  std::unique_ptr<CollectiveWork> reduce_scatter_async(torch::Tensor input, torch::Tensor output,
                                                       ReduceOp op) override {
    check_device_tensor(input, "reduce_scatter");
    check_device_tensor(output, "reduce_scatter");
    if (input.scalar_type() != output.scalar_type() ||
        input.numel() != output.numel() * world_size())
      throw_internal_error("reduce_scatter: input of {} elements is not {} blocks of {}",
                           input.numel(), world_size(), output.numel());
    const int64_t sequence = control_.begin_collective();
    order_after_compute({input, output});
    check_nccl(
        ncclReduceScatter(input.data_ptr(), output.data_ptr(), output.numel(), nccl_type(input),
                          op == ReduceOp::kAverage ? ncclAvg : ncclSum, comm_, stream_),
        "ncclReduceScatter");
    return std::make_unique<NcclWork>(this, record_done(),
                                      std::vector<torch::Tensor>{input, output}, sequence);
  }
  // NCCL is in place when the send buffer is block rank() of the receive buffer.
  std::unique_ptr<CollectiveWork> all_gather_async(torch::Tensor shard,
                                                   torch::Tensor output) override {
    check_device_tensor(shard, "all_gather");
    check_device_tensor(output, "all_gather");
    if (shard.scalar_type() != output.scalar_type() ||
        output.numel() != shard.numel() * world_size())
      throw_internal_error("all_gather: output of {} elements is not {} blocks of {}",
                           output.numel(), world_size(), shard.numel());
    const int64_t sequence = control_.begin_collective();
    order_after_compute({shard, output});
    check_nccl(ncclAllGather(shard.data_ptr(), output.data_ptr(), shard.numel(), nccl_type(shard),
                             comm_, stream_),
               "ncclAllGather");
    return std::make_unique<NcclWork>(this, record_done(),
                                      std::vector<torch::Tensor>{shard, output}, sequence);
  }
  void broadcast(torch::Tensor tensor, int root) override {
    check_device_tensor(tensor, "broadcast");
    const int64_t sequence = control_.begin_collective();
    order_after_compute({tensor});
    check_nccl(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                             nccl_type(tensor), root, comm_, stream_),
               "ncclBroadcast");
    NcclWork(this, record_done(), {tensor}, sequence).wait();
  }
  // Small (scores for the PLCC term): through host memory and MPI.
  torch::Tensor all_gather_rows(const torch::Tensor& rows) override {
    return control_.all_gather_rows(rows.cpu()).to(rows.device());
  }
  void barrier() override { control_.barrier(); }
  bool any(bool flag) override { return control_.any(flag); }
  std::vector<std::string> all_gather_bytes(const std::string& bytes) override {
    return control_.all_gather_bytes(bytes);
  }

  // Polls the event against the deadline; on expiry names the missing ranks (through the MPI
  // arrival notices), aborts NCCL and the job.
  void wait_event(cudaEvent_t event, int64_t sequence) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration<double>(control_.timeout_seconds());
    for (;;) {
      const cudaError_t status = cudaEventQuery(event);
      if (status == cudaSuccess) return;
      if (status != cudaErrorNotReady) check_cuda(status, "cudaEventQuery");
      ncclResult_t async_error = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async_error);
      if (async_error != ncclSuccess && async_error != ncclInProgress)
        check_nccl(async_error, "NCCL collective");
      if (std::chrono::steady_clock::now() > deadline) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        log::error("rank {}: NCCL collective #{} timed out", rank(), sequence);
        // Every live rank is stuck too: this barrier times out through the MPI backend, whose
        // report names the ranks that never announced this collective.
        control_.barrier();
        MPI_Abort(MPI_COMM_WORLD, kExitInternalError);
        _exit(kExitInternalError);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  bool event_done(cudaEvent_t event) { return cudaEventQuery(event) == cudaSuccess; }
  // torch's current stream on this rank's device: where compute was queued, and where the
  // caller's next kernels go.
  cudaStream_t compute_stream() const {
    return c10::cuda::getCurrentCUDAStream(device_index_).stream();
  }

 private:
  void check_device_tensor(const torch::Tensor& tensor, const char* what) const {
    if (!tensor.is_cuda() || !tensor.is_contiguous())
      throw_internal_error("{}: the NCCL backend needs a contiguous CUDA tensor", what);
  }
  // The collective stream waits for everything queued so far on torch's current stream, and the
  // caching allocator learns that the tensor's memory is in use on the collective stream too (so
  // it is not handed out again before the collective is done, even if the caller drops it).
  void order_after_compute(std::initializer_list<torch::Tensor> tensors) {
    cudaEvent_t ready;
    check_cuda(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(ready, compute_stream()), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
    cudaEventDestroy(ready);  // safe: destruction is deferred until the event completes
    for (const auto& tensor : tensors)
      c10::cuda::CUDACachingAllocator::recordStream(
          tensor.storage().data_ptr(), c10::cuda::getStreamFromExternal(stream_, device_index_));
  }
  cudaEvent_t record_done() {
    cudaEvent_t done;
    check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done, stream_), "cudaEventRecord");
    return done;
  }

  MpiCommunicator control_;
  int device_index_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;  // owned by torch's stream pool
};

NcclWork::~NcclWork() {
  if (!done_ && !std::uncaught_exceptions()) wait();
  cudaEventDestroy(done_event_);
}

bool NcclWork::test() {
  if (!done_ && comm_->event_done(done_event_)) done_ = true;
  return done_;
}

void NcclWork::wait() {
  if (done_) return;
  comm_->wait_event(done_event_, sequence_);
  // Later compute on torch's current stream sees the reduced values.
  cudaStreamWaitEvent(comm_->compute_stream(), done_event_, 0);
  done_ = true;
}

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(double timeout_seconds) {
  return std::make_unique<NcclCommunicator>(timeout_seconds);
}

}  // namespace tokenfocus::trainer

#endif  // TOKENFOCUS_WITH_NCCL
