// Training data: manifest and InstructPix2Pix layouts, bad-data reports, held-out split, the toy
// generator, and the loader's determinism (thread count, resume, rank shards).
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "engine/core/error.h"
#include "engine/image/editclip_preprocess.h"
#include "engine/image/image_io.h"
#include "engine/training/data_loader.h"
#include "engine/training/dataset.h"
#include "engine/training/encoder_trainer.h"
#include "engine/training/toy_dataset.h"
#include "engine/training/trainer_common.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace editclip;
using namespace editclip::test;

namespace {

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::trunc) << text;
}

bool same(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && at::equal(a, b);
}

// One toy dataset (both layouts) shared by the suite: writing images is the slow part.
class TrainingData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new TempDir("training_data");
    ToyDatasetOptions o;
    o.count = 24;
    o.image_size = 40;
    o.seed = 7;
    o.ip2p_layout = true;
    toy_ = new ToyDataset(write_toy_dataset(root_->path.string(), o));
  }
  static void TearDownTestSuite() {
    delete root_;
    delete toy_;
  }
  static EditDataset dataset() { return EditDataset::load(toy_->manifest_path); }

  static TempDir* root_;
  static ToyDataset* toy_;
};
TempDir* TrainingData::root_ = nullptr;
ToyDataset* TrainingData::toy_ = nullptr;

LoaderOptions loader_options(int threads) {
  LoaderOptions o;
  o.global_batch = 6;
  o.seed = 11;
  o.threads = threads;
  o.transform.resize = 32;
  o.transform.crop = 28;
  o.transform.random_flip = true;
  return o;
}

}  // namespace

TEST_F(TrainingData, ToyDatasetIsDeterministicAndCyclesKinds) {
  ASSERT_EQ(toy_->triplets.size(), 24u);
  for (size_t i = 0; i < toy_->kinds.size(); ++i)
    EXPECT_EQ(toy_->kinds[i], toy_edit_kinds()[i % toy_edit_kinds().size()]);
  TempDir tmp;
  ToyDatasetOptions o;
  o.count = 3;
  o.image_size = 40;
  o.seed = 7;
  const ToyDataset again = write_toy_dataset(tmp.path.string(), o);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(again.triplets[i].instruction, toy_->triplets[i].instruction);
    EXPECT_TRUE(same(load_image_rgb(again.triplets[i].input_path).rgb,
                     load_image_rgb(toy_->triplets[i].input_path).rgb));
    EXPECT_TRUE(same(load_image_rgb(again.triplets[i].edited_path).rgb,
                     load_image_rgb(toy_->triplets[i].edited_path).rgb));
  }
}

TEST_F(TrainingData, ToyEditsDoWhatTheySay) {
  const at::Tensor img = toy_source_image(3, 32);
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{32, 32, 3}));
  EXPECT_GT(std::get<0>(at::_unique(img.reshape({-1}))).size(0), 20);  // not flat
  EXPECT_TRUE(same(apply_toy_edit("invert", apply_toy_edit("invert", img)), img));
  EXPECT_TRUE(same(apply_toy_edit("flip", img), img.flip({1})));
  const at::Tensor g = apply_toy_edit("grayscale", img);
  EXPECT_TRUE(same(g.select(2, 0), g.select(2, 1)));
  EXPECT_GT(apply_toy_edit("brighten", img).to(at::kFloat).mean().item<double>(),
            img.to(at::kFloat).mean().item<double>());
  EXPECT_LT(apply_toy_edit("darken", img).to(at::kFloat).mean().item<double>(),
            img.to(at::kFloat).mean().item<double>());
  for (const auto& k : toy_edit_kinds()) EXPECT_GE(toy_instructions(k).size(), 2u);
  EXPECT_TRUE(contains(error_of([] { toy_instructions("sepia"); }), "unknown edit kind"));
}

