#include <iostream>

#include "cli/commands.h"
#include "engine/core/error.h"

namespace editclip::cli {

void print_note(const std::string& text) {
  std::cerr << "note: " << text << std::endl;
}

RgbImage read_input_image(const std::string& option, const std::string& path) {
  std::vector<std::string> notes;
  RgbImage image = read_image(path, &notes);
  for (const auto& n : notes) print_note(concat("--", option, " ", path, ": ", n));
  return image;
}

void check_output_path(const std::string& option, const std::string& path, bool image) {
  try {
    if (image)
      check_output_image_path(path);
    else
      check_output_file_path(path);
  } catch (const Error& e) {
    // The engine's message starts with the path; say which option gave it.
    throw Error(option + " " + e.what());
  }
}

}  // namespace editclip::cli
