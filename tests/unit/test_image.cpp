// Image resampling (Pillow-exact), CLIP preprocessing and image files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "engine/core/error.h"
#include "engine/image/clip_image_processor.h"
#include "engine/image/editclip_preprocess.h"
#include "engine/image/image_io.h"
#include "engine/image/pil_resample.h"
#include "engine/io/safetensors_reader.h"
#include "tests/test_support.h"

using namespace editclip;
namespace fs = std::filesystem;

namespace {

using namespace editclip::test;

const fs::path kFixtures = EDITCLIP_TEST_FIXTURES;
const fs::path kData = EDITCLIP_TEST_DATA;

at::Tensor random_u8(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, 256, shape, gen, at::TensorOptions().dtype(at::kByte));
}

at::Tensor u8_row(std::vector<uint8_t> values) {
  return at::tensor(std::vector<int64_t>(values.begin(), values.end()))
      .to(at::kByte)
      .reshape({1, static_cast<int64_t>(values.size()), 1});
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<int64_t> values_of(const at::Tensor& t) {
  const at::Tensor flat = t.to(at::kLong).flatten();
  return std::vector<int64_t>(flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel());
}

}  // namespace

// ---- resampling ---------------------------------------------------------------------------------

TEST(PilResize, SameSizeIsIdentity) {
  const at::Tensor img = random_u8({17, 23, 3}, 1);
  for (PilFilter f : {PilFilter::Nearest, PilFilter::Bilinear, PilFilter::Bicubic,
                      PilFilter::Lanczos, PilFilter::Box, PilFilter::Hamming})
    EXPECT_TRUE(pil_resize(img, 23, 17, f).equal(img)) << pil_filter_name(f);
  const at::Tensor f32 = img.permute({2, 0, 1}).to(at::kFloat) / 255;
  EXPECT_TRUE(pil_resize_float(f32, 23, 17).equal(f32));
}

TEST(PilResize, ConstantImageStaysConstant) {
  const at::Tensor img = at::full({31, 19, 4}, 200, at::TensorOptions().dtype(at::kByte));
  for (PilFilter f : {PilFilter::Nearest, PilFilter::Bilinear, PilFilter::Bicubic,
                      PilFilter::Lanczos, PilFilter::Box, PilFilter::Hamming})
    for (auto [w, h] : {std::pair<int64_t, int64_t>{7, 5}, {40, 70}, {19, 9}, {3, 31}}) {
      const at::Tensor out = pil_resize(img, w, h, f);
      ASSERT_EQ(out.sizes(), (std::vector<int64_t>{h, w, 4}));
      EXPECT_TRUE((out == 200).all().item<bool>()) << pil_filter_name(f) << " " << w << "x" << h;
    }
}

TEST(PilResize, HandComputedBilinearAndNearest) {
  // Upscaling [0, 255] to 4 pixels: centres at 0.25, 0.75, 1.25, 1.75; the edge samples have one
  // tap, the middle ones weights (.75, .25) in 22-bit fixed point with the 1<<21 rounding offset.
  EXPECT_EQ(values_of(pil_resize(u8_row({0, 255}), 4, 1, PilFilter::Bilinear)),
            (std::vector<int64_t>{0, 64, 191, 255}));
  // PIL's affine nearest: positions 0.3, 0.9, 1.5, 2.1, 2.7.
  EXPECT_EQ(values_of(pil_resize(u8_row({10, 20, 30}), 5, 1, PilFilter::Nearest)),
            (std::vector<int64_t>{10, 10, 20, 30, 30}));
}

TEST(PilResize, FloatVersionAgreesWithin8BitRounding) {
  const at::Tensor img = random_u8({37, 29, 3}, 2);
  const at::Tensor f32 = img.permute({2, 0, 1}).to(at::kFloat);
  for (auto [w, h] : {std::pair<int64_t, int64_t>{13, 11}, {29, 80}, {64, 37}, {50, 50}}) {
    const at::Tensor a = pil_resize(img, w, h, PilFilter::Bilinear).permute({2, 0, 1});
    const at::Tensor b = pil_resize_float(f32, w, h, PilFilter::Bilinear);
    ASSERT_EQ(a.sizes(), b.sizes());
    // Bilinear never overshoots, so the only differences are the per-pass uint8 roundings.
    EXPECT_LE((a.to(at::kFloat) - b).abs().max().item<float>(), 1.01f) << w << "x" << h;
  }
}

