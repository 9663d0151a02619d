// Checkpoints (round trip, keep-last-N, atomic writes, RNG state) and the training logs (JSONL
// resume, plot, progress text).
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/image/image_io.h"
#include "engine/training/checkpoint.h"
#include "engine/training/metrics_log.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace editclip;
using namespace editclip::test;

namespace {

Checkpoint sample_checkpoint(int64_t step) {
  Checkpoint c;
  c.step = step;
  c.epoch = step / 10;
  c.data = {step / 10, step % 10};
  c.config = {{"lr", 2e-6}, {"batch", 4}};
  c.extra = {{"note", "x"}};
  c.optimizer = {{"type", "AdamW"}, {"steps", {{"w", step}}}};
  c.tensors["model"] = {{"w", at::arange(6, at::kFloat).reshape({2, 3}) + step},
                        {"b", at::ones({3}, at::kHalf)}};
  c.tensors["optimizer"] = {{"w.exp_avg", at::full({2, 3}, 0.5)}};
  return c;
}

size_t count_entries(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string()[0] == '.';
  return n;
}

}  // namespace

TEST(TrainingCheckpoint, RoundTripIncludingGeneratorState) {
  TempDir tmp;
  CheckpointManager mgr((tmp / "run").string(), 3);
  EXPECT_FALSE(mgr.latest().has_value());
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  at::randn({5}, gen);  // advance a little
  Checkpoint c = sample_checkpoint(20);
  c.rng["cpu"] = generator_state(gen);
  const std::string dir = mgr.save(c);
  EXPECT_EQ(dir, mgr.step_dir(20));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "model.safetensors"));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "state.json"));
  const at::Tensor expected_draw = at::randn({7}, gen);

  const Checkpoint l = CheckpointManager::load(*mgr.latest());
  EXPECT_EQ(l.step, 20);
  EXPECT_EQ(l.epoch, 2);
  EXPECT_EQ(l.data, (LoaderPosition{2, 0}));
  EXPECT_EQ(l.config, c.config);
  EXPECT_EQ(l.extra, c.extra);
  EXPECT_EQ(l.optimizer, c.optimizer);
  ASSERT_EQ(l.tensors.size(), 2u);
  EXPECT_TRUE(at::equal(l.tensors.at("model").at("w"), c.tensors["model"]["w"]));
  EXPECT_EQ(l.tensors.at("model").at("b").scalar_type(), at::kHalf);
  EXPECT_TRUE(at::equal(l.tensors.at("optimizer").at("w.exp_avg"), at::full({2, 3}, 0.5)));

  at::Generator other = at::make_generator<at::CPUGeneratorImpl>(1);
  set_generator_state(other, l.rng.at("cpu"));
  EXPECT_TRUE(at::equal(at::randn({7}, other), expected_draw));
  EXPECT_TRUE(at::equal(hex_to_bytes(bytes_to_hex(l.rng.at("cpu"))), l.rng.at("cpu")));
}

TEST(TrainingCheckpoint, KeepsTheLastN) {
  TempDir tmp;
  CheckpointManager mgr((tmp / "run").string(), 2);
  for (int64_t s : {5, 10, 15, 20}) mgr.save(sample_checkpoint(s));
  const auto all = mgr.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].first, 15);
  EXPECT_EQ(all[1].first, 20);
  EXPECT_EQ(*mgr.latest(), mgr.step_dir(20));
  // Saving an existing step again replaces it.
  Checkpoint again = sample_checkpoint(20);
  again.extra = {{"note", "second"}};
  mgr.save(again);
  EXPECT_EQ(CheckpointManager::load(mgr.step_dir(20)).extra["note"], "second");
  EXPECT_EQ(mgr.list().size(), 2u);
  CheckpointManager keep_all((tmp / "run").string(), 0);
  keep_all.save(sample_checkpoint(25));
  keep_all.save(sample_checkpoint(30));
  EXPECT_EQ(keep_all.list().size(), 4u);
}

TEST(TrainingCheckpoint, FailedWritesLeaveNoPartialCheckpoint) {
  TempDir tmp;
  const fs::path run = tmp / "run";
  CheckpointManager mgr(run.string(), 3);
  mgr.save(sample_checkpoint(1));
  // Debris of a killed run: a temporary folder and a step folder without state.json.
  fs::create_directories(run / ".tmp-step-9-99999");
  fs::create_directories(run / "step-7");
  EXPECT_EQ(*mgr.latest(), mgr.step_dir(1));

  Checkpoint bad = sample_checkpoint(2);
  bad.tensors["zz_broken"] = {{"c", at::zeros({2}, at::kComplexFloat)}};  // no safetensors dtype
  EXPECT_FALSE(error_of([&] { mgr.save(bad); }).empty());
  EXPECT_FALSE(fs::exists(mgr.step_dir(2)));
  EXPECT_FALSE(fs::exists(run / concat(".tmp-step-2-", ::getpid())));
  EXPECT_EQ(*mgr.latest(), mgr.step_dir(1));

  mgr.save(sample_checkpoint(3));
  EXPECT_EQ(count_entries(run), 0u);  // stale temporaries were cleaned
  EXPECT_EQ(mgr.list().size(), 2u);   // 1 and 3; step-7 is not a checkpoint

  EXPECT_TRUE(contains(error_of([&] { CheckpointManager::load((run / "step-7").string()); }),
                       "no state.json"));
  fs::remove(fs::path(mgr.step_dir(3)) / "optimizer.safetensors");
  EXPECT_TRUE(contains(error_of([&] { CheckpointManager::load(mgr.step_dir(3)); }),
                       "optimizer.safetensors: missing"));
  Checkpoint bad_name = sample_checkpoint(4);
  bad_name.tensors["../x"] = {};
  EXPECT_TRUE(contains(error_of([&] { mgr.save(bad_name); }), "cannot name a tensor file"));
}

