#include "engine/training/encoder_trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/core/torch_compat_autocast.h"
#include "engine/pipelines/edit_encoder.h"
#include "engine/training/adamw.h"
#include "engine/training/checkpoint.h"
#include "engine/training/data_loader.h"
#include "engine/training/dataset.h"
#include "engine/training/losses.h"
#include "engine/training/lr_schedule.h"
#include "engine/training/metrics_log.h"
#include "engine/training/trainable_models.h"
#include "engine/training/trainer_common.h"
#include "models/common/layers.h"

namespace fs = std::filesystem;

namespace editclip {

nlohmann::json EncoderTrainOptions::to_json() const {
  nlohmann::json j = {{"init", init},
                      {"tokenizer", tokenizer},
                      {"epochs", epochs},
                      {"steps", steps},
                      {"batch", batch},
                      {"accum", accum},
                      {"lr", lr},
                      {"lr_patch", lr_patch},
                      {"weight_decay", weight_decay},
                      {"beta1", beta1},
                      {"beta2", beta2},
                      {"eps", eps},
                      {"warmup", warmup},
                      {"schedule", schedule},
                      {"grad_clip", grad_clip},
                      {"amp", amp},
                      {"freeze_logit_scale", freeze_logit_scale},
                      {"resize", resize},
                      {"flip", flip},
                      {"heldout", heldout},
                      {"heldout_max", heldout_max},
                      {"eval_every", eval_every}};
  add_to_json(j);
  return j;
}

nlohmann::json RetrievalEval::to_json() const {
  return {{"step", step},
          {"eval_pairs", pairs},
          {"eval_instructions", instructions},
          {"eval_top1", top1},
          {"eval_top5", top5},
          {"eval_chance_top1", chance_top1},
          {"eval_chance_top5", chance_top5},
          {"eval_ec2t_matched", ec2t_matched},
          {"eval_ec2t_shuffled", ec2t_shuffled}};
}

RetrievalEval RetrievalEval::from_json(const nlohmann::json& j) {
  RetrievalEval e;
  e.step = j.value("step", 0);
  e.top1 = j.value("eval_top1", 0.0);
  e.top5 = j.value("eval_top5", 0.0);
  e.chance_top1 = j.value("eval_chance_top1", 0.0);
  e.chance_top5 = j.value("eval_chance_top5", 0.0);
  e.ec2t_matched = j.value("eval_ec2t_matched", 0.0);
  e.ec2t_shuffled = j.value("eval_ec2t_shuffled", 0.0);
  e.pairs = j.value("eval_pairs", 0);
  e.instructions = j.value("eval_instructions", 0);
  return e;
}

namespace {

// F.normalize(x, dim=-1) in float32.
at::Tensor l2_normalize(const at::Tensor& x) {
  at::Tensor f = x.to(at::kFloat);
  return f / f.norm(2, {-1}, true).clamp_min(1e-12);
}

struct EncoderSetup {
  const EncoderTrainOptions& opt;
  at::Device device;
  TrainableClip clip;
  ClipTokenizer tokenizer;
  ClipImageProcessor processor;
  bool amp;

  // Images the loader resizes to, and the vision-tower input it computes on its workers.
  int64_t loader_size() const {
    return opt.resize > 0 ? opt.resize : clip.config.vision.image_size;
  }
  PairPixelsFn pair_pixels() const {
    return opt.resize > 0 ? inference_pair_pixels(processor, opt.resize)
                          : open_clip_train_pair_pixels(processor);
  }

  at::Tensor image_features(const at::Tensor& pixels) const {
    compat::AutocastGuard autocast(device.type(), at::kBFloat16, amp);
    return l2_normalize(clip.model->encode_image(pixels.to(device)).image_embeds);
  }
  at::Tensor text_features(const std::vector<std::string>& texts) const {
    at::NoGradGuard no_grad;
    compat::AutocastGuard autocast(device.type(), at::kBFloat16, amp);
    at::Tensor ids =
        tokenizer.encode_batch(texts, clip.config.text.max_position_embeddings).to(device);
    return l2_normalize(clip.model->encode_text(ids).text_embeds);
  }
};

class Evaluator {
 public:
  Evaluator(const EncoderSetup& s, EditDataset heldout) : s_(s), data_(std::move(heldout)) {
    std::set<std::string> distinct;
    for (const auto& t : data_.items()) distinct.insert(t.instruction);
    instructions_.assign(distinct.begin(), distinct.end());
    for (size_t i = 0; i < instructions_.size(); ++i) index_[instructions_[i]] = i;
  }
  bool empty() const { return data_.empty(); }

