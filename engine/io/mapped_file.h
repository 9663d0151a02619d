// A read-only file mapped copy-on-write into memory, shared by the weight readers. Tensors that
// view the mapping hold a shared_ptr to it, so the pages live exactly as long as the last view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace editclip {

class MappedFile {
 public:
  // Throws editclip::Error naming `path` when the file is missing or cannot be mapped. An empty
  // file is valid and maps to no bytes (data() == nullptr).
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  std::string path_;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace editclip
