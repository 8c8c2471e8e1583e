#include "models/safetensors_header.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"

namespace tokenfocus::models {
namespace {

struct DtypeInfo {
  SafetensorsDtype dtype;
  const char* name;
  std::size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {SafetensorsDtype::kBool, "BOOL", 1},      {SafetensorsDtype::kU8, "U8", 1},
    {SafetensorsDtype::kI8, "I8", 1},          {SafetensorsDtype::kI16, "I16", 2},
    {SafetensorsDtype::kU16, "U16", 2},        {SafetensorsDtype::kF16, "F16", 2},
    {SafetensorsDtype::kBF16, "BF16", 2},      {SafetensorsDtype::kI32, "I32", 4},
    {SafetensorsDtype::kU32, "U32", 4},        {SafetensorsDtype::kF32, "F32", 4},
    {SafetensorsDtype::kF64, "F64", 8},        {SafetensorsDtype::kI64, "I64", 8},
    {SafetensorsDtype::kU64, "U64", 8},        {SafetensorsDtype::kF8E4M3, "F8_E4M3", 1},
    {SafetensorsDtype::kF8E5M2, "F8_E5M2", 1},
};

const DtypeInfo& info(SafetensorsDtype dtype) {
  for (const auto& entry : kDtypes)
    if (entry.dtype == dtype) return entry;
  throw_internal_error("safetensors: unhandled dtype {}", static_cast<int>(dtype));
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

// A valid header nests at most three levels (file object > tensor object > shape array); anything
// deeper is refused while parsing, which also bounds the recursion of nlohmann's destructor.
constexpr int kMaxJsonDepth = 3;

// Parses the JSON text, refusing duplicate keys (JSON allows them, the format cannot mean anything
// by them) and needless nesting.
nlohmann::json parse_header_json(const char* begin, const char* end, const std::string& source) {
  std::vector<std::set<std::string>> open_objects;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth)
      throw_user_error("{}: safetensors header nests deeper than the format allows", source);
    if (event == Event::object_start) open_objects.emplace_back();
    if (event == Event::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Event::key && !open_objects.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second)
        throw_user_error("{}: safetensors header repeats the key \"{}\"", source, key);
    }
    return true;
  };
  try {
    return nlohmann::json::parse(begin, end, callback);
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: safetensors header is not valid JSON ({})", source, e.what());
  }
}

uint64_t unsigned_field(const nlohmann::json& value, const std::string& source,
                        const std::string& tensor, const char* what) {
  if (!value.is_number_unsigned())
    throw_user_error("{}: tensor \"{}\": {} must be non-negative integers, got {}", source, tensor,
                     what, value.dump());
  return value.get<uint64_t>();
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& value,
                             const std::string& source) {
  if (!value.is_object())
    throw_user_error("{}: tensor \"{}\": expected an object with dtype, shape, data_offsets",
                     source, name);
  for (const auto& item : value.items()) {
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets")
      throw_user_error("{}: tensor \"{}\": unknown field \"{}\"", source, name, item.key());
  }
  SafetensorsEntry entry;
  entry.name = name;
  const auto dtype = value.find("dtype");
  if (dtype == value.end() || !dtype->is_string())
    throw_user_error("{}: tensor \"{}\": missing or non-string \"dtype\"", source, name);
  if (!parse_safetensors_dtype(dtype->get<std::string>(), entry.dtype))
    throw_user_error("{}: tensor \"{}\": unknown dtype \"{}\"", source, name,
                     dtype->get<std::string>());

  const auto shape = value.find("shape");
  if (shape == value.end() || !shape->is_array())
    throw_user_error("{}: tensor \"{}\": missing or non-array \"shape\"", source, name);
  // Element count and byte size, refusing anything that does not fit in 63 bits.
  constexpr uint64_t kLimit = static_cast<uint64_t>(INT64_MAX);
  uint64_t elements = 1;
  bool empty = false;
  for (const auto& dim_json : *shape) {
    const uint64_t dim = unsigned_field(dim_json, source, name, "shape dimensions");
    if (dim > kLimit)
      throw_user_error("{}: tensor \"{}\": shape dimension {} is too large", source, name, dim);
    entry.shape.push_back(static_cast<int64_t>(dim));
    if (dim == 0) empty = true;
    if (!empty && elements > kLimit / std::max<uint64_t>(dim, 1))
      throw_user_error("{}: tensor \"{}\": shape {} overflows", source, name, shape->dump());
    if (!empty) elements *= dim;
  }
  if (empty) elements = 0;
  const uint64_t element_size = safetensors_dtype_size(entry.dtype);
  if (elements > kLimit / element_size)
    throw_user_error("{}: tensor \"{}\": shape {} overflows", source, name, shape->dump());
  const uint64_t nbytes = elements * element_size;

  const auto offsets = value.find("data_offsets");
  if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2)
    throw_user_error("{}: tensor \"{}\": \"data_offsets\" must be [begin, end]", source, name);
  entry.begin = unsigned_field((*offsets)[0], source, name, "data_offsets");
  entry.end = unsigned_field((*offsets)[1], source, name, "data_offsets");
  if (entry.end < entry.begin)
    throw_user_error("{}: tensor \"{}\": data_offsets [{}, {}] end before begin", source, name,
                     entry.begin, entry.end);
  if (entry.end - entry.begin != nbytes)
    throw_user_error("{}: tensor \"{}\": {} {} needs {} bytes but data_offsets [{}, {}] hold {}",
                     source, name, safetensors_dtype_name(entry.dtype), shape->dump(), nbytes,
                     entry.begin, entry.end, entry.end - entry.begin);
  return entry;
}

}  // namespace

