// Image file I/O for builds with neither OpenCV (-DEDITCLIP_WITH_OPENCV=OFF) nor libpng (which
// would select image_io_libpng.cpp): every call explains how to get codecs.
#include "engine/core/error.h"
#include "engine/image/image_io.h"

namespace editclip {

bool image_codecs_available() {
  return false;
}

LoadedImage load_image_rgb(const std::string& path) {
  throw_error(path,
              ": this build has no image codecs (built with -DEDITCLIP_WITH_OPENCV=OFF); "
              "rebuild with OpenCV, or with libpng-dev installed for PNG, to read image files");
}

void check_image_save_extension(const std::string& path) {
  save_image(path, at::Tensor());
}

void save_image(const std::string& path, const at::Tensor&) {
  throw_error(path,
              ": this build has no image codecs (built with -DEDITCLIP_WITH_OPENCV=OFF); "
              "rebuild with OpenCV, or with libpng-dev installed for PNG, to write image files");
}

}  // namespace editclip
