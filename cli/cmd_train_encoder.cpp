#include <cstdio>
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/train_run_args.h"
#include "engine/core/error.h"
#include "engine/training/encoder_trainer.h"

namespace editclip::cli {

namespace {
const char* kHelp =
    R"(usage: editclip train-encoder --init CLIP_DIR --data DATA --out RUN_DIR [options]

Contrastive training of the EditCLIP edit encoder (open_clip recipe): the vision tower sees the
(input, edited) pair as 6 channels, the frozen text tower embeds the instruction, symmetric
InfoNCE with a learnable logit scale. A 3-channel CLIP is widened to 6 channels (channels 3..5
start at zero). Data-parallel when started by torchrun or with RANK/WORLD_SIZE/MASTER_ADDR/
MASTER_PORT set (Gloo on CPU, NCCL on CUDA); --batch is per process.

data:
  --data PATH         manifest .jsonl (input, edited, instruction; paths relative to it), a
                      folder with manifest.jsonl, or an InstructPix2Pix dataset folder
  --format F          auto | manifest | instruct-pix2pix          --skip-bad  drop bad entries
  --heldout F         fraction held out for evaluation (0.05)     --heldout-max N (1000)
  --resize N          preprocess as the authors' inference instead: resize both images to N
                      (e.g. 256), then the CLIP processor (resize, centre crop, normalise).
                      Default: open_clip's training transform, each image resized straight to
                      the tower's input size (bicubic, aspect not kept) and normalised
  --flip              random horizontal flips of both images      --workers N decode threads (2)
model:
  --init DIR          HF CLIPModel folder (OpenAI CLIP, or an EditCLIP to continue from)
  --tokenizer DIR     tokenizer files when --init has none
optimisation:
  --epochs N (40)     --steps N (overrides --epochs)    --batch N per process (256)
  --accum N           micro-batches per step, exact large-batch loss (1)
  --lr X (2e-6)       --lr-patch X  6-channel patch conv (2e-4)     --wd X (0.02)
  --beta1 X (0.9)     --beta2 X (0.98)     --eps X (1e-6)
  --warmup N          linear warm-up steps (1, as the authors; open_clip's default is 10000)
  --schedule S        cosine | constant | constant_with_warmup (cosine)
  --grad-clip X       clip the gradient norm (off)
  --freeze-logit-scale  keep the logit scale at its init value, as the authors' run (their
                      optimiser held the vision tower only); default: trained
  --amp               mixed precision (bf16 autocast; CUDA, or CPUs with fast bf16)
  --seed N (0)
run:
  --out DIR           run folder: run.json, metrics.jsonl, step-N/ checkpoints, curves.png
  --save-every N (1000)   --keep-last N (3)   --resume   continue the run in --out bit for bit
  --eval-every N      steps between held-out evaluations (default: once per epoch)
  --stop-after N      stop after N steps of this call (with a checkpoint)
  --log-every N (1)   --no-plot   --device auto|cpu|cuda   --threads N   --quiet
)";
}  // namespace

int cmd_train_encoder(int argc, char** argv) {
  Args args(argc, argv, 2,
            with_run_options({"init", "tokenizer", "epochs", "steps", "batch", "accum", "lr",
                              "lr-patch", "wd", "beta1", "beta2", "eps", "warmup", "schedule",
                              "grad-clip", "resize", "heldout", "heldout-max", "eval-every"}),
            with_run_flags({"amp", "flip", "freeze-logit-scale"}));
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (!args.positional().empty())
    throw_error("unexpected argument '", args.positional()[0], "' (see --help)");
  EncoderTrainOptions o;
  o.init = args.require("init", "(the HF CLIPModel folder to start from)");
  parse_run_options(args, "(the dataset: manifest .jsonl or InstructPix2Pix folder)", o);
  o.tokenizer = args.get("tokenizer");
  o.epochs = args.get_int("epochs", static_cast<int>(o.epochs));
  o.steps = args.get_int("steps", 0);
  o.batch = args.get_int("batch", static_cast<int>(o.batch));
  o.accum = args.get_int("accum", 1);
  o.lr = args.get_double("lr", o.lr);
  o.lr_patch = args.get_double("lr-patch", o.lr_patch);
  o.weight_decay = args.get_double("wd", o.weight_decay);
  o.beta1 = args.get_double("beta1", o.beta1);
  o.beta2 = args.get_double("beta2", o.beta2);
  o.eps = args.get_double("eps", o.eps);
  o.warmup = args.get_int("warmup", static_cast<int>(o.warmup));
  o.schedule = args.get("schedule", o.schedule);
  o.grad_clip = args.get_double("grad-clip", 0);
  o.amp = args.has("amp");
  o.freeze_logit_scale = args.has("freeze-logit-scale");
  o.resize = args.get_int("resize", 0);
  o.flip = args.has("flip");
  o.heldout = args.get_double("heldout", o.heldout);
  o.heldout_max = args.get_int("heldout-max", static_cast<int>(o.heldout_max));
  o.eval_every = args.get_int("eval-every", 0);
  if (o.heldout < 0 || o.heldout >= 1) throw_error("--heldout must be in [0, 1)");
  if (args.has("resize") && o.resize < 8) throw_error("--resize must be at least 8");
  if (o.warmup < 0) throw_error("--warmup must not be negative");

  auto comm = run_communicator(o);
  EncoderTrainResult r = train_encoder(o, *comm);
  if (comm->is_main()) {
    std::cerr << (r.stopped_early ? "stopped" : "done") << " after step " << r.steps_done
              << ", loss " << r.last_loss;
    if (!r.last_checkpoint.empty()) std::cerr << "; checkpoint " << r.last_checkpoint;
    std::cerr << "\n";
    if (r.first_eval && r.last_eval && r.last_eval->step != r.first_eval->step) {
      std::fprintf(stderr,
                   "held-out retrieval: top-1 %.3f -> %.3f, top-5 %.3f -> %.3f (chance %.3f / "
                   "%.3f); EC2T matched %.4f vs shuffled %.4f\n",
                   r.first_eval->top1, r.last_eval->top1, r.first_eval->top5, r.last_eval->top5,
                   r.last_eval->chance_top1, r.last_eval->chance_top5, r.last_eval->ec2t_matched,
                   r.last_eval->ec2t_shuffled);
    }
  }
  return 0;
}

}  // namespace editclip::cli