TEST_F(TrainingData, LoadsManifestAndDetectsLayouts) {
  EXPECT_EQ(detect_dataset_format(toy_->manifest_path), DatasetFormat::Manifest);
  EXPECT_EQ(detect_dataset_format(root_->path.string()),
            DatasetFormat::Manifest);  // manifest.jsonl
  EXPECT_EQ(detect_dataset_format(toy_->ip2p_root), DatasetFormat::InstructPix2Pix);
  TempDir tmp;
  EXPECT_TRUE(
      contains(error_of([&] { detect_dataset_format(tmp.path.string()); }), "not a known layout"));

  const EditDataset ds = EditDataset::load(root_->path.string());
  ASSERT_EQ(ds.size(), 24u);
  EXPECT_EQ(ds.report().format, DatasetFormat::Manifest);
  EXPECT_TRUE(ds.report().problems.empty());
  for (size_t i = 0; i < ds.size(); ++i) {
    EXPECT_EQ(ds[i].instruction, toy_->triplets[i].instruction);
    EXPECT_EQ(fs::path(ds[i].input_path), fs::path(toy_->triplets[i].input_path));
    EXPECT_EQ(ds[i].origin, concat("manifest.jsonl:", i + 1));
  }

  // Other key names, paths relative to a manifest in another folder.
  const fs::path sub = root_->path / "sub" / "alt.jsonl";
  write_text(sub, nlohmann::json{{"input_image", "../images/000001_input.png"},
                                 {"edited_image", "../images/000001_edited.png"},
                                 {"edit", "hello"}}
                          .dump() +
                      "\n\n");
  const EditDataset alt = EditDataset::load(sub.string());
  ASSERT_EQ(alt.size(), 1u);
  EXPECT_EQ(alt[0].instruction, "hello");
  EXPECT_TRUE(fs::equivalent(alt[0].input_path, toy_->triplets[1].input_path));
  fs::remove_all(sub.parent_path());
}

TEST_F(TrainingData, LoadsInstructPix2PixLayoutWithAndWithoutSeedsJson) {
  const EditDataset a = EditDataset::load(toy_->ip2p_root);
  ASSERT_EQ(a.size(), 24u);
  EXPECT_EQ(a.report().format, DatasetFormat::InstructPix2Pix);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].instruction, toy_->triplets[i].instruction);
    EXPECT_TRUE(contains(a[i].input_path, "_0.jpg"));
    EXPECT_TRUE(contains(a[i].edited_path, "_1.jpg"));
  }
  // Scanning instead of seeds.json, with a second seed in one folder and a shard level.
  TempDir tmp;
  const fs::path root = tmp.path / "ds";
  fs::create_directories(root / "shard-0");
  for (int i = 0; i < 3; ++i)
    fs::copy(fs::path(toy_->ip2p_root) / concat("000000", i), root / "shard-0" / concat("p", i),
             fs::copy_options::recursive);
  const fs::path p0 = root / "shard-0" / "p0";
  std::string s0;
  for (const auto& e : fs::directory_iterator(p0))
    if (contains(e.path().filename().string(), "_0.jpg")) s0 = e.path().filename().string();
  const std::string stem = s0.substr(0, s0.size() - 6);
  fs::copy_file(p0 / (stem + "_0.jpg"), p0 / "99_0.jpg");
  fs::copy_file(p0 / (stem + "_1.jpg"), p0 / "99_1.jpg");
  EXPECT_EQ(detect_dataset_format(root.string()), DatasetFormat::InstructPix2Pix);
  const EditDataset b = EditDataset::load(root.string());
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0].instruction, a[0].instruction);
  EXPECT_EQ(b[1].instruction, a[0].instruction);
  EXPECT_EQ(b[3].instruction, a[2].instruction);
}

