// Kind "preprocess": EditCLIP/CLIP pixel preprocessing (PIL-exact resize, CLIPImageProcessor eval,
// training and direct paths) on every `src_<i>` input, plus decoding of the case's PNG copies.
#include <filesystem>

#include "engine/core/error.h"
#include "engine/image/clip_image_processor.h"
#include "engine/image/editclip_preprocess.h"
#include "engine/image/image_io.h"
#include "engine/image/pil_resample.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

namespace fs = std::filesystem;

// Authors' resize target (R x R): params.resolution, else the shape of the expected tensor.
std::pair<int64_t, int64_t> eval_size(const ParityCase& c, int i) {
  const auto& p = c.params();
  if (p.contains("resolution") && p["resolution"].is_number_integer()) {
    const int64_t r = p["resolution"].get<int64_t>();
    return {r, r};
  }
  for (const char* prefix : {"eval_resized_u8_", "train_uint8_after_truncation_"}) {
    const std::string name = prefix + std::to_string(i);
    if (c.has_expected(name)) {
      const auto e = c.expected(name);
      return {e.size(1), e.size(0)};
    }
  }
  throw_error(c.name(), ": params has no 'resolution'");
}

void check_preprocess(ParityCase& c) {
  const fs::path config_path = c.dir() / "preprocessor" / "preprocessor_config.json";
  if (!fs::exists(config_path)) {
    c.fail(concat(config_path.string(), ": missing"));
    return;
  }
  const ClipImageProcessor processor(ClipImageProcessorConfig::from_file(config_path.string()));

  std::vector<int> indices;
  for (int i : indexed_names(c, "src_"))
    if (c.has_input("src_" + std::to_string(i))) indices.push_back(i);
  if (indices.empty()) c.fail("no src_<i> inputs");

  for (int i : indices) {
    const std::string s = std::to_string(i);
    auto want = [&](const std::string& name) { return c.has_expected(name + s); };
    const at::Tensor src = c.input("src_" + s);

    // The PNG copy must decode to the same pixels, with no conversion (builds without image
    // codecs skip this file check; the tensors below are still compared).
    const fs::path png = c.dir() / "images" / ("src_" + s + ".png");
    if (fs::exists(png) && image_codecs_available()) {
      const LoadedImage loaded = load_image_rgb(png.string());
      if (!loaded.notes.empty())
        c.fail(concat(png.string(), ": unexpected conversion: ", loaded.notes.front()));
      if (loaded.rgb.sizes() != src.sizes() || !loaded.rgb.equal(src))
        c.fail(concat(png.string(), ": decoded pixels differ from src_", s));
    }

    // Eval path: PIL resize to R x R, ToTensor, processor(do_rescale=False).
    const auto [rw, rh] = eval_size(c, i);
    const at::Tensor resized = authors_resize(src, rw, rh);
    if (want("eval_resized_u8_")) c.check("eval_resized_u8_" + s, resized);
    const at::Tensor unit = to_unit_float(resized);
    if (want("eval_clip_resized_u8_"))
      c.check("eval_clip_resized_u8_" + s,
              processor.resize_crop_u8(ClipImageProcessor::float_to_pil_u8(unit)));
    if (want("eval_pixel_values_"))
      c.check("eval_pixel_values_" + s, processor.preprocess_float(unit));

    // Training path: ((2 * (u8 / 255) - 1) + 1) / 2, truncated to uint8 inside the processor.
    if (want("train_uint8_after_truncation_") || want("train_pixel_values_")) {
      const at::Tensor train = to_train_unit_float(resized);
      if (want("train_uint8_after_truncation_"))
        c.check("train_uint8_after_truncation_" + s, ClipImageProcessor::float_to_pil_u8(train));
      if (want("train_pixel_values_"))
        c.check("train_pixel_values_" + s, processor.preprocess_float(train));
    }

    // Direct path: processor(images=PIL source), do_rescale=True.
    if (want("direct_clip_resized_u8_"))
      c.check("direct_clip_resized_u8_" + s, processor.resize_crop_u8(src));
    if (want("direct_pixel_values_"))
      c.check("direct_pixel_values_" + s, processor.preprocess_u8(src));
  }
}

}  // namespace

EDITCLIP_PARITY_KIND("preprocess", check_preprocess);

}  // namespace editclip::parity
