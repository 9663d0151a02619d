// Image file I/O for builds without OpenCV (-DEDITCLIP_WITH_OPENCV=OFF, e.g. a CUDA build on a
// machine that has LibTorch but no OpenCV): every call explains how to get codecs.
#include "engine/core/error.h"
#include "engine/image/image_io.h"

namespace editclip {

bool image_codecs_available() {
  return false;
}

LoadedImage load_image_rgb(const std::string& path) {
  throw_error(path,
              ": this build has no image codecs (built with -DEDITCLIP_WITH_OPENCV=OFF); "
              "rebuild with OpenCV to read image files");
}

void save_image(const std::string& path, const at::Tensor&) {
  throw_error(path,
              ": this build has no image codecs (built with -DEDITCLIP_WITH_OPENCV=OFF); "
              "rebuild with OpenCV to write image files");
}

}  // namespace editclip