TEST_F(TrainingData, BadDataIsReportedWithLineNumbersOrSkipped) {
  TempDir tmp;
  const fs::path img = root_->path / "images";
  write_text(tmp / "broken.png", "this is not a png");
  auto line = [&](const std::string& in, const std::string& ed, const std::string& ins) {
    return nlohmann::json{{"input", in}, {"edited", ed}, {"instruction", ins}}.dump() + "\n";
  };
  const std::string good_in = (img / "000000_input.png").string();
  const std::string good_ed = (img / "000000_edited.png").string();
  std::string text = line(good_in, good_ed, "ok");                                // 1
  text += line("missing.png", good_ed, "gone");                                   // 2
  text += line(good_in, "broken.png", "corrupt");                                 // 3
  text += "{not json\n";                                                          // 4
  text += nlohmann::json{{"input", good_in}, {"edited", good_ed}}.dump() + "\n";  // 5
  text += line(good_in, good_ed, "also ok");                                      // 6
  write_text(tmp / "data.jsonl", text);

  const std::string err = error_of([&] { EditDataset::load(tmp.file("data.jsonl")); });
  EXPECT_TRUE(contains(err, "4 bad entries of 6")) << err;
  EXPECT_TRUE(contains(err, "data.jsonl:2: ")) << err;
  EXPECT_TRUE(contains(err, "missing.png: no such file")) << err;
  EXPECT_TRUE(contains(err, "data.jsonl:3: ")) << err;
  EXPECT_TRUE(contains(err, "cannot decode")) << err;
  EXPECT_TRUE(contains(err, "data.jsonl:4: not valid JSON")) << err;
  EXPECT_TRUE(contains(err, "data.jsonl:5: no instruction")) << err;
  EXPECT_TRUE(contains(err, "--skip-bad")) << err;

  DatasetOptions o;
  o.skip_bad = true;
  o.threads = 3;
  const EditDataset ds = EditDataset::load(tmp.file("data.jsonl"), o);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].instruction, "ok");
  EXPECT_EQ(ds[1].instruction, "also ok");
  EXPECT_EQ(ds.report().declared, 6u);
  ASSERT_EQ(ds.report().problems.size(), 4u);
  EXPECT_EQ(ds.report().problems[0].where, "data.jsonl:2");

  // Without the decode check a corrupt file passes validation (existence only).
  o.decode_check = false;
  EXPECT_EQ(EditDataset::load(tmp.file("data.jsonl"), o).size(), 3u);

  // A broken IP2P folder: no prompt.json edit, a missing edited image.
  const fs::path ip = tmp.path / "ip";
  fs::create_directories(ip);
  fs::copy(fs::path(toy_->ip2p_root) / "0000000", ip / "a", fs::copy_options::recursive);
  fs::copy(fs::path(toy_->ip2p_root) / "0000001", ip / "b", fs::copy_options::recursive);
  write_text(ip / "a" / "prompt.json", "{\"input\": \"x\"}");
  for (const auto& e : fs::directory_iterator(ip / "b"))
    if (contains(e.path().string(), "_1.jpg")) fs::remove(e.path());
  const std::string err2 = error_of([&] { EditDataset::load(ip.string()); });
  EXPECT_TRUE(contains(err2, "2 bad entries of 2")) << err2;
  EXPECT_TRUE(contains(err2, "no \"edit\" string")) << err2;
  EXPECT_TRUE(contains(err2, "_1.jpg: no such file")) << err2;
  o.skip_bad = true;
  EXPECT_TRUE(contains(error_of([&] { EditDataset::load(ip.string(), o); }), "no usable"));
}

