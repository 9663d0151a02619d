// End-to-end tests of `editclip train-encoder`, `train-editor` and `export` on the tiny fixture
// models and a generated toy dataset: the real binary, as a user runs it (also as 2 processes on
// localhost for the data-parallel check).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/io/safetensors_reader.h"
#include "engine/io/torch_checkpoint_reader.h"
#include "engine/io/torch_checkpoint_writer.h"
#include "engine/training/distributed.h"
#include "engine/training/metrics_log.h"
#include "engine/training/toy_dataset.h"
#include "engine/training/trainable_models.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using editclip::test::contains;

namespace {

const fs::path kFixtures = EDITCLIP_TEST_FIXTURES;
const fs::path kEditClip = kFixtures / "models/editclip_a/clip";
const fs::path kClip = kFixtures / "models/clip_a/clip";
const fs::path kIp2p = kFixtures / "models/ip2p_a";
const fs::path kLpips = kFixtures / "models/lpips_a";

std::string q(const fs::path& p) {
  return editclip::test::shell_quoted(p);
}

using CliRun = editclip::test::CommandResult;
using editclip::test::finish_command;

std::string command(const std::string& args, const std::string& env = "") {
  return (env.empty() ? "" : "env " + env + " ") + std::string(EDITCLIP_CLI) + " " + args + " 2>&1";
}

CliRun run(const std::string& args, const std::string& env = "") {
  return finish_command(popen(command(args, env).c_str(), "r"));
}

// Both ranks at once (their output is small: --quiet, so the pipes never fill up).
std::pair<CliRun, CliRun> run_two_ranks(const std::string& args0, const std::string& args1) {
  int port = 0;
  {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    close(s);
  }
  auto env = [&](int rank) {
    return editclip::concat("WORLD_SIZE=2 RANK=", rank, " LOCAL_RANK=", rank,
                            " MASTER_ADDR=127.0.0.1 MASTER_PORT=", port,
                            " EDITCLIP_DIST_TIMEOUT=120");
  };
  FILE* p0 = popen(command(args0, env(0)).c_str(), "r");
  FILE* p1 = popen(command(args1, env(1)).c_str(), "r");
  CliRun r0 = finish_command(p0);
  CliRun r1 = finish_command(p1);
  return {r0, r1};
}

std::pair<CliRun, CliRun> run_two_ranks(const std::string& args) {
  return run_two_ranks(args, args);
}

std::map<std::string, at::Tensor> load(const fs::path& p) {
  return editclip::SafetensorsReader(p.string()).tensors();
}

// Largest |a - b| over all tensors of two files with the same names; -1 when names differ.
double max_diff(const fs::path& a, const fs::path& b, bool* bit_exact = nullptr) {
  auto ta = load(a), tb = load(b);
  if (ta.size() != tb.size()) return -1;
  double m = 0;
  bool exact = true;
  for (auto& [n, t] : ta) {
    if (!tb.count(n) || tb[n].sizes() != t.sizes()) return -1;
    if (!at::isFloatingType(t.scalar_type())) {
      exact = exact && at::equal(t, tb[n]);
      continue;
    }
    m = std::max(m, (t.to(at::kDouble) - tb[n].to(at::kDouble)).abs().max().item<double>());
    exact = exact && at::equal(t, tb[n]);
  }
  if (bit_exact) *bit_exact = exact;
  return m;
}

// The files of two checkpoint folders hold the same tensors to the bit.
void expect_bit_exact(const fs::path& a, const fs::path& b,
                      std::initializer_list<const char*> files) {
  for (const char* f : files) {
    bool exact = false;
    EXPECT_EQ(max_diff(a / f, b / f, &exact), 0.0) << f;
    EXPECT_TRUE(exact) << f;
  }
}

// Trains with `one_args` in one process and with `two_args` as two ranks; the largest parameter
// difference of their checkpoints of `step` (-1 when a run failed).
double one_vs_two_ranks(const std::string& one_args, const std::string& two_args,
                        const fs::path& one, const fs::path& two, int step) {
  CliRun r = run(one_args);
  EXPECT_EQ(r.status, 0) << r.output;
  if (r.status != 0) return -1;
  auto [r0, r1] = run_two_ranks(two_args);
  EXPECT_EQ(r0.status, 0) << r0.output;
  EXPECT_EQ(r1.status, 0) << r1.output;
  if (r0.status != 0 || r1.status != 0) return -1;
  const std::string ck = "step-" + std::to_string(step);
  return max_diff(one / ck / "model.safetensors", two / ck / "model.safetensors");
}

std::vector<nlohmann::json> metrics(const fs::path& run_dir) {
  return editclip::read_metrics_log((run_dir / "metrics.jsonl").string());
}

// One toy dataset for the whole suite (generating it costs about a second).
class TrainingCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / editclip::concat("editclip_training_", getpid());
    fs::remove_all(root_);
    editclip::ToyDatasetOptions o;
    o.count = 96;
    o.image_size = 64;
    o.seed = 3;
    manifest_ = editclip::write_toy_dataset((root_ / "toy").string(), o).manifest_path;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path dir(const std::string& name) const {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return root_ / (std::string(info->name()) + "_" + name);
  }
  static std::string encoder_args(const fs::path& out, const std::string& extra) {
    return "train-encoder --init " + q(kEditClip) + " --data " + q(manifest_) + " --out " + q(out) +
           " --lr 1e-4 --lr-patch 1e-3 --warmup 2 --threads 1 --quiet " + extra;
  }
  static std::string editor_args(const fs::path& out, const std::string& extra) {
    return "train-editor --editclip " + q(kEditClip) + " --init " + q(kIp2p) + " --data " +
           q(manifest_) + " --out " + q(out) + " --size 64 --lpips " + q(kLpips) +
           " --lr 1e-3 --threads 1 --quiet --no-plot --sample-every 0 " + extra;
  }
  static fs::path root_;
  static std::string manifest_;
};
fs::path TrainingCli::root_;
std::string TrainingCli::manifest_;

