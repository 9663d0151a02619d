// kind "vae": AutoencoderKL encode (latent distribution, mode, reparameterised sample with the
// stored noise) and decode (of the mode and of arbitrary latents). No scaling factor inside.
#include <c10/core/InferenceMode.h>

#include <filesystem>

#include "engine/core/error.h"
#include "models/vae/autoencoder_kl.h"
#include "tests/parity/parity_case.h"

namespace fs = std::filesystem;
using namespace editclip;
using namespace editclip::parity;

namespace {

void check_vae(ParityCase& c) {
  c10::InferenceMode guard;
  auto vae = AutoencoderKL::load(c.component_dir("vae").string());
  auto dist = vae->encode(c.input("image"));
  c.check("latent_mean", dist.mean);
  c.check("latent_logvar", dist.logvar);
  c.check("latent_std", dist.std);
  c.check("latent_mode", dist.mean);
  if (c.has_expected("latent_sample"))
    c.check("latent_sample", dist.mean + dist.std * c.input("sample_noise"));
  if (c.has_expected("decoded_from_mode")) c.check("decoded_from_mode", vae->decode(dist.mean));
  if (c.has_expected("decoded_from_random"))
    c.check("decoded_from_random", vae->decode(c.input("latents_random")));
}

}  // namespace

EDITCLIP_PARITY_KIND("vae", check_vae);
