// End-to-end tests of the `editclip` binary: results against the reference fixtures, and one
// clear, non-zero-exit error (or a conversion note) for each kind of bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/editclip.h"
#include "engine/io/safetensors_reader.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = EDITCLIP_TEST_FIXTURES;
const fs::path kData = EDITCLIP_TEST_DATA;
const fs::path kEditClip = kFixtures / "models/editclip_a/clip";
const fs::path kClip = kFixtures / "models/clip_a/clip";
const fs::path kIp2p = kFixtures / "models/ip2p_a";
const fs::path kCase = kFixtures / "cases/09_pipeline_exemplar";

using CliRun = editclip::test::CommandResult;  // output: stdout + stderr

CliRun run(const std::string& args) {
  return editclip::test::run_command(std::string(EDITCLIP_CLI) + " " + args + " 2>&1");
}

std::string q(const fs::path& p) {
  return editclip::test::shell_quoted(p);
}

// Largest per-channel difference between two image files of the same size.
double max_abs_diff(const fs::path& a, const fs::path& b) {
  cv::Mat got = cv::imread(a.string()), want = cv::imread(b.string());
  EXPECT_FALSE(got.empty()) << a;
  EXPECT_EQ(got.size(), want.size()) << a;
  if (got.empty() || got.size() != want.size()) return 1e9;
  cv::Mat diff;
  cv::absdiff(got, want, diff);
  double max_diff = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  return max_diff;
}

using editclip::test::TempDir;

// A copy of a model folder whose files are symlinks, so single files can be swapped cheaply.
fs::path link_copy(const fs::path& src, const fs::path& dst) {
  fs::create_directories(dst);
  for (auto& e : fs::directory_iterator(src)) {
    if (e.is_directory())
      link_copy(e.path(), dst / e.path().filename());
    else
      fs::create_symlink(e.path(), dst / e.path().filename());
  }
  return dst;
}

std::string apply_args(const fs::path& clip, const fs::path& pipeline, const fs::path& out,
                       const std::string& extra = "") {
  nlohmann::json spec = nlohmann::json::parse(std::ifstream(kCase / "case.json"));
  const auto& p = spec["params"];
  return "apply --quiet --clip " + q(clip) + " --pipeline " + q(pipeline) + " --before " +
         q(kCase / "images/input_image.png") + " --after " + q(kCase / "images/edited_image.png") +
         " --query " + q(kCase / "images/query_image.png") + " --out " + q(out) + " --steps " +
         std::to_string(p["num_inference_steps"].get<int>()) + " --seed " +
         std::to_string(p["seed"].get<int>()) + " --guidance " +
         std::to_string(p["guidance_scale"].get<double>()) + " --image-guidance " +
         std::to_string(p["image_guidance_scale"].get<double>()) + " --size " +
         std::to_string(p["resize_wh"][0].get<int>()) + " --device cpu " + extra;
}

}  // namespace

TEST(Cli, ApplyReproducesTheAuthorsPipelineImage) {
  TempDir tmp;
  CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "out.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_LE(max_abs_diff(tmp / "out.png", kCase / "images/output_image.png"), 1.0)
      << "output differs from the reference image";
}

TEST(Cli, EmbedWritesTheEncoderOutput) {
  TempDir tmp;
  CliRun r =
      run("embed --quiet --clip " + q(kEditClip) + " --before " +
          q(kCase / "images/input_image.png") + " --after " + q(kCase / "images/edited_image.png") +
          " --size 64 --out " + q(tmp / "e.safetensors"));
  ASSERT_EQ(r.status, 0) << r.output;
  editclip::SafetensorsReader got((tmp / "e.safetensors").string());
  editclip::SafetensorsReader want((kCase / "expected.safetensors").string());
  at::Tensor a = got.tensor("last_hidden_state"), b = want.tensor("vision_last_hidden_state");
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-4);
  EXPECT_EQ(got.tensor("image_embeds").size(1), 48);
}