TEST(PilResize, RejectsBadInput) {
  EXPECT_NE(error_of([] { pil_resize(at::zeros({4, 4, 3}), 2, 2); }), "");
  EXPECT_NE(error_of([] { pil_resize(random_u8({4, 4, 3}, 3), 0, 2); }), "");
  EXPECT_NE(error_of([] { pil_filter_from_code(7); }), "");
}

// Exactness against Pillow 9.4 on the 04_preprocess reference images (odd sizes, down and up).
TEST(PilResize, MatchesPillowOnFixtures) {
  const fs::path dir = kFixtures / "cases" / "04_preprocess";
  if (!fs::exists(dir / "expected.safetensors")) GTEST_SKIP() << "fixtures not present";
  SafetensorsReader inputs((dir / "inputs.safetensors").string());
  SafetensorsReader expected((dir / "expected.safetensors").string());
  int checked = 0;
  for (int i = 0; inputs.contains("src_" + std::to_string(i)); ++i) {
    const std::string name = "eval_resized_u8_" + std::to_string(i);
    if (!expected.contains(name)) continue;
    const at::Tensor want = expected.tensor(name);
    const at::Tensor got =
        pil_resize(inputs.tensor("src_" + std::to_string(i)), want.size(1), want.size(0));
    EXPECT_TRUE(got.equal(want)) << name;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// ---- CLIP processor -----------------------------------------------------------------------------

TEST(ClipProcessor, ConfigFormats) {
  auto legacy = ClipImageProcessorConfig::from_json(
      nlohmann::json::parse(R"({"size": 112, "crop_size": 100, "resample": 2})"));
  EXPECT_EQ(legacy.shortest_edge, 112);
  EXPECT_EQ(legacy.crop_height, 100);
  EXPECT_EQ(legacy.crop_width, 100);
  EXPECT_EQ(legacy.resample, 2);
  EXPECT_TRUE(legacy.do_rescale);
  auto modern = ClipImageProcessorConfig::from_json(nlohmann::json::parse(
      R"({"size": {"shortest_edge": 336}, "crop_size": {"height": 300, "width": 320},
          "image_mean": [0.5, 0.5, 0.5], "do_rescale": false})"));
  EXPECT_EQ(modern.shortest_edge, 336);
  EXPECT_EQ(modern.crop_height, 300);
  EXPECT_EQ(modern.crop_width, 320);
  EXPECT_EQ(modern.image_mean[1], 0.5);
  EXPECT_FALSE(modern.do_rescale);
  auto square = ClipImageProcessorConfig::from_json(
      nlohmann::json::parse(R"({"size": {"height": 64, "width": 48}})"));
  EXPECT_EQ(square.shortest_edge, 0);
  EXPECT_EQ(ClipImageProcessor(square).resize_output_size(100, 300),
            (std::pair<int64_t, int64_t>{64, 48}));
  const std::string err = error_of([] {
    ClipImageProcessorConfig::from_json(nlohmann::json::parse(R"({"size": "big"})"), "cfg.json");
  });
  EXPECT_NE(err.find("cfg.json"), std::string::npos);
  EXPECT_NE(err.find("size"), std::string::npos);
}

// The engine refuses a preprocessor config whose output the vision tower cannot take, naming the
// file (instead of failing later with a shape error inside the model).
TEST(ClipProcessor, OutputMustMatchTheVisionTowerImageSize) {
  auto check = [](const char* text, int64_t image_size) {
    return error_of([&] {
      ClipImageProcessor(
          ClipImageProcessorConfig::from_json(nlohmann::json::parse(text), "pp.json"))
          .check_model_image_size(image_size, "pp.json");
    });
  };
  EXPECT_EQ(check(R"({"size": 112, "crop_size": 112})", 112), "");
  EXPECT_EQ(check(R"({"size": 130, "crop_size": {"height": 112, "width": 112}})", 112), "");
  EXPECT_EQ(check(R"({"do_center_crop": false, "size": {"height": 96, "width": 96}})", 96), "");
  std::string msg = check(R"({"size": 112, "crop_size": 999})", 112);
  EXPECT_TRUE(contains(msg, "pp.json") && contains(msg, "crop_size 999x999") &&
              contains(msg, "image_size 112"))
      << msg;
  msg = check(R"({"do_center_crop": false, "size": 100})", 112);
  EXPECT_TRUE(contains(msg, "pp.json") && contains(msg, "100x100")) << msg;
  msg = check(R"({"do_center_crop": false, "do_resize": false})", 112);
  EXPECT_TRUE(contains(msg, "pp.json") && contains(msg, "own size")) << msg;
  // An image_mean that is not one number per channel is refused while parsing.
  msg = error_of([] {
    ClipImageProcessorConfig::from_json(nlohmann::json::parse(R"({"image_mean": [0.1]})"),
                                        "pp.json");
  });
  EXPECT_TRUE(contains(msg, "pp.json") && contains(msg, "image_mean")) << msg;
}

TEST(ClipProcessor, ShortestEdgeSizeTruncates) {
  const ClipImageProcessor p;
  // int(224 * 301 / 197) = int(342.25...), int(224 * 150 / 97) = int(346.39...)
  EXPECT_EQ(p.resize_output_size(197, 301), (std::pair<int64_t, int64_t>{224, 342}));
  EXPECT_EQ(p.resize_output_size(150, 97), (std::pair<int64_t, int64_t>{346, 224}));
  EXPECT_EQ(p.resize_output_size(50, 50), (std::pair<int64_t, int64_t>{224, 224}));
}

TEST(ClipProcessor, CenterCropPadsSmallImages) {
  // 3x5 -> 4x4: top = floor(-1/2) = -1, one zero row on top (ceil(1/2) padding), columns 0..3.
  const at::Tensor img = at::arange(1, 16, at::kLong).reshape({3, 5});
  const at::Tensor out = hf_center_crop_hw(img, 4, 4);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{4, 4}));
  EXPECT_TRUE(out[0].eq(0).all().item<bool>());
  EXPECT_TRUE(out.narrow(0, 1, 3).equal(img.narrow(1, 0, 4)));
  // Larger image: plain centred window, offsets floor((size - crop) / 2).
  const at::Tensor big = at::arange(0, 7 * 6, at::kLong).reshape({7, 6});
  EXPECT_TRUE(hf_center_crop_hw(big, 4, 3).equal(big.narrow(0, 1, 4).narrow(1, 1, 3)));
}