TEST_F(TrainingCli, EncoderLossFallsAndHeldOutRetrievalBeatsChance) {
  const fs::path out = dir("run");
  CliRun r = run(encoder_args(out, "--steps 30 --batch 16 --heldout 0.25 --eval-every 30"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "held-out retrieval: top-1")) << r.output;
  double first = 0, last = 0;
  std::vector<nlohmann::json> evals;
  int n = 0;
  for (const auto& rec : metrics(out)) {
    if (rec.contains("eval_top1")) {
      evals.push_back(rec);
      continue;
    }
    const int64_t step = rec.at("step").get<int64_t>();
    if (step <= 5) first += rec.at("loss").get<double>() / 5;
    if (step > 25) last += rec.at("loss").get<double>() / 5;
    ++n;
  }
  EXPECT_EQ(n, 30);
  EXPECT_LT(last, first - 0.3) << "mean loss of steps 1-5 vs 26-30";
  ASSERT_EQ(evals.size(), 2u);  // before training (step 0) and at the end
  const auto& before = evals.front();
  const auto& after = evals.back();
  EXPECT_EQ(before.at("step"), 0);
  EXPECT_EQ(after.at("eval_pairs"), 24);
  const double chance1 = after.at("eval_chance_top1"), chance5 = after.at("eval_chance_top5");
  EXPECT_GT(after.at("eval_top1").get<double>(), 2 * chance1) << after.dump();
  EXPECT_GT(after.at("eval_top5").get<double>(), chance5 + 0.1) << after.dump();
  EXPECT_GT(after.at("eval_ec2t_matched").get<double>(),
            after.at("eval_ec2t_shuffled").get<double>());
  EXPECT_TRUE(fs::exists(out / "curves.png"));
  EXPECT_TRUE(fs::exists(out / "step-30" / "model.safetensors"));
}

