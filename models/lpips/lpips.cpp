#include "models/lpips/lpips.h"

#include <algorithm>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/io/safetensors_reader.h"
#include "engine/io/torch_checkpoint_reader.h"

namespace editclip {

namespace fs = std::filesystem;

namespace {

struct ConvSpec {
  int64_t index, in, out, kernel, stride, padding;
};

// torchvision vgg16().features: 3x3 convs (padding 1), ReLUs after each, 2x2 max-pools at
// 4, 9, 16, 23; LPIPS taps relu1_2 (3), relu2_2 (8), relu3_3 (15), relu4_3 (22), relu5_3 (29).
const std::vector<ConvSpec> kVggConvs = {
    {0, 3, 64, 3, 1, 1},     {2, 64, 64, 3, 1, 1},    {5, 64, 128, 3, 1, 1},
    {7, 128, 128, 3, 1, 1},  {10, 128, 256, 3, 1, 1}, {12, 256, 256, 3, 1, 1},
    {14, 256, 256, 3, 1, 1}, {17, 256, 512, 3, 1, 1}, {19, 512, 512, 3, 1, 1},
    {21, 512, 512, 3, 1, 1}, {24, 512, 512, 3, 1, 1}, {26, 512, 512, 3, 1, 1},
    {28, 512, 512, 3, 1, 1}};
const std::vector<int64_t> kVggPools = {4, 9, 16, 23};
const std::vector<int64_t> kVggTaps = {3, 8, 15, 22, 29};
constexpr int64_t kVggPoolKernel = 2, kVggPoolStride = 2;

// torchvision alexnet().features: conv 11x11/4, 5x5, then three 3x3 convs; 3x3/2 max-pools at
// 2 and 5; LPIPS taps relu1..relu5 (1, 4, 7, 9, 11).
const std::vector<ConvSpec> kAlexConvs = {{0, 3, 64, 11, 4, 2},
                                          {3, 64, 192, 5, 1, 2},
                                          {6, 192, 384, 3, 1, 1},
                                          {8, 384, 256, 3, 1, 1},
                                          {10, 256, 256, 3, 1, 1}};
const std::vector<int64_t> kAlexPools = {2, 5};
const std::vector<int64_t> kAlexTaps = {1, 4, 7, 9, 11};
constexpr int64_t kAlexPoolKernel = 3, kAlexPoolStride = 2;

bool contains(const std::vector<int64_t>& v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

void require_net(const std::string& net) {
  if (net != "vgg" && net != "alex")
    throw_error("LPIPS: unknown network '", net, "' (use \"vgg\" or \"alex\")");
}

// Adds the tensors of a checkpoint whose names satisfy `keep` (torchvision checkpoints carry the
// classifier, which LPIPS does not use).
template <typename Keep>
void add_file(WeightStore& store, const fs::path& file, Keep keep) {
  std::map<std::string, at::Tensor> tensors;
  if (file.extension() == ".safetensors")
    tensors = SafetensorsReader(file.string()).tensors();
  else
    tensors = read_torch_checkpoint(file.string());
  for (auto& [name, t] : tensors)
    if (keep(name)) store.add(name, t, file.string());
}

fs::path first_existing(const fs::path& dir, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (fs::exists(dir / n)) return dir / n;
  return {};
}

// torchvision's download names carry a hash suffix (vgg16-397923af.pth, alexnet-owt-7be5be79.pth).
fs::path torchvision_checkpoint(const fs::path& dir, const std::string& stem) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(stem, 0) == 0 && e.path().extension() == ".pth") found.push_back(e.path());
  }
  std::sort(found.begin(), found.end());
  return found.empty() ? fs::path() : found.front();
}

}  // namespace

Lpips::Lpips(const std::string& net, WeightStore& store) : net_(net) {
  require_net(net);
  const bool vgg = net == "vgg";
  const auto& convs = vgg ? kVggConvs : kAlexConvs;
  const auto& pools = vgg ? kVggPools : kAlexPools;
  const auto& taps = vgg ? kVggTaps : kAlexTaps;
  const int64_t last = taps.back();
  size_t next_conv = 0;
  std::vector<int64_t> tap_channels;
  int64_t channels = 3;
  for (int64_t i = 0; i <= last; ++i) {
    Op op;
    op.index = i;
    if (next_conv < convs.size() && convs[next_conv].index == i) {
      const ConvSpec& c = convs[next_conv++];
      op.kind = Op::Kind::Conv;
      op.in = c.in;
      op.out = c.out;
      op.kernel = c.kernel;
      op.stride = c.stride;
      op.padding = c.padding;
      op.conv.bind(store, "features." + std::to_string(i), c.in, c.out, c.kernel, c.stride,
                   c.padding);
      channels = c.out;
    } else if (contains(pools, i)) {
      op.kind = Op::Kind::MaxPool;
      op.kernel = vgg ? kVggPoolKernel : kAlexPoolKernel;
      op.stride = vgg ? kVggPoolStride : kAlexPoolStride;
    } else {
      op.kind = Op::Kind::Relu;
    }
    op.tap = contains(taps, i);
    if (op.tap) tap_channels.push_back(channels);
    ops_.push_back(std::move(op));
  }
  for (size_t k = 0; k < tap_channels.size(); ++k) {
    nn::Conv2d lin;
    // The lpips package wraps each 1x1 conv as Sequential(Dropout, Conv2d): hence "model.1".
    lin.bind(store, "lin" + std::to_string(k) + ".model.1", tap_channels[k], 1, 1, 1, 0,
             /*has_bias=*/false);
    lins_.push_back(std::move(lin));
  }
}

