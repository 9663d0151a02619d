// PNG (and JPEG) file I/O through the engine's save_image/load_image_rgb, with expectations that
// hold for every image backend: OpenCV (image_io.cpp) and libpng/libjpeg (image_io_libpng.cpp)
// must give the same pixels and notes. Inputs the engine cannot write (gray+alpha, 16-bit,
// palette, colour keys, interlacing) are written here with libpng when the test links it
// (EDITCLIP_TEST_HAVE_PNG).
#include <gtest/gtest.h>

#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#ifdef EDITCLIP_TEST_HAVE_PNG
#include <png.h>
#endif

#include "engine/core/error.h"
#include "engine/image/image_file_common.h"
#include "engine/image/image_io.h"
#include "tests/test_support.h"

using namespace editclip;
using namespace editclip::test;
namespace fs = std::filesystem;

namespace {

std::vector<int64_t> values_of(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

at::Tensor pattern_u8(std::vector<int64_t> shape, int salt) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const at::Tensor t = (at::arange(n, at::kLong) * 37 + salt * 11) % 256;
  return t.to(at::kByte).reshape(shape).contiguous();
}

#define SKIP_WITHOUT_CODECS() \
  if (!image_codecs_available()) GTEST_SKIP() << "this build has no image codecs"

}  // namespace

TEST(ImagePngIo, RgbRoundTripIsExact) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  const at::Tensor img = pattern_u8({13, 21, 3}, 1);
  save_image(tmp.file("a.png"), img);
  const LoadedImage loaded = load_image_rgb(tmp.file("a.png"));
  EXPECT_TRUE(loaded.rgb.equal(img));
  EXPECT_TRUE(loaded.notes.empty());
  // Upper-case extensions and non-contiguous tensors are fine.
  save_image(tmp.file("b.PNG"), img.transpose(0, 1));
  EXPECT_TRUE(load_image_rgb(tmp.file("b.PNG")).rgb.equal(img.transpose(0, 1).contiguous()));
}

TEST(ImagePngIo, GrayAndRgbaWritesComeBackAsRgbWithNotes) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  const at::Tensor gray = pattern_u8({3, 2, 1}, 2);
  save_image(tmp.file("g.png"), gray);
  const LoadedImage g = load_image_rgb(tmp.file("g.png"));
  EXPECT_TRUE(g.rgb.equal(gray.expand({3, 2, 3})));
  EXPECT_EQ(g.notes, (std::vector<std::string>{"converted grayscale to RGB"}));

  at::Tensor rgba = pattern_u8({2, 2, 4}, 3);
  rgba.select(2, 3).fill_(255);
  save_image(tmp.file("opaque.png"), rgba);
  const LoadedImage o = load_image_rgb(tmp.file("opaque.png"));
  EXPECT_TRUE(o.rgb.equal(rgba.narrow(2, 0, 3)));
  EXPECT_EQ(o.notes, (std::vector<std::string>{"dropped the alpha channel (fully opaque)"}));

  rgba.select(2, 3).fill_(0);
  save_image(tmp.file("clear.png"), rgba);
  const LoadedImage c = load_image_rgb(tmp.file("clear.png"));
  EXPECT_TRUE((c.rgb == 255).all().item<bool>());
  EXPECT_EQ(c.notes, (std::vector<std::string>{"composited the alpha channel over white"}));
}

