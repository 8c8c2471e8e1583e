#include "trainer/mpi_communicator.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "trainer/nccl_communicator.h"

namespace tokenfocus::trainer {
namespace {

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw_internal_error("{} failed: {}", what, std::string(text, length));
}

MPI_Datatype mpi_type(const torch::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case torch::kFloat:
      return MPI_FLOAT;
    case torch::kDouble:
      return MPI_DOUBLE;
    case torch::kInt:
      return MPI_INT32_T;
    case torch::kLong:
      return MPI_INT64_T;
    case torch::kByte:
      return MPI_UINT8_T;
    case torch::kChar:
      return MPI_INT8_T;
    default:
      throw_internal_error("the MPI backend cannot reduce {} tensors",
                           c10::toString(tensor.scalar_type()));
  }
}

void check_cpu_contiguous(const torch::Tensor& tensor, const char* what) {
  if (!tensor.device().is_cpu() || !tensor.is_contiguous())
    throw_internal_error("{}: the MPI backend needs a contiguous CPU tensor", what);
}

// MPI counts are ints: large tensors go as several requests of at most this many elements.
constexpr int64_t kMaxChunk = int64_t{1} << 30;

// Keeps the buffers alive until the requests complete; an averaging collective divides `average`
// (its result) by the world size once they have.
class MpiWork : public CollectiveWork {
 public:
  MpiWork(MpiCommunicator* comm, std::vector<MPI_Request> requests,
          std::vector<torch::Tensor> buffers, torch::Tensor average, const char* what,
          int64_t sequence)
      : comm_(comm),
        requests_(std::move(requests)),
        buffers_(std::move(buffers)),
        average_(std::move(average)),
        what_(what),
        sequence_(sequence) {}
  ~MpiWork() override {
    if (!done_ && !std::uncaught_exceptions()) wait();
  }
  bool test() override {
    if (done_) return true;
    if (!comm_->test_requests(requests_)) return false;
    finish();
    return true;
  }
  void wait() override {
    if (done_) return;
    comm_->wait_requests(requests_, what_, sequence_);
    finish();
  }

 private:
  void finish() {
    done_ = true;
    if (average_.defined()) average_.div_(comm_->world_size());
    buffers_.clear();
  }
  MpiCommunicator* comm_;
  std::vector<MPI_Request> requests_;
  std::vector<torch::Tensor> buffers_;
  torch::Tensor average_;
  const char* what_;
  int64_t sequence_;
  bool done_ = false;
};

// MPI counts are ints; a ZeRO shard above 2^31 elements would need derived datatypes.
int mpi_count(int64_t count, const char* what) {
  if (count > INT_MAX)
    throw_internal_error("{}: a block of {} elements exceeds MPI's int count", what, count);
  return static_cast<int>(count);
}

struct MpiFinalizer {
  ~MpiFinalizer() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
};

}  // namespace

int ensure_mpi_initialized() {
  static int provided = [] {
    int initialized = 0;
    MPI_Initialized(&initialized);
    int level = 0;
    if (initialized) {
      MPI_Query_thread(&level);
      return level;
    }
    // Gradients go through MPI_Iallreduce (non-blocking, so that a dead peer trips a deadline
    // instead of a hang). Open MPI's libnbc picks the binomial tree for every in-place call, which
    // ran at half the bus bandwidth of the blocking MPI_Allreduce from 1 MiB up on 2 ranks; its
    // ring matched it (bench_trainer_allreduce, docs/benchmarks.md). A value the user set wins.
    // Read at MPI_Init from the environment; other MPI implementations ignore the variable.
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", /*overwrite=*/0);
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &level), "MPI_Init_thread");
    static MpiFinalizer finalizer;
    return level;
  }();
  return provided;
}

MpiCommunicator::MpiCommunicator(double timeout_seconds) : timeout_seconds_(timeout_seconds) {
  ensure_mpi_initialized();
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &arrivals_comm_), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &world_size_);
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type(SHARED)");
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
  last_seen_.assign(world_size_, 0);
}

