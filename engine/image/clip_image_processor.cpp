#include "engine/image/clip_image_processor.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/image/pil_resample.h"

// The reference's float32/float64 roundings are reproduced operation by operation.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace editclip {
namespace {

using json = nlohmann::json;

int64_t positive_int(const json& v, const std::string& origin, const std::string& field) {
  if (!v.is_number_integer() || v.get<int64_t>() <= 0)
    throw_error(origin, ": field '", field, "' must be a positive integer");
  return v.get<int64_t>();
}

bool read_bool(const json& j, const char* key, bool fallback, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw_error(origin, ": field '", key, "' must be true or false");
  return it->get<bool>();
}

std::array<double, 3> read_triple(const json& j, const char* key, std::array<double, 3> fallback,
                                  const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_number()) {
    const double v = it->get<double>();
    return {v, v, v};
  }
  if (!it->is_array() || it->size() != 3)
    throw_error(origin, ": field '", key, "' must be a list of 3 numbers (one per RGB channel)");
  std::array<double, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    if (!(*it)[i].is_number())
      throw_error(origin, ": field '", key, "' must be a list of 3 numbers");
    out[i] = (*it)[i].get<double>();
  }
  return out;
}

// [H,W,C] uint8 -> [H,W,3] as PIL's convert("RGB"): gray replicated, alpha dropped.
at::Tensor convert_rgb(const at::Tensor& hwc_u8) {
  switch (hwc_u8.size(2)) {
    case 3:
      return hwc_u8;
    case 1:
    case 2:
      return hwc_u8.narrow(2, 0, 1).expand({-1, -1, 3}).contiguous();
    case 4:
      return hwc_u8.narrow(2, 0, 3).contiguous();
  }
  throw_error("CLIP image processor: image has ", hwc_u8.size(2), " channels, expected 1 to 4");
}

void check_u8_image(const at::Tensor& t, const char* what) {
  if (!t.defined() || t.dim() != 3 || t.scalar_type() != at::kByte || t.size(0) < 1 ||
      t.size(1) < 1)
    throw_error(what, ": expected a non-empty [H,W,C] uint8 image");
}

// float32(double(v) * factor) for uint8 [H,W,C] -> float32 [C,H,W]: transformers' rescale().
at::Tensor rescale_to_chw(const at::Tensor& hwc_u8, double factor) {
  const at::Tensor src = hwc_u8.contiguous();
  const int64_t h = src.size(0), w = src.size(1), c = src.size(2);
  at::Tensor out = at::empty({c, h, w}, src.options().dtype(at::kFloat));
  const uint8_t* in = src.data_ptr<uint8_t>();
  float* o = out.data_ptr<float>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t ch = 0; ch < c; ++ch)
        o[(ch * h + y) * w + x] =
            static_cast<float>(static_cast<double>(in[(y * w + x) * c + ch]) * factor);
  return out;
}

int64_t floor_div2(int64_t v) {
  return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

}  // namespace