TEST(ImagePngIo, Errors) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  const std::string missing = tmp.file("nope.png");
  EXPECT_EQ(error_of([&] { load_image_rgb(missing); }), missing + ": no such file");
  EXPECT_TRUE(contains(error_of([&] { load_image_rgb(tmp.path.string()); }), "is a folder"));
  std::ofstream(tmp.file("empty.png")).close();
  EXPECT_EQ(error_of([&] { load_image_rgb(tmp.file("empty.png")); }),
            tmp.file("empty.png") + ": cannot decode image (unsupported or corrupt file)");
  { std::ofstream(tmp.file("text.png")) << "not an image at all, just text\n"; }
  EXPECT_EQ(error_of([&] { load_image_rgb(tmp.file("text.png")); }),
            tmp.file("text.png") + ": cannot decode image (unsupported or corrupt file)");

  // A valid file cut in half.
  const at::Tensor img = pattern_u8({32, 32, 3}, 4);
  save_image(tmp.file("whole.png"), img);
  std::string bytes;
  {
    std::ifstream in(tmp.file("whole.png"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  { std::ofstream(tmp.file("cut.png"), std::ios::binary) << bytes.substr(0, bytes.size() / 2); }
  EXPECT_TRUE(contains(error_of([&] { load_image_rgb(tmp.file("cut.png")); }),
                       tmp.file("cut.png") + ": truncated PNG"));

  EXPECT_TRUE(contains(error_of([&] { save_image(tmp.file("x.gifx"), img); }), "extension"));
  EXPECT_TRUE(contains(error_of([&] { save_image(tmp.file("no/such/dir/x.png"), img); }),
                       tmp.file("no/such/dir/x.png")));
  EXPECT_TRUE(
      contains(error_of([&] { save_image(tmp.file("x.png"), img.to(at::kFloat)); }), "uint8"));
  EXPECT_TRUE(contains(error_of([&] {
                         save_image(tmp.file("x.jpg"), pattern_u8({4, 4, 4}, 5));
                       }),
                       "alpha"));
}

// JPEG is optional without OpenCV; where it is missing the error says how to get on.
TEST(ImagePngIo, JpegRoundTripOrClearError) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  // Smooth, so JPEG at quality 95 stays close.
  const at::Tensor ramp = at::arange(32, at::kLong) * 6;
  const at::Tensor img =
      at::stack({ramp.view({1, 32}).expand({24, 32}), ramp.view({1, 32}).expand({24, 32}).flip(1),
                 at::full({24, 32}, 90, at::kLong)},
                2)
          .to(at::kByte)
          .contiguous();
  const std::string err = error_of([&] { save_image(tmp.file("a.jpg"), img); });
  if (!err.empty()) {
    EXPECT_TRUE(contains(err, "JPEG needs OpenCV or libjpeg")) << err;
    return;
  }
  const LoadedImage loaded = load_image_rgb(tmp.file("a.jpg"));
  ASSERT_EQ(loaded.rgb.sizes(), img.sizes());
  EXPECT_TRUE(loaded.notes.empty());
  EXPECT_LE((loaded.rgb.to(at::kInt) - img.to(at::kInt)).abs().max().item<int>(), 8);

  save_image(tmp.file("g.jpeg"), img.narrow(2, 0, 1).contiguous());
  const LoadedImage g = load_image_rgb(tmp.file("g.jpeg"));
  EXPECT_EQ(g.notes, (std::vector<std::string>{"converted grayscale to RGB"}));
  EXPECT_TRUE(g.rgb.select(2, 0).equal(g.rgb.select(2, 2)));
}

#ifdef EDITCLIP_TEST_HAVE_PNG

namespace {

struct PngSpec {
  int w = 1, h = 1, bit_depth = 8, color_type = PNG_COLOR_TYPE_RGB;
  bool interlace = false;
  std::vector<png_color> palette;
  std::vector<png_byte> palette_alpha;  // tRNS for palette images
  bool color_key = false;               // tRNS for gray/RGB images
  png_color_16 key{};
  double gamma = 0;  // > 0: write a gAMA chunk
};

int channels_of(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return 2;
    case PNG_COLOR_TYPE_RGB:
      return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      return 4;
    default:
      return 1;  // gray, palette indices
  }
}

void png_fail(png_structp png, png_const_charp) {
  png_longjmp(png, 1);
}

// Writes samples (row-major, channels interleaved, each < 2^bit_depth) as PNG stores them:
// big-endian 16-bit, sub-byte samples packed from the high bits.
bool write_png(const std::string& path, const PngSpec& spec, const std::vector<unsigned>& samples) {
  const int cn = channels_of(spec.color_type);
  if (samples.size() != size_t(spec.w) * spec.h * cn) return false;
  const size_t row_bytes = (size_t(spec.w) * cn * spec.bit_depth + 7) / 8;
  std::vector<png_byte> packed(row_bytes * spec.h, 0);
  for (int y = 0; y < spec.h; ++y) {
    png_byte* row = packed.data() + row_bytes * y;
    for (int i = 0; i < spec.w * cn; ++i) {
      const unsigned v = samples[size_t(y) * spec.w * cn + i];
      if (spec.bit_depth == 16) {
        row[2 * i] = static_cast<png_byte>(v >> 8);
        row[2 * i + 1] = static_cast<png_byte>(v & 255);
      } else if (spec.bit_depth == 8) {
        row[i] = static_cast<png_byte>(v);
      } else {
        const int bit = i * spec.bit_depth;
        row[bit / 8] |= static_cast<png_byte>(v << (8 - spec.bit_depth - bit % 8));
      }
    }
  }
  std::vector<png_bytep> rows(spec.h);
  for (int y = 0; y < spec.h; ++y) rows[y] = packed.data() + row_bytes * y;

  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, png_fail, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, spec.w, spec.h, spec.bit_depth, spec.color_type,
               spec.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty())
    png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
  if (!spec.palette_alpha.empty())
    png_set_tRNS(png, info, spec.palette_alpha.data(), static_cast<int>(spec.palette_alpha.size()),
                 nullptr);
  if (spec.color_key) {
    png_color_16 key = spec.key;
    png_set_tRNS(png, info, nullptr, 1, &key);
  }
  if (spec.gamma > 0) png_set_gAMA(png, info, spec.gamma);
  png_write_info(png, info);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::fclose(f) == 0;
}

