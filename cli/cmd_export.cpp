#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/core/error.h"
#include "engine/training/model_export.h"

namespace editclip::cli {

namespace {
const char* kHelp = R"(usage: editclip export RUN_DIR --to OUT_DIR [options]

Writes a training run's checkpoint in the release layout:
  train-encoder run -> HF CLIPModel folder (config.json, model.safetensors, tokenizer and
                       preprocessor files), for `editclip embed/apply/score --clip OUT_DIR`;
  train-editor run  -> EditCLIP-IP2P pipeline folder (unet/, image_proj_model.pt and
                       .safetensors, vae/, scheduler/), for `editclip apply --pipeline OUT_DIR`.

  --step N     export the checkpoint of step N (default: the latest)
  --no-ema     editor runs with --ema: export the raw weights instead of the EMA
  --force      write into a non-empty OUT_DIR
)";
}  // namespace

int cmd_export(int argc, char** argv) {
  Args args(argc, argv, 2, {"to", "step"}, {"help", "no-ema", "force"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional().size() != 1)
    throw_error("give exactly one run folder: editclip export RUN_DIR --to OUT_DIR");
  ExportOptions o;
  o.run_dir = args.positional()[0];
  o.out_dir = args.require("to", "(the folder to write)");
  o.step = args.get_int("step", -1);
  o.use_ema = !args.has("no-ema");
  o.force = args.has("force");
  ExportResult r = export_run(o);
  std::cerr << "exported the " << r.kind << " of " << r.checkpoint << " (step " << r.step << ") to "
            << o.out_dir << ":";
  for (const auto& f : r.files) std::cerr << " " << f;
  std::cerr << "\n";
  return 0;
}

}  // namespace editclip::cli
