// LPIPS v0.1 (Zhang et al. 2018, the PerceptualSimilarity `lpips` package) with the vgg16 or
// alexnet backbone:
//   x -> (x - shift) / scale; features at 5 ReLU taps; each map unit-normalised over channels
//   (x / (||x||_2 + 1e-10)); squared difference; lin_k (1x1 conv, no bias); spatial mean; sum.
// Weights: the backbone in torchvision layout ("features.N.weight/bias", classifier ignored) and
// the v0.1 linear layers ("linK.model.1.weight", K = 0..4).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/io/weight_store.h"
#include "models/common/layers.h"

namespace editclip {

class Lpips {
 public:
  struct Output {
    at::Tensor distance;             // [B, 1, 1, 1]
    std::vector<at::Tensor> layers;  // 5 x [B, 1, 1, 1]; they sum to distance
  };

  // net: "vgg" (vgg16) or "alex" (alexnet). Binds the backbone and lin layers from one store.
  Lpips(const std::string& net, WeightStore& store);

  // `dir` holds the backbone as <net>_features.safetensors (or .pth), or torchvision's own
  // checkpoint (vgg16-*.pth / alexnet-*.pth), and lin_<net>_v0.1.safetensors (or .pth, or the
  // lpips package's <net>.pth).
  static std::shared_ptr<Lpips> load(const std::string& dir, const std::string& net,
                                     WeightOptions options = {});
  // Explicit files: the backbone and the lin layers (.safetensors, or torch .pth/.pt).
  static std::shared_ptr<Lpips> load_files(const std::string& backbone, const std::string& lin,
                                           const std::string& net, WeightOptions options = {});

  // in0, in1: [B, 3, H, W] in [-1, 1], or in [0, 1] with normalize = true. Differentiable in
  // both inputs (used as a training loss).
  Output forward(const at::Tensor& in0, const at::Tensor& in1, bool normalize = false) const;

  // The 5 backbone feature maps of already scaled inputs [B, 3, H, W].
  std::vector<at::Tensor> features(const at::Tensor& x) const;

  const std::string& net() const { return net_; }

 private:
  struct Op {
    enum class Kind { Conv, Relu, MaxPool } kind;
    int64_t index = 0;  // position in torchvision's `features` Sequential
    int64_t in = 0, out = 0, kernel = 0, stride = 1, padding = 0;
    bool tap = false;  // a feature map LPIPS compares is taken after this op
    nn::Conv2d conv;
  };

  std::string net_;
  std::vector<Op> ops_;
  std::vector<nn::Conv2d> lins_;
};

}  // namespace editclip
