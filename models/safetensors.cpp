#include "models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace tokenfocus::models {

// Safetensors data is little-endian; tensors are handed out as the raw bytes of the file.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors reading assumes a little-endian host");

// A read-only view of a whole file, unmapped when the last tensor made from it is freed.
class FileMapping {
 public:
  explicit FileMapping(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_user_error("{}: cannot open ({})", path, std::strerror(errno));
    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
      ::close(fd);
      throw_user_error("{}: not a regular file", path);
    }
    size_ = static_cast<std::size_t>(status.st_size);
    if (size_ > 0) {
      // Private and writable: pages are shared with the page cache until someone writes into a
      // tensor, which then gets its own copy instead of a crash (PROT_READ) or a changed file.
      void* address = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (address == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        throw_user_error("{}: cannot map ({})", path, std::strerror(error));
      }
      data_ = static_cast<uint8_t*>(address);
    }
    ::close(fd);
  }
  ~FileMapping() {
    if (data_) ::munmap(data_, size_);
  }
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;

  uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

namespace {

// What a tensor's storage holds when it views a mapped file.
struct MappedBytes {
  std::shared_ptr<FileMapping> mapping;
};

void delete_mapped_bytes(void* context) {
  delete static_cast<MappedBytes*>(context);
}

SafetensorsDtype safetensors_dtype_of(torch::ScalarType dtype, const std::string& path,
                                      const std::string& name) {
  switch (dtype) {
    case torch::kBool:
      return SafetensorsDtype::kBool;
    case torch::kUInt8:
      return SafetensorsDtype::kU8;
    case torch::kInt8:
      return SafetensorsDtype::kI8;
    case torch::kInt16:
      return SafetensorsDtype::kI16;
    case torch::kFloat16:
      return SafetensorsDtype::kF16;
    case torch::kBFloat16:
      return SafetensorsDtype::kBF16;
    case torch::kInt32:
      return SafetensorsDtype::kI32;
    case torch::kFloat32:
      return SafetensorsDtype::kF32;
    case torch::kFloat64:
      return SafetensorsDtype::kF64;
    case torch::kInt64:
      return SafetensorsDtype::kI64;
    case torch::kUInt16:
      return SafetensorsDtype::kU16;
    case torch::kUInt32:
      return SafetensorsDtype::kU32;
    case torch::kUInt64:
      return SafetensorsDtype::kU64;
    case torch::kFloat8_e4m3fn:
      return SafetensorsDtype::kF8E4M3;
    case torch::kFloat8_e5m2:
      return SafetensorsDtype::kF8E5M2;
    default:
      throw_user_error("{}: tensor \"{}\": dtype {} cannot be stored in safetensors", path, name,
                       c10::toString(dtype));
  }
}

}  // namespace

torch::ScalarType torch_dtype_of(SafetensorsDtype dtype, const std::string& file,
                                 const std::string& tensor) {
  switch (dtype) {
    case SafetensorsDtype::kBool:
      return torch::kBool;
    case SafetensorsDtype::kU8:
      return torch::kUInt8;
    case SafetensorsDtype::kI8:
      return torch::kInt8;
    case SafetensorsDtype::kI16:
      return torch::kInt16;
    case SafetensorsDtype::kF16:
      return torch::kFloat16;
    case SafetensorsDtype::kBF16:
      return torch::kBFloat16;
    case SafetensorsDtype::kI32:
      return torch::kInt32;
    case SafetensorsDtype::kF32:
      return torch::kFloat32;
    case SafetensorsDtype::kF64:
      return torch::kFloat64;
    case SafetensorsDtype::kI64:
      return torch::kInt64;
    // libtorch 2.x has the unsigned and float8 types that 1.13 lacked.
    case SafetensorsDtype::kU16:
      return torch::kUInt16;
    case SafetensorsDtype::kU32:
      return torch::kUInt32;
    case SafetensorsDtype::kU64:
      return torch::kUInt64;
    case SafetensorsDtype::kF8E4M3:
      return torch::kFloat8_e4m3fn;
    case SafetensorsDtype::kF8E5M2:
      return torch::kFloat8_e5m2;
    default:
      throw_user_error("{}: tensor \"{}\": dtype {} is not supported by libtorch", file, tensor,
                       safetensors_dtype_name(dtype));
  }
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  static_assert(sizeof(void*) == 8, "safetensors mapping assumes a 64-bit address space");
  SafetensorsFile file;
  file.path_ = path;
  file.mapping_ = std::make_shared<FileMapping>(path);
  file.header_ = parse_safetensors_header(file.mapping_->data(), file.mapping_->size(), path);
  for (std::size_t i = 0; i < file.header_.entries.size(); ++i)
    file.index_[file.header_.entries[i].name] = i;
  return file;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> names;
  for (const auto& [name, position] : index_) names.push_back(name);
  return names;
}