TEST(Cli, ApplyFromSavedEmbeddingMatchesPair) {
  TempDir tmp;
  ASSERT_EQ(
      run("embed --quiet --clip " + q(kEditClip) + " --before " +
          q(kCase / "images/input_image.png") + " --after " + q(kCase / "images/edited_image.png") +
          " --size 64 --out " + q(tmp / "e.safetensors"))
          .status,
      0);
  CliRun r = run("apply --quiet --pipeline " + q(kIp2p) + " --embedding " +
                 q(tmp / "e.safetensors") + " --query " + q(kCase / "images/query_image.png") +
                 " --out " + q(tmp / "o.png") + " --steps 4 --size 64 --seed 0 --device cpu");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_LE(max_abs_diff(tmp / "o.png", kCase / "images/output_image.png"), 1.0);
}

TEST(Cli, ScorePrintsEveryMetricAsJson) {
  CliRun r = run(
      "score --json --clip " + q(kEditClip) + " --clip-baseline " + q(kClip) + " --lpips " +
      q(kFixtures / "models/lpips_a") + " --before " + q(kCase / "images/input_image.png") +
      " --after " + q(kCase / "images/edited_image.png") + " --query " +
      q(kCase / "images/query_image.png") + " --output " + q(kCase / "images/output_image.png") +
      " --instruction 'make it winter' --caption-query 'a house' --caption-output 'a "
      "house in winter' --device cpu");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  for (const char* m : {"EC2T", "EC2EC", "CLIP_score", "CLIP_directional",
                        "CLIP_directional_instruction", "VISII_directional"}) {
    ASSERT_TRUE(j.contains(m)) << m << "\n" << r.output;
    EXPECT_GE(j[m].get<double>(), -1.0);
    EXPECT_LE(j[m].get<double>(), 1.0);
  }
  ASSERT_TRUE(j.contains("LPIPS"));
  EXPECT_GE(j["LPIPS"].get<double>(), 0.0);
}

TEST(Cli, InspectReportsCompleteFolders) {
  for (const auto& dir : {kEditClip, kClip, kIp2p}) {
    CliRun r = run("inspect " + q(dir));
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("complete"), std::string::npos) << r.output;
  }
  CliRun r = run("inspect --json " + q(kIp2p));
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["components"].size(), 4u);
}

TEST(Cli, InspectListsMissingAndUnexpectedTensors) {
  TempDir tmp;
  fs::path dir = link_copy(kIp2p, tmp / "ip2p");
  // A UNet checkpoint that is really the VAE's: everything missing, everything unexpected.
  fs::remove(dir / "unet/diffusion_pytorch_model.safetensors");
  fs::create_symlink(kIp2p / "vae/diffusion_pytorch_model.safetensors",
                     dir / "unet/diffusion_pytorch_model.safetensors");
  CliRun r = run("inspect " + q(dir));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("missing: conv_in.weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unexpected: encoder.conv_in.weight"), std::string::npos) << r.output;
}

// ---- bad input: one line, naming the file or argument, non-zero exit ---------------------------

TEST(CliBadInput, MissingFile) {
  TempDir tmp;
  CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --query /nonexistent/q.png");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/nonexistent/q.png"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("no such file"), std::string::npos) << r.output;
}