  RetrievalEval run(int64_t step) {
    at::NoGradGuard no_grad;
    if (!text_.defined()) {
      // The text tower is frozen: the instruction embeddings are computed once.
      std::vector<at::Tensor> parts;
      for (size_t i = 0; i < instructions_.size(); i += 64) {
        std::vector<std::string> chunk(instructions_.begin() + static_cast<std::ptrdiff_t>(i),
                                       instructions_.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                                   i + 64, instructions_.size())));
        parts.push_back(s_.text_features(chunk));
      }
      text_ = at::cat(parts, 0);
    }
    LoaderOptions lo;
    lo.global_batch = std::min<int64_t>(std::max<int64_t>(s_.opt.batch, 1), data_.size());
    lo.shuffle = false;
    lo.drop_last = false;
    lo.transform.resize = s_.loader_size();
    lo.transform.random_flip = false;
    lo.pair_pixels = s_.pair_pixels();
    lo.keep_images = false;
    lo.threads = s_.opt.workers;
    EditDataLoader loader(data_, lo);
    std::vector<at::Tensor> feats;
    std::vector<int64_t> target;
    for (int64_t b = 0; b < loader.steps_per_epoch(); ++b) {
      EditBatch batch = loader.next();
      feats.push_back(s_.image_features(batch.pair_pixels));
      for (int64_t idx : batch.indices)
        target.push_back(
            static_cast<int64_t>(index_.at(data_[static_cast<size_t>(idx)].instruction)));
    }
    at::Tensor img = at::cat(feats, 0);
    at::Tensor tgt = at::tensor(target, at::kLong).to(img.device());
    at::Tensor sims = at::matmul(img, text_.t());  // [N, M]
    at::Tensor own = sims.gather(1, tgt.unsqueeze(1));
    // Rank of the own instruction: how many score strictly higher (ties favour it, as argmax
    // over equal scores would be arbitrary anyway).
    at::Tensor rank = (sims > own).sum(1);
    RetrievalEval e;
    e.step = step;
    e.pairs = img.size(0);
    e.instructions = static_cast<int64_t>(instructions_.size());
    e.top1 = (rank < 1).to(at::kDouble).mean().item<double>();
    e.top5 = (rank < 5).to(at::kDouble).mean().item<double>();
    e.chance_top1 = 1.0 / static_cast<double>(e.instructions);
    e.chance_top5 = std::min<double>(5, e.instructions) / static_cast<double>(e.instructions);
    e.ec2t_matched = own.mean().item<double>();
    // Shuffled: each pair against a different instruction, so that no "shuffled" pair is a
    // matched one.
    const at::Tensor oth =
        at::tensor(other_instruction_targets(target), at::kLong).to(img.device());
    e.ec2t_shuffled = sims.gather(1, oth.unsqueeze(1)).mean().item<double>();
    return e;
  }

 private:
  const EncoderSetup& s_;
  EditDataset data_;
  std::vector<std::string> instructions_;
  std::map<std::string, size_t> index_;
  at::Tensor text_;
};

std::string eval_line(const RetrievalEval& e) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "eval @%lld: top-1 %.3f top-5 %.3f (chance %.3f / %.3f, %lld pairs, %lld "
                "instructions), EC2T matched %.4f shuffled %.4f",
                static_cast<long long>(e.step), e.top1, e.top5, e.chance_top1, e.chance_top5,
                static_cast<long long>(e.pairs), static_cast<long long>(e.instructions),
                e.ec2t_matched, e.ec2t_shuffled);
  return buf;
}

}  // namespace