TEST(ClipProcessor, ToTensorValuesSurviveTruncation) {
  // The eval path is exact because trunc(float32(float64(k/255f) * 255)) == k for every level;
  // the training path's ((2x-1)+1)/2 arithmetic loses a level for some.
  const at::Tensor levels = at::arange(0, 256, at::kLong).to(at::kByte).reshape({16, 16, 1});
  const at::Tensor rgb = levels.expand({16, 16, 3}).contiguous();
  EXPECT_TRUE(ClipImageProcessor::float_to_pil_u8(to_unit_float(rgb)).equal(rgb));
  const at::Tensor train = ClipImageProcessor::float_to_pil_u8(to_train_unit_float(rgb));
  EXPECT_TRUE((train <= rgb).all().item<bool>());
  EXPECT_TRUE((train != rgb).any().item<bool>());
}

TEST(ClipProcessor, FloatPathRejectsOutOfRange) {
  const ClipImageProcessor p;
  at::Tensor img = at::rand({3, 8, 8}) * 2 - 1;
  EXPECT_NE(error_of([&] { p.preprocess_float(img); }).find("[0, 1]"), std::string::npos);
}

// The EditCLIP eval-path pairs and the direct CLIP path against the metrics case (other model
// configs: 112 and 96 crops, upscaling from 64x64).
TEST(ClipProcessor, MatchesReferenceOnMetricsCase) {
  const fs::path dir = kFixtures / "cases" / "10_metrics";
  if (!fs::exists(dir / "expected.safetensors")) GTEST_SKIP() << "fixtures not present";
  SafetensorsReader inputs((dir / "inputs.safetensors").string());
  SafetensorsReader expected((dir / "expected.safetensors").string());
  const ClipImageProcessor editclip(ClipImageProcessorConfig::from_file(
      (kFixtures / "models/editclip_a/clip/preprocessor_config.json").string()));
  const ClipImageProcessor clip(ClipImageProcessorConfig::from_file(
      (kFixtures / "models/clip_a/clip/preprocessor_config.json").string()));
  auto near = [](const at::Tensor& a, const at::Tensor& b) {
    return a.sizes() == b.sizes() && (a - b).abs().max().item<float>() <= 1e-6f;
  };
  const at::Tensor in = inputs.tensor("input_image_0"), ed = inputs.tensor("edited_image_0");
  ASSERT_TRUE(expected.contains("editclip_pixels_ref_pair_sample0"));
  EXPECT_TRUE(near(editclip_pair_pixels(editclip, in, ed, 64, 64),
                   expected.tensor("editclip_pixels_ref_pair_sample0")));
  ASSERT_TRUE(expected.contains("clip_pixels_input_sample0"));
  EXPECT_TRUE(
      near(clip.preprocess_u8(in).unsqueeze(0), expected.tensor("clip_pixels_input_sample0")));
}

