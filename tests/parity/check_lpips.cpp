// Kind "lpips": LPIPS v0.1 distances and per-layer terms for every backbone the case holds
// ("<net>_distance"), from every weight format found in the folder.
#include <filesystem>

#include "engine/core/error.h"
#include "models/lpips/lpips.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

namespace fs = std::filesystem;

void check_net(ParityCase& c, const Lpips& lpips, const std::string& net, const at::Tensor& in0,
               const at::Tensor& in1) {
  const auto out = lpips.forward(in0, in1);
  std::map<std::string, at::Tensor> produced = {{net + "_distance", out.distance}};
  for (int k : indexed_names(c, net + "_layer")) {
    if (k < 0 || k >= static_cast<int>(out.layers.size())) {
      c.fail(concat(net, "_layer", k, ": LPIPS has ", out.layers.size(), " layers"));
      continue;
    }
    produced[concat(net, "_layer", k)] = out.layers[k];
  }
  if (c.has_expected(net + "_distance_normalize_true"))
    produced[net + "_distance_normalize_true"] =
        lpips.forward(in0 / 2 + 0.5, in1 / 2 + 0.5, /*normalize=*/true).distance;
  c.check_all(produced);
}

void check_lpips(ParityCase& c) {
  const std::string suffix = "_distance";
  std::vector<std::string> nets;
  for (const auto& name : c.expected_names())
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      nets.push_back(name.substr(0, name.size() - suffix.size()));
  if (nets.empty()) c.fail("no '<net>_distance' tensor among the expected ones");

  const at::Tensor in0 = c.input("in0"), in1 = c.input("in1");
  const fs::path dir = c.model_dir("lpips");
  for (const auto& net : nets) {
    // The folder loader first, then every other lin-layer format present (e.g. the original .pth).
    std::vector<std::shared_ptr<Lpips>> models = {Lpips::load(dir.string(), net)};
    const fs::path backbone = dir / (net + "_features.safetensors");
    const fs::path lin_pth = dir / ("lin_" + net + "_v0.1.pth");
    if (fs::exists(backbone) && fs::exists(dir / ("lin_" + net + "_v0.1.safetensors")) &&
        fs::exists(lin_pth))
      models.push_back(Lpips::load_files(backbone.string(), lin_pth.string(), net));
    for (const auto& lpips : models) check_net(c, *lpips, net, in0, in1);
  }
}

}  // namespace

EDITCLIP_PARITY_KIND("lpips", check_lpips);

}  // namespace editclip::parity