ClipImageProcessorConfig ClipImageProcessorConfig::from_json(const json& j,
                                                             const std::string& origin) {
  if (!j.is_object()) throw_error(origin, ": expected a JSON object");
  ClipImageProcessorConfig c;
  c.do_resize = read_bool(j, "do_resize", c.do_resize, origin);
  c.do_center_crop = read_bool(j, "do_center_crop", c.do_center_crop, origin);
  c.do_rescale = read_bool(j, "do_rescale", c.do_rescale, origin);
  c.do_normalize = read_bool(j, "do_normalize", c.do_normalize, origin);
  c.do_convert_rgb = read_bool(j, "do_convert_rgb", c.do_convert_rgb, origin);

  if (auto it = j.find("size"); it != j.end() && !it->is_null()) {
    if (it->is_number()) {
      c.shortest_edge = positive_int(*it, origin, "size");
    } else if (it->is_object() && it->contains("shortest_edge")) {
      c.shortest_edge = positive_int((*it)["shortest_edge"], origin, "size.shortest_edge");
    } else if (it->is_object() && it->contains("height") && it->contains("width")) {
      c.shortest_edge = 0;
      c.size_height = positive_int((*it)["height"], origin, "size.height");
      c.size_width = positive_int((*it)["width"], origin, "size.width");
    } else {
      throw_error(origin,
                  ": field 'size' must be N, {\"shortest_edge\": N} or {\"height\": H, \"width\": "
                  "W}");
    }
  }
  // Legacy configs that asked for a square resize.
  if (read_bool(j, "use_square_size", false, origin) && c.shortest_edge > 0) {
    c.size_height = c.size_width = c.shortest_edge;
    c.shortest_edge = 0;
  }
  if (auto it = j.find("crop_size"); it != j.end() && !it->is_null()) {
    if (it->is_number()) {
      c.crop_height = c.crop_width = positive_int(*it, origin, "crop_size");
    } else if (it->is_object() && it->contains("height") && it->contains("width")) {
      c.crop_height = positive_int((*it)["height"], origin, "crop_size.height");
      c.crop_width = positive_int((*it)["width"], origin, "crop_size.width");
    } else {
      throw_error(origin, ": field 'crop_size' must be N or {\"height\": H, \"width\": W}");
    }
  }
  if (auto it = j.find("resample"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) throw_error(origin, ": field 'resample' must be a PIL code");
    c.resample = it->get<int>();
    try {
      pil_filter_from_code(c.resample);
    } catch (const Error& e) {
      throw_error(origin, ": ", e.what());
    }
  }
  if (auto it = j.find("rescale_factor"); it != j.end() && !it->is_null()) {
    if (!it->is_number()) throw_error(origin, ": field 'rescale_factor' must be a number");
    c.rescale_factor = it->get<double>();
  }
  c.image_mean = read_triple(j, "image_mean", c.image_mean, origin);
  c.image_std = read_triple(j, "image_std", c.image_std, origin);
  for (double s : c.image_std)
    if (s == 0) throw_error(origin, ": field 'image_std' has a zero entry");
  return c;
}

ClipImageProcessorConfig ClipImageProcessorConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_error(path, ": cannot open (expected a preprocessor_config.json)");
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    throw_error(path, ": invalid JSON: ", first_line(e.what()));
  }
  return from_json(j, path);
}

ClipImageProcessor::ClipImageProcessor(ClipImageProcessorConfig config)
    : config_(std::move(config)) {
  pil_filter_from_code(config_.resample);
  if (config_.do_resize && config_.shortest_edge <= 0 &&
      (config_.size_height <= 0 || config_.size_width <= 0))
    throw_error("CLIP image processor: resize needs shortest_edge or height and width");
  if (config_.do_center_crop && (config_.crop_height <= 0 || config_.crop_width <= 0))
    throw_error("CLIP image processor: crop size must be positive");
}

std::pair<int64_t, int64_t> ClipImageProcessor::resize_output_size(int64_t h, int64_t w) const {
  if (config_.shortest_edge <= 0) return {config_.size_height, config_.size_width};
  const int64_t short_side = std::min(h, w), long_side = std::max(h, w);
  const int64_t new_short = config_.shortest_edge;
  // Python's int(new_short * long / short): a double quotient, truncated.
  const int64_t new_long = static_cast<int64_t>(static_cast<double>(new_short * long_side) /
                                                static_cast<double>(short_side));
  return w <= h ? std::make_pair(new_long, new_short) : std::make_pair(new_short, new_long);
}

std::array<int64_t, 3> ClipImageProcessor::output_shape(int64_t h, int64_t w) const {
  if (config_.do_resize) std::tie(h, w) = resize_output_size(h, w);
  if (config_.do_center_crop) {
    h = config_.crop_height;
    w = config_.crop_width;
  }
  return {3, h, w};
}

