#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/edit_embedding_data.h"
#include "engine/editclip.h"
#include "engine/io/safetensors_reader.h"
#include "tests/test_support.h"

using namespace editclip;
using editclip::test::contains;
using editclip::test::error_of;
using editclip::test::TempDir;

TEST(EngineApi, ProcessingSizeKeepsAspectAndMultiplesOf8) {
  EXPECT_EQ(processing_size(64, 64, 64), std::make_pair(64, 64));
  EXPECT_EQ(processing_size(1000, 1000, 256), std::make_pair(256, 256));
  auto [w, h] = processing_size(1920, 1080, 256);
  EXPECT_EQ(w % 8, 0);
  EXPECT_EQ(h % 8, 0);
  EXPECT_NEAR(static_cast<double>(w) / h, 1920.0 / 1080.0, 0.05);
  EXPECT_NEAR(w * h, 256 * 256, 256 * 256 * 0.1);
  EXPECT_THROW(processing_size(0, 10, 256), Error);
}

TEST(EngineApi, SizeRoundingExplainsItself) {
  std::string note;
  EXPECT_EQ(round_size_to_multiple_of_8(256, &note), 256);
  EXPECT_TRUE(note.empty());
  EXPECT_EQ(round_size_to_multiple_of_8(250, &note), 248);
  EXPECT_NE(note.find("rounded to 248"), std::string::npos);
  EXPECT_EQ(round_size_to_multiple_of_8(3, &note), 8);
  // Zero and negative sizes are mistakes, not something to round.
  for (int bad : {0, -8, -256}) {
    const std::string msg = error_of([&] { round_size_to_multiple_of_8(bad, &note); });
    EXPECT_TRUE(contains(msg, concat("--size ", bad, ": must be a positive"))) << msg;
  }
}

TEST(EngineApi, OutputPathsAreCheckedBeforeAnyWork) {
  TempDir tmp;
  EXPECT_EQ(error_of([&] { check_output_image_path(tmp.file("r.png")); }), "");
  EXPECT_EQ(error_of([&] { check_output_image_path(tmp.file("r.JPG")); }), "");
  EXPECT_EQ(error_of([&] { check_output_file_path(tmp.file("e.safetensors")); }), "");
  const std::string missing = tmp.file("no/such/folder/r.png");
  std::string msg = error_of([&] { check_output_image_path(missing); });
  EXPECT_TRUE(contains(msg, missing) && contains(msg, "does not exist")) << msg;
  msg = error_of([&] { check_output_file_path(missing); });
  EXPECT_TRUE(contains(msg, missing) && contains(msg, "does not exist")) << msg;
  msg = error_of([&] { check_output_image_path(tmp.file("r.xyz")); });
  EXPECT_TRUE(contains(msg, tmp.file("r.xyz")) && contains(msg, "'.xyz'")) << msg;
  msg = error_of([&] { check_output_image_path(tmp.file("noextension")); });
  EXPECT_TRUE(contains(msg, "extension")) << msg;
  msg = error_of([&] { check_output_file_path(tmp.path.string()); });
  EXPECT_TRUE(contains(msg, "is a folder")) << msg;
  std::ofstream(tmp.file("plain")) << "x";
  msg = error_of([&] { check_output_file_path(tmp.file("plain/e.safetensors")); });
  EXPECT_TRUE(contains(msg, "is not a folder")) << msg;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("r.png"))) << "checks never create files";
}

TEST(EngineApi, EmbeddingSaveLoadAverage) {
  TempDir tmp;
  const auto path = tmp / "embedding.safetensors";
  write_safetensors(path.string(), {{"last_hidden_state", at::ones({1, 5, 4})},
                                    {"image_embeds", at::full({1, 3}, 2.0)}});
  EditEmbedding a = EditEmbedding::load(path.string());
  write_safetensors(path.string(), {{"last_hidden_state", at::zeros({1, 5, 4})},
                                    {"image_embeds", at::zeros({1, 3})}});
  EditEmbedding b = EditEmbedding::load(path.string());
  EditEmbedding m = EditEmbedding::average({a, b});
  EXPECT_TRUE(m.data().last_hidden_state.eq(0.5).all().item<bool>());
  EXPECT_TRUE(m.data().image_embeds.eq(1.0).all().item<bool>());
  m.save(path.string());
  EXPECT_TRUE(EditEmbedding::load(path.string()).data().image_embeds.eq(1.0).all().item<bool>());
  // Loaded embeddings remember their file, so errors about them can name it.
  EXPECT_EQ(EditEmbedding::load(path.string()).origin(), path.string());
  EXPECT_TRUE(contains(m.origin(), "average of 2 embeddings")) << m.origin();
  EXPECT_TRUE(contains(m.origin(), path.string())) << m.origin();
  write_safetensors(path.string(), {{"something_else", at::ones({2})}});
  EXPECT_THROW(EditEmbedding::load(path.string()), Error);
}

TEST(EngineApi, EngineWithoutModelsSaysWhatIsMissing) {
  Engine engine({"cpu", "fp32", 0});
  RgbImage img{8, 8, std::vector<uint8_t>(8 * 8 * 3, 128)};
  try {
    engine.embed(img, img);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--clip"), std::string::npos);
  }
  EXPECT_THROW(Engine({"tpu", "fp32", 0}), Error);
  EXPECT_THROW(Engine({"cpu", "fp8", 0}), Error);
}