MpiCommunicator::~MpiCommunicator() {
  for (auto& notice : pending_notices_) MPI_Request_free(&notice.request);
  if (arrivals_comm_ != MPI_COMM_NULL) MPI_Comm_free(&arrivals_comm_);
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

int64_t MpiCommunicator::begin_collective() {
  const int64_t sequence = ++sequence_;
  if (world_size_ == 1) return sequence;
  // Retire notices already delivered, then tell every other rank that we reached this collective.
  while (!pending_notices_.empty()) {
    int done = 0;
    MPI_Test(&pending_notices_.front().request, &done, MPI_STATUS_IGNORE);
    if (!done) break;
    pending_notices_.pop_front();
  }
  for (int peer = 0; peer < world_size_; ++peer) {
    if (peer == rank_) continue;
    PendingNotice notice{std::make_unique<int64_t>(sequence), MPI_REQUEST_NULL};
    MPI_Isend(notice.value.get(), 1, MPI_INT64_T, peer, 0, arrivals_comm_, &notice.request);
    pending_notices_.push_back(std::move(notice));
  }
  drain_arrivals();
  return sequence;
}

void MpiCommunicator::drain_arrivals() {
  for (;;) {
    int waiting = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, 0, arrivals_comm_, &waiting, &status);
    if (!waiting) return;
    int64_t sequence = 0;
    MPI_Recv(&sequence, 1, MPI_INT64_T, status.MPI_SOURCE, 0, arrivals_comm_, MPI_STATUS_IGNORE);
    last_seen_[status.MPI_SOURCE] = std::max(last_seen_[status.MPI_SOURCE], sequence);
  }
}

bool MpiCommunicator::test_requests(std::vector<MPI_Request>& requests) {
  int done = 0;
  check_mpi(
      MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE),
      "MPI_Testall");
  return done != 0;
}

void MpiCommunicator::wait_requests(std::vector<MPI_Request>& requests, const std::string& what,
                                    int64_t sequence) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(timeout_seconds_);
  // Spin briefly (small collectives finish in microseconds), then back off so that ranks sharing
  // cores with their peers leave them CPU time.
  for (int64_t polls = 0;; ++polls) {
    if (test_requests(requests)) return;
    if (polls < 2000) {
      std::this_thread::yield();
      continue;
    }
    if (Clock::now() > deadline) abort_on_timeout(what, sequence);
    std::this_thread::sleep_for(std::chrono::microseconds(polls < 20000 ? 20 : 500));
  }
}

void MpiCommunicator::abort_on_timeout(const std::string& what, int64_t sequence) {
  drain_arrivals();
  std::string missing;
  for (int peer = 0; peer < world_size_; ++peer)
    if (peer != rank_ && last_seen_[peer] < sequence)
      missing += fmt::format("{}{} (last reached #{})", missing.empty() ? "" : ", ", peer,
                             last_seen_[peer]);
  if (missing.empty()) missing = "none (every rank arrived; the transport itself is stuck)";
  log::set_all_ranks_to_console(true);
  log::error(
      "rank {}: collective {} #{} did not complete within {} s (distributed.timeout_seconds); "
      "ranks that never reached it: {}. Aborting the job.",
      rank_, what, sequence, timeout_seconds_, missing);
  MPI_Abort(MPI_COMM_WORLD, kExitInternalError);
  _exit(kExitInternalError);
}

std::unique_ptr<CollectiveWork> MpiCommunicator::all_reduce_async(torch::Tensor tensor,
                                                                  ReduceOp op) {
  check_cpu_contiguous(tensor, "all_reduce");
  const bool average = op == ReduceOp::kAverage;
  if (average && !tensor.is_floating_point())
    throw_internal_error("all_reduce: averaging needs a floating-point tensor");
  const int64_t sequence = begin_collective();
  std::vector<MPI_Request> requests;
  if (world_size_ > 1) {
    const MPI_Datatype type = mpi_type(tensor);
    char* data = static_cast<char*>(tensor.data_ptr());
    for (int64_t first = 0; first < tensor.numel(); first += kMaxChunk) {
      const int64_t count = std::min(kMaxChunk, tensor.numel() - first);
      MPI_Request request;
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data + first * tensor.element_size(),
                               static_cast<int>(count), type, MPI_SUM, comm_, &request),
                "MPI_Iallreduce");
      requests.push_back(request);
    }
  }
  return std::make_unique<MpiWork>(this, std::move(requests), std::vector<torch::Tensor>{tensor},
                                   average && world_size_ > 1 ? tensor : torch::Tensor(),
                                   "all_reduce", sequence);
}

