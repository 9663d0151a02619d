#include "engine/io/output_path.h"

#include <unistd.h>

#include <filesystem>

#include "engine/core/error.h"

namespace editclip {

void check_output_file_location(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) throw_error("empty output path: give a file name");
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) throw_error(path, ": is a folder; give a file name inside it");
  // "r.png" is written in the current folder.
  const fs::path folder = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::exists(folder, ec))
    throw_error(path, ": the folder '", folder.string(),
                "' does not exist (create it first, or write somewhere else)");
  if (!fs::is_directory(folder, ec)) throw_error(path, ": '", folder.string(), "' is not a folder");
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    throw_error(path, ": the folder '", folder.string(),
                "' is not writable (check its permissions, or write somewhere else)");
  if (fs::exists(p, ec) && ::access(p.c_str(), W_OK) != 0)
    throw_error(path, ": the file exists and is not writable (check its permissions)");
}

}  // namespace editclip
