// Edit presets: embedding + exemplar thumbnails in one safetensors file.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/edit_embedding_data.h"
#include "engine/editclip.h"
#include "engine/image/pil_resample.h"
#include "engine/image/rgb_image.h"
#include "engine/io/safetensors_reader.h"
#include "tests/test_support.h"

using namespace editclip;
namespace fs = std::filesystem;

namespace {

using namespace editclip::test;

RgbImage random_image(int w, int h, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return rgb_image(at::randint(0, 256, {h, w, 3}, gen, at::TensorOptions().dtype(at::kByte)));
}

EditEmbedding random_embedding(uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto d = std::make_shared<EditEmbedding::Data>();
  d->last_hidden_state = at::randn({1, 5, 8}, gen);
  d->image_embeds = at::randn({1, 4}, gen);
  return EditEmbedding(d);
}

}  // namespace

TEST(EditPreset, RoundTrip) {
  TempDir tmp;
  EditPreset p;
  p.name = "Winter — snow & blue light";
  p.embedding = random_embedding(1);
  p.thumbnails = {{random_image(128, 96, 2), random_image(128, 96, 3)},
                  {random_image(40, 128, 4), random_image(37, 128, 5)}};
  save_preset(tmp.file("winter.safetensors"), p);
  EditPreset r = load_preset(tmp.file("winter.safetensors"));
  EXPECT_EQ(r.name, p.name);
  ASSERT_EQ(r.thumbnails.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.thumbnails[i].first.width, p.thumbnails[i].first.width);
    EXPECT_EQ(r.thumbnails[i].first.height, p.thumbnails[i].first.height);
    EXPECT_EQ(r.thumbnails[i].first.pixels, p.thumbnails[i].first.pixels);
    EXPECT_EQ(r.thumbnails[i].second.width, p.thumbnails[i].second.width);
    EXPECT_EQ(r.thumbnails[i].second.pixels, p.thumbnails[i].second.pixels);
  }
  EXPECT_TRUE(r.embedding.data().last_hidden_state.equal(p.embedding.data().last_hidden_state));
  EXPECT_TRUE(r.embedding.data().image_embeds.equal(p.embedding.data().image_embeds));
  // The file is self-describing and still a valid edit embedding.
  SafetensorsReader reader(tmp.file("winter.safetensors"));
  EXPECT_EQ(reader.metadata().at("format"), "editclip-edit-preset");
  EXPECT_EQ(reader.metadata().at("format_version"), "1");
  EXPECT_EQ(reader.metadata().at("pairs"), "2");
  EXPECT_EQ(reader.entry("thumbnail.1.after").shape, (std::vector<int64_t>{128, 37, 3}));
  EXPECT_TRUE(EditEmbedding::load(tmp.file("winter.safetensors"))
                  .data()
                  .image_embeds.equal(p.embedding.data().image_embeds));
}

TEST(EditPreset, PlainEmbeddingLoadsAsPreset) {
  TempDir tmp;
  EditEmbedding e = random_embedding(6);
  e.save(tmp.file("sepia look.safetensors"), {{"pairs", "3"}});
  EditPreset p = load_preset(tmp.file("sepia look.safetensors"));
  EXPECT_EQ(p.name, "sepia look");
  EXPECT_TRUE(p.thumbnails.empty());
  EXPECT_TRUE(p.embedding.data().last_hidden_state.equal(e.data().last_hidden_state));
  // An unnamed preset is also named after its file.
  save_preset(tmp.file("unnamed.safetensors"), EditPreset{"", e, {}});
  EXPECT_EQ(load_preset(tmp.file("unnamed.safetensors")).name, "unnamed");
}