// The pipeline case's pixel conversions: EditCLIP pair, VAE input in [-1, 1], output to uint8.
TEST(ClipProcessor, MatchesReferenceOnPipelineCase) {
  const fs::path dir = kFixtures / "cases" / "09_pipeline_exemplar";
  if (!fs::exists(dir / "expected.safetensors")) GTEST_SKIP() << "fixtures not present";
  SafetensorsReader inputs((dir / "inputs.safetensors").string());
  SafetensorsReader expected((dir / "expected.safetensors").string());
  const ClipImageProcessor editclip(ClipImageProcessorConfig::from_file(
      (kFixtures / "models/editclip_a/clip/preprocessor_config.json").string()));
  const at::Tensor pair = editclip_pair_pixels(editclip, inputs.tensor("input_image"),
                                               inputs.tensor("edited_image"), 64, 64);
  EXPECT_LE((pair - expected.tensor("pixel_values_concat")).abs().max().item<float>(), 1e-6f);
  EXPECT_TRUE(
      image_to_tensor_m11(inputs.tensor("query_image")).equal(expected.tensor("query_tensor")));
  EXPECT_TRUE(tensor01_to_u8(expected.tensor("image")).equal(expected.tensor("image_u8")));
}

// ---- image files --------------------------------------------------------------------------------

TEST(ImageIo, PngRoundTripIsExact) {
  TempDir tmp;
  const at::Tensor img = random_u8({13, 21, 3}, 4);
  save_image(tmp.file("a.png"), img);
  const LoadedImage loaded = load_image_rgb(tmp.file("a.png"));
  EXPECT_TRUE(loaded.rgb.equal(img));
  EXPECT_TRUE(loaded.notes.empty());
  save_image(tmp.file("a.JPG"), img);
  EXPECT_EQ(load_image_rgb(tmp.file("a.JPG")).rgb.sizes(), img.sizes());
}

TEST(ImageIo, SixteenBitIsScaledWithRounding) {
  TempDir tmp;
  cv::Mat m(1, 2, CV_16UC3);
  // OpenCV stores BGR: pixel 0 is R=65535, G=32896 (=128*257), B=0; pixel 1 is R=G=B=385.
  m.at<cv::Vec3w>(0, 0) = cv::Vec3w(0, 32896, 65535);
  m.at<cv::Vec3w>(0, 1) = cv::Vec3w(385, 385, 385);  // 385/257 = 1.498 -> 1
  ASSERT_TRUE(cv::imwrite(tmp.file("deep.png"), m));
  const LoadedImage img = load_image_rgb(tmp.file("deep.png"));
  EXPECT_EQ(values_of(img.rgb), (std::vector<int64_t>{255, 128, 0, 1, 1, 1}));
  ASSERT_EQ(img.notes.size(), 1u);
  EXPECT_EQ(img.notes[0], "converted 16-bit to 8-bit");
}

TEST(ImageIo, GrayIsReplicated) {
  TempDir tmp;
  cv::Mat m(2, 1, CV_8UC1);
  m.at<uint8_t>(0, 0) = 7;
  m.at<uint8_t>(1, 0) = 250;
  ASSERT_TRUE(cv::imwrite(tmp.file("gray.png"), m));
  const LoadedImage img = load_image_rgb(tmp.file("gray.png"));
  EXPECT_EQ(values_of(img.rgb), (std::vector<int64_t>{7, 7, 7, 250, 250, 250}));
  ASSERT_EQ(img.notes.size(), 1u);
  EXPECT_NE(img.notes[0].find("grayscale"), std::string::npos);
}

