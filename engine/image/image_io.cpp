#include "engine/image/image_io.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "engine/core/error.h"
#include "engine/image/image_file_common.h"

namespace editclip {
namespace {

// Sample (y, x, c) of an OpenCV image of any supported depth, as a double in source units.
double sample(const cv::Mat& m, int y, int x, int c) {
  const int cn = m.channels();
  switch (m.depth()) {
    case CV_8U:
      return m.ptr<uint8_t>(y)[x * cn + c];
    case CV_16U:
      return m.ptr<uint16_t>(y)[x * cn + c];
    case CV_32F:
      return m.ptr<float>(y)[x * cn + c];
    case CV_64F:
      return m.ptr<double>(y)[x * cn + c];
  }
  return 0;
}

}  // namespace

LoadedImage load_image_rgb(const std::string& path) {
  const std::vector<uint8_t> bytes = read_image_file_bytes(path);
  // Before any decoder: they would grey out the missing part or print messages of their own.
  check_image_file_intact(path, bytes);
  cv::Mat decoded;
  if (!bytes.empty()) {
    try {
      // IMREAD_UNCHANGED keeps alpha and 16-bit samples, and (like PIL.Image.open) does not apply
      // the EXIF orientation.
      decoded = cv::imdecode(
          cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<uint8_t*>(bytes.data())),
          cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception&) {
      decoded.release();
    }
  }
  if (decoded.empty() || decoded.dims != 2 || decoded.channels() < 1 || decoded.channels() > 4)
    throw_error(path, ": cannot decode image (unsupported or corrupt file)");

  LoadedImage out;
  const int h = decoded.rows, w = decoded.cols, cn = decoded.channels();
  out.rgb = at::empty({h, w, 3}, at::TensorOptions().dtype(at::kByte));
  uint8_t* dst = out.rgb.data_ptr<uint8_t>();

  if (decoded.depth() == CV_8U && cn == 3) {  // the common case: BGR -> RGB
    cv::Mat rgb(h, w, CV_8UC3, dst);
    cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
    return out;
  }

  double max_value = 0;
  switch (decoded.depth()) {
    case CV_8U:
      max_value = 255;
      break;
    case CV_16U:
      max_value = 65535;
      out.notes.push_back("converted 16-bit to 8-bit");
      break;
    case CV_32F:
    case CV_64F:
      max_value = 1.0;
      out.notes.push_back("converted floating-point samples to 8-bit (clamped to [0, 1])");
      break;
    default:
      throw_error(path, ": unsupported sample format (expected 8-bit, 16-bit or float images)");
  }
  const bool gray = cn <= 2, alpha = cn == 2 || cn == 4;
  if (gray) out.notes.push_back("converted grayscale to RGB");
  bool translucent = false;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double rgb[3];
      if (gray) {
        rgb[0] = rgb[1] = rgb[2] = sample(decoded, y, x, 0);
      } else {  // OpenCV order is BGR(A)
        rgb[0] = sample(decoded, y, x, 2);
        rgb[1] = sample(decoded, y, x, 1);
        rgb[2] = sample(decoded, y, x, 0);
      }
      if (alpha) {
        const double a = std::clamp(sample(decoded, y, x, cn - 1), 0.0, max_value);
        if (a < max_value) {
          translucent = true;
          // Over a white background, in source units.
          for (double& c : rgb) c = (c * a + max_value * (max_value - a)) / max_value;
        }
      }
      uint8_t* p = dst + (static_cast<int64_t>(y) * w + x) * 3;
      for (int c = 0; c < 3; ++c) p[c] = sample_to_u8(rgb[c], max_value);
    }
  }
  if (alpha)
    out.notes.push_back(translucent ? "composited the alpha channel over white"
                                    : "dropped the alpha channel (fully opaque)");
  return out;
}

void check_image_save_extension(const std::string& path) {
  const std::string ext = lowercase_extension(path);
  for (const char* known : {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
    if (ext == known) return;
  throw_error(path, ": cannot write image files with the extension '", ext,
              "' (use .png or .jpg; also .bmp, .webp, .tif)");
}

void save_image(const std::string& path, const at::Tensor& hwc_u8) {
  check_image_to_save(path, hwc_u8);
  check_image_save_extension(path);
  const std::string ext = lowercase_extension(path);
  std::vector<int> params;
  bool keeps_alpha = true;
  if (ext == ".png") {
    params = {cv::IMWRITE_PNG_COMPRESSION, 3};
  } else if (ext == ".jpg" || ext == ".jpeg") {
    params = {cv::IMWRITE_JPEG_QUALITY, 95};
    keeps_alpha = false;
  } else if (ext == ".bmp") {
    keeps_alpha = false;
  }
  const int64_t channels = hwc_u8.size(2);
  if (channels == 4 && !keeps_alpha)
    throw_error(path, ": ", ext, " cannot store an alpha channel (save as .png)");

  const at::Tensor src = hwc_u8.to(at::kCPU).contiguous();
  const int h = static_cast<int>(src.size(0)), w = static_cast<int>(src.size(1));
  cv::Mat rgb(h, w, CV_8UC(static_cast<int>(channels)), src.data_ptr<uint8_t>());
  cv::Mat bgr;
  if (channels == 3)
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  else if (channels == 4)
    cv::cvtColor(rgb, bgr, cv::COLOR_RGBA2BGRA);
  else
    bgr = rgb;
  std::vector<uchar> encoded;
  bool ok = false;
  try {
    ok = cv::imencode(ext, bgr, encoded, params);
  } catch (const cv::Exception& e) {
    throw_error(path, ": cannot encode image: ", first_line(e.what()));
  }
  if (!ok || encoded.empty()) throw_error(path, ": cannot encode image as ", ext);
  write_image_file_bytes(path, encoded.data(), encoded.size());
}

bool image_codecs_available() {
  return true;
}

}  // namespace editclip
