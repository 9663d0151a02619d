// kind "unet": UNet2DConditionModel forward on every sub-case found in the inputs
// (sample_<x>, timestep_<x>, encoder_hidden_states_<x> -> noise_pred_<x>, debug_time_proj_<x>,
// debug_time_emb_<x>). The timestep is fed with the dtype and shape it was stored with.
#include <c10/core/InferenceMode.h>

#include <filesystem>

#include "engine/core/error.h"
#include "models/unet/unet2d_condition.h"
#include "tests/parity/parity_case.h"

namespace fs = std::filesystem;
using namespace editclip;
using namespace editclip::parity;

namespace {

void check_unet(ParityCase& c) {
  c10::InferenceMode guard;
  auto unet = UNet2DCondition::load(c.component_dir("unet").string());
  const std::string prefix = "sample_";
  int cases = 0;
  for (auto& name : c.input_names()) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string x = name.substr(prefix.size());
    at::Tensor sample = c.input(name);
    at::Tensor timestep = c.input("timestep_" + x);
    at::Tensor ehs = c.input("encoder_hidden_states_" + x);
    at::Tensor proj = unet->time_proj(timestep, sample.size(0));
    if (c.has_expected("debug_time_proj_" + x)) c.check("debug_time_proj_" + x, proj);
    if (c.has_expected("debug_time_emb_" + x))
      c.check("debug_time_emb_" + x, unet->time_embedding(proj.to(sample.scalar_type())));
    c.check("noise_pred_" + x, unet->forward(sample, timestep, ehs));
    ++cases;
  }
  if (cases == 0) c.fail("no sample_<x> input found");
}

}  // namespace

EDITCLIP_PARITY_KIND("unet", check_unet);