TEST(CliBadInput, TruncatedSafetensors) {
  TempDir tmp;
  fs::path clip = link_copy(kEditClip, tmp / "clip");
  fs::remove(clip / "model.safetensors");
  fs::copy_file(kData / "broken/truncated.safetensors", clip / "model.safetensors");
  CliRun r = run(apply_args(clip, kIp2p, tmp / "o.png"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find((clip / "model.safetensors").string()), std::string::npos) << r.output;
}

TEST(CliBadInput, CorruptSafetensorsHeader) {
  TempDir tmp;
  fs::path clip = link_copy(kEditClip, tmp / "clip");
  fs::remove(clip / "model.safetensors");
  fs::copy_file(kData / "broken/bad_header_len.safetensors", clip / "model.safetensors");
  CliRun r = run(apply_args(clip, kIp2p, tmp / "o.png"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("model.safetensors"), std::string::npos) << r.output;
}

TEST(CliBadInput, ThreeChannelClipGivenAsEditClip) {
  TempDir tmp;
  CliRun r = run(apply_args(kClip, kIp2p, tmp / "o.png"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("6"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("EditCLIP"), std::string::npos) << r.output;
}

TEST(CliBadInput, FourChannelUNetGivenAsEditor) {
  TempDir tmp;
  fs::path dir = link_copy(kIp2p, tmp / "ip2p");
  nlohmann::json config = nlohmann::json::parse(std::ifstream(kIp2p / "unet/config.json"));
  config["in_channels"] = 4;
  fs::remove(dir / "unet/config.json");
  std::ofstream(dir / "unet/config.json") << config.dump(2);
  CliRun r = run(apply_args(kEditClip, dir, tmp / "o.png"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("8-channel"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;
}

TEST(CliBadInput, UndecodableImage) {
  TempDir tmp;
  CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --before " +
                 q(kData / "broken/not_an_image.png"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("not_an_image.png"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("decode"), std::string::npos) << r.output;
}

TEST(CliBadInput, GrayAlphaAnd16BitImagesAreConverted) {
  TempDir tmp;
  cv::Mat rgb = cv::imread((kCase / "images/query_image.png").string(), cv::IMREAD_COLOR);
  cv::Mat gray, bgra, deep;
  cv::cvtColor(rgb, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(rgb, bgra, cv::COLOR_BGR2BGRA);
  rgb.convertTo(deep, CV_16UC3, 257.0);
  cv::imwrite((tmp / "gray.png").string(), gray);
  cv::imwrite((tmp / "alpha.png").string(), bgra);
  cv::imwrite((tmp / "deep.png").string(), deep);
  for (const char* name : {"gray.png", "alpha.png", "deep.png"}) {
    CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --query " + q(tmp / name) +
                   " --steps 1");
    EXPECT_EQ(r.status, 0) << name << ": " << r.output;
    EXPECT_NE(r.output.find("note:"), std::string::npos) << name << ": " << r.output;
    EXPECT_TRUE(fs::exists(tmp / "o.png"));
    fs::remove(tmp / "o.png");
  }
  // 16-bit converts exactly back to the 8-bit pixels.
  ASSERT_EQ(
      run(apply_args(kEditClip, kIp2p, tmp / "a.png") + " --query " + q(tmp / "deep.png")).status,
      0);
  EXPECT_LE(max_abs_diff(tmp / "a.png", kCase / "images/output_image.png"), 1.0);
}

TEST(CliBadInput, SizeIsRoundedToMultipleOf8) {
  TempDir tmp;
  CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --size 60 --steps 1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("rounded to 64"), std::string::npos) << r.output;
  cv::Mat got = cv::imread((tmp / "o.png").string());
  EXPECT_EQ(got.cols, 64);
  EXPECT_EQ(got.rows, 64);
}

TEST(CliBadInput, BadNumbersAndUnknownOptions) {
  TempDir tmp;
  CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --steps many");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--steps"), std::string::npos) << r.output;
  r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --stepz 3");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--stepz"), std::string::npos) << r.output;
  r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --device tpu");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--device"), std::string::npos) << r.output;
}

TEST(Cli, HalfPrecisionWeightsGiveNearlyTheSameImage) {
  cv::Mat want = cv::imread((kCase / "images/output_image.png").string());
  for (const char* precision : {"fp16", "bf16"}) {
    TempDir tmp;
    CliRun r =
        run(apply_args(kEditClip, kIp2p, tmp / "o.png", std::string("--precision ") + precision));
    ASSERT_EQ(r.status, 0) << precision << ": " << r.output;
    cv::Mat got = cv::imread((tmp / "o.png").string());
    cv::Mat diff;
    cv::absdiff(got, want, diff);
    const double mean = cv::mean(diff.reshape(1))[0];
    // Weights rounded to 11 (fp16) or 8 (bf16) mantissa bits move the random-weight edit by a
    // few levels on average, not more.
    EXPECT_LT(mean, precision == std::string("fp16") ? 1.0 : 4.0) << precision;
    // ... and they really were rounded: the image is not the fp32 one.
    if (precision == std::string("bf16")) EXPECT_GT(mean, 0.0);
  }
}

// ---- full resolution, settings and presets ------------------------------------------------------

namespace {

// The CLI reads the user's settings file and EDITCLIP_* variables; no test may depend on the
// developer's own (a configured fp16 would change every image). Set before any test runs.
const bool kIsolatedFromUserSettings = [] {
  setenv("EDITCLIP_SETTINGS", "/nonexistent/editclip-cli-tests/settings.json", 1);
  for (const char* v :
       {"EDITCLIP_CLIP_DIR", "EDITCLIP_EDITOR_DIR", "EDITCLIP_CLIP_BASELINE_DIR",
        "EDITCLIP_LPIPS_DIR", "EDITCLIP_DEVICE", "EDITCLIP_PRECISION", "EDITCLIP_THREADS"})
    unsetenv(v);
  return true;
}();

using editclip::test::ScopedEnv;

// apply_args without the model folders, for runs that take them from the settings.
std::string apply_args_from_settings(const fs::path& out, const std::string& extra = "") {
  std::string a = apply_args(kEditClip, kIp2p, out, extra);
  for (const std::string opt : {"--clip " + q(kEditClip) + " ", "--pipeline " + q(kIp2p) + " "})
    a.erase(a.find(opt), opt.size());
  return a;
}

cv::Size image_size(const fs::path& p) {
  return cv::imread(p.string()).size();
}

}  // namespace

TEST(CliFullResolution, ApplyWritesTheQuerysSize) {
  ASSERT_TRUE(kIsolatedFromUserSettings);
  TempDir tmp;
  cv::Mat src = cv::imread((kCase / "images/query_image.png").string()), wide;
  cv::resize(src, wide, cv::Size(120, 72), 0, 0, cv::INTER_CUBIC);
  cv::imwrite((tmp / "wide.png").string(), wide);
  const std::string base = "--query " + q(tmp / "wide.png") + " --steps 2";
  for (const char* mode : {"", "guided", "plain"}) {
    const std::string opt = *mode ? std::string(" --upscale ") + mode : "";
    CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png", base + opt));
    ASSERT_EQ(r.status, 0) << mode << ": " << r.output;
    EXPECT_EQ(image_size(tmp / "o.png"), cv::Size(120, 72)) << mode;
    EXPECT_NE(r.output.find("120x72"), std::string::npos) << r.output;
    fs::remove(tmp / "o.png");
  }
  // none: the processing size, about 64*64 pixels with the aspect kept.
  CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png", base + " --upscale none"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(image_size(tmp / "o.png"), cv::Size(80, 48));
  r = run(apply_args(kEditClip, kIp2p, tmp / "o.png", base + " --upscale bicubic"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--upscale"), std::string::npos) << r.output;
}

TEST(CliSettings, ConfigSetAndCheck) {
  TempDir tmp;
  ScopedEnv settings("EDITCLIP_SETTINGS", tmp.file("conf/settings.json"));
  CliRun r = run("config --check");
  EXPECT_EQ(r.status, 1) << r.output;
  for (const char* part : {"QWW/EditCLIP-IP2P", "timbrooks/instruct-pix2pix", "editclip inspect",
                           "conf/settings.json"})
    EXPECT_NE(r.output.find(part), std::string::npos) << part << "\n" << r.output;

  r = run("config --set editclip_dir=" + q(kEditClip) + " --set editor_dir=" + q(kIp2p) +
          " --set device=cpu");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(std::ifstream(tmp / "conf/settings.json"));
  EXPECT_EQ(j["editclip_dir"], kEditClip.string());
  EXPECT_EQ(j["editor_dir"], kIp2p.string());
  EXPECT_EQ(j["device"], "cpu");
  r = run("config --check");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("ok", 0), 0u) << r.output;

  {
    ScopedEnv lpips("EDITCLIP_LPIPS_DIR", "/env/lpips");
    r = run("config");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(tmp.file("conf/settings.json")), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(kIp2p.string()), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("/env/lpips   (from environment variable EDITCLIP_LPIPS_DIR)"),
              std::string::npos)
        << r.output;
    // --set writes only the file, never the environment's values.
    ASSERT_EQ(run("config --set threads=2").status, 0);
    j = nlohmann::json::parse(std::ifstream(tmp / "conf/settings.json"));
    EXPECT_EQ(j["lpips_dir"], "");
    EXPECT_EQ(j["threads"], 2);
  }
  r = run("config --set clip=/x");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("editclip_dir"), std::string::npos) << r.output;
  r = run("config --set device=tpu");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("tpu"), std::string::npos) << r.output;
  std::ofstream(tmp / "conf/settings.json") << "{ broken";
  r = run("config");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("conf/settings.json"), std::string::npos) << r.output;
}