TEST_F(TrainingData, HeldOutSplitIsDeterministicAndDisjoint) {
  const EditDataset ds = dataset();
  const auto [train, held] = ds.split(0.25, 5);
  EXPECT_EQ(held.size(), 6u);
  EXPECT_EQ(train.size(), 18u);
  std::set<std::string> seen;
  for (const auto& t : train.items()) seen.insert(t.input_path);
  for (const auto& t : held.items()) EXPECT_TRUE(seen.insert(t.input_path).second);
  EXPECT_EQ(seen.size(), 24u);
  const auto again = ds.split(0.25, 5);
  for (size_t i = 0; i < held.size(); ++i)
    EXPECT_EQ(again.second[i].input_path, held[i].input_path);
  const auto other = ds.split(0.25, 6);
  bool differs = false;
  for (size_t i = 0; i < held.size(); ++i)
    differs |= other.second[i].input_path != held[i].input_path;
  EXPECT_TRUE(differs);
  EXPECT_EQ(ds.split(0.0, 1).second.size(), 0u);
  EXPECT_EQ(ds.split(0.001, 1).second.size(), 1u);

  // A cap gives the surplus back to training (nothing is dropped) and keeps the draw: the capped
  // held-out set is part of the uncapped one.
  const auto [train4, held4] = ds.split(0.5, 5, 4);
  EXPECT_EQ(held4.size(), 4u);
  EXPECT_EQ(train4.size() + held4.size(), ds.size());
  std::set<std::string> all4;
  for (const auto& t : train4.items()) all4.insert(t.input_path);
  for (const auto& t : held4.items()) all4.insert(t.input_path);
  EXPECT_EQ(all4.size(), ds.size());
  std::set<std::string> held12;
  const auto half = ds.split(0.5, 5);
  for (const auto& t : half.second.items()) held12.insert(t.input_path);
  EXPECT_EQ(held12.size(), 12u);
  for (const auto& t : held4.items()) EXPECT_EQ(held12.count(t.input_path), 1u) << t.input_path;
}

TEST_F(TrainingData, HeldOutSplitKeepsGroupsTogether) {
  // Groups of 3 (e.g. three seeds of one InstructPix2Pix prompt): never split across the halves.
  std::vector<EditTriplet> items = dataset().items();
  for (size_t i = 0; i < items.size(); ++i) items[i].group = concat("g", i / 3);
  const EditDataset ds(items);
  for (uint64_t seed = 0; seed < 8; ++seed) {
    const auto [train, held] = ds.split(0.25, seed);
    EXPECT_EQ(train.size() + held.size(), ds.size());
    EXPECT_EQ(held.size(), 6u);  // 2 whole groups reach the target of 6
    std::set<std::string> held_groups, train_groups;
    for (const auto& t : held.items()) held_groups.insert(t.group);
    for (const auto& t : train.items()) train_groups.insert(t.group);
    for (const auto& g : held_groups) EXPECT_EQ(train_groups.count(g), 0u) << g;
    // A cap that is not a multiple of the group size: whole groups up to it, the rest trains.
    const auto [train_c, held_c] = ds.split(0.5, seed, 4);
    EXPECT_EQ(held_c.size(), 3u);
    EXPECT_EQ(train_c.size(), 21u);
    // A target smaller than every group: the smallest group, not nothing and not more.
    EXPECT_EQ(ds.split(2.0 / 24, seed).second.size(), 3u);
  }
  // One big group never makes the held-out part bigger than asked, whichever order is drawn.
  std::vector<EditTriplet> mixed = dataset().items();
  for (size_t i = 0; i < mixed.size(); ++i) mixed[i].group = i < 14 ? "big" : "";
  const EditDataset big(mixed);
  for (uint64_t seed = 0; seed < 16; ++seed) {
    const auto held = big.split(0.1, seed).second;  // k = round(2.4) = 2
    EXPECT_EQ(held.size(), 2u) << seed;
    for (const auto& t : held.items()) EXPECT_NE(t.group, "big");
  }
  // The IP2P layout groups by prompt folder; the manifest by input image + instruction, or by its
  // "group" key.
  const EditDataset ip = EditDataset::load(toy_->ip2p_root);
  EXPECT_TRUE(contains(ip[0].group, "0000000"));
  EXPECT_NE(ip[0].group, ip[1].group);
  TempDir tmp;
  const fs::path img = root_->path / "images";
  std::string text;
  for (int i = 0; i < 4; ++i) {
    nlohmann::json j = {{"input", (img / "000000_input.png").string()},
                        {"edited", (img / concat("00000", i, "_edited.png")).string()},
                        {"instruction", i < 2 ? "a" : "b"}};
    if (i == 3) j["group"] = 7;
    text += j.dump() + "\n";
  }
  write_text(tmp / "g.jsonl", text);
  const EditDataset m = EditDataset::load(tmp.file("g.jsonl"));
  EXPECT_EQ(m[0].group, m[1].group);  // same input and instruction
  EXPECT_NE(m[1].group, m[2].group);
  EXPECT_NE(m[2].group, m[3].group);
  EXPECT_TRUE(contains(m[3].group, "7"));
}

