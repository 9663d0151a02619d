// Checks that a file can be written at a path before any expensive work starts, so a typo in an
// output path fails in milliseconds instead of after a whole edit or conversion.
#pragma once

#include <string>

namespace editclip {

// Refuses (one-line error naming the path) an empty path, a path that is a folder, a path whose
// folder does not exist or is not a folder, and a folder or existing file that cannot be written.
// Nothing is created. Writing can still fail later (disk full); the writers report that.
void check_output_file_location(const std::string& path);

}  // namespace editclip
