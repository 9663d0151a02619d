#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/train_run_args.h"
#include "engine/core/error.h"
#include "engine/training/editor_trainer.h"

namespace editclip::cli {

namespace {
const char* kHelp =
    R"(usage: editclip train-editor --editclip DIR --init IP2P_OR_SD_DIR --data DATA --out RUN_DIR [options]

Trains the exemplar editor as the authors did (train_ip2p_transfer.py): EditCLIP and the VAE are
frozen; the InstructPix2Pix UNet and a fresh projection (ImageProj) learn from the epsilon MSE +
lpips_weight x LPIPS(decode(x0 estimate), input image), with conditioning dropout. A 4-channel SD
UNet is widened to 8 input channels (zeros). Data-parallel like train-encoder (--batch per process).

  --editclip DIR        the EditCLIP CLIPModel folder (6-channel vision tower)
  --init DIR            InstructPix2Pix pipeline folder (unet/, vae/, scheduler/) or SD 1.x folder
  --data PATH           manifest .jsonl / folder / InstructPix2Pix dataset   --format F  --skip-bad
  --out DIR             run folder: run.json, metrics.jsonl, step-N/, samples/, curves.png
  --steps N (20000)     --batch N per process (64)     --lr X constant (5e-5)   --wd X (1e-2)
  --size N (256)        training resolution            --no-flip   no random horizontal flips
  --lpips DIR           LPIPS weights (vgg_features.safetensors + lin_vgg_v0.1.*), or BACKBONE,LIN
  --lpips-net NET (vgg) --lpips-weight X (0.05; 0 trains with the diffusion loss alone)
  --cond-dropout P (0.05)   --grad-clip X (1.0, the UNet's gradient norm)
  --ema DECAY           keep an EMA of the UNet (export and sample grids use it)
  --beta1 X (0.9)  --beta2 X (0.999)  --eps X (1e-8)
  --sample-every N (500)    sample grid (before | after | query | output) every N steps (0: none)
  --sample-steps N (20)     --amp  (CUDA: bf16 autocast)   --seed N (0)   --workers N (2)
  --save-every N (1000)     --keep-last N (3)   --resume   --stop-after N   --log-every N (1)
  --no-plot   --device auto|cpu|cuda   --threads N   --quiet
)";
}  // namespace

int cmd_train_editor(int argc, char** argv) {
  Args args(argc, argv, 2,
            with_run_options({"editclip", "init", "steps", "batch", "lr", "wd", "beta1", "beta2",
                              "eps", "grad-clip", "size", "lpips", "lpips-net", "lpips-weight",
                              "cond-dropout", "ema", "sample-every", "sample-steps"}),
            with_run_flags({"no-flip", "amp"}));
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (!args.positional().empty())
    throw_error("unexpected argument '", args.positional()[0], "' (see --help)");
  EditorTrainOptions o;
  o.editclip = args.require("editclip", "(the EditCLIP model folder)");
  o.init = args.require("init", "(the InstructPix2Pix or Stable Diffusion folder)");
  parse_run_options(args, "(the dataset)", o);
  o.steps = args.get_int("steps", static_cast<int>(o.steps));
  o.batch = args.get_int("batch", static_cast<int>(o.batch));
  o.lr = args.get_double("lr", o.lr);
  o.weight_decay = args.get_double("wd", o.weight_decay);
  o.beta1 = args.get_double("beta1", o.beta1);
  o.beta2 = args.get_double("beta2", o.beta2);
  o.eps = args.get_double("eps", o.eps);
  o.grad_clip = args.get_double("grad-clip", o.grad_clip);
  o.size = args.get_int("size", static_cast<int>(o.size));
  o.lpips = args.get("lpips");
  o.lpips_net = args.get("lpips-net", o.lpips_net);
  o.lpips_weight = args.get_double("lpips-weight", o.lpips_weight);
  o.cond_dropout = args.get_double("cond-dropout", o.cond_dropout);
  o.ema = args.get_double("ema", 0);
  o.flip = !args.has("no-flip");
  o.amp = args.has("amp");
  o.sample_every = args.get_int("sample-every", static_cast<int>(o.sample_every));
  o.sample_steps = args.get_int("sample-steps", static_cast<int>(o.sample_steps));
  if (o.ema < 0 || o.ema >= 1) throw_error("--ema must be in (0, 1), e.g. 0.9999");
  if (o.cond_dropout < 0 || o.cond_dropout > 1.0 / 3)
    throw_error("--cond-dropout must be in [0, 1/3] (3p of the draws are used)");
  if (o.lpips_weight < 0) throw_error("--lpips-weight must not be negative");

  auto comm = run_communicator(o);
  EditorTrainResult r = train_editor(o, *comm);
  if (comm->is_main()) {
    std::cerr << (r.stopped_early ? "stopped" : "done") << " after step " << r.steps_done
              << ", loss " << r.first_loss << " -> " << r.last_loss;
    if (!r.last_checkpoint.empty()) std::cerr << "; checkpoint " << r.last_checkpoint;
    std::cerr << "\n";
  }
  return 0;
}

}  // namespace editclip::cli
