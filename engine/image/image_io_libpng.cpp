// Image file I/O for builds without OpenCV (-DEDITCLIP_WITH_OPENCV=OFF) on machines with libpng
// (and optionally libjpeg, EDITCLIP_WITH_LIBJPEG): PNG and JPEG only.
//
// Decoding deliberately mirrors what OpenCV's imdecode(IMREAD_UNCHANGED) hands image_io.cpp, so
// both builds give the same pixels and the same notes: palette -> RGB, a tRNS colour key on RGB or
// palette images -> alpha, a tRNS key on grayscale is ignored, gray+alpha -> RGBA, 1/2/4-bit gray
// expanded to 8 bits, 16-bit samples kept, no gAMA/sRGB handling. That is why PNG is read through
// libpng's classic API and not png_image_*: the simplified reader gamma-converts 16-bit files
// (treating them as linear light) and composites alpha in linear light.
#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>

#ifdef EDITCLIP_WITH_LIBJPEG
#include <jpeglib.h>
// jpeg_mem_src/jpeg_mem_dest: libjpeg 8+ and libjpeg-turbo; older libjpeg 6b builds lack them.
#if JPEG_LIB_VERSION >= 80 || defined(MEM_SRCDST_SUPPORTED)
#define EDITCLIP_JPEG_CODEC 1
#endif
#endif

#include "engine/core/error.h"
#include "engine/image/image_file_common.h"
#include "engine/image/image_io.h"

