#include "engine/training/toy_dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/image/image_io.h"
#include "engine/training/det_rng.h"

namespace editclip {
namespace {

namespace fs = std::filesystem;

const std::map<std::string, std::vector<std::string>>& instruction_table() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"brighten", {"make it brighter", "brighten the image", "increase the brightness"}},
      {"darken", {"make it darker", "darken the image", "lower the brightness"}},
      {"invert", {"invert the colors", "turn it into a negative", "invert the image"}},
      {"red_tint", {"give it a red tint", "make it more red", "add a warm red filter"}},
      {"blue_tint", {"give it a blue tint", "make it more blue", "add a cold blue filter"}},
      {"blur", {"blur the image", "make it blurry", "soften the focus"}},
      {"flip", {"flip it horizontally", "mirror the image", "make a mirror image"}},
      {"grayscale", {"make it black and white", "convert it to grayscale", "remove the colors"}},
  };
  return table;
}

uint8_t clamp_u8(double v) {
  return static_cast<uint8_t>(std::min(255.0, std::max(0.0, std::round(v))));
}

at::Tensor check_image(const at::Tensor& t, const char* what) {
  if (!t.defined() || t.dim() != 3 || t.size(2) != 3 || t.scalar_type() != at::kByte)
    throw_error(what, ": expected an [H,W,3] uint8 image");
  return t.to(at::kCPU).contiguous();
}

// Per-pixel map of every channel value through f(channel, value, r, g, b).
template <typename F>
at::Tensor map_pixels(const at::Tensor& src, F f) {
  at::Tensor out = at::empty_like(src);
  const uint8_t* in = src.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int64_t i = 0, n = src.size(0) * src.size(1); i < n; ++i) {
    const double r = in[3 * i], g = in[3 * i + 1], b = in[3 * i + 2];
    for (int c = 0; c < 3; ++c) o[3 * i + c] = clamp_u8(f(c, in[3 * i + c], r, g, b));
  }
  return out;
}

// Separable box blur of radius 2, applied twice (close to a Gaussian), edges clamped.
at::Tensor blur(const at::Tensor& src) {
  const int64_t h = src.size(0), w = src.size(1), rad = 2;
  std::vector<double> a(static_cast<size_t>(h * w * 3)), b(a.size());
  const uint8_t* in = src.data_ptr<uint8_t>();
  for (size_t i = 0; i < a.size(); ++i) a[i] = in[i];
  auto at3 = [&](std::vector<double>& v, int64_t y, int64_t x, int c) -> double& {
    return v[static_cast<size_t>((y * w + x) * 3 + c)];
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          double s = 0;
          for (int64_t d = -rad; d <= rad; ++d)
            s += at3(a, y, std::clamp<int64_t>(x + d, 0, w - 1), c);
          at3(b, y, x, c) = s / (2 * rad + 1);
        }
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          double s = 0;
          for (int64_t d = -rad; d <= rad; ++d)
            s += at3(b, std::clamp<int64_t>(y + d, 0, h - 1), x, c);
          at3(a, y, x, c) = s / (2 * rad + 1);
        }
  }
  at::Tensor out = at::empty_like(src);
  uint8_t* o = out.data_ptr<uint8_t>();
  for (size_t i = 0; i < a.size(); ++i) o[i] = clamp_u8(a[i]);
  return out;
}

std::string pad(int64_t v, int width) {
  std::string s = std::to_string(v);
  return std::string(static_cast<size_t>(std::max<int>(0, width - static_cast<int>(s.size()))),
                     '0') +
         s;
}

}  // namespace

const std::vector<std::string>& toy_edit_kinds() {
  static const std::vector<std::string> kinds = {"brighten",  "darken", "invert", "red_tint",
                                                 "blue_tint", "blur",   "flip",   "grayscale"};
  return kinds;
}

