#include "engine/io/safetensors_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/core/error.h"
#include "engine/io/mapped_file.h"

namespace editclip {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;
const char* const kCorrupt = " (the file is truncated or corrupt; download it again)";

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  uint64_t size;
};

const DtypeInfo kDtypes[] = {
    {"F64", at::kDouble, 8},    {"F32", at::kFloat, 4}, {"F16", at::kHalf, 2},
    {"BF16", at::kBFloat16, 2}, {"I64", at::kLong, 8},  {"I32", at::kInt, 4},
    {"I16", at::kShort, 2},     {"I8", at::kChar, 1},   {"U8", at::kByte, 1},
    {"BOOL", at::kBool, 1},
};

const DtypeInfo* dtype_by_name(const std::string& name) {
  for (auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo* dtype_by_type(at::ScalarType type) {
  for (auto& d : kDtypes)
    if (type == d.type) return &d;
  return nullptr;
}

std::string supported_list() {
  std::string out;
  for (auto& d : kDtypes) out += std::string(out.empty() ? "" : ", ") + d.name;
  return out;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON number that is a non-negative integer (nlohmann parses those as unsigned).
bool as_u64(const nlohmann::json& j, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

SafetensorsReader::SafetensorsReader(const std::string& path) : path_(path) {
  file_ = std::make_shared<MappedFile>(path);
  const uint64_t size = file_->size();
  if (size == 0) throw_error(path, ": the file is empty (0 bytes)", kCorrupt);
  if (size < 8)
    throw_error(path, ": only ", size, " bytes, too small for a safetensors file", kCorrupt);
  const uint64_t header_len = read_u64_le(file_->data());
  if (header_len > size - 8)
    throw_error(path, ": header length ", header_len, " exceeds the file size (", size,
                " bytes): not a safetensors file, or truncated or corrupt (download it again)");
  if (header_len > kMaxHeaderBytes)
    throw_error(path, ": header length ", header_len,
                " is larger than 100 MB: not a safetensors file, or corrupt (download it again)");
  data_offset_ = 8 + header_len;
  const uint64_t data_size = size - data_offset_;

  const char* header_begin = reinterpret_cast<const char*>(file_->data() + 8);
  nlohmann::json header;
  // A parsed JSON object keeps one value per key, so a repeated tensor name is only visible
  // while parsing; HF's reader refuses it, and so do we (no silent "later wins").
  std::set<std::string> top_keys;
  std::string duplicate;
  auto watch_keys = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string() &&
        !top_keys.insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_len, watch_keys);
  } catch (const nlohmann::json::exception& e) {
    throw_error(path, ": the header is not valid JSON (", first_line(e.what()), ")", kCorrupt);
  }
  if (!header.is_object()) throw_error(path, ": the header is not a JSON object", kCorrupt);
  if (!duplicate.empty())
    throw_error(path, ": tensor '", duplicate,
                "' is listed twice in the header (names must be unique)", kCorrupt);

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& value = it.value();
    if (name == "__metadata__") {
      if (!value.is_object())
        throw_error(path, ": '__metadata__' is not an object of strings", kCorrupt);
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string())
          throw_error(path, ": '__metadata__' entry '", m.key(), "' is not a string", kCorrupt);
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& problem) {
      throw_error(path, ": tensor '", name, "': ", problem, kCorrupt);
    };
    if (!value.is_object()) bad("header entry is not an object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) bad(concat("header entry has no '", field, "'"));

    Entry entry;
    const auto& dtype = value["dtype"];
    if (!dtype.is_string()) bad("'dtype' is not a string");
    entry.dtype = dtype.get<std::string>();
    const DtypeInfo* info = dtype_by_name(entry.dtype);
    if (!info)
      throw_error(path, ": tensor '", name, "': unsupported dtype '", entry.dtype,
                  "' (supported: ", supported_list(), ")");
    entry.scalar_type = info->type;

    const auto& shape = value["shape"];
    if (!shape.is_array()) bad("'shape' is not a list");
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& dim : shape) {
      uint64_t d = 0;
      if (!as_u64(dim, d) || d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        bad(concat("shape ", shape.dump(), " has a dimension that is not a non-negative integer"));
      entry.shape.push_back(static_cast<int64_t>(d));
      overflow = overflow || __builtin_mul_overflow(numel, d, &numel);
    }
    uint64_t nbytes = 0;
    overflow = overflow || __builtin_mul_overflow(numel, info->size, &nbytes);

    const auto& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !as_u64(offsets[0], entry.begin) ||
        !as_u64(offsets[1], entry.end))
      bad(concat("'data_offsets' ", offsets.dump(), " is not a pair of non-negative integers"));
    if (entry.begin > entry.end)
      bad(concat("data_offsets [", entry.begin, ", ", entry.end, "] end before they begin"));
    if (entry.end > data_size)
      bad(concat("data ends at byte ", entry.end, " but the file holds only ", data_size,
                 " bytes of tensor data"));
    if (overflow || nbytes != entry.end - entry.begin)
      bad(concat("shape ", shape.dump(), " of ", entry.dtype, " needs ",
                 overflow ? std::string("more than 2^64") : std::to_string(nbytes),
                 " bytes but data_offsets span ", entry.end - entry.begin));
    entries_.emplace(name, std::move(entry));
  }

  // Overlapping tensors would alias each other's memory; empty tensors occupy nothing.
  std::vector<std::pair<const std::string*, const Entry*>> by_offset;
  for (auto& [name, e] : entries_)
    if (e.end > e.begin) by_offset.emplace_back(&name, &e);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
    return a.second->begin != b.second->begin ? a.second->begin < b.second->begin
                                              : a.second->end < b.second->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto& prev = by_offset[i - 1];
    const auto& cur = by_offset[i];
    if (cur.second->begin < prev.second->end)
      throw_error(path, ": tensor '", *cur.first, "': data [", cur.second->begin, ", ",
                  cur.second->end, ") overlaps tensor '", *prev.first, "' [", prev.second->begin,
                  ", ", prev.second->end, ")", kCorrupt);
  }
  // As HF's reader: the tensors tile the data section exactly, from byte 0 to its end. Unused
  // bytes mean a broken writer or a damaged file, never something to load around.
  const char* const kNotContiguous =
      " (safetensors data must be contiguous; re-create the file or download it again)";
  uint64_t covered = 0;
  for (size_t i = 0; i < by_offset.size(); ++i) {
    const auto& [name_ptr, e] = by_offset[i];
    if (e->begin > covered) {
      if (i == 0)
        throw_error(path, ": tensor '", *name_ptr, "': data starts at byte ", e->begin,
                    ", leaving bytes [0, ", e->begin, ") of the data section unused",
                    kNotContiguous);
      throw_error(path, ": tensor '", *name_ptr, "': data starts at byte ", e->begin,
                  " but tensor '", *by_offset[i - 1].first, "' ends at byte ", covered, " (",
                  e->begin - covered, " unused bytes between them)", kNotContiguous);
    }
    covered = e->end;
  }
  if (covered != data_size) {
    if (by_offset.empty())
      throw_error(path, ": the header lists no tensor data but ", data_size,
                  " bytes follow it (trailing bytes after the data)", kNotContiguous);
    throw_error(path, ": ", data_size - covered, " trailing bytes after the last tensor ('",
                *by_offset.back().first, "' ends at byte ", covered, " of ", data_size, ")",
                kNotContiguous);
  }
}

