#include "engine/training/lr_schedule.h"

#include <cmath>

#include "engine/core/error.h"
#include "engine/training/adamw.h"

namespace editclip {

std::string lr_schedule_name(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::Constant:
      return "constant";
    case LrScheduleKind::ConstantWithWarmup:
      return "constant_with_warmup";
    case LrScheduleKind::Cosine:
      return "cosine";
  }
  return "?";
}

LrScheduleKind parse_lr_schedule(const std::string& name) {
  if (name == "constant") return LrScheduleKind::Constant;
  if (name == "constant_with_warmup" || name == "const") return LrScheduleKind::ConstantWithWarmup;
  if (name == "cosine") return LrScheduleKind::Cosine;
  throw_error("unknown learning-rate schedule \"", name,
              "\" (expected constant, constant_with_warmup or cosine)");
}

double LrSchedule::lr_at(double base_lr, int64_t step) const {
  if (kind == LrScheduleKind::Constant) return base_lr;
  // open_clip's _warmup_lr, in Python float (double) arithmetic.
  if (step < warmup_steps)
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (kind == LrScheduleKind::ConstantWithWarmup) return base_lr;
  const int64_t es = total_steps - warmup_steps;
  if (es <= 0)
    throw_error("cosine learning-rate schedule: total steps (", total_steps,
                ") must exceed the warm-up steps (", warmup_steps, ")");
  const double e = static_cast<double>(step - warmup_steps);
  return 0.5 * (1.0 + std::cos(M_PI * e / static_cast<double>(es))) * base_lr;
}

double LrSchedule::apply(AdamW& optimizer, int64_t step) const {
  double first = 0.0;
  bool any = false;
  for (ParamGroup& g : optimizer.groups()) {
    g.lr = lr_at(g.base_lr, step);
    if (!any) first = g.lr;
    any = true;
  }
  return first;
}

nlohmann::json LrSchedule::to_json() const {
  return {{"kind", lr_schedule_name(kind)},
          {"warmup_steps", warmup_steps},
          {"total_steps", total_steps}};
}

LrSchedule LrSchedule::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string())
    throw_error(
        "learning-rate schedule: expected {\"kind\": ..., \"warmup_steps\": ..., "
        "\"total_steps\": ...}, got ",
        j.dump());
  LrSchedule s;
  s.kind = parse_lr_schedule(j["kind"].get<std::string>());
  s.warmup_steps = j.value("warmup_steps", int64_t{0});
  s.total_steps = j.value("total_steps", int64_t{0});
  return s;
}

}  // namespace editclip
