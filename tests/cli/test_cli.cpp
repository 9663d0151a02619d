// End-to-end tests of the `editclip` binary: results against the reference fixtures, and one
// clear, non-zero-exit error (or a conversion note) for each kind of bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

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

struct CliRun {
  int status = -1;
  std::string output;  // stdout + stderr
};

CliRun run(const std::string& args) {
  std::string cmd = std::string(EDITCLIP_CLI) + " " + args + " 2>&1";
  CliRun r;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  int raw = pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

std::string q(const fs::path& p) {
  return "'" + p.string() + "'";
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