SafetensorsReader::~SafetensorsReader() = default;
SafetensorsReader::SafetensorsReader(SafetensorsReader&&) noexcept = default;
SafetensorsReader& SafetensorsReader::operator=(SafetensorsReader&&) noexcept = default;

std::vector<std::string> SafetensorsReader::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (auto& kv : entries_) out.push_back(kv.first);
  return out;
}

const SafetensorsReader::Entry& SafetensorsReader::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    throw_error(path_, ": tensor '", name, "': not in the file (it holds ", entries_.size(),
                " tensors)");
  return it->second;
}

at::Tensor SafetensorsReader::tensor(const std::string& name) const {
  const Entry& e = entry(name);
  auto options = at::TensorOptions().dtype(e.scalar_type).device(at::kCPU);
  const uint64_t nbytes = e.end - e.begin;
  if (nbytes == 0) return at::empty(e.shape, options);
  uint8_t* ptr = file_->data() + data_offset_ + e.begin;
  const uint64_t elem = at::elementSize(e.scalar_type);
  if (reinterpret_cast<uintptr_t>(ptr) % elem == 0) {
    std::shared_ptr<MappedFile> keep = file_;
    return at::from_blob(
        ptr, e.shape, [keep](void*) {}, options);
  }
  // Misaligned data (a header length that is not a multiple of the element size): ATen kernels
  // assume aligned elements, so this tensor gets its own copy.
  at::Tensor out = at::empty(e.shape, options);
  std::memcpy(out.data_ptr(), ptr, nbytes);
  return out;
}

std::map<std::string, at::Tensor> SafetensorsReader::tensors() const {
  std::map<std::string, at::Tensor> out;
  for (auto& kv : entries_) out.emplace(kv.first, tensor(kv.first));
  return out;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::vector<at::Tensor> data;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (auto& [name, tensor] : tensors) {
    if (name == "__metadata__")
      throw_error(path, ": tensor '__metadata__': the name is reserved by the format");
    if (!seen.insert(name).second)
      throw_error(path, ": tensor '", name, "': given twice; names must be unique");
    if (!tensor.defined()) throw_error(path, ": tensor '", name, "': undefined tensor");
    const DtypeInfo* info = dtype_by_type(tensor.scalar_type());
    if (!info)
      throw_error(path, ": tensor '", name, "': dtype ", c10::toString(tensor.scalar_type()),
                  " cannot be stored (supported: ", supported_list(), ")");
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * info->size;
    nlohmann::ordered_json e;
    e["dtype"] = info->name;
    e["shape"] = t.sizes().vec();
    e["data_offsets"] = {offset, offset + nbytes};
    header[name] = std::move(e);
    offset += nbytes;
    data.push_back(std::move(t));
  }
  std::string text = header.dump();
  // Readers can then view every tensor in place: the data section starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw_error(path, ": cannot write ", tmp, " (", std::strerror(errno), ")");
    uint8_t len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (auto& t : data)
      out.write(static_cast<const char*>(t.data_ptr()),
                static_cast<std::streamsize>(t.numel() * t.element_size()));
    out.flush();
    if (!out) {
      const int err = errno;
      out.close();
      std::remove(tmp.c_str());
      throw_error(path, ": writing failed (", std::strerror(err), "; is the disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw_error(path, ": cannot rename ", tmp, " into place (", std::strerror(err), ")");
  }
}

void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_safetensors(path,
                    std::vector<std::pair<std::string, at::Tensor>>(tensors.begin(), tensors.end()),
                    metadata);
}

}  // namespace editclip
