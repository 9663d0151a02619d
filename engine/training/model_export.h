// `editclip export`: a training run folder -> the release layouts the engine (and the authors'
// Python code) load directly.
//
//  encoder run -> an HF CLIPModel folder: config.json (vision_config.num_channels 6),
//                 model.safetensors (every tensor: trained vision tower + projection + logit
//                 scale from the checkpoint, the frozen text tower from the init folder),
//                 tokenizer and preprocessor files copied from the init / tokenizer folder.
//  editor run  -> an EditCLIP-IP2P pipeline folder: unet/ (config.json, in_channels 8, and
//                 diffusion_pytorch_model.safetensors), image_proj_model.safetensors and
//                 image_proj_model.pt (torch.save zip format), vae/ and scheduler/ copied from the
//                 init pipeline, model_index.json. With EMA in the run, the UNet's EMA weights
//                 are exported unless use_ema is false (the ImageProj has no EMA: the authors'
//                 EMAModel covers the UNet only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace editclip {

struct ExportOptions {
  std::string run_dir;
  std::string out_dir;
  int64_t step = -1;    // checkpoint step; -1: the latest
  bool use_ema = true;  // editor runs trained with --ema
  bool force = false;   // write into a non-empty out_dir
};

struct ExportResult {
  std::string kind;  // "encoder" or "editor"
  int64_t step = 0;
  std::string checkpoint;
  std::vector<std::string> files;  // written, relative to out_dir
};

ExportResult export_run(const ExportOptions& options);

}  // namespace editclip