TEST_F(TrainingCli, EncoderWidensA3ChannelClipAndExportsForEmbed) {
  // Initialisation: channels 0..2 copied, 3..5 zero.
  auto init = editclip::load_trainable_clip(kClip.string(), at::kCPU, 6);
  ASSERT_TRUE(init.widened());
  const at::Tensor w = init.params.at(editclip::kClipPatchWeight);
  const at::Tensor orig = editclip::SafetensorsReader((kClip / "model.safetensors").string())
                              .tensor(editclip::kClipPatchWeight);
  ASSERT_EQ(w.size(1), 6);
  EXPECT_TRUE(at::equal(w.narrow(1, 0, 3), orig));
  EXPECT_EQ(w.narrow(1, 3, 3).abs().max().item<float>(), 0.0f);

  const fs::path out = dir("run"), exported = dir("export");
  // clip_a has no tokenizer files of its own: the shared CLIP tokenizer comes from editclip_a.
  CliRun r = run("train-encoder --init " + q(kClip) + " --tokenizer " + q(kEditClip) + " --data " +
                 q(manifest_) + " --out " + q(out) +
                 " --steps 3 --batch 8 --resize 64 --heldout 0 --threads 1 --quiet --no-plot");
  // --resize: the authors' inference preprocessing (opt-in) instead of open_clip's training one.
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("export " + q(out) + " --to " + q(exported));
  ASSERT_EQ(r.status, 0) << r.output;
  auto config = editclip::read_json_file((exported / "config.json").string());
  EXPECT_EQ(config["vision_config"]["num_channels"], 6);
  for (const char* f :
       {"model.safetensors", "vocab.json", "merges.txt", "preprocessor_config.json"})
    EXPECT_TRUE(fs::exists(exported / f)) << f;
  auto tensors = load(exported / "model.safetensors");
  EXPECT_EQ(tensors.at(editclip::kClipPatchWeight).size(1), 6);
  // The frozen text tower is the init's, unchanged.
  auto init_tensors = load(kClip / "model.safetensors");
  EXPECT_TRUE(at::equal(tensors.at("text_model.final_layer_norm.weight"),
                        init_tensors.at("text_model.final_layer_norm.weight")));
  EXPECT_FALSE(at::equal(tensors.at("visual_projection.weight"),
                         init_tensors.at("visual_projection.weight")));

  const fs::path toy = fs::path(manifest_).parent_path();
  const fs::path emb = dir("e.safetensors");
  r = run("embed --clip " + q(exported) + " --before " + q(toy / "images/000000_input.png") +
          " --after " + q(toy / "images/000000_edited.png") + " --out " + q(emb) + " --quiet");
  ASSERT_EQ(r.status, 0) << r.output;
  auto e = load(emb);
  EXPECT_EQ(e.at("image_embeds").size(1), 40);
  EXPECT_TRUE(at::isfinite(e.at("last_hidden_state")).all().item<bool>());
}