std::shared_ptr<Lpips> Lpips::load(const std::string& dir, const std::string& net,
                                   WeightOptions options) {
  require_net(net);
  const fs::path d(dir);
  if (!fs::is_directory(d))
    throw_error(dir, ": not a folder (expected LPIPS weights: ", net,
                "_features.safetensors and lin_", net, "_v0.1.safetensors)");
  fs::path backbone = first_existing(d, {net + "_features.safetensors", net + "_features.pth"});
  if (backbone.empty()) backbone = torchvision_checkpoint(d, net == "vgg" ? "vgg16" : "alexnet");
  if (backbone.empty())
    throw_error(dir, ": no ", net, " backbone (", net, "_features.safetensors, ", net,
                "_features.pth or torchvision's ",
                net == "vgg" ? "vgg16-397923af.pth" : "alexnet-owt-7be5be79.pth", ")");
  const fs::path lin = first_existing(
      d, {"lin_" + net + "_v0.1.safetensors", "lin_" + net + "_v0.1.pth", net + ".pth"});
  if (lin.empty())
    throw_error(dir, ": no LPIPS v0.1 linear layers (lin_", net, "_v0.1.safetensors or lin_", net,
                "_v0.1.pth; the lpips package ships them as weights/v0.1/", net, ".pth)");

  return load_files(backbone.string(), lin.string(), net, options);
}

std::shared_ptr<Lpips> Lpips::load_files(const std::string& backbone, const std::string& lin,
                                         const std::string& net, WeightOptions options) {
  require_net(net);
  for (const auto& f : {backbone, lin})
    if (!fs::is_regular_file(f)) throw_error(f, ": LPIPS weight file not found");
  WeightStore store(backbone, WeightStore::Mode::Load, options);
  add_file(store, backbone, [](const std::string& n) { return n.rfind("classifier.", 0) != 0; });
  add_file(store, lin, [](const std::string&) { return true; });
  auto model = std::make_shared<Lpips>(net, store);
  store.require_all_used();
  return model;
}

std::vector<at::Tensor> Lpips::features(const at::Tensor& x_in) const {
  std::vector<at::Tensor> out;
  at::Tensor x = x_in;
  for (const Op& op : ops_) {
    switch (op.kind) {
      case Op::Kind::Conv:
        x = op.conv(x);
        break;
      case Op::Kind::Relu:
        x = at::relu(x);
        break;
      case Op::Kind::MaxPool:
        x = at::max_pool2d(x, {op.kernel, op.kernel}, {op.stride, op.stride});
        break;
    }
    if (op.tap) out.push_back(x);
  }
  return out;
}

Lpips::Output Lpips::forward(const at::Tensor& in0, const at::Tensor& in1, bool normalize) const {
  auto valid = [](const at::Tensor& t) {
    return t.defined() && t.dim() == 4 && t.size(1) == 3 && at::isFloatingType(t.scalar_type());
  };
  if (!valid(in0) || !valid(in1) || in0.sizes() != in1.sizes())
    throw_error("LPIPS: expected two floating-point images of the same shape [B, 3, H, W], got ",
                in0.defined() ? shape_string(in0.sizes()) : "nothing", " and ",
                in1.defined() ? shape_string(in1.sizes()) : "nothing");
  // Smallest spatial size any layer sees; a backbone pools images below it to nothing.
  int64_t h = std::min(in0.size(2), in0.size(3));
  for (const Op& op : ops_) {
    if (op.kind == Op::Kind::Relu) continue;
    h = (h + 2 * op.padding - op.kernel) / op.stride + 1;
    if (h < 1)
      throw_error("LPIPS-", net_, ": images of ", in0.size(2), "x", in0.size(3),
                  " are too small for the backbone (resize them up)");
  }

  const at::Device device = ops_.front().conv.weight.device();
  const at::Tensor a = in0.to(device), b = in1.to(device);
  const int64_t batch = a.size(0);
  at::Tensor x = at::cat({a, b}, 0);
  if (normalize) x = 2 * x - 1;
  const auto opts = x.options();
  const at::Tensor shift = at::tensor({-.030f, -.088f, -.188f}, opts.dtype(at::kFloat))
                               .to(x.scalar_type())
                               .view({1, 3, 1, 1});
  const at::Tensor scale = at::tensor({.458f, .448f, .450f}, opts.dtype(at::kFloat))
                               .to(x.scalar_type())
                               .view({1, 3, 1, 1});
  x = (x - shift) / scale;

  Output out;
  const auto feats = features(x);
  for (size_t k = 0; k < feats.size(); ++k) {
    const at::Tensor& f = feats[k];
    const at::Tensor unit = f / (at::sqrt(f.pow(2).sum(1, /*keepdim=*/true)) + 1e-10);
    const at::Tensor diff = (unit.narrow(0, 0, batch) - unit.narrow(0, batch, batch)).pow(2);
    out.layers.push_back(lins_[k](diff).mean({2, 3}, /*keepdim=*/true));
    out.distance = k == 0 ? out.layers[0] : out.distance + out.layers[k];
  }
  return out;
}

}  // namespace editclip