TEST_F(TrainingData, ShardedValidationAgreesAcrossShards) {
  // Two "ranks" on two threads: each decodes half of the files, the bad flags are OR-ed through a
  // shared buffer (standing in for the all-reduce), and both keep the same entries; each reports
  // only what it found.
  TempDir tmp;
  const fs::path img = root_->path / "images";
  write_text(tmp / "broken.png", "not a png");
  std::string text;
  for (int i = 0; i < 8; ++i) {
    const bool broken = i == 2 || i == 5;
    text += nlohmann::json{{"input", broken ? tmp.file("broken.png")
                                            : (img / concat("00000", i, "_input.png")).string()},
                           {"edited", (img / concat("00000", i, "_edited.png")).string()},
                           {"instruction", concat("edit ", i)}}
                .dump() +
            "\n";
  }
  write_text(tmp / "d.jsonl", text);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint8_t> sum;
  int arrived = 0, left = 0;
  auto combine = [&](std::vector<uint8_t>& bad) {
    std::unique_lock<std::mutex> lock(mu);
    if (sum.empty()) sum.assign(bad.size(), 0);
    for (size_t i = 0; i < bad.size(); ++i) sum[i] |= bad[i];
    ++arrived;
    cv.notify_all();
    cv.wait(lock, [&] { return arrived == 2; });
    bad = sum;
    ++left;
  };
  std::vector<EditDataset> got(2);
  std::vector<std::string> errors(2);
  auto rank = [&](int r, bool skip) {
    DatasetOptions o;
    o.skip_bad = skip;
    o.shard_rank = r;
    o.shard_count = 2;
    o.combine = combine;
    errors[static_cast<size_t>(r)] =
        error_of([&] { got[static_cast<size_t>(r)] = EditDataset::load(tmp.file("d.jsonl"), o); });
  };
  {
    std::thread t0(rank, 0, true), t1(rank, 1, true);
    t0.join();
    t1.join();
  }
  ASSERT_EQ(got[0].size(), 6u) << errors[0];
  ASSERT_EQ(got[1].size(), 6u) << errors[1];
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(got[0][i].instruction, got[1][i].instruction);
  // Entry 2 is checked by shard 0 (index 2 % 2), entry 5 by shard 1.
  for (int r = 0; r < 2; ++r) {
    const auto& problems = got[static_cast<size_t>(r)].report().problems;
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_EQ(problems[0].where, "d.jsonl:3");
    EXPECT_EQ(problems[1].where, "d.jsonl:6");
    EXPECT_EQ(problems[0].local, r == 0);
    EXPECT_EQ(problems[1].local, r == 1);
  }
  // Without --skip-bad both fail; each message lists what its shard found.
  sum.clear();
  arrived = left = 0;
  {
    std::thread t0(rank, 0, false), t1(rank, 1, false);
    t0.join();
    t1.join();
  }
  EXPECT_TRUE(contains(errors[0], "2 bad entries of 8")) << errors[0];
  EXPECT_TRUE(contains(errors[0], "d.jsonl:3")) << errors[0];
  EXPECT_TRUE(contains(errors[0], "1 found by the other ranks")) << errors[0];
  EXPECT_TRUE(contains(errors[1], "d.jsonl:6")) << errors[1];
  EXPECT_FALSE(contains(errors[1], "d.jsonl:3")) << errors[1];
}