TEST_F(TrainingCli, EncoderResumeEqualsUninterruptedBitForBit) {
  const fs::path a = dir("a"), b = dir("b");
  const std::string common =
      "--steps 6 --batch 8 --accum 2 --heldout 0.1 --heldout-max 5 --save-every 3 --no-plot";
  CliRun r = run(encoder_args(a, common));
  ASSERT_EQ(r.status, 0) << r.output;
  // --heldout-max gives the surplus of the 10% split back to training: nothing is dropped.
  const auto data = editclip::read_json_file((a / "run.json").string()).at("data");
  EXPECT_EQ(data.at("pairs"), 96);
  EXPECT_EQ(data.at("heldout"), 5);
  EXPECT_EQ(data.at("train").get<int>() + data.at("heldout").get<int>(), 96) << data.dump();
  r = run(encoder_args(b, common + " --stop-after 3"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(fs::exists(b / "step-6"));
  ASSERT_TRUE(fs::exists(b / "step-3"));
  r = run(encoder_args(b, common + " --resume"));
  ASSERT_EQ(r.status, 0) << r.output;
  expect_bit_exact(a / "step-6", b / "step-6", {"model.safetensors", "optimizer.safetensors"});
  // The resumed log holds every step once, with the same losses.
  auto la = metrics(a), lb = metrics(b);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_EQ(la[i], lb[i]) << i;
  // Changing a hyper-parameter on resume is refused, the optimiser's included.
  r = run(encoder_args(b,
                       "--steps 8 --batch 8 --accum 2 --heldout 0.1 --heldout-max 5 --resume "
                       "--no-plot"));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--resume with a different 'total_steps'")) << r.output;
  r = run(encoder_args(b, common + " --beta2 0.99 --resume"));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--resume with a different 'beta2'")) << r.output;
}

TEST_F(TrainingCli, EncoderFreezeLogitScaleKeepsTheInitValue) {
  // The authors' optimiser held the vision tower only: --freeze-logit-scale reproduces that; by
  // default the scale is trained.
  const at::Tensor init = load(kEditClip / "model.safetensors").at("logit_scale");
  const std::string common = "--steps 3 --batch 8 --heldout 0 --no-plot --save-every 0";
  const fs::path frozen = dir("frozen"), trained = dir("trained"), exported = dir("export");
  CliRun r = run(encoder_args(frozen, common + " --freeze-logit-scale"));
  ASSERT_EQ(r.status, 0) << r.output;
  r = run(encoder_args(trained, common));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto f = load(frozen / "step-3" / "model.safetensors");
  const auto t = load(trained / "step-3" / "model.safetensors");
  EXPECT_TRUE(at::equal(f.at("logit_scale"), init)) << f.at("logit_scale");
  EXPECT_FALSE(at::equal(t.at("logit_scale"), init)) << t.at("logit_scale");
  // The vision tower trained in both.
  EXPECT_FALSE(at::equal(f.at("visual_projection.weight"),
                         load(kEditClip / "model.safetensors").at("visual_projection.weight")));
  r = run("export " + q(frozen) + " --to " + q(exported));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(at::equal(load(exported / "model.safetensors").at("logit_scale"), init));
  // The optimiser holds no logit scale when it is frozen.
  const auto opt = load(frozen / "step-3" / "optimizer.safetensors");
  EXPECT_EQ(opt.count("logit_scale.exp_avg"), 0u);
  EXPECT_EQ(load(trained / "step-3" / "optimizer.safetensors").count("logit_scale.exp_avg"), 1u);
}

TEST_F(TrainingCli, EncoderTwoGlooProcessesMatchOneProcessWithTheDoubleBatch) {
  if (!editclip::distributed_support_compiled()) GTEST_SKIP() << "built without c10d/Gloo";
  const fs::path one = dir("one"), two = dir("two");
  const std::string common = "--steps 4 --heldout 0 --no-plot --save-every 0";
  const double d = one_vs_two_ranks(encoder_args(one, common + " --batch 16"),
                                    encoder_args(two, common + " --batch 8"), one, two, 4);
  std::printf("[ddp] encoder, 4 steps, 1x16 vs 2x8: max |param diff| = %.3g\n", d);
  EXPECT_GE(d, 0);
  EXPECT_LT(d, 2e-5);
  // Only rank 0 writes the run folder; both logged the same losses.
  auto l1 = metrics(one), l2 = metrics(two);
  ASSERT_EQ(l1.size(), l2.size());
  for (size_t i = 0; i < l1.size(); ++i)
    EXPECT_NEAR(l1[i].at("loss").get<double>(), l2[i].at("loss").get<double>(), 1e-4);
}

TEST_F(TrainingCli, EditorTrainsSamplesResumesAndExportsForApply) {
  const fs::path a = dir("a"), b = dir("b"), exported = dir("export");
  const std::string common = "--steps 4 --batch 2 --save-every 2 --ema 0.9";
  CliRun r = run(editor_args(a, common + " --sample-every 4 --sample-steps 2"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(a / "samples" / "step-0000000.png"));
  EXPECT_TRUE(fs::exists(a / "samples" / "step-0000004.png"));
  auto log = metrics(a);
  ASSERT_EQ(log.size(), 4u);
  for (const auto& rec : log) {
    EXPECT_TRUE(rec.contains("lpips_loss")) << rec.dump();
    EXPECT_NEAR(rec.at("loss").get<double>(),
                rec.at("diffusion_loss").get<double>() + 0.05 * rec.at("lpips_loss").get<double>(),
                1e-5);
  }
  r = run(editor_args(b, common + " --stop-after 2"));
  ASSERT_EQ(r.status, 0) << r.output;
  r = run(editor_args(b, common + " --resume"));
  ASSERT_EQ(r.status, 0) << r.output;
  expect_bit_exact(a / "step-4", b / "step-4",
                   {"model.safetensors", "optimizer.safetensors", "ema.safetensors"});

  r = run("export " + q(a) + " --to " + q(exported));
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* f :
       {"unet/config.json", "unet/diffusion_pytorch_model.safetensors", "image_proj_model.pt",
        "image_proj_model.safetensors", "vae/config.json", "scheduler/scheduler_config.json"})
    EXPECT_TRUE(fs::exists(exported / f)) << f;
  // The .pt (torch.save zip) and the .safetensors hold the same projection: the raw one, since
  // the EMA covers the UNet only (the authors' EMAModel(unet.parameters())); the UNet is the EMA.
  auto pt = editclip::read_torch_checkpoint((exported / "image_proj_model.pt").string());
  auto st = load(exported / "image_proj_model.safetensors");
  ASSERT_EQ(pt.size(), 4u);
  for (auto& [n, t] : st) EXPECT_TRUE(at::equal(pt.at(n), t)) << n;
  auto ema = load(a / "step-4" / "ema.safetensors");
  auto raw = load(a / "step-4" / "model.safetensors");
  for (auto& [n, t] : ema) EXPECT_EQ(n.rfind("unet.", 0), 0u) << n;
  EXPECT_TRUE(at::equal(st.at("proj.weight"), raw.at("image_proj.proj.weight")));
  auto unet = load(exported / "unet" / "diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(at::equal(unet.at("conv_in.weight"), ema.at("unet.conv_in.weight")));
  EXPECT_FALSE(at::equal(unet.at("conv_in.weight"), raw.at("unet.conv_in.weight")));
  // The optimiser settings are resume keys too.
  r = run(editor_args(b, common + " --steps 6 --beta2 0.99 --resume"));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--resume with a different")) << r.output;
  r = run(editor_args(b, common + " --eps 1e-6 --resume"));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--resume with a different 'eps'")) << r.output;

  const fs::path toy = fs::path(manifest_).parent_path();
  const fs::path result = dir("result.png");
  r = run("apply --clip " + q(kEditClip) + " --pipeline " + q(exported) + " --before " +
          q(toy / "images/000000_input.png") + " --after " + q(toy / "images/000000_edited.png") +
          " --query " + q(toy / "images/000001_input.png") + " --out " + q(result) +
          " --steps 2 --size 64 --quiet");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(result));
}

TEST_F(TrainingCli, EditorTwoGlooProcessesMatchOneProcessWithTheDoubleBatch) {
  if (!editclip::distributed_support_compiled()) GTEST_SKIP() << "built without c10d/Gloo";
  const fs::path one = dir("one"), two = dir("two");
  // A smaller lr than the other editor tests: Adam turns gradients that are analytically zero
  // (biases followed by a GroupNorm) into +-lr-sized steps of their float noise, which differs
  // between the two batch layouts; the difference scales with lr.
  const std::string common = "--steps 2 --save-every 0 --lr 1e-4";
  const double d = one_vs_two_ranks(editor_args(one, common + " --batch 4"),
                                    editor_args(two, common + " --batch 2"), one, two, 2);
  std::printf("[ddp] editor, 2 steps, 1x4 vs 2x2: max |param diff| = %.3g\n", d);
  EXPECT_GE(d, 0);
  EXPECT_LT(d, 1e-5);
}

TEST_F(TrainingCli, EditorClipsTheUNetGradientOnly) {
  // As the authors (clip_grad_norm_(unet.parameters())): a tiny --grad-clip shrinks the UNet's
  // gradient, not the ImageProj's, so after one step the ImageProj equals that of a run without
  // clipping (its first Adam update depends on its own gradient only) while the UNet differs.
  const fs::path clipped = dir("clipped"), unclipped = dir("unclipped");
  // No conditioning dropout: a dropped edit embedding would leave the ImageProj without gradient.
  const std::string common = "--steps 1 --batch 2 --lpips-weight 0 --cond-dropout 0 --save-every 0";
  CliRun r = run(editor_args(clipped, common + " --grad-clip 1e-12"));
  ASSERT_EQ(r.status, 0) << r.output;
  r = run(editor_args(unclipped, common + " --grad-clip 0"));
  ASSERT_EQ(r.status, 0) << r.output;
  auto a = load(clipped / "step-1" / "model.safetensors");
  auto b = load(unclipped / "step-1" / "model.safetensors");
  const auto moments = load(unclipped / "step-1" / "optimizer.safetensors");
  EXPECT_GT(moments.at("image_proj.proj.weight.exp_avg").abs().max().item<float>(), 0.0f);
  bool unet_differs = false;
  for (auto& [n, t] : a) {
    if (n.rfind("image_proj.", 0) == 0)
      EXPECT_TRUE(at::equal(t, b.at(n))) << n;
    else
      unet_differs = unet_differs || !at::equal(t, b.at(n));
  }
  EXPECT_TRUE(unet_differs);
}

TEST_F(TrainingCli, EditorWidensA4ChannelStableDiffusionUNet) {
  // An SD-style pipeline folder: the fixture UNet cut to 4 input channels.
  const fs::path sd = dir("sd");
  fs::create_directories(sd);
  fs::copy(kIp2p / "vae", sd / "vae", fs::copy_options::recursive);
  fs::copy(kIp2p / "scheduler", sd / "scheduler", fs::copy_options::recursive);
  fs::create_directories(sd / "unet");
  auto config = editclip::read_json_file((kIp2p / "unet/config.json").string());
  config["in_channels"] = 4;
  editclip::write_json_file((sd / "unet/config.json").string(), config);
  auto tensors = load(kIp2p / "unet/diffusion_pytorch_model.safetensors");
  const at::Tensor conv8 = tensors.at("conv_in.weight");
  tensors["conv_in.weight"] = conv8.narrow(1, 0, 4).contiguous();
  editclip::write_safetensors(
      (sd / "unet/diffusion_pytorch_model.safetensors").string(),
      std::vector<std::pair<std::string, at::Tensor>>(tensors.begin(), tensors.end()));
  auto unet = editclip::load_trainable_unet((sd / "unet").string(), at::kCPU);
  EXPECT_TRUE(unet.widened());
  EXPECT_EQ(unet.config_json["in_channels"], 8);
  const at::Tensor w = unet.params.at("conv_in.weight");
  EXPECT_TRUE(at::equal(w.narrow(1, 0, 4), conv8.narrow(1, 0, 4)));
  EXPECT_EQ(w.narrow(1, 4, 4).abs().max().item<float>(), 0.0f);

  const fs::path out = dir("run");
  CliRun r = run("train-editor --editclip " + q(kEditClip) + " --init " + q(sd) + " --data " +
                 q(manifest_) + " --out " + q(out) +
                 " --steps 1 --batch 2 --size 64 --lpips-weight 0 --sample-every 0 --threads 1 "
                 "--no-plot");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "widened from 4 to 8")) << r.output;
}

