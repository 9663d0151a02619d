// Learning-rate schedules of open_clip (training/scheduler.py), applied per parameter group to
// the group's base_lr:
//   warm-up (step < warmup):  base_lr * (step + 1) / warmup
//   cosine:                   0.5 * (1 + cos(pi * e / es)) * base_lr, e = step - warmup,
//                             es = total - warmup
//   constant:                 base_lr (no warm-up at all)
//   constant_with_warmup:     warm-up, then base_lr  (open_clip's "const")
// `step` is the optimizer step about to be taken (0-based), as open_clip calls
// scheduler(step) before each update.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace editclip {

class AdamW;

enum class LrScheduleKind { Constant, ConstantWithWarmup, Cosine };
std::string lr_schedule_name(LrScheduleKind kind);  // "constant", "constant_with_warmup", "cosine"
LrScheduleKind parse_lr_schedule(const std::string& name);  // also accepts "const"; Error otherwise

struct LrSchedule {
  LrScheduleKind kind = LrScheduleKind::Constant;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // cosine: the step at which lr reaches 0 (must be > warmup_steps)

  double lr_at(double base_lr, int64_t step) const;
  // Sets every group's lr to lr_at(group.base_lr, step); returns the first group's lr (for logs).
  double apply(AdamW& optimizer, int64_t step) const;

  nlohmann::json to_json() const;  // {"kind", "warmup_steps", "total_steps"}
  static LrSchedule from_json(const nlohmann::json& j);
};

}  // namespace editclip