const std::vector<std::string>& toy_instructions(const std::string& kind) {
  auto it = instruction_table().find(kind);
  if (it == instruction_table().end())
    throw_error("toy dataset: unknown edit kind \"", kind,
                "\" (brighten, darken, invert, red_tint, blue_tint, blur, flip, grayscale)");
  return it->second;
}

at::Tensor toy_source_image(uint64_t seed, int64_t size) {
  if (size < 4) throw_error("toy dataset: image size ", size, " is too small (at least 4)");
  DetRng rng(hash_key({seed, 0x70795f696d67ULL}));
  auto color = [&] {
    return std::array<double, 3>{rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235)};
  };
  // Background: a linear gradient between two colours in a random direction.
  const auto c0 = color(), c1 = color();
  const double angle = rng.uniform(0, 2 * M_PI);
  const double dx = std::cos(angle), dy = std::sin(angle);
  std::vector<double> px(static_cast<size_t>(size * size * 3));
  const double n = static_cast<double>(size);
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x) {
      const double t = std::clamp(0.5 + ((x / n - 0.5) * dx + (y / n - 0.5) * dy), 0.0, 1.0);
      for (int c = 0; c < 3; ++c)
        px[static_cast<size_t>((y * size + x) * 3 + c)] = c0[c] * (1 - t) + c1[c] * t;
    }
  // 2-5 shapes: circles, axis-aligned rectangles and triangles.
  const int shapes = 2 + static_cast<int>(rng.below(4));
  for (int s = 0; s < shapes; ++s) {
    const int kind = static_cast<int>(rng.below(3));
    const auto c = color();
    const double cx = rng.uniform(0.15, 0.85) * n, cy = rng.uniform(0.15, 0.85) * n;
    const double r = rng.uniform(0.08, 0.3) * n, r2 = rng.uniform(0.08, 0.3) * n;
    const double rot = rng.uniform(0, 2 * M_PI);
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x) {
        const double u = x + 0.5 - cx, v = y + 0.5 - cy;
        bool inside = false;
        if (kind == 0) {
          inside = u * u + v * v <= r * r;
        } else if (kind == 1) {
          inside = std::fabs(u) <= r && std::fabs(v) <= r2;
        } else {
          // equilateral-ish triangle: inside all three half-planes around the centre
          inside = true;
          for (int k = 0; k < 3; ++k) {
            const double a = rot + k * 2 * M_PI / 3;
            if (u * std::cos(a) + v * std::sin(a) > r * 0.5) inside = false;
          }
        }
        if (inside)
          for (int ch = 0; ch < 3; ++ch) px[static_cast<size_t>((y * size + x) * 3 + ch)] = c[ch];
      }
  }
  // Light noise, so no two images are flat-identical.
  const double amp = rng.uniform(0, 12);
  at::Tensor out = at::empty({size, size, 3}, at::kByte);
  uint8_t* o = out.data_ptr<uint8_t>();
  for (size_t i = 0; i < px.size(); ++i) o[i] = clamp_u8(px[i] + amp * (rng.uniform() - 0.5));
  return out;
}

at::Tensor apply_toy_edit(const std::string& kind, const at::Tensor& hwc_u8) {
  toy_instructions(kind);  // validates the name
  const at::Tensor src = check_image(hwc_u8, "apply_toy_edit");
  if (kind == "brighten")
    return map_pixels(src, [](int, double v, double, double, double) { return v * 1.25 + 50; });
  if (kind == "darken")
    return map_pixels(src, [](int, double v, double, double, double) { return v * 0.5; });
  if (kind == "invert")
    return map_pixels(src, [](int, double v, double, double, double) { return 255 - v; });
  if (kind == "red_tint")
    return map_pixels(src, [](int c, double v, double, double, double) {
      return c == 0 ? v * 0.6 + 110 : v * 0.75;
    });
  if (kind == "blue_tint")
    return map_pixels(src, [](int c, double v, double, double, double) {
      return c == 2 ? v * 0.6 + 110 : v * 0.75;
    });
  if (kind == "grayscale")
    return map_pixels(src, [](int, double, double r, double g, double b) {
      return 0.299 * r + 0.587 * g + 0.114 * b;
    });
  if (kind == "flip") return src.flip({1}).contiguous();
  return blur(src);
}