TEST(ImageIo, AlphaIsCompositedOverWhite) {
  TempDir tmp;
  cv::Mat m(1, 3, CV_8UC4);
  m.at<cv::Vec4b>(0, 0) = cv::Vec4b(10, 20, 30, 255);  // BGRA, opaque
  m.at<cv::Vec4b>(0, 1) = cv::Vec4b(10, 20, 30, 0);    // transparent -> white
  m.at<cv::Vec4b>(0, 2) = cv::Vec4b(0, 0, 0, 51);      // 20% black over white: 255 * 0.8 = 204
  ASSERT_TRUE(cv::imwrite(tmp.file("rgba.png"), m));
  const LoadedImage img = load_image_rgb(tmp.file("rgba.png"));
  EXPECT_EQ(values_of(img.rgb), (std::vector<int64_t>{30, 20, 10, 255, 255, 255, 204, 204, 204}));
  ASSERT_EQ(img.notes.size(), 1u);
  EXPECT_NE(img.notes[0].find("composited"), std::string::npos);

  m.at<cv::Vec4b>(0, 1)[3] = 255;
  m.at<cv::Vec4b>(0, 2)[3] = 255;
  ASSERT_TRUE(cv::imwrite(tmp.file("opaque.png"), m));
  const LoadedImage opaque = load_image_rgb(tmp.file("opaque.png"));
  EXPECT_EQ(values_of(opaque.rgb), (std::vector<int64_t>{30, 20, 10, 30, 20, 10, 0, 0, 0}));
  ASSERT_EQ(opaque.notes.size(), 1u);
  EXPECT_NE(opaque.notes[0].find("dropped"), std::string::npos);
}

TEST(ImageIo, Errors) {
  TempDir tmp;
  const std::string missing = tmp.file("nope.png");
  EXPECT_EQ(error_of([&] { load_image_rgb(missing); }), missing + ": no such file");
  const std::string broken = (kData / "broken" / "not_an_image.png").string();
  if (fs::exists(broken))
    EXPECT_EQ(error_of([&] { load_image_rgb(broken); }),
              broken + ": cannot decode image (unsupported or corrupt file)");
  std::ofstream(tmp.file("empty.jpg")).close();
  EXPECT_TRUE(ends_with(error_of([&] { load_image_rgb(tmp.file("empty.jpg")); }),
                        ": cannot decode image (unsupported or corrupt file)"));
  const at::Tensor img = random_u8({4, 4, 3}, 5);
  EXPECT_NE(error_of([&] { save_image(tmp.file("x.gifx"), img); }).find("extension"),
            std::string::npos);
  EXPECT_NE(error_of([&] { save_image(tmp.file("no/such/dir/x.png"), img); }), "");
}

// JPEG flavours real cameras and editors write: the truncation walk must accept them whole and
// refuse them cut.
TEST(ImageIo, ProgressiveAndRestartJpegsAreWholeOrRefused) {
  TempDir tmp;
  cv::Mat img(72, 96, CV_8UC3);
  cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(255));
  const std::vector<std::pair<const char*, std::vector<int>>> kinds = {
      {"progressive.jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1}},
      {"restart.jpg", {cv::IMWRITE_JPEG_RST_INTERVAL, 1}},
      {"optimized.jpg", {cv::IMWRITE_JPEG_OPTIMIZE, 1, cv::IMWRITE_JPEG_QUALITY, 50}}};
  for (const auto& [name, params] : kinds) {
    const std::string path = tmp.file(name);
    ASSERT_TRUE(cv::imwrite(path, img, params)) << name;
    std::string bytes;
    {
      std::ifstream in(path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    EXPECT_EQ(load_image_rgb(path).rgb.size(1), 96) << name;
    for (size_t keep : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 2}) {
      std::ofstream(tmp.file("cut.jpg"), std::ios::binary) << bytes.substr(0, keep);
      const std::string err = error_of([&] { load_image_rgb(tmp.file("cut.jpg")); });
      EXPECT_NE(err.find(tmp.file("cut.jpg") + ": truncated JPEG"), std::string::npos)
          << name << " cut to " << keep << ": " << err;
    }
  }
}

TEST(ImageIo, TensorConversions) {
  const at::Tensor img = random_u8({5, 6, 3}, 6);
  const at::Tensor m11 = image_to_tensor_m11(img);
  ASSERT_EQ(m11.sizes(), (std::vector<int64_t>{1, 3, 5, 6}));
  EXPECT_LE(m11.max().item<float>(), 1.0f);
  EXPECT_GE(m11.min().item<float>(), -1.0f);
  EXPECT_TRUE(tensor01_to_u8(m11 / 2 + 0.5).equal(img));
  EXPECT_TRUE(tensor01_to_u8(at::full({3, 1, 2}, 2.0)).eq(255).all().item<bool>());
}