namespace editclip {
namespace {

namespace fs = std::filesystem;

// OpenCV's own limit (CV_IO_MAX_IMAGE_PIXELS), so both builds refuse the same files.
constexpr uint64_t kMaxPixels = uint64_t(1) << 30;

bool starts_with(const std::vector<uint8_t>& b, const char* magic, size_t n, size_t at = 0) {
  return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
}

bool little_endian_host() {
  const uint16_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// Decoded samples: 8- or 16-bit, 1 (gray), 3 (RGB) or 4 (RGBA) channels, colour in RGB order.
struct Decoded {
  int h = 0, w = 0, cn = 0, bits = 8;
  std::vector<uint8_t> data;  // rows of w * cn samples; 16-bit ones in host byte order
};

struct CodecState {
  const uint8_t* src = nullptr;
  size_t size = 0, pos = 0;
  char message[256] = {0};
};

void set_message(CodecState* s, const char* msg) {
  std::snprintf(s->message, sizeof s->message, "%s", msg ? msg : "unknown error");
}

// ---- PNG (libpng classic API; all C++ objects live outside the setjmp frames) ------------------

void png_on_error(png_structp png, png_const_charp msg) {
  set_message(static_cast<CodecState*>(png_get_error_ptr(png)), msg);
  png_longjmp(png, 1);
}
void png_on_warning(png_structp, png_const_charp) {}  // e.g. bad ancillary CRCs: ignored, as OpenCV

void png_read_memory(png_structp png, png_bytep dst, png_size_t n) {
  auto* s = static_cast<CodecState*>(png_get_io_ptr(png));
  if (n > s->size - s->pos) png_error(png, "file is truncated");
  std::memcpy(dst, s->src + s->pos, n);
  s->pos += n;
}

// The rows vector and `out` are sized between setjmp and png_read_image; a longjmp only leaves
// them allocated, which their owners free normally.
bool decode_png(CodecState* s, Decoded* out, std::vector<png_bytep>* rows) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_on_error, png_on_warning);
  if (!png) {
    set_message(s, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    set_message(s, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, s, png_read_memory);
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int bit_depth = 0, color_type = 0;
  png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, nullptr, nullptr, nullptr);
  if (uint64_t(w) * h > kMaxPixels) png_error(png, "image is too large");
  const bool has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  int cn = 1;
  switch (color_type) {
    case PNG_COLOR_TYPE_RGB:
    case PNG_COLOR_TYPE_PALETTE:
      cn = has_trns ? 4 : 3;
      break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
    case PNG_COLOR_TYPE_RGB_ALPHA:
      cn = 4;
      break;
    default:
      cn = 1;
  }
  const int bits = bit_depth == 16 ? 16 : 8;
  if (bits == 16 && little_endian_host()) png_set_swap(png);
  if (cn < 4)
    png_set_strip_alpha(png);
  else
    png_set_tRNS_to_alpha(png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && cn > 1) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t row_bytes = size_t(w) * cn * (bits / 8);
  if (png_get_rowbytes(png, info) != row_bytes) png_error(png, "unexpected row layout");
  out->h = static_cast<int>(h);
  out->w = static_cast<int>(w);
  out->cn = cn;
  out->bits = bits;
  // Never longjmp from inside a catch handler: only note the failure there.
  bool allocated = true;
  try {
    out->data.resize(row_bytes * h);
    rows->resize(h);
  } catch (const std::bad_alloc&) {
    allocated = false;
  }
  if (!allocated) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < h; ++y) (*rows)[y] = out->data.data() + row_bytes * y;
  png_read_image(png, rows->data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// ---- JPEG (libjpeg)
// ------------------------------------------------------------------------------

#ifdef EDITCLIP_JPEG_CODEC
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  CodecState* state;
};

void jpeg_on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegError*>(c->err);
  char buf[JMSG_LENGTH_MAX];
  (*c->err->format_message)(c, buf);
  set_message(e->state, buf);
  std::longjmp(e->jump, 1);
}
[[noreturn]] void jpeg_fail(JpegError* e, const char* msg) {
  set_message(e->state, msg);
  std::longjmp(e->jump, 1);
}
void jpeg_quiet(j_common_ptr, int) {}  // corrupt-data warnings: decode what is there, as OpenCV

bool decode_jpeg(CodecState* s, Decoded* out) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  err.state = s;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_on_error;
  err.mgr.emit_message = jpeg_quiet;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(s->src), static_cast<unsigned long>(s->size));
  jpeg_read_header(&cinfo, TRUE);
  if (uint64_t(cinfo.image_width) * cinfo.image_height > kMaxPixels)
    jpeg_fail(&err, "image is too large");
  // Like OpenCV: one component stays gray, CMYK/YCCK (Adobe, inverted) is mixed to RGB below.
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  if (cinfo.num_components == 1)
    cinfo.out_color_space = JCS_GRAYSCALE;
  else if (cmyk)
    cinfo.out_color_space = JCS_CMYK;
  else
    cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const int w = static_cast<int>(cinfo.output_width), h = static_cast<int>(cinfo.output_height);
  const int ncomp = cinfo.output_components;
  out->h = h;
  out->w = w;
  out->cn = cmyk ? 3 : ncomp;
  out->bits = 8;
  if (out->cn != 1 && out->cn != 3) jpeg_fail(&err, "unsupported colour space");
  const size_t in_row = size_t(w) * ncomp, out_row = size_t(w) * out->cn;
  bool allocated = true;
  try {
    out->data.resize(out_row * h + (cmyk ? in_row : 0));
  } catch (const std::bad_alloc&) {
    allocated = false;
  }
  if (!allocated) jpeg_fail(&err, "out of memory");
  uint8_t* scratch = out->data.data() + out_row * h;  // one CMYK row
  while (cinfo.output_scanline < cinfo.output_height) {
    const size_t y = cinfo.output_scanline;
    JSAMPROW row = cmyk ? scratch : out->data.data() + out_row * y;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (cmyk) {
      uint8_t* dst = out->data.data() + out_row * y;
      for (int x = 0; x < w; ++x) {
        const int k = scratch[x * 4 + 3];
        for (int c = 0; c < 3; ++c)
          dst[x * 3 + c] = static_cast<uint8_t>(k - (((255 - scratch[x * 4 + c]) * k) >> 8));
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (cmyk) out->data.resize(out_row * h);
  return true;
}

// Quality 95 with libjpeg's defaults otherwise (4:2:0), as the OpenCV build writes.
bool encode_jpeg(CodecState* s, const uint8_t* pixels, int h, int w, int cn, unsigned char** buffer,
                 unsigned long* size) {
  jpeg_compress_struct cinfo;
  JpegError err;
  err.state = s;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_on_error;
  err.mgr.emit_message = jpeg_quiet;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, buffer, size);
  cinfo.image_width = static_cast<JDIMENSION>(w);
  cinfo.image_height = static_cast<JDIMENSION>(h);
  cinfo.input_components = cn;
  cinfo.in_color_space = cn == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 95, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(pixels) + size_t(cinfo.next_scanline) * w * cn;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}
#endif

// ---- shared
// --------------------------------------------------------------------------------------

double sample(const Decoded& d, int64_t i) {
  if (d.bits == 16) {
    uint16_t v;
    std::memcpy(&v, d.data.data() + 2 * i, 2);
    return v;
  }
  return d.data[i];
}

// The same arithmetic (and notes) as image_io.cpp applies to OpenCV's output.
LoadedImage to_rgb(const Decoded& d) {
  LoadedImage out;
  const int h = d.h, w = d.w, cn = d.cn;
  out.rgb = at::empty({h, w, 3}, at::TensorOptions().dtype(at::kByte));
  uint8_t* dst = out.rgb.data_ptr<uint8_t>();
  if (d.bits == 8 && cn == 3) {
    std::memcpy(dst, d.data.data(), size_t(h) * w * 3);
    return out;
  }
  const double max_value = d.bits == 16 ? 65535 : 255;
  if (d.bits == 16) out.notes.push_back("converted 16-bit to 8-bit");
  const bool gray = cn <= 2, alpha = cn == 2 || cn == 4;
  if (gray) out.notes.push_back("converted grayscale to RGB");
  bool translucent = false;
  for (int64_t p = 0; p < int64_t(h) * w; ++p) {
    const int64_t base = p * cn;
    double rgb[3];
    if (gray) {
      rgb[0] = rgb[1] = rgb[2] = sample(d, base);
    } else {
      for (int c = 0; c < 3; ++c) rgb[c] = sample(d, base + c);
    }
    if (alpha) {
      const double a = std::clamp(sample(d, base + cn - 1), 0.0, max_value);
      if (a < max_value) {
        translucent = true;
        for (double& c : rgb) c = (c * a + max_value * (max_value - a)) / max_value;
      }
    }
    for (int c = 0; c < 3; ++c) dst[p * 3 + c] = sample_to_u8(rgb[c], max_value);
  }
  if (alpha)
    out.notes.push_back(translucent ? "composited the alpha channel over white"
                                    : "dropped the alpha channel (fully opaque)");
  return out;
}

// Formats OpenCV would read but this build cannot: named, so the error says what to do.
const char* other_format(const std::vector<uint8_t>& b) {
  if (starts_with(b, "RIFF", 4) && starts_with(b, "WEBP", 4, 8)) return "WebP";
  if (starts_with(b, "II*\0", 4) || starts_with(b, "MM\0*", 4)) return "TIFF";
  if (starts_with(b, "GIF8", 4)) return "GIF";
  if (starts_with(b, "BM", 2) && b.size() >= 26) return "BMP";
  return nullptr;
}

}  // namespace