TEST_F(TrainingData, SampleTransformFlipsBothImagesTogether) {
  const at::Tensor a = toy_source_image(1, 32);
  const at::Tensor b = apply_toy_edit("invert", a);
  SampleTransform t;
  t.resize = 32;  // no resampling, so the inversion survives exactly
  t.crop = 24;
  int flips = 0;
  std::set<std::pair<int64_t, int64_t>> offsets;
  for (int64_t index = 0; index < 64; ++index) {
    const EditSample s = transform_edit_sample(a, b, t, 3, 0, index);
    ASSERT_EQ(s.input_u8.sizes(), (std::vector<int64_t>{24, 24, 3}));
    EXPECT_TRUE(same(s.edited_u8, apply_toy_edit("invert", s.input_u8)));
    at::Tensor expect = a.narrow(0, s.crop_y, 24).narrow(1, s.crop_x, 24);
    if (s.flipped) expect = expect.flip({1});
    EXPECT_TRUE(same(s.input_u8, expect.contiguous()));
    flips += s.flipped;
    offsets.insert({s.crop_x, s.crop_y});
    // Same key, same draw; another epoch, other draws.
    const EditSample again = transform_edit_sample(a, b, t, 3, 0, index);
    EXPECT_EQ(again.flipped, s.flipped);
    EXPECT_EQ(again.crop_x, s.crop_x);
  }
  EXPECT_GT(flips, 16);
  EXPECT_LT(flips, 48);
  EXPECT_GT(offsets.size(), 20u);
}

TEST_F(TrainingData, LoaderIsIndependentOfThreadCount) {
  const EditDataset ds = dataset();
  EditDataLoader sync(ds, loader_options(0));
  EditDataLoader threaded(ds, loader_options(3));
  EXPECT_EQ(sync.steps_per_epoch(), 4);
  std::set<int64_t> epoch0;
  for (int i = 0; i < 10; ++i) {  // crosses two epoch boundaries
    const EditBatch a = sync.next();
    const EditBatch b = threaded.next();
    EXPECT_EQ(a.position, b.position);
    EXPECT_EQ(a.position.epoch, i / 4);
    EXPECT_EQ(a.position.step, i % 4);
    ASSERT_EQ(a.indices, b.indices);
    ASSERT_EQ(a.input.sizes(), (std::vector<int64_t>{6, 3, 28, 28}));
    EXPECT_TRUE(same(a.input, b.input));
    EXPECT_TRUE(same(a.edited, b.edited));
    EXPECT_EQ(a.instructions, b.instructions);
    for (size_t k = 0; k < a.indices.size(); ++k)
      EXPECT_EQ(a.instructions[k], ds[static_cast<size_t>(a.indices[k])].instruction);
    if (i < 4) epoch0.insert(a.indices.begin(), a.indices.end());
  }
  EXPECT_EQ(epoch0.size(), 24u);  // an epoch visits every sample once
  EXPECT_NE(sync.epoch_order(0), sync.epoch_order(1));

  // Values are u8 / 255 of the transformed sample.
  const EditBatch first = EditDataLoader(ds, loader_options(0)).next();
  const EditSample s = load_edit_sample(ds[static_cast<size_t>(first.indices[0])],
                                        loader_options(0).transform, 11, 0, first.indices[0]);
  EXPECT_TRUE(same(first.input[0], to_unit_float(s.input_u8)));
  EXPECT_TRUE(same(first.edited[0], to_unit_float(s.edited_u8)));
}