bool SafetensorsFile::contains(const std::string& name) const {
  return index_.count(name) > 0;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  const auto found = index_.find(name);
  if (found == index_.end()) throw_user_error("{}: no tensor named \"{}\"", path_, name);
  return header_.entries[found->second];
}

torch::Tensor SafetensorsFile::get(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const torch::ScalarType dtype = torch_dtype_of(e.dtype, path_, name);
  const auto options = torch::TensorOptions().dtype(dtype);
  if (e.begin == e.end) return torch::empty(e.shape, options);
  uint8_t* data = mapping_->data() + header_.data_start + e.begin;
  const std::size_t element_size = safetensors_dtype_size(e.dtype);
  if (reinterpret_cast<uintptr_t>(data) % element_size != 0) {
    // Files from writers that do not align tensors: one copy into aligned memory.
    torch::Tensor copy = torch::empty(e.shape, options);
    std::memcpy(copy.data_ptr(), data, e.end - e.begin);
    return copy;
  }
  // The storage keeps the mapping alive through a context of our own type, so that
  // release_mapped_pages can recognise tensors that view a mapping.
  c10::DataPtr pointer(data, new MappedBytes{mapping_}, &delete_mapped_bytes,
                       c10::Device(c10::kCPU));
  c10::Storage storage(c10::Storage::use_byte_size_t(), e.end - e.begin, std::move(pointer),
                       /*allocator=*/nullptr, /*resizable=*/false);
  return torch::empty({0}, options).set_(storage, 0, e.shape, c10::contiguous_strides(e.shape));
}

torch::Tensor SafetensorsFile::get(const std::string& name, torch::ScalarType dtype) const {
  torch::Tensor tensor = get(name);
  if (tensor.scalar_type() == dtype) return tensor;
  if (!torch::isFloatingType(tensor.scalar_type()) || !torch::isFloatingType(dtype))
    throw_user_error("{}: tensor \"{}\" is {}, cannot convert it to {}", path_, name,
                     safetensors_dtype_name(entry(name).dtype), c10::toString(dtype));
  return tensor.to(dtype);
}

bool release_mapped_pages(const torch::Tensor& tensor) {
  if (!tensor.defined() || !tensor.has_storage()) return false;
  const c10::DataPtr& pointer = tensor.storage().data_ptr();
  if (pointer.get_deleter() != &delete_mapped_bytes) return false;
  // The whole pages inside the tensor's bytes; pages shared with a neighbour stay.
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(tensor.data_ptr());
  const auto end = begin + static_cast<uintptr_t>(tensor.numel()) * tensor.element_size();
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (last <= first) return true;
  // MADV_DONTNEED on a private file mapping drops our view of the pages; a later read faults
  // them in again from the file.
  return ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED) == 0;
}

std::map<std::string, torch::Tensor> load_safetensors(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& name : file.names()) tensors.emplace(name, file.get(name));
  return tensors;
}

void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;  // owns the contiguous CPU copies while the file is written
  std::vector<SafetensorsWriteEntry> entries;
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) throw_user_error("{}: tensor \"{}\" is undefined", path, name);
    torch::Tensor data = tensor.detach().to(torch::kCPU).contiguous();
    keep.push_back(data);
    SafetensorsWriteEntry entry;
    entry.name = name;
    entry.dtype = safetensors_dtype_of(data.scalar_type(), path, name);
    entry.shape = data.sizes().vec();
    entry.data = data.data_ptr();
    entry.nbytes = static_cast<uint64_t>(data.numel()) * data.element_size();
    entries.push_back(std::move(entry));
  }
  write_safetensors_file(path, std::move(entries), metadata);
}

}  // namespace tokenfocus::models