ToyDataset write_toy_dataset(const std::string& out_dir, const ToyDatasetOptions& options) {
  const std::vector<std::string> kinds = options.kinds.empty() ? toy_edit_kinds() : options.kinds;
  for (const auto& k : kinds) toy_instructions(k);
  if (options.count < 1) throw_error("toy dataset: count must be positive");
  if (!options.manifest && !options.ip2p_layout)
    throw_error("toy dataset: nothing to write (neither manifest nor ip2p_layout)");
  const fs::path root = fs::absolute(out_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw_error(out_dir, ": cannot create (", ec.message(), ")");

  ToyDataset ds;
  std::ofstream manifest;
  if (options.manifest) {
    fs::create_directories(root / "images", ec);
    ds.manifest_path = (root / "manifest.jsonl").string();
    manifest.open(ds.manifest_path, std::ios::trunc);
    if (!manifest) throw_error(ds.manifest_path, ": cannot write");
  }
  nlohmann::json seeds = nlohmann::json::array();
  if (options.ip2p_layout) ds.ip2p_root = (root / "ip2p").string();

  for (int64_t i = 0; i < options.count; ++i) {
    const std::string& kind = kinds[static_cast<size_t>(i) % kinds.size()];
    DetRng rng(hash_key({options.seed, static_cast<uint64_t>(i), 0x746f79ULL}));
    const auto& phrasings = toy_instructions(kind);
    const std::string& instruction = phrasings[rng.below(phrasings.size())];
    const uint64_t image_seed = rng.next_u64();
    const at::Tensor input = toy_source_image(image_seed, options.image_size);
    const at::Tensor edited = apply_toy_edit(kind, input);
    EditTriplet t;
    t.instruction = instruction;
    if (options.manifest) {
      const std::string stem = pad(i, 6);
      const std::string in_rel = "images/" + stem + "_input.png";
      const std::string ed_rel = "images/" + stem + "_edited.png";
      save_image((root / in_rel).string(), input);
      save_image((root / ed_rel).string(), edited);
      manifest << nlohmann::json{{"input", in_rel},
                                 {"edited", ed_rel},
                                 {"instruction", instruction},
                                 {"kind", kind}}
                      .dump()
               << '\n';
      t.input_path = (root / in_rel).string();
      t.edited_path = (root / ed_rel).string();
      t.origin = concat("manifest.jsonl:", i + 1);
    }
    if (options.ip2p_layout) {
      const std::string name = pad(i, 7);
      const fs::path folder = root / "ip2p" / name;
      fs::create_directories(folder, ec);
      const int64_t seed = static_cast<int64_t>(image_seed % 100000);
      const std::string in_path = (folder / concat(seed, "_0.jpg")).string();
      const std::string ed_path = (folder / concat(seed, "_1.jpg")).string();
      save_image(in_path, input);
      save_image(ed_path, edited);
      std::ofstream prompt(folder / "prompt.json", std::ios::trunc);
      prompt << nlohmann::json{{"input", "a synthetic picture of shapes"},
                               {"edit", instruction},
                               {"output", "a synthetic picture of shapes (" + kind + ")"}}
                    .dump()
             << '\n';
      seeds.push_back({name, {seed}});
      if (!options.manifest) {
        t.input_path = in_path;
        t.edited_path = ed_path;
        t.origin = folder.string();
      }
    }
    ds.triplets.push_back(std::move(t));
    ds.kinds.push_back(kind);
  }
  if (options.manifest) {
    manifest.flush();
    if (!manifest) throw_error(ds.manifest_path, ": write failed");
  }
  if (options.ip2p_layout) {
    std::ofstream out(root / "ip2p" / "seeds.json", std::ios::trunc);
    out << seeds.dump() << '\n';
  }
  return ds;
}

}  // namespace editclip