TEST_F(TrainingCli, BadDataGivesItsErrors) {
  // A manifest with a missing file, an undecodable image and a line without instruction.
  const fs::path data = dir("bad");
  fs::create_directories(data);
  const fs::path toy = fs::path(manifest_).parent_path();
  {
    std::ofstream(data / "broken.png") << "not a png";
    std::ofstream m(data / "manifest.jsonl");
    for (int i = 0; i < 24; ++i) {
      char a[64], b[64];
      std::snprintf(a, sizeof a, "images/%06d_input.png", i);
      std::snprintf(b, sizeof b, "images/%06d_edited.png", i);
      m << nlohmann::json{{"input", (toy / a).string()},
                          {"edited", (toy / b).string()},
                          {"instruction", "make it brighter"}}
               .dump()
        << "\n";
    }
    m << R"({"input": "missing.png", "edited": "missing2.png", "instruction": "x"})"
      << "\n";
    m << nlohmann::json{{"input", (data / "broken.png").string()},
                        {"edited", (toy / "images/000000_edited.png").string()},
                        {"instruction", "y"}}
             .dump()
      << "\n";
  }
  const fs::path out = dir("run");
  const std::string base = "train-encoder --init " + q(kEditClip) + " --data " +
                           q(data / "manifest.jsonl") + " --out " + q(out) +
                           " --steps 1 --batch 4 --resize 64 --heldout 0 --threads 1 --no-plot";
  CliRun r = run(base);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "manifest.jsonl:25")) << r.output;
  EXPECT_TRUE(contains(r.output, "missing.png")) << r.output;
  EXPECT_TRUE(contains(r.output, "--skip-bad")) << r.output;
  EXPECT_FALSE(fs::exists(out / "step-1"));

  r = run(base + " --skip-bad");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "skipped 2 bad entries")) << r.output;
  EXPECT_TRUE(contains(r.output, "broken.png")) << r.output;

  if (editclip::distributed_support_compiled()) {
    // Two ranks share the decoding: entry 24 (missing.png) is rank 0's, entry 25 (broken.png)
    // rank 1's; each reports its own, and both train on the same 24 pairs.
    const std::string two = "train-encoder --init " + q(kEditClip) + " --data " +
                            q(data / "manifest.jsonl") + " --out " + q(dir("two")) +
                            " --steps 1 --batch 4 --heldout 0 --threads 1 --no-plot";
    auto [r0, r1] = run_two_ranks(two);
    EXPECT_EQ(r0.status, 1) << r0.output;
    EXPECT_EQ(r1.status, 1) << r1.output;
    EXPECT_TRUE(contains(r0.output, "missing.png")) << r0.output;
    EXPECT_FALSE(contains(r0.output, "broken.png")) << r0.output;
    EXPECT_TRUE(contains(r1.output, "broken.png")) << r1.output;
    std::tie(r0, r1) = run_two_ranks(two + " --skip-bad");
    ASSERT_EQ(r0.status, 0) << r0.output;
    ASSERT_EQ(r1.status, 0) << r1.output;
    EXPECT_TRUE(contains(r0.output, "skipped 2 bad entries")) << r0.output;
    EXPECT_TRUE(contains(r0.output, "[rank 0] manifest.jsonl:25")) << r0.output;
    EXPECT_TRUE(contains(r1.output, "[rank 1] manifest.jsonl:26")) << r1.output;
    EXPECT_EQ(editclip::read_json_file((dir("two") / "run.json").string())["data"]["train"], 24);
    // A rank that fails before the ranks combine their checks (here: its manifest is missing)
    // stops the other one at once instead of leaving it in a collective until the timeout.
    const std::string good = two + " --skip-bad --out " + q(dir("three"));
    std::tie(r0, r1) = run_two_ranks(good, good + " --data " + q(data / "missing.jsonl"));
    EXPECT_EQ(r0.status, 1) << r0.output;
    EXPECT_EQ(r1.status, 1) << r1.output;
    EXPECT_TRUE(contains(r0.output, "failed on another rank")) << r0.output;
    EXPECT_TRUE(contains(r1.output, "missing.jsonl")) << r1.output;
  }

  // A second run into the same folder needs --resume; --resume needs a checkpoint.
  r = run(base + " --skip-bad");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "already holds checkpoints")) << r.output;
  r = run(encoder_args(dir("empty"), "--steps 3 --batch 4 --resume"));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "no complete checkpoint")) << r.output;
  // Too little data for one step; a missing dataset; export of a folder that is no run.
  r = run(encoder_args(dir("small"), "--steps 1 --batch 200 --heldout 0"));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "batch")) << r.output;
  r = run("train-encoder --init " + q(kEditClip) + " --data " + q(data / "nope.jsonl") + " --out " +
          q(dir("x")));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "nope.jsonl")) << r.output;
  r = run("export " + q(data) + " --to " + q(dir("y")));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "run.json")) << r.output;
  // The editor without LPIPS weights but a non-zero LPIPS weight.
  r = run("train-editor --editclip " + q(kEditClip) + " --init " + q(kIp2p) + " --data " +
          q(manifest_) + " --out " + q(dir("z")));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--lpips")) << r.output;
}