using Notes = std::vector<std::string>;
const std::string kSixteen = "converted 16-bit to 8-bit", kGray = "converted grayscale to RGB",
                  kComposited = "composited the alpha channel over white",
                  kDropped = "dropped the alpha channel (fully opaque)";

}  // namespace

TEST(ImagePngIo, GrayIsReplicated) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  PngSpec s;
  s.w = 1;
  s.h = 2;
  s.color_type = PNG_COLOR_TYPE_GRAY;
  ASSERT_TRUE(write_png(tmp.file("g8.png"), s, {7, 250}));
  const LoadedImage g8 = load_image_rgb(tmp.file("g8.png"));
  EXPECT_EQ(values_of(g8.rgb), (std::vector<int64_t>{7, 7, 7, 250, 250, 250}));
  EXPECT_EQ(g8.notes, Notes{kGray});

  // 2-bit gray is expanded to the full 8-bit range.
  s.w = 4;
  s.h = 1;
  s.bit_depth = 2;
  ASSERT_TRUE(write_png(tmp.file("g2.png"), s, {0, 1, 2, 3}));
  const LoadedImage g2 = load_image_rgb(tmp.file("g2.png"));
  EXPECT_EQ(values_of(g2.rgb),
            (std::vector<int64_t>{0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255}));
  EXPECT_EQ(g2.notes, Notes{kGray});

  // A gray colour key is not turned into transparency.
  s.bit_depth = 8;
  s.w = 2;
  s.color_key = true;
  s.key.gray = 7;
  ASSERT_TRUE(write_png(tmp.file("gk.png"), s, {7, 9}));
  const LoadedImage gk = load_image_rgb(tmp.file("gk.png"));
  EXPECT_EQ(values_of(gk.rgb), (std::vector<int64_t>{7, 7, 7, 9, 9, 9}));
  EXPECT_EQ(gk.notes, Notes{kGray});
}