TEST(CliSettings, ApplyTakesTheModelFoldersFromTheSettings) {
  TempDir tmp;
  ScopedEnv settings("EDITCLIP_SETTINGS", tmp.file("settings.json"));
  // Nothing configured: the first-run explanation, and a non-zero exit.
  CliRun r = run(apply_args_from_settings(tmp / "o.png"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("QWW/EditCLIP-IP2P"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--pipeline"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "o.png"));

  ASSERT_EQ(
      run("config --set editclip_dir=" + q(kEditClip) + " --set editor_dir=" + q(kIp2p)).status, 0);
  r = run(apply_args_from_settings(tmp / "o.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_LE(max_abs_diff(tmp / "o.png", kCase / "images/output_image.png"), 1.0);

  // The environment overrides the file; an explicit option overrides both.
  {
    ScopedEnv editor("EDITCLIP_EDITOR_DIR", "/nonexistent/editor");
    r = run(apply_args_from_settings(tmp / "o.png"));
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.output.find("/nonexistent/editor"), std::string::npos) << r.output;
    r = run(apply_args_from_settings(tmp / "o.png", "--pipeline " + q(kIp2p)));
    EXPECT_EQ(r.status, 0) << r.output;
  }
  // A broken settings file does not block a command that names every folder itself.
  std::ofstream(tmp / "settings.json") << "{ broken";
  r = run(apply_args(kEditClip, kIp2p, tmp / "o.png", "--steps 1"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("settings not used"), std::string::npos) << r.output;
  r = run(apply_args_from_settings(tmp / "o.png"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("settings.json"), std::string::npos) << r.output;
}

TEST(CliPresets, EmbedWritesAPresetThatApplyUses) {
  TempDir tmp;
  CliRun r =
      run("embed --quiet --clip " + q(kEditClip) + " --before " +
          q(kCase / "images/input_image.png") + " --after " + q(kCase / "images/edited_image.png") +
          " --size 64 --preset-out " + q(tmp / "winter.safetensors") + " --name 'Winter look'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "e.safetensors"));
  editclip::EditPreset p = editclip::load_preset((tmp / "winter.safetensors").string());
  EXPECT_EQ(p.name, "Winter look");
  ASSERT_EQ(p.thumbnails.size(), 1u);
  EXPECT_EQ(p.thumbnails[0].first.width, 64);  // small images are never enlarged

  const std::string apply = "apply --quiet --pipeline " + q(kIp2p) + " --query " +
                            q(kCase / "images/query_image.png") +
                            " --steps 4 --size 64 --seed 0 --device cpu";
  r = run(apply + " --preset " + q(tmp / "winter.safetensors") + " --out " + q(tmp / "o.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_LE(max_abs_diff(tmp / "o.png", kCase / "images/output_image.png"), 1.0);
  // Several presets are averaged (the same one twice: the same edit).
  r = run(apply + " --preset " + q(tmp / "winter.safetensors") + " --preset " +
          q(tmp / "winter.safetensors") + " --out " + q(tmp / "o2.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_LE(max_abs_diff(tmp / "o2.png", tmp / "o.png"), 1.0);
  // One edit source only.
  r = run(apply + " --preset " + q(tmp / "winter.safetensors") + " --before " +
          q(kCase / "images/input_image.png") + " --after " + q(kCase / "images/edited_image.png") +
          " --out " + q(tmp / "o3.png"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("exactly one"), std::string::npos) << r.output;
  r = run(apply + " --preset " + q(kData / "broken/truncated.safetensors") + " --out " +
          q(tmp / "o3.png"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("truncated.safetensors"), std::string::npos) << r.output;
}

// ---- review fixes: fail fast on outputs, notes as they happen, stricter inputs -----------------

namespace {

// Lines of `text`, without empty ones.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1)) ++n;
  return n;
}

std::string read_file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A CLIP folder copy without its tokenizer files.
fs::path without_tokenizer(const fs::path& clip, const fs::path& dst) {
  link_copy(clip, dst);
  for (const char* f : {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                        "special_tokens_map.json"})
    fs::remove(dst / f);
  return dst;
}

const std::string kNoEditor = " --pipeline /nonexistent/editor-folder";

}  // namespace

TEST(CliOutputs, UnwritableOutputFailsBeforeAnyModelLoads) {
  TempDir tmp;
  // The editor folder does not exist either: the --out error proves nothing was loaded first.
  for (const std::string& out : {std::string("/nonexistent/r.png"), tmp.file("r.xyz")}) {
    CliRun r = run(apply_args(kEditClip, kIp2p, out) + kNoEditor);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("--out " + out + ": "), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("editor-folder"), std::string::npos) << r.output;
    EXPECT_EQ(lines_of(r.output).size(), 1u) << r.output;
  }
  CliRun r = run(apply_args(kEditClip, kIp2p, "/nonexistent/r.png") + kNoEditor);
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;

  const std::string pair = " --before " + q(kCase / "images/input_image.png") + " --after " +
                           q(kCase / "images/edited_image.png");
  r = run("embed --clip /nonexistent/clip-folder" + pair + " --out /nonexistent/e.safetensors");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--out /nonexistent/e.safetensors: "), std::string::npos) << r.output;
  r = run("embed --clip /nonexistent/clip-folder" + pair +
          " --preset-out /nonexistent/p.safetensors");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--preset-out /nonexistent/p.safetensors: "), std::string::npos)
      << r.output;
  r = run("convert /nonexistent/in.safetensors /nonexistent/out.safetensors");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("OUT /nonexistent/out.safetensors: "), std::string::npos) << r.output;
}

TEST(CliOutputs, NotesNameTheImageAndArePrintedOnceAsTheyHappen) {
  TempDir tmp;
  cv::Mat rgb = cv::imread((kCase / "images/query_image.png").string(), cv::IMREAD_COLOR), gray;
  cv::cvtColor(rgb, gray, cv::COLOR_BGR2GRAY);
  cv::imwrite((tmp / "gray.png").string(), gray);
  const std::string note = "note: --query " + tmp.file("gray.png") + ": converted grayscale to RGB";
  // A run that fails later (no editor) still shows the notes made before.
  CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --query " + q(tmp / "gray.png") +
                 " --size 60" + kNoEditor);
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(count_of(r.output, note), 1u) << r.output;
  EXPECT_EQ(count_of(r.output, "rounded to 64"), 1u) << r.output;
  // A run that succeeds says each once too.
  r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --query " + q(tmp / "gray.png") +
          " --steps 1 --size 60");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(count_of(r.output, note), 1u) << r.output;
  EXPECT_EQ(count_of(r.output, "rounded to 64"), 1u) << r.output;
  // The processing resize of a non-square query is noted once, naming it.
  cv::Mat wide;
  cv::resize(rgb, wide, cv::Size(120, 72), 0, 0, cv::INTER_AREA);
  cv::imwrite((tmp / "wide.png").string(), wide);
  r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --query " + q(tmp / "wide.png") +
          " --steps 1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(
      count_of(r.output, "--query " + tmp.file("wide.png") + ": resized from 120x72 to 80x48"), 1u)
      << r.output;
}

TEST(CliBadInput, TruncatedImagesAreRefusedInOneLine) {
  TempDir tmp;
  cv::Mat rgb = cv::imread((kCase / "images/query_image.png").string(), cv::IMREAD_COLOR);
  cv::imwrite((tmp / "whole.jpg").string(), rgb);
  cv::imwrite((tmp / "whole.png").string(), rgb);
  for (const char* ext : {"jpg", "png"}) {
    const std::string bytes = read_file_bytes(tmp / (std::string("whole.") + ext));
    const fs::path cut = tmp / (std::string("half.") + ext);
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    for (const char* role : {"query", "before"}) {
      CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " --" + role + " " + q(cut));
      EXPECT_EQ(r.status, 1) << r.output;
      const auto lines = lines_of(r.output);
      ASSERT_EQ(lines.size(), 1u) << "one line only (no libpng/libjpeg chatter): " << r.output;
      EXPECT_NE(lines[0].find(cut.string() + ": truncated " +
                              (ext == std::string("jpg") ? "JPEG" : "PNG")),
                std::string::npos)
          << r.output;
      EXPECT_NE(lines[0].find("re-export or re-download"), std::string::npos) << r.output;
      EXPECT_FALSE(fs::exists(tmp / "o.png"));
    }
  }
}

TEST(CliBadInput, NonPositiveSizesNonFiniteFloatsAndZeroStepsAreRefused) {
  TempDir tmp;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--size 0", "--size 0"},
      {"--size -64", "--size -64"},
      {"--guidance nan", "--guidance 'nan'"},
      {"--guidance inf", "--guidance 'inf'"},
      {"--image-guidance -inf", "--image-guidance '-inf'"},
      {"--image-guidance NaN", "--image-guidance 'NaN'"},
      {"--steps 0", "--steps 0"},
      {"--steps -3", "--steps -3"}};
  for (const auto& [args, named] : bad) {
    CliRun r = run(apply_args(kEditClip, kIp2p, tmp / "o.png") + " " + args + kNoEditor);
    EXPECT_EQ(r.status, 1) << args << ": " << r.output;
    EXPECT_NE(r.output.find(named), std::string::npos) << args << ": " << r.output;
    EXPECT_EQ(r.output.find("rounded"), std::string::npos) << args << ": " << r.output;
  }
  CliRun r = run("embed --clip /nonexistent/clip --before a.png --after b.png --size 0 --out " +
                 q(tmp / "e.safetensors"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--size 0"), std::string::npos) << r.output;
}

TEST(CliBadInput, EmbeddingOfTheWrongWidthNamesItsFile) {
  TempDir tmp;
  const fs::path e = tmp / "narrow.safetensors";
  editclip::write_safetensors(e.string(), {{"last_hidden_state", at::zeros({1, 5, 7})},
                                           {"image_embeds", at::zeros({1, 3})}});
  CliRun r = run("apply --quiet --pipeline " + q(kIp2p) + " --embedding " + q(e) + " --query " +
                 q(kCase / "images/query_image.png") + " --out " + q(tmp / "o.png") +
                 " --steps 1 --size 64 --device cpu");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(e.string() + ": edit embedding has width 7"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(tmp / "o.png"));
}

TEST(CliScore, MissingTokenizerAndUnusedCaptionsAreExplained) {
  TempDir tmp;
  const fs::path clip = without_tokenizer(kEditClip, tmp / "clip");
  const std::string judged = " --query " + q(kCase / "images/query_image.png") + " --output " +
                             q(kCase / "images/output_image.png") + " --device cpu";
  // Only EC2T was asked for: the error says the tokenizer files are missing and what to do.
  CliRun r = run("score --quiet --clip " + q(clip) + judged + " --instruction 'make it winter'");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("tokenizer files"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(clip.string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("QWW/EditCLIP"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("no metric could be computed"), std::string::npos) << r.output;
  // With the pair too, EC2EC is computed and the missing EC2T is a note.
  r = run("score --quiet --json --clip " + q(clip) + judged + " --instruction 'make it winter'" +
          " --before " + q(kCase / "images/input_image.png") + " --after " +
          q(kCase / "images/edited_image.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("note: EC2T (--instruction) needs the tokenizer files"),
            std::string::npos)
      << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_TRUE(j.contains("EC2EC"));
  EXPECT_FALSE(j.contains("EC2T"));

  // Captions without a baseline CLIP are not silently dropped.
  r = run("score --quiet --clip " + q(kEditClip) + judged +
          " --instruction 'make it winter' --caption-output 'a house in winter'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("note: --caption-output is used only by the CLIP baseline metrics"),
            std::string::npos)
      << r.output;
}

TEST(CliScore, ReportsProgressOnStderr) {
  TempDir tmp;
  const std::string args = "score --clip " + q(kEditClip) + " --query " +
                           q(kCase / "images/query_image.png") + " --output " +
                           q(kCase / "images/output_image.png") +
                           " --instruction 'make it winter' --device cpu";
  // stdout into a file; `output` is stderr alone.
  auto run_stderr = [&](const std::string& a) {
    return editclip::test::run_command(std::string(EDITCLIP_CLI) + " " + a + " 2>&1 >" +
                                       q(tmp / "out.txt"));
  };
  CliRun r = run_stderr(args);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("score"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("done"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("EC2T"), std::string::npos) << "the table goes to stdout: " << r.output;
  EXPECT_NE(read_file_bytes(tmp / "out.txt").find("EC2T"), std::string::npos);
  r = run_stderr(args + " --quiet");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "") << "--quiet";
}

TEST(CliInspect, InvalidPreprocessorConfigIsAProblem) {
  TempDir tmp;
  const std::vector<std::pair<std::string, std::string>> configs = {
      {R"({"crop_size": 999, "image_mean": [0.1]})", "image_mean"},
      {R"({"crop_size": 999, "size": 999})", "crop_size 999x999"}};
  for (const auto& [text, why] : configs) {
    const fs::path clip = link_copy(kEditClip, tmp / "clip");
    fs::remove(clip / "preprocessor_config.json");
    std::ofstream(clip / "preprocessor_config.json") << text;
    CliRun r = run("inspect " + q(clip));
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("preprocessor_config.json"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(why), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("INCOMPLETE"), std::string::npos) << r.output;
    // The engine refuses the same folder when loading it.
    r = run("embed --quiet --clip " + q(clip) + " --before " + q(kCase / "images/input_image.png") +
            " --after " + q(kCase / "images/edited_image.png") + " --out " +
            q(tmp / "e.safetensors"));
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find(why), std::string::npos) << r.output;
    fs::remove_all(clip);
  }
}

TEST(CliInspect, MissingTokenizerIsAWarningOnly) {
  TempDir tmp;
  const fs::path clip = without_tokenizer(kEditClip, tmp / "clip");
  CliRun r = run("inspect " + q(clip));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("warning: tokenizer: missing — needed for EC2T/score --instruction; "
                          "apply works"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\ncomplete"), std::string::npos) << r.output;
  r = run("inspect --json " + q(clip));
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["components"][0]["warnings"].size(), 1u) << r.output;
}
