// Kind "pipeline_exemplar": the authors' exemplar editor end to end, every intermediate checked.
#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/image/editclip_preprocess.h"
#include "engine/image/image_io.h"
#include "engine/pipelines/exemplar_editor.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

void check_pipeline_exemplar(ParityCase& c) {
  const auto& p = c.params();
  // The intermediates are checked on a float64 run: the case's tolerances are those of the
  // reference's own float64 re-run, because 3-way guidance and the first Euler step (dt ~
  // -sigma_max) amplify last-ulp float32 differences ~50x, and float32 rounding depends on which
  // BLAS/oneDNN kernels the CPU gets (AVX2 vs AVX-512). The production float32 path is checked on
  // the final image below.
  WeightOptions f64;
  f64.dtype = at::kDouble;
  auto encoder = EditEncoder::load(c.model_dir("clip").string(), f64);
  auto editor = ExemplarEditor::load(c.model_dir("ip2p").string(),
                                     encoder->model().config().vision.hidden_size, f64);
  auto encoder32 = EditEncoder::load(c.model_dir("clip").string());
  auto editor32 = ExemplarEditor::load(c.model_dir("ip2p").string(),
                                       encoder->model().config().vision.hidden_size);
  at::Tensor input = c.input("input_image"), edited = c.input("edited_image"),
             query = c.input("query_image");
  int64_t w = query.size(1), h = query.size(0);
  if (p.contains("resize_wh")) {
    w = p["resize_wh"][0].get<int64_t>();
    h = p["resize_wh"][1].get<int64_t>();
  }
  // The authors resize all three images to the working size before anything else.
  input = authors_resize(input, w, h);
  edited = authors_resize(edited, w, h);
  query = authors_resize(query, w, h);

  std::map<std::string, at::Tensor> produced;
  TraceFn collect = [&](const std::string& name, const at::Tensor& t) {
    produced[name] = t.detach().clone().cpu();
  };
  at::Tensor pixels = encoder->pair_pixels(input, edited, w, h);
  produced["pixel_values_input"] = pixels.slice(1, 0, 3);
  produced["pixel_values_edited"] = pixels.slice(1, 3, 6);
  produced["pixel_values_concat"] = pixels;
  EditEncoding embedding = encoder->encode_pixels(pixels);
  produced["vision_last_hidden_state"] = embedding.last_hidden_state;

  EditParams params;
  params.steps = p.value("num_inference_steps", 50);
  params.seed = p.value("seed", 0);
  params.guidance = p.value("guidance_scale", 7.0);
  params.image_guidance = p.value("image_guidance_scale", 1.5);
  editor->edit(embedding, query, params, {}, collect);
  std::map<std::string, at::Tensor> produced32;
  editor32->edit(encoder32->encode_pixels(pixels), query, params, {},
                 [&](const std::string& name, const at::Tensor& t) {
                   if (name == "image" || name == "image_u8")
                     produced32[name] = t.detach().clone().cpu();
                 });

  // Every generator draw after the initial noise, replayed from the same seed.
  at::Generator gen = make_cpu_generator(params.seed);
  at::Tensor initial = at::randn(produced["initial_noise"].sizes(), gen);
  for (int j : indexed_names(c, "step_noise_")) {
    (void)j;
    produced["step_noise_" + std::to_string(j)] = at::randn(initial.sizes(), gen);
  }
  c.check_all(produced);
  c.check_all(produced32);

  // The PNG the reference saved is the same image.
  auto png = c.dir() / "images" / "output_image.png";
  if (std::filesystem::exists(png) && produced.count("image_u8") && image_codecs_available()) {
    at::Tensor ref = load_image_rgb(png.string()).rgb.to(at::kInt);
    int64_t diff = (ref - produced["image_u8"].to(at::kInt)).abs().max().item<int64_t>();
    if (diff > 1) c.fail(concat("image_u8 differs from images/output_image.png by ", diff));
  }
}

}  // namespace

EDITCLIP_PARITY_KIND("pipeline_exemplar", check_pipeline_exemplar);

}  // namespace editclip::parity