TEST(EditPreset, BadFilesAreClearErrors) {
  TempDir tmp;
  const std::string missing = tmp.file("missing.safetensors");
  EXPECT_TRUE(contains(error_of([&] { load_preset(missing); }), missing));
  // Corrupt: a valid preset cut short.
  save_preset(
      tmp.file("p.safetensors"),
      EditPreset{"x", random_embedding(7), {{random_image(8, 8, 8), random_image(8, 8, 9)}}});
  const auto size = fs::file_size(tmp / "p.safetensors");
  fs::copy_file(tmp / "p.safetensors", tmp / "cut.safetensors");
  fs::resize_file(tmp / "cut.safetensors", size - 50);
  std::string e = error_of([&] { load_preset(tmp.file("cut.safetensors")); });
  EXPECT_TRUE(contains(e, tmp.file("cut.safetensors"))) << e;
  std::ofstream(tmp / "junk.safetensors") << "this is not a safetensors file at all";
  EXPECT_TRUE(contains(error_of([&] { load_preset(tmp.file("junk.safetensors")); }),
                       tmp.file("junk.safetensors")));
  // Safetensors, but not an embedding.
  write_safetensors(tmp.file("other.safetensors"), {{"weight", at::ones({2, 2})}});
  e = error_of([&] { load_preset(tmp.file("other.safetensors")); });
  EXPECT_TRUE(contains(e, "last_hidden_state")) << e;
  // A thumbnail that is not an 8-bit RGB image, and a half pair.
  auto d = random_embedding(10).data();
  write_safetensors(tmp.file("t.safetensors"), {{"last_hidden_state", d.last_hidden_state},
                                                {"image_embeds", d.image_embeds},
                                                {"thumbnail.0.before", at::zeros({4, 4, 3})},
                                                {"thumbnail.0.after", at::zeros({4, 4, 3})}});
  e = error_of([&] { load_preset(tmp.file("t.safetensors")); });
  EXPECT_TRUE(contains(e, "thumbnail.0.before") && contains(e, "uint8")) << e;
  write_safetensors(tmp.file("h.safetensors"),
                    {{"last_hidden_state", d.last_hidden_state},
                     {"image_embeds", d.image_embeds},
                     {"thumbnail.0.before", at::zeros({4, 4, 3}, at::kByte)}});
  EXPECT_TRUE(contains(error_of([&] { load_preset(tmp.file("h.safetensors")); }), "damaged"));
  // A preset from a newer format version.
  write_safetensors(tmp.file("v9.safetensors"),
                    {{"last_hidden_state", d.last_hidden_state}, {"image_embeds", d.image_embeds}},
                    {{"format", "editclip-edit-preset"}, {"format_version", "9"}});
  EXPECT_TRUE(contains(error_of([&] { load_preset(tmp.file("v9.safetensors")); }), "newer"));
  // Saving without an embedding or with a broken thumbnail.
  EXPECT_NE(error_of([&] { save_preset(tmp.file("n.safetensors"), EditPreset{}); }), "");
  RgbImage broken = random_image(8, 8, 11);
  broken.pixels.pop_back();
  EXPECT_NE(error_of([&] {
              save_preset(tmp.file("n.safetensors"),
                          EditPreset{"n", random_embedding(12), {{broken, broken}}});
            }),
            "");
  EXPECT_FALSE(fs::exists(tmp / "n.safetensors"));
}

TEST(EditPreset, ThumbnailsKeepAspectWithPilBicubic) {
  RgbImage big = random_image(1000, 500, 13);
  RgbImage t = make_thumbnail(big);
  EXPECT_EQ(t.width, 128);
  EXPECT_EQ(t.height, 64);
  at::Tensor src = at::from_blob(big.pixels.data(), {500, 1000, 3}, at::kByte);
  at::Tensor want = pil_resize(src, 128, 64, PilFilter::Bicubic).contiguous();
  EXPECT_EQ(t.pixels, std::vector<uint8_t>(want.data_ptr<uint8_t>(),
                                           want.data_ptr<uint8_t>() + want.numel()));
  RgbImage tall = make_thumbnail(random_image(3, 1000, 14), 100);
  EXPECT_EQ(tall.width, 1);
  EXPECT_EQ(tall.height, 100);
  RgbImage small = random_image(50, 30, 15);
  EXPECT_EQ(make_thumbnail(small).pixels, small.pixels);  // never enlarged
  EXPECT_EQ(make_thumbnail(small).width, 50);
  EXPECT_NE(error_of([&] { make_thumbnail(small, 0); }), "");
  EXPECT_NE(error_of([&] { make_thumbnail(RgbImage{}); }), "");
}