std::unique_ptr<CollectiveWork> MpiCommunicator::reduce_scatter_async(torch::Tensor input,
                                                                      torch::Tensor output,
                                                                      ReduceOp op) {
  check_cpu_contiguous(input, "reduce_scatter");
  check_cpu_contiguous(output, "reduce_scatter");
  if (input.scalar_type() != output.scalar_type() || input.numel() != output.numel() * world_size_)
    throw_internal_error("reduce_scatter: input {} {} is not {} blocks of the output's {} {}",
                         c10::toString(input.scalar_type()), input.numel(), world_size_,
                         c10::toString(output.scalar_type()), output.numel());
  const bool average = op == ReduceOp::kAverage;
  if (average && !input.is_floating_point())
    throw_internal_error("reduce_scatter: averaging needs a floating-point tensor");
  const int64_t sequence = begin_collective();
  std::vector<MPI_Request> requests;
  if (world_size_ == 1) {
    output.copy_(input.view(output.sizes()));
  } else {
    MPI_Request request;
    check_mpi(MPI_Ireduce_scatter_block(input.data_ptr(), output.data_ptr(),
                                        mpi_count(output.numel(), "reduce_scatter"),
                                        mpi_type(input), MPI_SUM, comm_, &request),
              "MPI_Ireduce_scatter_block");
    requests.push_back(request);
  }
  // Sum, then divide: the same arithmetic per element as all_reduce's average.
  return std::make_unique<MpiWork>(
      this, std::move(requests), std::vector<torch::Tensor>{input, output},
      average && world_size_ > 1 ? output : torch::Tensor(), "reduce_scatter", sequence);
}

std::unique_ptr<CollectiveWork> MpiCommunicator::all_gather_async(torch::Tensor shard,
                                                                  torch::Tensor output) {
  check_cpu_contiguous(shard, "all_gather");
  check_cpu_contiguous(output, "all_gather");
  if (shard.scalar_type() != output.scalar_type() || output.numel() != shard.numel() * world_size_)
    throw_internal_error("all_gather: output {} {} is not {} blocks of the shard's {} {}",
                         c10::toString(output.scalar_type()), output.numel(), world_size_,
                         c10::toString(shard.scalar_type()), shard.numel());
  const int64_t sequence = begin_collective();
  const int64_t block_bytes = shard.numel() * shard.element_size();
  const bool in_place =
      shard.data_ptr() == static_cast<char*>(output.data_ptr()) + rank_ * block_bytes;
  std::vector<MPI_Request> requests;
  if (world_size_ == 1) {
    if (!in_place) output.copy_(shard.view(output.sizes()));
  } else {
    const int count = mpi_count(shard.numel(), "all_gather");
    MPI_Request request;
    check_mpi(MPI_Iallgather(in_place ? MPI_IN_PLACE : shard.data_ptr(), count, mpi_type(shard),
                             output.data_ptr(), count, mpi_type(output), comm_, &request),
              "MPI_Iallgather");
    requests.push_back(request);
  }
  return std::make_unique<MpiWork>(this, std::move(requests),
                                   std::vector<torch::Tensor>{shard, output}, torch::Tensor(),
                                   "all_gather", sequence);
}

void MpiCommunicator::broadcast_bytes(void* data, int64_t bytes, int root) {
  const int64_t sequence = begin_collective();
  if (world_size_ == 1) return;
  std::vector<MPI_Request> requests;
  for (int64_t first = 0; first < bytes; first += kMaxChunk) {
    MPI_Request request;
    check_mpi(MPI_Ibcast(static_cast<char*>(data) + first,
                         static_cast<int>(std::min(kMaxChunk, bytes - first)), MPI_BYTE, root,
                         comm_, &request),
              "MPI_Ibcast");
    requests.push_back(request);
  }
  wait_requests(requests, "broadcast", sequence);
}

void MpiCommunicator::broadcast(torch::Tensor tensor, int root) {
  check_cpu_contiguous(tensor, "broadcast");
  broadcast_bytes(tensor.data_ptr(), tensor.numel() * tensor.element_size(), root);
}