LoadedImage load_image_rgb(const std::string& path) {
  const std::vector<uint8_t> bytes = read_image_file_bytes(path);
  // Before any decoder: they would grey out the missing part or print messages of their own.
  check_image_file_intact(path, bytes);
  CodecState state;
  state.src = bytes.data();
  state.size = bytes.size();
  Decoded decoded;
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n", 8)) {
    std::vector<png_bytep> rows;
    if (!decode_png(&state, &decoded, &rows))
      throw_error(path,
                  ": cannot decode image (unsupported or corrupt file): libpng: ", state.message);
  } else if (starts_with(bytes, "\xff\xd8\xff", 3)) {
#ifdef EDITCLIP_JPEG_CODEC
    if (!decode_jpeg(&state, &decoded))
      throw_error(path,
                  ": cannot decode image (unsupported or corrupt file): libjpeg: ", state.message);
#else
    throw_error(path, ": JPEG needs OpenCV or libjpeg (this build has neither): convert to PNG");
#endif
  } else if (const char* format = other_format(bytes)) {
    throw_error(path, ": cannot decode ", format,
                " in this build (no OpenCV, only PNG and JPEG): convert to PNG");
  } else {
    throw_error(path, ": cannot decode image (unsupported or corrupt file)");
  }
  return to_rgb(decoded);
}