TEST(ImagePngIo, AlphaIsCompositedOverWhite) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  PngSpec s;
  s.w = 3;
  s.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  // Opaque; transparent -> white; 20% black over white: 255 * 0.8 = 204.
  ASSERT_TRUE(write_png(tmp.file("rgba.png"), s, {30, 20, 10, 255, 30, 20, 10, 0, 0, 0, 0, 51}));
  const LoadedImage img = load_image_rgb(tmp.file("rgba.png"));
  EXPECT_EQ(values_of(img.rgb), (std::vector<int64_t>{30, 20, 10, 255, 255, 255, 204, 204, 204}));
  EXPECT_EQ(img.notes, Notes{kComposited});

  ASSERT_TRUE(write_png(tmp.file("opaque.png"), s, {30, 20, 10, 255, 1, 2, 3, 255, 0, 0, 0, 255}));
  const LoadedImage opaque = load_image_rgb(tmp.file("opaque.png"));
  EXPECT_EQ(values_of(opaque.rgb), (std::vector<int64_t>{30, 20, 10, 1, 2, 3, 0, 0, 0}));
  EXPECT_EQ(opaque.notes, Notes{kDropped});

  // Gray+alpha is decoded as RGBA (as OpenCV does): only the alpha note.
  s.w = 2;
  s.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
  ASSERT_TRUE(write_png(tmp.file("ga.png"), s, {100, 255, 0, 51}));
  const LoadedImage ga = load_image_rgb(tmp.file("ga.png"));
  EXPECT_EQ(values_of(ga.rgb), (std::vector<int64_t>{100, 100, 100, 204, 204, 204}));
  EXPECT_EQ(ga.notes, Notes{kComposited});

  // An RGB colour key becomes transparency.
  s.color_type = PNG_COLOR_TYPE_RGB;
  s.color_key = true;
  s.key.red = 10;
  s.key.green = 20;
  s.key.blue = 30;
  ASSERT_TRUE(write_png(tmp.file("key.png"), s, {10, 20, 30, 1, 2, 3}));
  const LoadedImage key = load_image_rgb(tmp.file("key.png"));
  EXPECT_EQ(values_of(key.rgb), (std::vector<int64_t>{255, 255, 255, 1, 2, 3}));
  EXPECT_EQ(key.notes, Notes{kComposited});
}

TEST(ImagePngIo, SixteenBitIsScaledWithRounding) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  PngSpec s;
  s.w = 2;
  s.bit_depth = 16;
  // 32896 = 128 * 257; 385 / 257 = 1.498 -> 1.
  ASSERT_TRUE(write_png(tmp.file("rgb16.png"), s, {65535, 32896, 0, 385, 385, 385}));
  const LoadedImage rgb = load_image_rgb(tmp.file("rgb16.png"));
  EXPECT_EQ(values_of(rgb.rgb), (std::vector<int64_t>{255, 128, 0, 1, 1, 1}));
  EXPECT_EQ(rgb.notes, Notes{kSixteen});

  // Composited in 16-bit units: 65535 * (65535 - 32768) / 65535 = 32767 -> 127.498 -> 127.
  s.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  ASSERT_TRUE(write_png(tmp.file("rgba16.png"), s, {0, 0, 0, 32768, 65535, 0, 0, 65535}));
  const LoadedImage rgba = load_image_rgb(tmp.file("rgba16.png"));
  EXPECT_EQ(values_of(rgba.rgb), (std::vector<int64_t>{127, 127, 127, 255, 0, 0}));
  EXPECT_EQ(rgba.notes, (Notes{kSixteen, kComposited}));

  s.color_type = PNG_COLOR_TYPE_GRAY;
  ASSERT_TRUE(write_png(tmp.file("g16.png"), s, {9 * 257, 65535}));
  const LoadedImage g = load_image_rgb(tmp.file("g16.png"));
  EXPECT_EQ(values_of(g.rgb), (std::vector<int64_t>{9, 9, 9, 255, 255, 255}));
  EXPECT_EQ(g.notes, (Notes{kSixteen, kGray}));
}

TEST(ImagePngIo, PaletteInterlaceAndGamma) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  PngSpec s;
  s.w = 3;
  s.color_type = PNG_COLOR_TYPE_PALETTE;
  s.palette = {{200, 100, 50}, {1, 2, 3}};
  ASSERT_TRUE(write_png(tmp.file("pal.png"), s, {0, 1, 0}));
  const LoadedImage pal = load_image_rgb(tmp.file("pal.png"));
  EXPECT_EQ(values_of(pal.rgb), (std::vector<int64_t>{200, 100, 50, 1, 2, 3, 200, 100, 50}));
  EXPECT_TRUE(pal.notes.empty());

  s.palette_alpha = {255, 0};
  ASSERT_TRUE(write_png(tmp.file("palt.png"), s, {0, 1, 0}));
  const LoadedImage palt = load_image_rgb(tmp.file("palt.png"));
  EXPECT_EQ(values_of(palt.rgb), (std::vector<int64_t>{200, 100, 50, 255, 255, 255, 200, 100, 50}));
  EXPECT_EQ(palt.notes, Notes{kComposited});

  // Adam7 interlacing; a gAMA chunk does not change the stored samples (as PIL and OpenCV).
  PngSpec rgb;
  rgb.w = 11;
  rgb.h = 9;
  rgb.interlace = true;
  rgb.gamma = 1.0;
  const at::Tensor expected = pattern_u8({9, 11, 3}, 7);
  std::vector<unsigned> samples;
  for (int64_t v : values_of(expected)) samples.push_back(static_cast<unsigned>(v));
  ASSERT_TRUE(write_png(tmp.file("adam7.png"), rgb, samples));
  const LoadedImage adam7 = load_image_rgb(tmp.file("adam7.png"));
  EXPECT_TRUE(adam7.rgb.equal(expected));
  EXPECT_TRUE(adam7.notes.empty());
}

