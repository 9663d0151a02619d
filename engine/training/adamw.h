// AdamW with parameter groups, numerically the update of torch.optim.AdamW (PyTorch 1.13,
// single-tensor path, amsgrad=False, maximize=False):
//   step += 1
//   p *= 1 - lr * weight_decay                       (decoupled decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// with the same ATen calls in the same order, so results match bit for bit on the same device.
// (PyTorch 2.x computes m with lerp_, which differs from 1.13 in the last bit.)
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not pulled in by ATen.h on LibTorch 2.x)

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace editclip {

using NamedParams = std::vector<std::pair<std::string, at::Tensor>>;

struct ParamGroup {
  std::string name;  // for logs and the state file, e.g. "patch", "decay", "no_decay"
  NamedParams params;
  double lr = 1e-3;       // current learning rate (set by the schedule each step)
  double base_lr = 1e-3;  // the schedule's reference (peak) learning rate
  double weight_decay = 1e-2;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
};

class AdamW {
 public:
  // Parameter names must be unique across groups (they key the state). lr starts at base_lr.
  explicit AdamW(std::vector<ParamGroup> groups);

  // One update of every parameter that has a gradient (parameters without .grad() are skipped
  // and their step count does not advance, as in torch). Runs under NoGradGuard.
  void step();
  // set_to_none: grads become undefined (torch's default since 2.0); else zeroed in place.
  void zero_grad(bool set_to_none = true);

  std::vector<ParamGroup>& groups() { return groups_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  std::vector<at::Tensor> parameters() const;  // all groups, in order
  void set_lr(double lr);                      // every group

  // State for bit-exact resume: tensors "<param>.exp_avg" / "<param>.exp_avg_sq" (CPU copies),
  // and JSON {"groups": [{"name", "lr", "base_lr", "weight_decay", "betas", "eps", "params":
  // [names]}], "steps": {param: n}}. Load checks that the groups and parameter names match and
  // copies the moments into place (to each parameter's device/dtype).
  std::map<std::string, at::Tensor> state_tensors() const;
  nlohmann::json state_json() const;
  void load_state(const std::map<std::string, at::Tensor>& tensors, const nlohmann::json& state);

  // Per-parameter step count (0 before its first update).
  int64_t param_step(const std::string& name) const;

 private:
  struct Moments {
    at::Tensor exp_avg, exp_avg_sq;
    int64_t step = 0;
  };
  std::vector<ParamGroup> groups_;
  std::map<std::string, Moments> state_;
};

// torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=2) (1.13 semantics): total norm =
// norm of the per-tensor norms; every grad is multiplied by min(max_norm / (total + 1e-6), 1).
// Parameters without grads are ignored. Returns the total norm before clipping (0 when no grads).
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

// open_clip's rule as the EditCLIP authors ran it (open_clip_train/main.py): exclude = p.ndim < 2
// or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n, over open_clip's parameter names.
// open_clip_exclude_from_decay is that literal rule. no_weight_decay_hf_clip takes an HF
// CLIPModel name, maps it to open_clip's name for the same tensor (open_clip_clip_name) and
// applies the rule, so the decision is open_clip's: class_embedding (1-D), norms, biases and the
// logit scale are not decayed; the patch conv (conv1.weight), the position embedding
// (positional_embedding, 2-D) and every other matrix are.
bool open_clip_exclude_from_decay(const std::string& name, const at::Tensor& param);
bool no_weight_decay_hf_clip(const std::string& name, const at::Tensor& param);
// open_clip's name for an HF CLIPModel parameter ("vision_model.embeddings.patch_embedding.weight"
// -> "visual.conv1.weight", "...self_attn.q_proj.weight" -> "...attn.in_proj_weight", ...); names
// it does not know come back unchanged.
std::string open_clip_clip_name(const std::string& hf_name);

// Builds groups from named parameters (only those with requires_grad). Each parameter goes to the
// first rule whose `match` accepts it (or the default rule when none does); each rule yields up
// to two groups, "<name>" (weight_decay) and "<name>_no_decay" (0), split by `no_decay`. Empty
// groups are omitted.
struct GroupRule {
  std::string name;
  std::function<bool(const std::string&)> match;  // empty: matches nothing (use for default)
  double lr = 1e-3;
};
struct GroupHyper {
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::function<bool(const std::string&, const at::Tensor&)> no_decay = no_weight_decay_hf_clip;
};
std::vector<ParamGroup> make_param_groups(const NamedParams& params, const GroupRule& default_rule,
                                          const std::vector<GroupRule>& rules,
                                          const GroupHyper& hyper);

}  // namespace editclip