void check_image_save_extension(const std::string& path) {
  const std::string ext = lowercase_extension(path);
  const bool jpeg = ext == ".jpg" || ext == ".jpeg";
  if (ext == ".bmp" || ext == ".webp" || ext == ".tif" || ext == ".tiff") {
#ifdef EDITCLIP_JPEG_CODEC
    throw_error(path, ": this build (no OpenCV) writes only .png and .jpg: save as .png");
#else
    throw_error(path, ": this build (no OpenCV) writes only .png: save as .png");
#endif
  }
#ifndef EDITCLIP_JPEG_CODEC
  if (jpeg)
    throw_error(path,
                ": writing JPEG needs OpenCV or libjpeg (this build has neither): save as .png");
#endif
  if (ext != ".png" && !jpeg)
    throw_error(path, ": cannot write image files with the extension '", ext,
                "' (use .png or .jpg)");
}

void save_image(const std::string& path, const at::Tensor& hwc_u8) {
  check_image_to_save(path, hwc_u8);
  check_image_save_extension(path);
  const std::string ext = lowercase_extension(path);
  const bool jpeg = ext == ".jpg" || ext == ".jpeg";
  const int channels = static_cast<int>(hwc_u8.size(2));
  if (channels == 4 && jpeg)
    throw_error(path, ": ", ext, " cannot store an alpha channel (save as .png)");
  const at::Tensor src = hwc_u8.to(at::kCPU).contiguous();
  const int h = static_cast<int>(src.size(0)), w = static_cast<int>(src.size(1));
  CodecState state;

#ifdef EDITCLIP_JPEG_CODEC
  // (Without a JPEG codec check_image_save_extension has refused .jpg already.)
  if (jpeg) {
    unsigned char* buffer = nullptr;
    unsigned long size = 0;
    const bool ok = encode_jpeg(&state, src.data_ptr<uint8_t>(), h, w, channels, &buffer, &size);
    if (!ok || size == 0) {
      std::free(buffer);
      throw_error(path, ": cannot encode image as ", ext, ": libjpeg: ", state.message);
    }
    try {
      write_image_file_bytes(path, buffer, size);
    } catch (...) {
      std::free(buffer);
      throw;
    }
    std::free(buffer);
    return;
  }
#endif

  // Writing has none of the reader's gamma pitfalls (8-bit sRGB in and out), so the simplified
  // API does it.
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(w);
  image.height = static_cast<png_uint_32>(h);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
#ifdef PNG_IMAGE_FLAG_FAST
  image.flags |= PNG_IMAGE_FLAG_FAST;  // training writes many images; size matters less
#endif
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw_error(path, ": cannot write file (does the folder exist and is it writable?)");
  const int ok = png_image_write_to_stdio(&image, file, 0, src.data_ptr<uint8_t>(), 0, nullptr);
  const std::string message = image.message;
  png_image_free(&image);
  const bool closed = std::fclose(file) == 0;
  if (!ok || !closed) {
    std::error_code ec;
    fs::remove(path, ec);
    if (!ok) throw_error(path, ": cannot encode image as .png: libpng: ", message);
    throw_error(path, ": write failed (disk full?)");
  }
}

bool image_codecs_available() {
  return true;
}

}  // namespace editclip