void ClipImageProcessor::check_model_image_size(int64_t image_size,
                                                const std::string& origin) const {
  const auto& c = config_;
  auto refuse = [&](const std::string& what, int64_t h, int64_t w) {
    throw_error(origin, ": ", what, " ", h, "x", w,
                " does not match the vision tower's image_size ", image_size,
                " (config.json); fix it, or use the preprocessor_config.json that came "
                "with the model");
  };
  if (c.do_center_crop) {
    if (c.crop_height != image_size || c.crop_width != image_size)
      refuse("crop_size", c.crop_height, c.crop_width);
  } else if (c.do_resize) {
    if (c.shortest_edge > 0 && c.shortest_edge != image_size)
      refuse("size (shortest_edge, no center crop)", c.shortest_edge, c.shortest_edge);
    if (c.shortest_edge <= 0 && (c.size_height != image_size || c.size_width != image_size))
      refuse("size (no center crop)", c.size_height, c.size_width);
  } else {
    throw_error(origin, ": do_resize and do_center_crop are both false, so images would reach the ",
                "vision tower at their own size, but it takes ", image_size, "x", image_size);
  }
}

at::Tensor ClipImageProcessor::resize_u8(const at::Tensor& hwc_u8) const {
  if (!config_.do_resize) return hwc_u8;
  const auto [h, w] = resize_output_size(hwc_u8.size(0), hwc_u8.size(1));
  return pil_resize(hwc_u8, w, h, pil_filter_from_code(config_.resample));
}

at::Tensor ClipImageProcessor::resize_crop_u8(const at::Tensor& hwc_u8) const {
  check_u8_image(hwc_u8, "CLIP image processor");
  at::Tensor img = config_.do_convert_rgb ? convert_rgb(hwc_u8) : hwc_u8;
  img = resize_u8(img);
  if (config_.do_center_crop) img = hf_center_crop_hw(img, config_.crop_height, config_.crop_width);
  return img.contiguous();
}

at::Tensor ClipImageProcessor::normalize(const at::Tensor& chw) const {
  at::Tensor src = chw.to(at::kFloat).contiguous();
  if (src.size(0) != 3)
    throw_error("CLIP image processor: expected 3 channels, got ", src.size(0),
                " (convert the image to RGB)");
  if (!config_.do_normalize) return src;
  const int64_t plane = src.size(1) * src.size(2);
  at::Tensor out = at::empty_like(src);
  const float* in = src.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for (int64_t ch = 0; ch < 3; ++ch) {
    // numpy casts mean/std to the image dtype, then subtracts and divides in float32.
    const float mean = static_cast<float>(config_.image_mean[ch]);
    const float std = static_cast<float>(config_.image_std[ch]);
    for (int64_t i = 0; i < plane; ++i) o[ch * plane + i] = (in[ch * plane + i] - mean) / std;
  }
  return out;
}

at::Tensor ClipImageProcessor::preprocess_u8(const at::Tensor& hwc_u8) const {
  const at::Tensor cropped = resize_crop_u8(hwc_u8.to(at::kCPU));
  const at::Tensor chw = config_.do_rescale ? rescale_to_chw(cropped, config_.rescale_factor)
                                            : cropped.permute({2, 0, 1}).to(at::kFloat);
  return normalize(chw);
}

at::Tensor ClipImageProcessor::preprocess_float(const at::Tensor& chw_float01) const {
  if (!chw_float01.defined() || chw_float01.dim() != 3 || !chw_float01.is_floating_point() ||
      chw_float01.size(0) != 3)
    throw_error("CLIP image processor: expected a [3,H,W] floating-point image in [0, 1]");
  at::Tensor img = chw_float01.to(at::kCPU, at::kFloat).contiguous();
  if (config_.do_resize) {
    bool scaled = false;
    const at::Tensor resized = resize_u8(float_to_pil_u8(img, &scaled));
    img = scaled ? rescale_to_chw(resized, 1.0 / 255.0)
                 : resized.permute({2, 0, 1}).to(at::kFloat).contiguous();
  }
  if (config_.do_center_crop)
    img = hf_center_crop_hw(img.permute({1, 2, 0}), config_.crop_height, config_.crop_width)
              .permute({2, 0, 1});
  return normalize(img);
}

