// Engine errors: one exception type carrying a one-line, user-facing message that names the
// file or argument at fault and, where possible, what to do about it. Front ends print what().
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace editclip {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& value, const Rest&... rest) {
  os << value;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from pieces: throw_error("file ", path, ": bad header").
template <typename... Parts>
[[noreturn]] void throw_error(const Parts&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw Error(os.str());
}

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  return os.str();
}

// c10::Error messages carry a backtrace after the first line; keep only what a user reads.
inline std::string first_line(const std::string& text) {
  auto pos = text.find('\n');
  return pos == std::string::npos ? text : text.substr(0, pos);
}

}  // namespace editclip