bool parse_safetensors_dtype(const std::string& name, SafetensorsDtype& dtype) {
  for (const auto& entry : kDtypes) {
    if (name == entry.name) {
      dtype = entry.dtype;
      return true;
    }
  }
  return false;
}

const char* safetensors_dtype_name(SafetensorsDtype dtype) {
  return info(dtype).name;
}
std::size_t safetensors_dtype_size(SafetensorsDtype dtype) {
  return info(dtype).size;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, std::size_t size,
                                           const std::string& source) {
  if (size < 8)
    throw_user_error("{}: not a safetensors file ({} bytes, shorter than the 8-byte header length)",
                     source, size);
  const uint64_t header_length = read_le64(bytes);
  if (header_length > kMaxSafetensorsHeaderBytes)
    throw_user_error("{}: safetensors header length {} is absurd (limit {} bytes)", source,
                     header_length, kMaxSafetensorsHeaderBytes);
  if (header_length > size - 8)
    throw_user_error("{}: safetensors header length {} goes beyond the end of the file ({} bytes)",
                     source, header_length, size);
  const char* text = reinterpret_cast<const char*>(bytes + 8);
  if (header_length < 2 || text[0] != '{')
    throw_user_error("{}: safetensors header does not start with a JSON object", source);
  const nlohmann::json json = parse_header_json(text, text + header_length, source);
  if (!json.is_object()) throw_user_error("{}: safetensors header is not a JSON object", source);

  SafetensorsHeader header;
  header.data_start = 8 + header_length;
  header.data_size = size - header.data_start;
  for (const auto& item : json.items()) {
    if (item.key() == "__metadata__") {
      if (!item.value().is_object())
        throw_user_error("{}: safetensors \"__metadata__\" must map strings to strings", source);
      for (const auto& meta : item.value().items()) {
        if (!meta.value().is_string())
          throw_user_error("{}: safetensors \"__metadata__\" value of \"{}\" is not a string",
                           source, meta.key());
        header.metadata[meta.key()] = meta.value().get<std::string>();
      }
      continue;
    }
    header.entries.push_back(parse_entry(item.key(), item.value(), source));
  }

  // The tensors must tile the data buffer exactly: sorted by offset, each starts where the last
  // ended.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& entry : header.entries) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
              return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
            });
  uint64_t expected = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry* entry : by_offset) {
    if (entry->end > header.data_size)
      throw_user_error("{}: tensor \"{}\": data_offsets [{}, {}] beyond the data buffer ({} bytes)",
                       source, entry->name, entry->begin, entry->end, header.data_size);
    if (entry->begin < expected)
      throw_user_error("{}: tensor \"{}\": data_offsets [{}, {}] overlap tensor \"{}\"", source,
                       entry->name, entry->begin, entry->end, previous->name);
    if (entry->begin > expected)
      throw_user_error(
          "{}: tensor \"{}\": data_offsets [{}, {}] leave a hole at bytes [{}, {}] of the data "
          "buffer",
          source, entry->name, entry->begin, entry->end, expected, entry->begin);
    expected = entry->end;
    previous = entry;
  }
  if (expected != header.data_size)
    throw_user_error("{}: the tensors cover {} bytes but the data buffer holds {} (trailing bytes)",
                     source, expected, header.data_size);
  return header;
}

void write_safetensors_file(const std::string& path, std::vector<SafetensorsWriteEntry> entries,
                            const std::map<std::string, std::string>& metadata) {
  // Wider dtypes first, then by name: with an 8-aligned buffer start every tensor is aligned to its
  // element size, so readers can map it without copying (Python's writer does the same).
  std::sort(entries.begin(), entries.end(),
            [](const SafetensorsWriteEntry& a, const SafetensorsWriteEntry& b) {
              const auto size_a = safetensors_dtype_size(a.dtype),
                         size_b = safetensors_dtype_size(b.dtype);
              return size_a != size_b ? size_a > size_b : a.name < b.name;
            });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& entry : entries) {
    if (entry.name == "__metadata__" || header.contains(entry.name))
      throw_user_error("{}: cannot write tensor name \"{}\" twice or as __metadata__", path,
                       entry.name);
    uint64_t elements = 1;
    for (int64_t dim : entry.shape) elements *= static_cast<uint64_t>(dim);
    if (elements * safetensors_dtype_size(entry.dtype) != entry.nbytes)
      throw_internal_error("{}: tensor \"{}\" has {} bytes, its shape needs {}", path, entry.name,
                           entry.nbytes, elements * safetensors_dtype_size(entry.dtype));
    header[entry.name] = {{"dtype", safetensors_dtype_name(entry.dtype)},
                          {"shape", entry.shape},
                          {"data_offsets", {offset, offset + entry.nbytes}}};
    offset += entry.nbytes;
  }
  std::string text = header.dump();  // std::map-backed: keys come out sorted
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t length[8];
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));

  write_via_temporary(path, [&](const std::string& temporary) {
    FILE* file = std::fopen(temporary.c_str(), "wb");
    if (!file) throw_user_error("{}: cannot write ({})", temporary, std::strerror(errno));
    bool ok = std::fwrite(length, 1, 8, file) == 8 &&
              std::fwrite(text.data(), 1, text.size(), file) == text.size();
    for (const auto& entry : entries) {
      if (ok && entry.nbytes > 0)
        ok = std::fwrite(entry.data, 1, entry.nbytes, file) == entry.nbytes;
    }
    ok = std::fflush(file) == 0 && ok;
    ok = ::fsync(::fileno(file)) == 0 && ok;
    ok = std::fclose(file) == 0 && ok;
    if (!ok) throw_user_error("{}: writing failed ({})", path, std::strerror(errno));
  });
}

}  // namespace tokenfocus::models
