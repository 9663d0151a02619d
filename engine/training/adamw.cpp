#include "engine/training/adamw.h"

#include <array>
#include <cmath>
#include <optional>
#include <set>

#include "engine/core/error.h"
#include "engine/core/torch_compat.h"

namespace editclip {

AdamW::AdamW(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  std::set<std::string> names;
  for (ParamGroup& g : groups_) {
    g.lr = g.base_lr;
    for (const auto& [name, p] : g.params) {
      if (!names.insert(name).second)
        throw_error("AdamW: parameter \"", name, "\" is in more than one group");
      if (!p.defined()) throw_error("AdamW: parameter \"", name, "\" is undefined");
    }
  }
}

void AdamW::step() {
  at::NoGradGuard no_grad;
  for (const ParamGroup& g : groups_) {
    for (const auto& [name, p] : g.params) {
      const at::Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      Moments& m = state_[name];
      if (!m.exp_avg.defined()) {
        m.exp_avg = at::zeros_like(p, at::MemoryFormat::Preserve);
        m.exp_avg_sq = at::zeros_like(p, at::MemoryFormat::Preserve);
      }
      m.step += 1;
      // torch: param.mul_(1 - lr * weight_decay), with Python-float (double) arithmetic.
      at::Tensor param = p;
      param.mul_(1.0 - g.lr * g.weight_decay);
      if constexpr (compat::kTorch2)
        m.exp_avg.lerp_(grad, 1.0 - g.beta1);
      else
        m.exp_avg.mul_(g.beta1).add_(grad, 1.0 - g.beta1);
      m.exp_avg_sq.mul_(g.beta2).addcmul_(grad, grad, 1.0 - g.beta2);
      const double step = static_cast<double>(m.step);
      const double bias_correction1 = 1.0 - std::pow(g.beta1, step);
      const double bias_correction2 = 1.0 - std::pow(g.beta2, step);
      const double step_size = g.lr / bias_correction1;
      const double bias_correction2_sqrt = std::sqrt(bias_correction2);
      const at::Tensor denom = (m.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(g.eps);
      param.addcdiv_(m.exp_avg, denom, -step_size);
    }
  }
}

void AdamW::zero_grad(bool set_to_none) {
  for (const ParamGroup& g : groups_) {
    for (const auto& [name, p] : g.params) {
      at::Tensor t = p;
      if (!t.grad().defined()) continue;
      if (set_to_none) {
        t.mutable_grad() = at::Tensor();
      } else {
        at::Tensor grad = t.mutable_grad();
        if (grad.grad_fn()) grad = grad.detach();
        grad.zero_();
      }
    }
  }
}

std::vector<at::Tensor> AdamW::parameters() const {
  std::vector<at::Tensor> out;
  for (const ParamGroup& g : groups_)
    for (const auto& np : g.params) out.push_back(np.second);
  return out;
}

void AdamW::set_lr(double lr) {
  for (ParamGroup& g : groups_) g.lr = lr;
}

int64_t AdamW::param_step(const std::string& name) const {
  auto it = state_.find(name);
  return it == state_.end() ? 0 : it->second.step;
}

std::map<std::string, at::Tensor> AdamW::state_tensors() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, m] : state_) {
    if (!m.exp_avg.defined()) continue;
    out[name + ".exp_avg"] = m.exp_avg.detach().to(at::kCPU).contiguous();
    out[name + ".exp_avg_sq"] = m.exp_avg_sq.detach().to(at::kCPU).contiguous();
  }
  return out;
}

nlohmann::json AdamW::state_json() const {
  nlohmann::json groups = nlohmann::json::array();
  for (const ParamGroup& g : groups_) {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& np : g.params) names.push_back(np.first);
    groups.push_back({{"name", g.name},
                      {"lr", g.lr},
                      {"base_lr", g.base_lr},
                      {"weight_decay", g.weight_decay},
                      {"betas", {g.beta1, g.beta2}},
                      {"eps", g.eps},
                      {"params", names}});
  }
  nlohmann::json steps = nlohmann::json::object();
  for (const auto& [name, m] : state_) steps[name] = m.step;
  return {{"type", "AdamW"}, {"groups", groups}, {"steps", steps}};
}