at::Tensor ClipImageProcessor::float_to_pil_u8(const at::Tensor& chw_float, bool* scaled) {
  if (!chw_float.defined() || chw_float.dim() != 3 || !chw_float.is_floating_point())
    throw_error("CLIP image processor: expected a [C,H,W] floating-point image");
  const at::Tensor src = chw_float.to(at::kCPU, at::kFloat).contiguous();
  const int64_t c = src.size(0), h = src.size(1), w = src.size(2);
  const float* in = src.data_ptr<float>();
  const int64_t n = src.numel();
  // transformers' _rescale_for_pil_conversion: integral values are taken as [0, 255] already
  // (np.allclose against the int cast), otherwise values must lie in [0, 1] and are scaled.
  bool integral = true, in_unit = true, in_byte = true;
  for (int64_t i = 0; i < n; ++i) {
    const double v = in[i];
    const double t = std::trunc(v);
    if (!(std::fabs(v - t) <= 1e-8 + 1e-5 * std::fabs(t))) integral = false;
    if (!(v >= 0.0 && v <= 1.0)) in_unit = false;
    if (!(v >= 0.0 && v <= 255.0)) in_byte = false;
  }
  const bool rescale = !integral;
  if (integral ? !in_byte : !in_unit)
    throw_error(
        "CLIP image processor: float image values must lie in [0, 1] (got values outside; "
        "images in [-1, 1] must be mapped with (x + 1) / 2 first)");
  at::Tensor out = at::empty({h, w, c}, src.options().dtype(at::kByte));
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const float v = in[(ch * h + y) * w + x];
        // rescale(): float64 product, stored as float32; then astype(uint8) truncates.
        const float f = rescale ? static_cast<float>(static_cast<double>(v) * 255.0) : v;
        o[(y * w + x) * c + ch] = static_cast<uint8_t>(f);
      }
  if (scaled) *scaled = rescale;
  return out;
}

at::Tensor hf_center_crop_hw(const at::Tensor& img, int64_t crop_h, int64_t crop_w) {
  if (!img.defined() || img.dim() < 2) throw_error("center crop: expected an [H,W,...] tensor");
  const int64_t h = img.size(0), w = img.size(1);
  int64_t top = floor_div2(h - crop_h), left = floor_div2(w - crop_w);
  int64_t bottom = top + crop_h, right = left + crop_w;
  if (top >= 0 && bottom <= h && left >= 0 && right <= w)
    return img.narrow(0, top, crop_h).narrow(1, left, crop_w);
  // Smaller than the crop: centred on a zero canvas, then cropped from it.
  const int64_t new_h = std::max(crop_h, h), new_w = std::max(crop_w, w);
  std::vector<int64_t> shape(img.sizes().begin(), img.sizes().end());
  shape[0] = new_h;
  shape[1] = new_w;
  at::Tensor canvas = at::zeros(shape, img.options());
  const int64_t top_pad = (new_h - h + 1) / 2, left_pad = (new_w - w + 1) / 2;
  canvas.narrow(0, top_pad, h).narrow(1, left_pad, w).copy_(img);
  top += top_pad;
  bottom += top_pad;
  left += left_pad;
  right += left_pad;
  const int64_t y0 = std::max<int64_t>(0, top), y1 = std::min(new_h, bottom);
  const int64_t x0 = std::max<int64_t>(0, left), x1 = std::min(new_w, right);
  return canvas.narrow(0, y0, y1 - y0).narrow(1, x0, x1 - x0);
}

}  // namespace editclip
