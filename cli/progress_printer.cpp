#include "cli/progress_printer.h"

#include <unistd.h>

#include <cstdio>

namespace editclip::cli {

using Clock = std::chrono::steady_clock;

ProgressPrinter::ProgressPrinter(bool quiet)
    : quiet_(quiet), tty_(isatty(fileno(stderr))), start_(Clock::now()) {
  stage_start_ = last_print_ = start_;
}

ProgressCallback ProgressPrinter::callback() {
  return [this](const Progress& p) { return (*this)(p); };
}

bool ProgressPrinter::operator()(const Progress& p) {
  if (quiet_) return true;
  const auto now = Clock::now();
  if (p.stage != stage_) {
    if (printed_ && tty_) std::fputc('\n', stderr);
    stage_ = p.stage;
    stage_start_ = now;
    printed_ = false;
  }
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double in_stage = std::chrono::duration<double>(now - stage_start_).count();
  const bool done = p.total > 0 && p.step >= p.total;
  const double since = std::chrono::duration<double>(now - last_print_).count();
  // Only say something once the whole run has taken over a second.
  if (elapsed < 1.0 && !done) return true;
  if (!tty_ && since < 5.0 && !done) return true;
  if (tty_ || done || since >= 5.0) {
    char line[200];
    if (p.total > 1 && p.step > 0) {
      const double per = in_stage / p.step;
      std::snprintf(line, sizeof line, "%-8s %3d/%-3d  %.2f s/step  ETA %.0f s  (%.0f s total)",
                    p.stage.c_str(), p.step, p.total, per, per * (p.total - p.step), elapsed);
    } else {
      std::snprintf(line, sizeof line, "%-8s %s  (%.1f s total)", p.stage.c_str(),
                    done ? "done" : "...", elapsed);
    }
    std::fprintf(stderr, tty_ ? "\r%s\033[K" : "%s\n", line);
    std::fflush(stderr);
    printed_ = true;
    last_print_ = now;
  }
  return true;
}

void ProgressPrinter::finish() {
  if (printed_ && tty_) std::fputc('\n', stderr);
  printed_ = false;
}

}  // namespace editclip::cli
