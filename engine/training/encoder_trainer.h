// Contrastive training of the EditCLIP edit encoder (the authors' open_clip recipe): the vision
// tower sees [input RGB, edited RGB] as 6 channels, the frozen text tower embeds the instruction,
// and the symmetric InfoNCE loss with the learnable logit scale pulls matching pairs together.
//
// Exactness of the batch: the loss of a step is the loss over the whole global batch
// (batch x world_size x accum pairs), as one process with that batch would compute it.
//  - Gradient accumulation uses open_clip's feature cache: the features of all micro-batches are
//    computed without gradients first, then each micro-batch is recomputed with gradients and the
//    full-batch loss backpropagated through its own rows only; the sum over micro-batches is the
//    full-batch gradient.
//  - Across ranks, image and text features are all-gathered; each rank evaluates the full loss
//    with its own rows live (open_clip's gather without gather_with_grad, local_loss off) and the
//    rank gradients are SUMMED (not averaged): sum_r dL/dθ restricted to rank r's rows is dL/dθ.
//  - The logit scale enters every rank's (and micro-batch's) loss identically; it is live in one
//    of them only (rank 0, first micro-batch) and detached elsewhere, so the summed gradient
//    counts it once.
// So 2 processes with --batch B end with the parameters of 1 process with --batch 2B, up to
// float summation order.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/training/distributed.h"
#include "engine/training/trainer_common.h"

namespace editclip {

// The run options (data, out, seed, checkpoints, logging, device) are TrainRunOptions'.
struct EncoderTrainOptions : TrainRunOptions {
  std::string init;       // HF CLIPModel folder (3-channel CLIP, widened, or 6-channel EditCLIP)
  std::string tokenizer;  // folder with the tokenizer files; empty: `init`

  int64_t epochs = 40;
  int64_t steps = 0;    // > 0: optimizer steps in all (overrides epochs)
  int64_t batch = 256;  // pairs per rank per micro-batch
  int64_t accum = 1;    // micro-batches per optimizer step
  double lr = 2e-6, lr_patch = 2e-4, weight_decay = 0.02;
  double beta1 = 0.9, beta2 = 0.98, eps = 1e-6;  // open_clip's ViT defaults
  int64_t warmup = 1;  // the authors' --warmup 1 (open_clip's own default is 10000)
  std::string schedule = "cosine";
  double grad_clip = 0;  // > 0: clip the global gradient norm
  bool amp = false;      // autocast: bf16 on CUDA, bf16 on CPU
  // The authors' optimiser holds model.visual only, so their logit scale never moved (it stays
  // at the init's value, clamped to [0, ln 100]); true reproduces that, false (default) trains it.
  bool freeze_logit_scale = false;

  // 0: open_clip's training transform (preprocess_train): each image resized straight to the
  // tower's input size (Pillow bicubic), ToTensor, Normalize. > 0: the authors' inference path
  // instead (resize to resize x resize, then the CLIP processor: shortest side, crop, normalise).
  int64_t resize = 0;
  bool flip = false;

  double heldout = 0.05;  // fraction held out for evaluation (0: none)
  int64_t heldout_max = 1000;
  int64_t eval_every = 0;  // steps; 0: once per epoch

  nlohmann::json to_json() const;
};

struct RetrievalEval {
  int64_t step = 0;
  int64_t pairs = 0, instructions = 0;
  double top1 = 0, top5 = 0;                // pair -> instruction retrieval accuracy
  double chance_top1 = 0, chance_top5 = 0;  // 1/M and min(5, M)/M
  // Mean cos(E_v, E_t) with the pair's own instruction, and with a different one (that of the
  // next held-out pair, cyclically, whose instruction differs; the own one only when the split
  // has a single instruction).
  double ec2t_matched = 0, ec2t_shuffled = 0;
  nlohmann::json to_json() const;
  static RetrievalEval from_json(const nlohmann::json& j);  // inverse of to_json()
};

struct EncoderTrainResult {
  int64_t steps_done = 0;  // optimizer steps in all (resumed ones included)
  double last_loss = 0;
  std::optional<RetrievalEval> first_eval, last_eval;
  std::string last_checkpoint;
  bool stopped_early = false;  // stop_after reached before the end
};

EncoderTrainResult train_encoder(const EncoderTrainOptions& options, Communicator& comm);

// The "shuffled" instruction of each held-out pair for the EC2T baseline: `targets[i]` is pair
// i's instruction index; the result holds, for each i, the instruction of the next pair
// (cyclically) whose instruction differs from pair i's, or pair i's own when all are equal.
std::vector<int64_t> other_instruction_targets(const std::vector<int64_t>& targets);

}  // namespace editclip