void AdamW::load_state(const std::map<std::string, at::Tensor>& tensors,
                       const nlohmann::json& state) {
  const char* what = "optimizer state";
  if (!state.is_object() || !state.contains("groups") || !state["groups"].is_array() ||
      !state.contains("steps") || !state["steps"].is_object())
    throw_error(what, ": expected {\"groups\": [...], \"steps\": {...}}");
  const nlohmann::json& groups = state["groups"];
  if (groups.size() != groups_.size())
    throw_error(what, ": ", groups.size(), " parameter groups saved, ", groups_.size(),
                " now (was the run started with other settings?)");
  std::map<std::string, Moments> loaded;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& g = groups_[gi];
    const nlohmann::json& sg = groups[gi];
    const nlohmann::json names = sg.value("params", nlohmann::json::array());
    if (sg.value("name", std::string()) != g.name || names.size() != g.params.size())
      throw_error(what, ": group ", gi, " (\"", g.name, "\", ", g.params.size(),
                  " parameters) does not match the saved group \"", sg.value("name", std::string()),
                  "\" (", names.size(), " parameters)");
    for (size_t pi = 0; pi < g.params.size(); ++pi) {
      const auto& [name, p] = g.params[pi];
      if (names[pi] != name)
        throw_error(what, ": group \"", g.name, "\" parameter ", pi, " is \"", name,
                    "\" but the checkpoint has ", names[pi].dump());
      auto st = state["steps"].find(name);
      if (st == state["steps"].end()) continue;  // never updated
      Moments m;
      m.step = st->get<int64_t>();
      for (const char* suffix : {".exp_avg", ".exp_avg_sq"}) {
        auto it = tensors.find(name + suffix);
        if (it == tensors.end()) throw_error(what, ": tensor \"", name, suffix, "\" is missing");
        if (it->second.sizes() != p.sizes())
          throw_error(what, ": tensor \"", name, suffix, "\" has shape ",
                      at::IntArrayRef(it->second.sizes()), ", the parameter ", p.sizes());
        at::Tensor t = at::empty_like(p, at::MemoryFormat::Preserve);
        t.copy_(it->second);
        (std::string(suffix) == ".exp_avg" ? m.exp_avg : m.exp_avg_sq) = t;
      }
      loaded[name] = std::move(m);
    }
    if (sg.contains("lr") && sg["lr"].is_number()) g.lr = sg["lr"].get<double>();
  }
  state_ = std::move(loaded);
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  const at::Device device = grads[0].device();
  std::vector<at::Tensor> norms;
  for (const at::Tensor& g : grads) norms.push_back(at::norm(g.detach(), 2).to(device));
  const at::Tensor total = at::norm(at::stack(norms), 2);
  // Python's `max_norm / (total + 1e-6)` is Tensor.__rtruediv__ = reciprocal() * max_norm.
  const at::Tensor coef = at::clamp_max(at::reciprocal(total + 1e-6) * max_norm, 1.0);
  for (at::Tensor& g : grads) g.detach().mul_(coef.to(g.device()));
  return total.item<double>();
}