TEST_F(TrainingData, LoaderComputesModelInputsOnItsWorkers) {
  // The per-sample hook's results are stacked in order, the same with or without threads.
  const EditDataset ds = dataset();
  ClipImageProcessorConfig pc;
  pc.image_mean = {0.25, 0.5, 0.75};
  pc.image_std = {0.5, 0.25, 0.125};
  const ClipImageProcessor processor(pc);
  auto options = [&](int threads) {
    LoaderOptions o = loader_options(threads);
    o.pair_pixels = open_clip_train_pair_pixels(processor);
    o.keep_images = false;
    return o;
  };
  EditDataLoader sync(ds, options(0)), threaded(ds, options(3));
  for (int i = 0; i < 5; ++i) {
    const EditBatch a = sync.next(), b = threaded.next();
    EXPECT_FALSE(a.input.defined());
    ASSERT_EQ(a.pair_pixels.sizes(), (std::vector<int64_t>{6, 6, 28, 28}));
    EXPECT_TRUE(same(a.pair_pixels, b.pair_pixels));
    // open_clip's ToTensor + Normalize of each transformed image, [input, edited] on channels.
    const int64_t idx = a.indices[1];
    const EditSample s = load_edit_sample(ds[static_cast<size_t>(idx)], loader_options(0).transform,
                                          11, a.position.epoch, idx);
    const at::Tensor mean = at::tensor({0.25f, 0.5f, 0.75f}).view({3, 1, 1});
    const at::Tensor stdev = at::tensor({0.5f, 0.25f, 0.125f}).view({3, 1, 1});
    auto norm = [&](const at::Tensor& u8) {
      return (u8.permute({2, 0, 1}).to(at::kFloat) / 255).sub(mean).div(stdev);
    };
    EXPECT_TRUE(same(a.pair_pixels[1], at::cat({norm(s.input_u8), norm(s.edited_u8)}, 0)));
  }
}

TEST_F(TrainingData, LoaderWorkersRunAtenOpsSeriallyAndLeaveOtherThreadsAlone) {
  // Each worker would otherwise open an OpenMP team of every core next to the training step.
  const EditDataset ds = dataset();
  // At least 2, so that "serial" is visible (ATen's default may be 1 on a small machine).
  const int before = at::get_num_threads();
  const int main_threads = std::max(2, before);
  at::set_num_threads(main_threads);
  std::mutex mu;
  std::vector<int> seen;
  LoaderOptions o = loader_options(2);
  o.pair_pixels = [&](const at::Tensor& in, const at::Tensor& ed) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(at::get_num_threads());
    }
    return at::cat({in, ed}, 2).permute({2, 0, 1}).to(at::kFloat);
  };
  {
    EditDataLoader loader(ds, o);
    loader.next();
  }
  ASSERT_FALSE(seen.empty());
  if (at::get_parallel_info().find("OpenMP") != std::string::npos) {
    for (int n : seen) EXPECT_EQ(n, 1);
  }
  EXPECT_EQ(at::get_num_threads(), main_threads);
  // A thread started afterwards still gets the process's thread count.
  int later = 0;
  std::thread([&] { later = at::get_num_threads(); }).join();
  EXPECT_EQ(later, main_threads);
  at::set_num_threads(before);
}

TEST_F(TrainingData, LoaderResumesBitIdentically) {
  const EditDataset ds = dataset();
  EditDataLoader a(ds, loader_options(2));
  std::vector<EditBatch> batches;
  LoaderPosition saved;
  for (int i = 0; i < 7; ++i) {
    if (i == 3) saved = a.position();
    batches.push_back(a.next());
  }
  EXPECT_EQ(saved.epoch, 0);
  EXPECT_EQ(saved.step, 3);
  EXPECT_EQ(LoaderPosition::from_json(saved.to_json()), saved);
  EditDataLoader b(ds, loader_options(1));
  b.next();  // some prefetched state to throw away
  b.seek(saved);
  EXPECT_EQ(b.position(), saved);
  for (int i = 3; i < 7; ++i) {
    const EditBatch r = b.next();
    EXPECT_EQ(r.indices, batches[static_cast<size_t>(i)].indices);
    EXPECT_TRUE(same(r.input, batches[static_cast<size_t>(i)].input));
    EXPECT_TRUE(same(r.edited, batches[static_cast<size_t>(i)].edited));
  }
  EXPECT_TRUE(contains(error_of([&] { b.seek({0, 4}); }), "cannot resume"));
}