#endif  // EDITCLIP_TEST_HAVE_PNG

// ---- truncated files: refused before any decoder sees them
// ----------------------------------------

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void put_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

bool jpeg_complete(const std::vector<uint8_t>& b) {
  return jpeg_is_complete(b.data(), b.size());
}

// The error of load_image_rgb(path), and what was written to stderr meanwhile (must be nothing:
// libpng/libjpeg messages of their own would break the one-line error).
std::pair<std::string, std::string> load_error_and_stderr(const std::string& path) {
  ::testing::internal::CaptureStderr();
  const std::string err = error_of([&] { load_image_rgb(path); });
  return {err, ::testing::internal::GetCapturedStderr()};
}

}  // namespace

TEST(ImageTruncation, PngCutAnywhereIsOneLineNamingTheFile) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  save_image(tmp.file("whole.png"), pattern_u8({40, 48, 3}, 2));
  const std::string bytes = file_bytes(tmp.file("whole.png"));
  for (size_t keep :
       {size_t(9), size_t(20), bytes.size() / 2, bytes.size() - 12, bytes.size() - 1}) {
    put_bytes(tmp.file("cut.png"), bytes.substr(0, keep));
    const auto [err, printed] = load_error_and_stderr(tmp.file("cut.png"));
    EXPECT_EQ(err.rfind(tmp.file("cut.png") + ": truncated PNG", 0), 0u) << keep << ": " << err;
    EXPECT_TRUE(contains(err, "re-export or re-download")) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    EXPECT_EQ(printed, "") << keep;
  }
  // Bytes after IEND are harmless.
  put_bytes(tmp.file("tail.png"), bytes + "trailing junk");
  EXPECT_TRUE(load_image_rgb(tmp.file("tail.png")).rgb.equal(pattern_u8({40, 48, 3}, 2)));
}

TEST(ImageTruncation, JpegCutInHalfIsRefusedAndTrailingBytesAreFine) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  const at::Tensor img = pattern_u8({64, 64, 3}, 3);
  if (!error_of([&] { save_image(tmp.file("whole.jpg"), img); }).empty())
    GTEST_SKIP() << "this build writes no JPEG";
  const std::string bytes = file_bytes(tmp.file("whole.jpg"));
  const at::Tensor whole = load_image_rgb(tmp.file("whole.jpg")).rgb;
  for (size_t keep : {size_t(4), size_t(30), bytes.size() / 2, bytes.size() - 2}) {
    put_bytes(tmp.file("cut.jpg"), bytes.substr(0, keep));
    const auto [err, printed] = load_error_and_stderr(tmp.file("cut.jpg"));
    EXPECT_EQ(err.rfind(tmp.file("cut.jpg") + ": truncated JPEG", 0), 0u) << keep << ": " << err;
    EXPECT_TRUE(contains(err, "re-export or re-download")) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    EXPECT_EQ(printed, "") << keep;
  }
  put_bytes(tmp.file("tail.jpg"), bytes + std::string("\0\0junk\xff", 7));
  EXPECT_TRUE(load_image_rgb(tmp.file("tail.jpg")).rgb.equal(whole));
}