bool open_clip_exclude_from_decay(const std::string& n, const at::Tensor& p) {
  auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
  return p.dim() < 2 || has("bn") || has("ln") || has("bias") || has("logit_scale");
}

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The per-layer part of a tower's name: "layers.N.<rest>" -> "transformer.resblocks.N.<rest'>".
std::optional<std::string> open_clip_layer_name(const std::string& rest) {
  if (!starts_with(rest, "layers.")) return std::nullopt;
  const size_t dot = rest.find('.', 7);
  if (dot == std::string::npos) return std::nullopt;
  const std::string index = rest.substr(7, dot - 7), tail = rest.substr(dot + 1);
  static const std::pair<const char*, const char*> kMap[] = {
      {"self_attn.q_proj.weight", "attn.in_proj_weight"},
      {"self_attn.k_proj.weight", "attn.in_proj_weight"},
      {"self_attn.v_proj.weight", "attn.in_proj_weight"},
      {"self_attn.q_proj.bias", "attn.in_proj_bias"},
      {"self_attn.k_proj.bias", "attn.in_proj_bias"},
      {"self_attn.v_proj.bias", "attn.in_proj_bias"},
      {"self_attn.out_proj.weight", "attn.out_proj.weight"},
      {"self_attn.out_proj.bias", "attn.out_proj.bias"},
      {"layer_norm1.weight", "ln_1.weight"},
      {"layer_norm1.bias", "ln_1.bias"},
      {"layer_norm2.weight", "ln_2.weight"},
      {"layer_norm2.bias", "ln_2.bias"},
      {"mlp.fc1.weight", "mlp.c_fc.weight"},
      {"mlp.fc1.bias", "mlp.c_fc.bias"},
      {"mlp.fc2.weight", "mlp.c_proj.weight"},
      {"mlp.fc2.bias", "mlp.c_proj.bias"},
  };
  for (const auto& [hf, oc] : kMap)
    if (tail == hf) return "transformer.resblocks." + index + "." + oc;
  return std::nullopt;
}

}  // namespace

std::string open_clip_clip_name(const std::string& n) {
  static const std::pair<const char*, const char*> kFixed[] = {
      {"vision_model.embeddings.class_embedding", "visual.class_embedding"},
      {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"},
      {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"},
      {"vision_model.pre_layrnorm.weight", "visual.ln_pre.weight"},
      {"vision_model.pre_layrnorm.bias", "visual.ln_pre.bias"},
      {"vision_model.post_layernorm.weight", "visual.ln_post.weight"},
      {"vision_model.post_layernorm.bias", "visual.ln_post.bias"},
      {"visual_projection.weight", "visual.proj"},
      {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
      {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
      {"text_model.final_layer_norm.weight", "ln_final.weight"},
      {"text_model.final_layer_norm.bias", "ln_final.bias"},
      {"text_projection.weight", "text_projection"},
      {"logit_scale", "logit_scale"},
  };
  for (const auto& [hf, oc] : kFixed)
    if (n == hf) return oc;
  if (starts_with(n, "vision_model.encoder."))
    if (auto l = open_clip_layer_name(n.substr(21))) return "visual." + *l;
  if (starts_with(n, "text_model.encoder."))
    if (auto l = open_clip_layer_name(n.substr(19))) return *l;
  return n;
}

bool no_weight_decay_hf_clip(const std::string& n, const at::Tensor& p) {
  return open_clip_exclude_from_decay(open_clip_clip_name(n), p);
}

std::vector<ParamGroup> make_param_groups(const NamedParams& params, const GroupRule& default_rule,
                                          const std::vector<GroupRule>& rules,
                                          const GroupHyper& hyper) {
  // [rule][0 = decay, 1 = no decay]
  std::vector<std::array<ParamGroup, 2>> groups(rules.size() + 1);
  auto init = [&](std::array<ParamGroup, 2>& pair, const GroupRule& r) {
    for (int k = 0; k < 2; ++k) {
      ParamGroup& g = pair[k];
      g.name = k == 0 ? r.name : r.name + "_no_decay";
      g.lr = g.base_lr = r.lr;
      g.weight_decay = k == 0 ? hyper.weight_decay : 0.0;
      g.beta1 = hyper.beta1;
      g.beta2 = hyper.beta2;
      g.eps = hyper.eps;
    }
  };
  for (size_t i = 0; i < rules.size(); ++i) init(groups[i], rules[i]);
  init(groups.back(), default_rule);
  for (const auto& [name, p] : params) {
    if (!p.requires_grad()) continue;
    size_t r = rules.size();
    for (size_t i = 0; i < rules.size(); ++i)
      if (rules[i].match && rules[i].match(name)) {
        r = i;
        break;
      }
    const bool no_decay = hyper.no_decay ? hyper.no_decay(name, p) : false;
    groups[r][no_decay ? 1 : 0].params.emplace_back(name, p);
  }
  std::vector<ParamGroup> out;
  for (auto& pair : groups)
    for (auto& g : pair)
      if (!g.params.empty()) out.push_back(std::move(g));
  return out;
}

}  // namespace editclip
