// Kind "image_proj": the EditCLIP-IP2P projection on vision tokens. Every release format of the
// weights found in the model folder (.pt zip and .safetensors) must reproduce the reference.
#include <filesystem>

#include "engine/core/error.h"
#include "models/image_proj/image_proj.h"
#include "tests/parity/parity_case.h"

namespace editclip::parity {
namespace {

namespace fs = std::filesystem;

void check_image_proj(ParityCase& c) {
  const auto& p = c.params();
  // Expected "tokens<suffix>" is the projection of input "embeds<suffix>".
  const std::string out_prefix = "tokens", in_prefix = "embeds";
  int64_t clip_dim = p.value("clip_embeddings_dim", int64_t{0});
  if (clip_dim == 0 && c.has_input(in_prefix)) clip_dim = c.input(in_prefix).size(-1);
  int64_t cross_dim = p.value("cross_attention_dim", int64_t{0});
  if (cross_dim == 0 && c.has_expected(out_prefix)) cross_dim = c.expected(out_prefix).size(-1);

  const fs::path dir = c.model_dir("ip2p");
  std::vector<fs::path> files;
  for (const char* name : {"image_proj_model.pt", "image_proj_model.safetensors"})
    if (fs::exists(dir / name)) files.push_back(dir / name);
  if (files.empty()) {
    c.fail(concat(dir.string(), ": no image_proj_model.pt or image_proj_model.safetensors"));
    return;
  }
  for (const auto& file : files) {
    ImageProj model = ImageProj::load(file.string(), clip_dim, cross_dim);
    if (p.contains("clip_extra_context_tokens") &&
        p["clip_extra_context_tokens"].get<int64_t>() != model.extra_tokens())
      c.fail(concat(file.string(), ": inferred ", model.extra_tokens(), " extra tokens, case says ",
                    p["clip_extra_context_tokens"].get<int64_t>()));
    for (const auto& name : c.expected_names()) {
      if (name.compare(0, out_prefix.size(), out_prefix) != 0) continue;
      const std::string input = in_prefix + name.substr(out_prefix.size());
      if (!c.has_input(input)) {
        c.fail(concat(name, ": no input '", input, "' to project"));
        continue;
      }
      c.check(name, model(c.input(input)));
    }
  }
}

}  // namespace

EDITCLIP_PARITY_KIND("image_proj", check_image_proj);

}  // namespace editclip::parity
