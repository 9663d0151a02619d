// Reads .safetensors files (https://github.com/huggingface/safetensors format) by memory-mapping
// them. Tensors are views of the mapping wherever dtype and alignment allow, so a multi-GB fp32
// checkpoint costs page cache, not a second copy in RSS. Everything in the header is validated
// before it is trusted; every refusal names the file and the tensor.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace editclip {

class MappedFile;

class SafetensorsReader {
 public:
  struct Entry {
    std::string dtype;           // as in the file: "F32", "F16", "BF16", "I64", ...
    at::ScalarType scalar_type;  // the matching ATen type
    std::vector<int64_t> shape;
    uint64_t begin = 0;  // byte offsets inside the data section
    uint64_t end = 0;
  };

  explicit SafetensorsReader(const std::string& path);
  ~SafetensorsReader();
  SafetensorsReader(SafetensorsReader&&) noexcept;
  SafetensorsReader& operator=(SafetensorsReader&&) noexcept;

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const Entry& entry(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A CPU tensor over the mapped bytes (no copy when the data is suitably aligned; otherwise an
  // owned copy). The mapping stays alive as long as any returned tensor does. Pages are mapped
  // copy-on-write, so in-place updates (training) never touch the file.
  at::Tensor tensor(const std::string& name) const;
  std::map<std::string, at::Tensor> tensors() const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  uint64_t data_offset_ = 0;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any device/dtype among F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL) in
// the given order. The file is written to a temporary name and renamed, so a crash never
// leaves a half-written checkpoint behind.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// Brace lists, `write_safetensors(path, {{"a", a}, {"b", b}})`, would be ambiguous between the
// two overloads above; this one takes them and keeps their order.
inline void write_safetensors(const std::string& path,
                              std::initializer_list<std::pair<std::string, at::Tensor>> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  write_safetensors(path, std::vector<std::pair<std::string, at::Tensor>>(tensors), metadata);
}

}  // namespace editclip