TEST(ImageTruncation, PngWithADamagedByteIsOneLineNamingTheChunk) {
  SKIP_WITHOUT_CODECS();
  TempDir tmp;
  save_image(tmp.file("whole.png"), pattern_u8({40, 48, 3}, 2));
  std::string bytes = file_bytes(tmp.file("whole.png"));
  ASSERT_EQ(png_first_bad_checksum(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
            "");
  const size_t idat = bytes.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  bytes[idat + 10] = static_cast<char>(bytes[idat + 10] ^ 0x40);  // inside the compressed data
  put_bytes(tmp.file("damaged.png"), bytes);
  const auto [err, printed] = load_error_and_stderr(tmp.file("damaged.png"));
  EXPECT_EQ(err.rfind(tmp.file("damaged.png") + ": corrupt PNG: the IDAT chunk at byte ", 0), 0u)
      << err;
  EXPECT_TRUE(contains(err, "fails its checksum")) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  EXPECT_EQ(printed, "");
}

// The marker walk on hand-made streams (no decoder involved).
TEST(ImageTruncation, JpegMarkerWalk) {
  const std::vector<uint8_t> soi = {0xFF, 0xD8};
  const std::vector<uint8_t> app0 = {0xFF, 0xE0, 0x00, 0x04, 0x12, 0x34};
  const std::vector<uint8_t> sos = {0xFF, 0xDA, 0x00, 0x03, 0x01};
  // Entropy data with a stuffed 0xFF00, a restart marker and fill bytes before the next marker.
  const std::vector<uint8_t> scan = {0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF};
  const std::vector<uint8_t> eoi = {0xFF, 0xD9};
  auto join = [](std::initializer_list<std::vector<uint8_t>> parts) {
    std::vector<uint8_t> out;
    for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  EXPECT_TRUE(jpeg_complete(join({soi, app0, sos, scan, eoi})));
  // Progressive: several scans, with tables in between.
  const std::vector<uint8_t> dht = {0xFF, 0xC4, 0x00, 0x03, 0x00};
  EXPECT_TRUE(jpeg_complete(join({soi, app0, sos, scan, dht, sos, scan, sos, {0x01}, eoi})));
  EXPECT_TRUE(jpeg_complete(join({soi, app0, sos, scan, eoi, {0x00, 0x01, 0xFF}})));
  // An EOI inside a segment (an EXIF thumbnail) does not end the file.
  const std::vector<uint8_t> app1 = {0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0xFF, 0xD9};
  EXPECT_FALSE(jpeg_complete(join({soi, app1, sos, scan})));
  EXPECT_TRUE(jpeg_complete(join({soi, app1, sos, scan, eoi})));
  // Ends inside a segment, inside the scan, or right after a stuffed byte / restart marker.
  EXPECT_FALSE(jpeg_complete(join({soi, {0xFF, 0xE0, 0x00, 0x10, 0x01}})));
  EXPECT_FALSE(jpeg_complete(join({soi, app0, sos, scan})));
  EXPECT_FALSE(jpeg_complete(join({soi, app0, sos, {0x12, 0xFF, 0x00}})));
  EXPECT_FALSE(jpeg_complete(join({soi, app0, sos, {0x12, 0xFF, 0xD0}})));
  EXPECT_FALSE(jpeg_complete(join({soi, app0, sos, {0x12, 0xFF}})));
  EXPECT_FALSE(jpeg_complete(soi));
  EXPECT_FALSE(jpeg_complete({}));
}

TEST(ImageTruncation, PngChunkWalk) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, std::vector<uint8_t> data) {
    const uint32_t n = static_cast<uint32_t>(data.size());
    for (int s : {24, 16, 8, 0}) png.push_back(static_cast<uint8_t>(n >> s));
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    for (int i = 0; i < 4; ++i) png.push_back(0);  // CRC: not checked by this walk
  };
  chunk("IHDR", std::vector<uint8_t>(13, 1));
  chunk("IDAT", std::vector<uint8_t>(100, 7));
  const std::vector<uint8_t> before_end = png;
  chunk("IEND", {});
  EXPECT_TRUE(png_is_complete(png.data(), png.size()));
  EXPECT_FALSE(png_is_complete(before_end.data(), before_end.size()));
  EXPECT_FALSE(png_is_complete(png.data(), png.size() - 1));
  EXPECT_FALSE(png_is_complete(png.data(), 40));
  // A length reaching past the end of the file.
  std::vector<uint8_t> lying = png;
  lying[8 + 25 + 3] = 0xFF;  // IDAT's length, low byte
  EXPECT_FALSE(png_is_complete(lying.data(), lying.size()));
}