std::vector<int64_t> other_instruction_targets(const std::vector<int64_t>& targets) {
  const size_t n = targets.size();
  std::vector<int64_t> other(targets);
  // From the end backwards, the next differing instruction after i is either i+1's instruction
  // (when it differs) or the one found for i+1; a first pass around the cycle seeds the last.
  if (n == 0) return other;
  std::vector<int64_t> next_diff(n, -1);
  for (size_t round = 0; round < 2; ++round)
    for (size_t k = n; k-- > 0;) {
      const size_t j = (k + 1) % n;
      if (targets[j] != targets[k])
        next_diff[k] = targets[j];
      else if (next_diff[k] < 0)
        next_diff[k] = next_diff[j];
    }
  for (size_t i = 0; i < n; ++i)
    if (next_diff[i] >= 0) other[i] = next_diff[i];
  return other;
}

EncoderTrainResult train_encoder(const EncoderTrainOptions& opt, Communicator& comm) {
  if (opt.batch < 1 || opt.accum < 1) throw_error("--batch and --accum must be at least 1");
  if (opt.out.empty()) throw_error("--out: the run folder is required");
  configure_threads(opt.threads);
  const at::Device device = training_device(opt.device);
  const bool main = comm.is_main();
  const int W = comm.world_size(), rank = comm.rank();
  ProgressLine progress(main && !opt.quiet, 1, 0);

  // Data: validated up front, the file checks sharded across the ranks. The held-out split
  // keeps the pairs of one prompt together and gives what --heldout-max cuts back to training.
  EditDataset all = load_training_data(opt, comm);
  EditDataset train = all, heldout;
  if (opt.heldout > 0 && all.size() >= 2)
    std::tie(train, heldout) = all.split(
        opt.heldout, opt.seed, static_cast<size_t>(std::max<int64_t>(opt.heldout_max, 0)));

  // Model.
  EncoderSetup s{opt,
                 device,
                 load_trainable_clip(opt.init, device, 6),
                 ClipTokenizer::from_folder(opt.tokenizer.empty() ? opt.init : opt.tokenizer),
                 ClipImageProcessor(),
                 opt.amp};
  s.processor = load_clip_processor(opt.init, s.clip.config.vision.image_size);
  NamedParams trained;
  for (auto& [name, p] : s.clip.params) {
    const bool train_it = name.rfind("vision_model.", 0) == 0 ||
                          name == "visual_projection.weight" ||
                          (name == "logit_scale" && !opt.freeze_logit_scale);
    p.requires_grad_(train_it);
    if (train_it) trained.emplace_back(name, p);
  }
  at::Tensor logit_scale = s.clip.params.at("logit_scale");

  GroupRule patch{"patch", [](const std::string& n) { return n == kClipPatchWeight; },
                  opt.lr_patch};
  GroupRule rest{"other", {}, opt.lr};
  GroupHyper hyper;
  hyper.weight_decay = opt.weight_decay;
  hyper.beta1 = opt.beta1;
  hyper.beta2 = opt.beta2;
  hyper.eps = opt.eps;
  AdamW optimizer(make_param_groups(trained, rest, {patch}, hyper));

  LoaderOptions lo =
      training_loader_options(opt, comm, opt.batch, s.loader_size(), opt.flip, s.pair_pixels());
  lo.keep_images = false;
  EditDataLoader loader(train, lo);
  const int64_t per_epoch = loader.steps_per_epoch() / opt.accum;
  if (per_epoch < 1 && opt.steps <= 0)
    throw_error(opt.data, ": ", train.size(), " training pairs are fewer than one step needs (",
                opt.batch * W * opt.accum, " = batch x ranks x accum); lower --batch");
  const int64_t total = opt.steps > 0 ? opt.steps : opt.epochs * per_epoch;
  if (total < 1) throw_error("nothing to train: --epochs/--steps give 0 steps");
  LrSchedule schedule;
  schedule.kind = parse_lr_schedule(opt.schedule);
  schedule.total_steps = total;
  schedule.warmup_steps = opt.warmup;
  if (opt.warmup < 0) throw_error("--warmup must not be negative");
  // open_clip accepts warmup == total (the whole run warms up); beyond it the peak is never
  // reached, which is almost certainly not what was meant.
  if (schedule.kind != LrScheduleKind::Constant && schedule.warmup_steps > total)
    throw_error("--warmup ", schedule.warmup_steps, " exceeds the number of steps (", total,
                "); lower it");
  const int64_t eval_every = opt.eval_every > 0 ? opt.eval_every : std::max<int64_t>(per_epoch, 1);

  // Run folder and resume.
  CheckpointManager checkpoints(opt.out, opt.keep_last);
  nlohmann::json config = opt.to_json();
  config["world_size"] = W;
  config["total_steps"] = total;
  config["warmup_steps"] = schedule.warmup_steps;
  int64_t start = 0;
  EncoderTrainResult result;
  if (auto resume =
          find_resume_point(checkpoints, opt, config, {"init",         "data",
                                                       "batch",        "accum",
                                                       "world_size",   "seed",
                                                       "lr",           "lr_patch",
                                                       "weight_decay", "beta1",
                                                       "beta2",        "eps",
                                                       "grad_clip",    "total_steps",
                                                       "warmup_steps", "schedule",
                                                       "resize",       "flip",
                                                       "heldout",      "heldout_max",
                                                       "amp",          "freeze_logit_scale"},
                            main && !opt.quiet)) {
    Checkpoint& ck = resume->checkpoint;
    copy_params(s.clip.params, ck.tensors.at("model"), resume->path, /*require_all=*/false);
    optimizer.load_state(ck.tensors.at("optimizer"), ck.optimizer);
    loader.seek(ck.data);
    start = ck.step;
    if (ck.extra.contains("first_eval") && ck.extra["first_eval"].is_object())
      result.first_eval = RetrievalEval::from_json(ck.extra["first_eval"]);
  }
  broadcast_parameters(comm, trained);

  std::optional<MetricsLog> log;
  if (main) {
    write_run_info(
        opt.out, {{"kind", "encoder"},
                  {"options", config},
                  {"models",
                   {{"init", absolute_path(opt.init)},
                    {"tokenizer", absolute_path(opt.tokenizer.empty() ? opt.init : opt.tokenizer)},
                    {"init_channels", s.clip.init_channels},
                    {"config", s.clip.config_json}}},
                  {"data",
                   {{"pairs", all.size()},
                    {"train", train.size()},
                    {"heldout", heldout.size()},
                    {"skipped", all.report().problems.size()}}}});
    log.emplace(run_metrics_path(opt.out), opt.resume ? start : -1);
  }
  Evaluator evaluator(s, heldout);
  auto evaluate = [&](int64_t step) {
    if (evaluator.empty()) return;
    if (main) {
      RetrievalEval e = evaluator.run(step);
      if (!result.first_eval) result.first_eval = e;
      result.last_eval = e;
      log->log(e.to_json());
      progress.note(eval_line(e));
    }
    comm.barrier();
  };
  auto save = [&](int64_t step) {
    if (main) {
      Checkpoint ck = training_checkpoint(step, loader, optimizer, config);
      TensorMap model;
      for (auto& [n, p] : trained) model[n] = p;
      // Frozen, the logit scale is still part of the state (the clamp may have moved it once).
      model["logit_scale"] = logit_scale;
      ck.tensors["model"] = cpu_copies(model);
      ck.extra = {{"kind", "encoder"}};
      if (result.first_eval) ck.extra["first_eval"] = result.first_eval->to_json();
      result.last_checkpoint = checkpoints.save(ck);
    }
    comm.barrier();
  };

  if (main && !opt.quiet)
    std::cerr << "train-encoder: " << train.size() << " training pairs, " << heldout.size()
              << " held out; " << total << " steps of " << opt.batch * W * opt.accum << " pairs ("
              << W << " rank" << (W > 1 ? "s" : "") << ", " << device.str()
              << (s.clip.widened() ? ", vision tower widened from 3 to 6 channels" : "") << ")\n";
  if (main && opt.amp && device.is_cpu() && !nn::cpu_has_fast_bf16() && !opt.quiet)
    std::cerr << "note: --amp on a CPU without native bf16 runs emulated bf16 kernels (slower "
                 "than fp32 here)\n";
  if (start == 0) evaluate(0);

  progress = ProgressLine(main && !opt.quiet, total, start);
  const int64_t K = opt.accum, b = opt.batch;
  int64_t step = start;
  int64_t run_steps = 0;
  double loss_value = 0;
  while (step < total) {
    schedule.apply(optimizer, step);
    const double lr = optimizer.groups().back().lr;  // the default group (--lr)
    std::vector<at::Tensor> pixels(static_cast<size_t>(K)), texts(static_cast<size_t>(K));
    for (int64_t j = 0; j < K; ++j) {
      EditBatch batch = loader.next();
      pixels[j] = batch.pair_pixels.to(device);
      texts[j] = s.text_features(batch.instructions);
    }
    at::Tensor loss;
    if (K == 1 && W == 1) {
      at::Tensor img = s.image_features(pixels[0]);
      loss = clip_contrastive_loss(img, texts[0], logit_scale.exp());
      loss.backward();
    } else {
      std::vector<at::Tensor> cache(static_cast<size_t>(K));
      at::Tensor live0;
      if (K == 1) {
        live0 = s.image_features(pixels[0]);
        cache[0] = live0.detach();
      } else {
        at::NoGradGuard no_grad;
        for (int64_t j = 0; j < K; ++j) cache[j] = s.image_features(pixels[j]);
      }
      // Rank-major: rows [r*K*b, (r+1)*K*b) are rank r's micro-batches in order.
      const at::Tensor all_img = comm.all_gather(at::cat(cache, 0));
      const at::Tensor all_txt = comm.all_gather(at::cat(texts, 0));
      const int64_t n = all_img.size(0);
      for (int64_t j = 0; j < K; ++j) {
        at::Tensor live = K == 1 ? live0 : s.image_features(pixels[j]);
        const int64_t at_row = rank * K * b + j * b;
        at::Tensor full = at::cat(
            {all_img.narrow(0, 0, at_row), live, all_img.narrow(0, at_row + b, n - at_row - b)}, 0);
        at::Tensor scale = (rank == 0 && j == 0) ? logit_scale.exp() : logit_scale.detach().exp();
        at::Tensor lj = clip_contrastive_loss(full, all_txt, scale);
        lj.backward();
        if (j == 0) loss = lj.detach();
      }
    }
    all_reduce_gradients(comm, trained, 1.0);
    if (opt.grad_clip > 0) clip_grad_norm(optimizer.parameters(), opt.grad_clip);
    optimizer.step();
    optimizer.zero_grad();
    {
      // open_clip keeps the temperature in [1, 100] (also when the scale is not trained, as the
      // authors' loop clamps it whether or not the optimiser holds it).
      at::NoGradGuard no_grad;
      logit_scale.clamp_(0, std::log(100.0));
    }
    ++step;
    ++run_steps;
    loss_value = loss.item<double>();
    check_loss_finite(loss_value, step, "--lr / --lr-patch");
    progress.update(step, b * W * K, loss_value, lr);
    if (main && (step % std::max<int64_t>(opt.log_every, 1) == 0 || step == total)) {
      nlohmann::json rec = {{"step", step},
                            {"epoch", loader.position().epoch},
                            {"loss", loss_value},
                            {"lr", lr},
                            {"logit_scale", std::exp(logit_scale.item<double>())}};
      for (const auto& g : optimizer.groups())
        if (g.name.rfind("patch", 0) == 0) rec["lr_patch"] = g.lr;
      log->log(rec);
    }
    const bool stop = opt.stop_after > 0 && run_steps >= opt.stop_after && step < total;
    if (step % eval_every == 0 || step == total) evaluate(step);
    if ((opt.save_every > 0 && step % opt.save_every == 0) || step == total || stop) save(step);
    if (stop) {
      result.stopped_early = true;
      break;
    }
  }
  progress.finish();
  result.steps_done = step;
  result.last_loss = loss_value;
  if (main && opt.plot && step == total) {
    PlotOptions po;
    po.title = "train-encoder";
    po.panels = {{"loss", {"loss"}, false},
                 {"learning rate", {"lr", "lr_patch"}, true},
                 {"held-out retrieval", {"eval_top1", "eval_top5", "eval_chance_top1"}, false},
                 {"held-out EC2T", {"eval_ec2t_matched", "eval_ec2t_shuffled"}, false}};
    if (evaluator.empty()) po.panels.resize(2);
    plot_run_curves(opt.out, po, opt.quiet);
  }
  return result;
}

}  // namespace editclip
