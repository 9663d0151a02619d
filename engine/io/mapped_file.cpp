#include "engine/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/core/error.h"

namespace editclip {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw_error(path, ": no such file");
    throw_error(path, ": cannot open (", std::strerror(err), ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw_error(path, ": cannot read file size (", std::strerror(err), ")");
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw_error(path, ": is a directory, expected a file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    // Private + writable: in-place updates of tensor views (e.g. training) get private pages
    // and never reach the file, while untouched pages stay shared with the page cache.
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw_error(path, ": cannot memory-map the file (", std::strerror(err), ")");
    }
    data_ = static_cast<uint8_t*>(p);
  }
  // The mapping keeps its own reference to the file.
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
}

}  // namespace editclip