TEST(TorchCheckpointWriter, RoundTripsThroughTheReader) {
  editclip::test::TempDir tmp;
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"proj.weight", at::randn({5, 7})},
      {"proj.bias", at::randn({5}).to(at::kHalf)},
      {"scalar", at::full({}, 3.5, at::kDouble)},
      {"ids", at::arange(70000, at::kLong).view({7, 10000})},
      {"empty", at::zeros({0, 3})},
      {"mask", at::ones({2, 2}, at::kBool)},
  };
  const std::string path = tmp.file("m.pt");
  editclip::write_torch_checkpoint(path, tensors);
  auto back = editclip::read_torch_checkpoint(path);
  ASSERT_EQ(back.size(), tensors.size());
  for (auto& [n, t] : tensors) {
    ASSERT_TRUE(back.count(n)) << n;
    EXPECT_EQ(back[n].scalar_type(), t.scalar_type()) << n;
    EXPECT_TRUE(at::equal(back[n], t)) << n;
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(Distributed, SingleProcessAndEnvironment) {
  auto comm = editclip::Communicator::single();
  EXPECT_EQ(comm->world_size(), 1);
  std::vector<at::Tensor> v{at::ones({3})};
  comm->all_reduce_sum(v);
  EXPECT_TRUE(at::equal(v[0], at::ones({3})));
  EXPECT_EQ(comm->all_reduce_max(2.5), 2.5);

  setenv("WORLD_SIZE", "2", 1);
  setenv("RANK", "2", 1);
  EXPECT_TRUE(contains(
      editclip::test::error_of([] { editclip::DistributedEnv::from_environment(); }), "RANK=2"));
  setenv("RANK", "x", 1);
  EXPECT_TRUE(contains(
      editclip::test::error_of([] { editclip::DistributedEnv::from_environment(); }), "RANK='x'"));
  unsetenv("WORLD_SIZE");
  unsetenv("RANK");
  EXPECT_EQ(editclip::DistributedEnv::from_environment().world_size, 1);
}

}  // namespace