std::vector<std::string> MpiCommunicator::all_gather_bytes(const std::string& bytes) {
  const int64_t sequence = begin_collective();
  std::vector<int64_t> sizes(world_size_);
  int64_t mine = static_cast<int64_t>(bytes.size());
  std::vector<MPI_Request> requests(1);
  check_mpi(
      MPI_Iallgather(&mine, 1, MPI_INT64_T, sizes.data(), 1, MPI_INT64_T, comm_, &requests[0]),
      "MPI_Iallgather");
  wait_requests(requests, "all_gather(sizes)", sequence);
  std::vector<int> counts(world_size_), displacements(world_size_);
  int64_t total = 0;
  for (int r = 0; r < world_size_; ++r) {
    if (total + sizes[r] > INT_MAX)
      throw_internal_error("all_gather_bytes: more than 2 GiB gathered");
    counts[r] = static_cast<int>(sizes[r]);
    displacements[r] = static_cast<int>(total);
    total += sizes[r];
  }
  std::string gathered(static_cast<size_t>(total), '\0');
  const int64_t data_sequence = begin_collective();
  check_mpi(MPI_Iallgatherv(bytes.data(), counts[rank_], MPI_BYTE, gathered.data(), counts.data(),
                            displacements.data(), MPI_BYTE, comm_, &requests[0]),
            "MPI_Iallgatherv");
  wait_requests(requests, "all_gather(bytes)", data_sequence);
  std::vector<std::string> out;
  for (int r = 0; r < world_size_; ++r) out.push_back(gathered.substr(displacements[r], counts[r]));
  return out;
}

torch::Tensor MpiCommunicator::all_gather_rows(const torch::Tensor& rows) {
  if (rows.dim() == 0)
    throw_internal_error("all_gather_rows needs a tensor with at least one dimension");
  const torch::Tensor local = rows.contiguous().cpu();
  const std::string bytes(static_cast<const char*>(local.data_ptr()),
                          local.numel() * local.element_size());
  const auto parts = all_gather_bytes(bytes);
  int64_t row_bytes = local.element_size();
  for (int64_t d = 1; d < local.dim(); ++d) row_bytes *= local.size(d);
  std::vector<torch::Tensor> pieces;
  for (const auto& part : parts) {
    auto sizes = local.sizes().vec();
    // Rows of zero width carry no bytes: their count cannot be recovered, nor does it matter.
    sizes[0] = row_bytes ? static_cast<int64_t>(part.size()) / row_bytes : 0;
    auto piece = torch::empty(sizes, local.options());
    std::copy(part.begin(), part.end(), static_cast<char*>(piece.data_ptr()));
    pieces.push_back(piece);
  }
  return torch::cat(pieces, 0);
}

void MpiCommunicator::barrier() {
  const int64_t sequence = begin_collective();
  if (world_size_ == 1) return;
  std::vector<MPI_Request> requests(1);
  check_mpi(MPI_Ibarrier(comm_, &requests[0]), "MPI_Ibarrier");
  wait_requests(requests, "barrier", sequence);
}

bool MpiCommunicator::any(bool flag) {
  const int64_t sequence = begin_collective();
  int value = flag ? 1 : 0;
  if (world_size_ == 1) return flag;
  std::vector<MPI_Request> requests(1);
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_MAX, comm_, &requests[0]),
            "MPI_Iallreduce(flag)");
  wait_requests(requests, "any(flag)", sequence);
  return value != 0;
}

bool nccl_compiled_in() {
#ifdef TOKENFOCUS_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> make_communicator(const CommunicatorOptions& options) {
  if (options.backend == "mpi") return std::make_unique<MpiCommunicator>(options.timeout_seconds);
  if (options.backend != "nccl" && options.backend != "auto")
    throw_user_error("distributed.backend: unknown backend '{}' (expected auto, mpi or nccl)",
                     options.backend);
#ifdef TOKENFOCUS_WITH_NCCL
  if (options.backend == "nccl") return make_nccl_communicator(options.timeout_seconds);
  // auto: NCCL only where the tensors can live on a GPU, i.e. a CUDA build of libtorch with a
  // device.
  if (torch::cuda::is_available()) return make_nccl_communicator(options.timeout_seconds);
#else
  if (options.backend == "nccl")
    throw_user_error(
        "distributed.backend: nccl, but this tokenfocus was built without NCCL "
        "(configure with CUDA and NCCL installed, or use mpi)");
#endif
  return std::make_unique<MpiCommunicator>(options.timeout_seconds);
}

}  // namespace tokenfocus::trainer