TEST_F(TrainingData, RankShardsTileTheGlobalBatch) {
  const EditDataset ds = dataset();
  LoaderOptions single = loader_options(0);
  EditDataLoader whole(ds, single);
  std::vector<std::unique_ptr<EditDataLoader>> ranks;
  for (int r = 0; r < 3; ++r) {
    LoaderOptions o = loader_options(r == 1 ? 2 : 0);
    o.rank = r;
    o.world_size = 3;
    ranks.push_back(std::make_unique<EditDataLoader>(ds, o));
  }
  EXPECT_EQ(ranks[0]->local_batch(), 2);
  for (int i = 0; i < 5; ++i) {
    const EditBatch g = whole.next();
    std::vector<int64_t> joined;
    std::vector<at::Tensor> inputs;
    for (auto& r : ranks) {
      const EditBatch b = r->next();
      EXPECT_EQ(b.position, g.position);
      EXPECT_EQ(b.size(), 2);
      joined.insert(joined.end(), b.indices.begin(), b.indices.end());
      inputs.push_back(b.input);
    }
    EXPECT_EQ(joined, g.indices);
    EXPECT_TRUE(same(at::cat(inputs, 0), g.input));
  }
  // Evaluation without drop_last: the short last batch is split as evenly as possible.
  const EditDataset small = ds.subset({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  std::vector<int64_t> all;
  for (int r = 0; r < 2; ++r) {
    LoaderOptions o = loader_options(0);
    o.global_batch = 4;
    o.drop_last = false;
    o.shuffle = false;
    o.rank = r;
    o.world_size = 2;
    EditDataLoader l(small, o);
    EXPECT_EQ(l.steps_per_epoch(), 3);
    for (int s = 0; s < 3; ++s) {
      const auto idx = l.local_batch_indices({0, s});
      all.insert(all.end(), idx.begin(), idx.end());
    }
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST_F(TrainingData, LoaderRejectsBadSettingsAndReportsWorkerErrors) {
  const EditDataset ds = dataset();
  LoaderOptions o = loader_options(0);
  o.global_batch = 25;
  EXPECT_TRUE(contains(error_of([&] { EditDataLoader l(ds, o); }), "fewer than one global batch"));
  o.global_batch = 6;
  o.world_size = 4;
  EXPECT_TRUE(contains(error_of([&] { EditDataLoader l(ds, o); }), "multiple of the world size"));

  // A file that disappears after validation: the worker's error reaches next().
  TempDir tmp;
  std::vector<EditTriplet> items = ds.items();
  fs::copy_file(items[0].input_path, tmp.file("in.png"));
  for (auto& t : items) t.input_path = tmp.file("in.png");
  const EditDataset moved(items);
  EditDataLoader l(moved, loader_options(2));
  l.next();
  fs::remove(tmp.file("in.png"));
  std::string err;
  for (int i = 0; i < 8 && err.empty(); ++i) err = error_of([&] { l.next(); });
  EXPECT_TRUE(contains(err, "in.png: no such file")) << err;
}

TEST(TrainingEval, ShuffledEc2tPairsEachPairWithAnotherInstruction) {
  using V = std::vector<int64_t>;
  // Runs of the same instruction (consecutive held-out pairs of one prompt) get the next
  // different one, cyclically; a single instruction has no other.
  EXPECT_EQ(other_instruction_targets(V{0, 0, 1, 1, 2}), (V{1, 1, 2, 2, 0}));
  EXPECT_EQ(other_instruction_targets(V{0, 0, 1, 0, 0}), (V{1, 1, 0, 1, 1}));
  EXPECT_EQ(other_instruction_targets(V{3, 3, 3}), (V{3, 3, 3}));
  EXPECT_EQ(other_instruction_targets(V{}), V{});
  const V t = {5, 1, 1, 1, 4, 4, 2, 5, 5, 0};
  const V o = other_instruction_targets(t);
  for (size_t i = 0; i < t.size(); ++i) EXPECT_NE(o[i], t[i]) << i;
}