TEST(TrainingLogs, MetricsLogResumeDropsLinesAfterTheCheckpoint) {
  TempDir tmp;
  const std::string path = tmp.file("logs/metrics.jsonl");
  {
    MetricsLog log(path);
    for (int s = 1; s <= 5; ++s) log.log({{"step", s}, {"loss", 1.0 / s}});
  }
  std::ofstream(path, std::ios::app) << "{\"step\": 6, \"lo";  // cut short by a kill
  {
    MetricsLog log(path, 3);
    log.log({{"step", 4}, {"loss", 0.3}});
  }
  const auto records = read_metrics_log(path);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3]["step"], 4);
  EXPECT_DOUBLE_EQ(records[3]["loss"].get<double>(), 0.3);
  {
    MetricsLog fresh(path);  // a new run truncates
  }
  EXPECT_TRUE(read_metrics_log(path).empty());
  MetricsLog log(path);
  EXPECT_TRUE(contains(error_of([&] { log.log({{"loss", 1}}); }), "integer \"step\""));
}

TEST(TrainingLogs, PlotIsWrittenAndHasContent) {
  if (!plot_metrics_available()) GTEST_SKIP() << "built without OpenCV";
  TempDir tmp;
  std::vector<nlohmann::json> records;
  for (int s = 0; s < 300; ++s) {
    nlohmann::json r = {
        {"step", s},
        {"loss", 2.0 * std::exp(-s / 80.0) + 0.1 * std::sin(s * 1.7)},
        {"lr", s < 30 ? 1e-4 * (s + 1) / 30 : 1e-4 * 0.5 * (1 + std::cos(M_PI * (s - 30) / 270))}};
    if (s % 50 == 0) r["eval_loss"] = 1.5 * std::exp(-s / 100.0);
    records.push_back(r);
  }
  const std::string png = tmp.file("plots/curves.png");
  PlotOptions o;
  o.title = "toy run";
  plot_metrics(records, png, o);
  ASSERT_TRUE(fs::exists(png));
  // To look at it: EDITCLIP_KEEP_PLOT=/some/file.png
  if (const char* keep = std::getenv("EDITCLIP_KEEP_PLOT"))
    fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
  EXPECT_GT(fs::file_size(png), 10000u);
  const at::Tensor img = load_image_rgb(png).rgb;
  EXPECT_EQ(img.size(1), 1200);
  EXPECT_EQ(img.size(0), 44 + 2 * 360);  // two panels: loss, learning rate
  // Ink and colour: many non-white pixels, and curve colours beyond grey.
  const at::Tensor f = img.to(at::kInt);
  const at::Tensor non_white = (f.sum(2) < 3 * 250);
  EXPECT_GT(non_white.sum().item<int64_t>(), 5000);
  const at::Tensor chroma = std::get<0>(f.max(2)) - std::get<0>(f.min(2));
  EXPECT_GT((chroma > 60).sum().item<int64_t>(), 500);

  // From a file, custom panels, log scale.
  const std::string jsonl = tmp.file("m.jsonl");
  {
    MetricsLog log(jsonl);
    for (const auto& r : records) log.log(r);
  }
  PlotOptions custom;
  custom.panels = {{"loss (log)", {"loss", "eval_loss"}, true}};
  plot_metrics_file(jsonl, tmp.file("log.png"), custom);
  EXPECT_EQ(load_image_rgb(tmp.file("log.png")).rgb.size(0), 44 + 360);
  EXPECT_TRUE(contains(error_of([&] {
                         plot_metrics({{{"step", 1}}}, tmp.file("x.png"));
                       }),
                       "nothing to plot"));
}

TEST(TrainingLogs, ProgressText) {
  ProgressInfo info;
  info.step = 1200;
  info.total = 20000;
  info.loss = 0.12345;
  info.lr = 5e-5;
  info.images_per_s = 38.24;
  info.eta_s = 3723;
  const std::string s = format_progress(info, 10);
  EXPECT_EQ(s, "[..........] 1200/20000 (6%) loss 0.1235 lr 5.00e-05 38.2 img/s ETA 1:02:03");
  EXPECT_EQ(format_duration(7), "0:07");
  EXPECT_EQ(format_duration(245), "4:05");
  ProgressMeter meter(10);
  const std::string line = meter.update(1, 8, 0.5, 1e-4);
  EXPECT_TRUE(contains(line, "1/10")) << line;
  EXPECT_TRUE(contains(line, "loss 0.5000")) << line;
  EXPECT_TRUE(contains(line, "img/s")) << line;
  EXPECT_TRUE(contains(line, "ETA")) << line;
}
