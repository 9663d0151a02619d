// Pixel checks on the PNGs exported by the headless GIMP tests (tests/gimp/*.scm). Usage:
//   editclip_gimp_checks OUTDIR [gtest flags]
// Geometry constants repeat those in plugin_tests.scm.
#include <gtest/gtest.h>
#include <png.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string g_dir;

struct Rgba {
  int width = 0, height = 0;
  std::vector<uint8_t> px;  // RGBA
  const uint8_t* at(int x, int y) const { return &px[(static_cast<size_t>(y) * width + x) * 4]; }
};

Rgba load(const std::string& name) {
  Rgba out;
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  const std::string path = g_dir + "/" + name;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    ADD_FAILURE() << "cannot read " << path << ": " << image.message;
    return out;
  }
  image.format = PNG_FORMAT_RGBA;
  out.width = static_cast<int>(image.width);
  out.height = static_cast<int>(image.height);
  out.px.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.px.data(), 0, nullptr)) {
    ADD_FAILURE() << "cannot decode " << path << ": " << image.message;
    out = Rgba{};
  }
  return out;
}

::testing::AssertionResult has_size(const Rgba& image, int width, int height) {
  if (image.width == width && image.height == height) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "size " << image.width << "x" << image.height
                                       << ", expected " << width << "x" << height;
}

// Sum over the colour channels of |a - b|.
long colour_distance(const uint8_t* a, const uint8_t* b) {
  long d = 0;
  for (int c = 0; c < 3; ++c) d += std::abs(a[c] - b[c]);
  return d;
}

bool inside(int x, int y, int bx, int by, int bw, int bh) {
  return x >= bx && y >= by && x < bx + bw && y < by + bh;
}

// Same pixels; colour is compared where alpha > 0 only (PNG export may drop the colour of fully
// transparent pixels).
bool same_pixels(const Rgba& a, const Rgba& b, std::string* why) {
  if (a.width != b.width || a.height != b.height) {
    *why = "sizes differ";
    return false;
  }
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x) {
      const uint8_t* p = a.at(x, y);
      const uint8_t* q = b.at(x, y);
      const int channels = p[3] == 0 && q[3] == 0 ? 0 : 4;
      for (int c = (channels == 0 ? 3 : 0); c < 4; ++c)
        if (p[c] != q[c]) {
          *why = "pixel " + std::to_string(x) + "," + std::to_string(y) + " channel " +
                 std::to_string(c) + ": " + std::to_string(p[c]) + " vs " + std::to_string(q[c]);
          return false;
        }
    }
  return true;
}

}  // namespace

TEST(GimpOutputs, OriginalLayersAreByteIdentical) {
  int pairs = 0;
  for (const auto& entry : fs::directory_iterator(g_dir)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = "_before.png";
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string stem = name.substr(0, name.size() - suffix.size());
    SCOPED_TRACE(stem);
    ASSERT_TRUE(fs::exists(g_dir + "/" + stem + "_after.png")) << stem << "_after.png missing";
    std::string why;
    EXPECT_TRUE(same_pixels(load(name), load(stem + "_after.png"), &why)) << why;
    ++pairs;
  }
  // a (query, before, after), b, g, k x5, refusals (missing, threechannel, indexed,
  // selmisseslayer, group, badsteps, presetandlayers, samelayer, badseed, nopreset, scorenotext,
  // batchnone)
  EXPECT_GE(pairs, 22);
}

TEST(GimpOutputs, ResultIsAFullSizeOpaqueEdit) {
  const Rgba q = load("a_query_before.png");
  const Rgba r = load("a_result.png");
  ASSERT_TRUE(has_size(r, 64, 64));
  long diff = 0;
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) {
      EXPECT_EQ(r.at(x, y)[3], 255) << x << "," << y;
      diff += colour_distance(r.at(x, y), q.at(x, y));
    }
  EXPECT_GT(diff, 0) << "the result equals the query";
}

// Query 48x40 at (10,6), transparent 8x8 corner at layer (0,0); selection = layer (10,4) 16x16.
constexpr int kBoxX = 10, kBoxY = 4, kBox = 16;

TEST(GimpOutputs, SelectionLimitsTheChangeTransparentOutside) {
  const Rgba q = load("b_query_before.png");
  const Rgba r = load("b_result.png");
  ASSERT_TRUE(has_size(r, 48, 40));
  for (int y = 0; y < r.height; ++y)
    for (int x = 0; x < r.width; ++x) {
      if (inside(x, y, kBoxX, kBoxY, kBox, kBox))
        EXPECT_EQ(r.at(x, y)[3], q.at(x, y)[3]) << "inside, layer alpha kept at " << x << "," << y;
      else
        ASSERT_EQ(r.at(x, y)[3], 0) << "outside must be transparent at " << x << "," << y;
    }
}

TEST(GimpOutputs, SelectionLimitsTheChangeCopyOutside) {
  const Rgba q = load("b_query_before.png");
  const Rgba r = load("c_result.png");
  ASSERT_TRUE(has_size(r, 48, 40));
  long inside_diff = 0;
  for (int y = 0; y < r.height; ++y)
    for (int x = 0; x < r.width; ++x) {
      const uint8_t* a = r.at(x, y);
      const uint8_t* b = q.at(x, y);
      if (inside(x, y, kBoxX, kBoxY, kBox, kBox)) {
        inside_diff += colour_distance(a, b);
        EXPECT_EQ(a[3], b[3]);
      } else {
        ASSERT_EQ(a[3], b[3]) << x << "," << y;
        if (b[3] > 0)
          for (int c = 0; c < 3; ++c)
            ASSERT_EQ(a[c], b[c]) << "outside must be an exact copy at " << x << "," << y;
      }
    }
  EXPECT_GT(inside_diff, 0) << "nothing changed inside the selection";
}

TEST(GimpOutputs, FeatheredSelectionGivesGradualWeights) {
  // Rectangle (16,16) 32x32 feathered by 16 px, transparent outside: alpha = 255 * weight.
  const Rgba r = load("f_result.png");
  ASSERT_EQ(r.width, 64);
  EXPECT_EQ(r.at(0, 0)[3], 0);
  EXPECT_EQ(r.at(63, 63)[3], 0);
  EXPECT_GE(r.at(32, 32)[3], 250);
  int partial = 0;
  for (int x = 0; x < 64; ++x) {
    const int a = r.at(x, 32)[3];
    if (a > 0 && a < 250) ++partial;
  }
  EXPECT_GE(partial, 6) << "no gradual transition across the feathered edge";
  // Weights rise monotonically from the left edge to the centre.
  for (int x = 1; x <= 32; ++x) EXPECT_GE(r.at(x, 32)[3] + 1, r.at(x - 1, 32)[3]) << x;
}

// A random seed (-1) is put in the layer name; passing that seed back gives the same image.
TEST(GimpOutputs, RandomSeedFromTheLayerNameReproduces) {
  const Rgba a = load("h_random.png");
  const Rgba b = load("h_repeat.png");
  ASSERT_TRUE(has_size(a, 48, 48));
  std::string why;
  EXPECT_TRUE(same_pixels(a, b, &why)) << why;
}

TEST(GimpOutputs, GrayImageGetsAGrayResult) {
  const Rgba r = load("g_result.png");
  ASSERT_TRUE(has_size(r, 48, 32));
  for (int y = 0; y < r.height; ++y)
    for (int x = 0; x < r.width; ++x) {
      const uint8_t* p = r.at(x, y);
      ASSERT_TRUE(p[0] == p[1] && p[1] == p[2]) << x << "," << y;
      ASSERT_EQ(p[3], 255);
    }
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    fprintf(stderr, "usage: %s OUTDIR [gtest flags]\n", argv[0]);
    return 2;
  }
  g_dir = argv[1];
  return RUN_ALL_TESTS();
}
