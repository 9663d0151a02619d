// Training logs: a JSONL metrics file (one flushed object per logged step), a PNG plot of the
// curves for the end of a run, and the one-line progress text of the CLI.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace editclip {

class MetricsLog {
 public:
  // Opens `path` for appending. resume_step >= 0 (a resumed run): records with "step" >
  // resume_step, written by the interrupted run after its last checkpoint, are dropped first so
  // the log has each step once. resume_step < 0: the file is truncated (a fresh run).
  explicit MetricsLog(std::string path, int64_t resume_step = -1);

  // Writes one object (must hold an integer "step") as a line and flushes it.
  void log(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

// Every object of a JSONL metrics file (blank lines skipped). Error naming path:line when a line
// is not a JSON object.
std::vector<nlohmann::json> read_metrics_log(const std::string& path);

struct PlotPanel {
  std::string title;              // e.g. "loss"
  std::vector<std::string> keys;  // record keys drawn as curves against "step"
  bool log_y = false;
  // Noisy curves (> 40 points) drawn faint, with an exponentially smoothed curve on top.
  bool smooth = false;
};

struct PlotOptions {
  std::string title = "training";
  int width = 1200;  // pixels of the whole figure
  int panel_height = 360;
  // Empty: one panel with every numeric key containing "loss" (smoothed), and one with every key
  // starting with "lr".
  std::vector<PlotPanel> panels;
  std::string x_key = "step";
};

// Draws the curves (one stacked panel per PlotPanel: axes, ticks with values, axis labels,
// legend) and writes a PNG. Keys missing from a record are gaps. Error when there is nothing to
// plot or the image cannot be written; in builds without OpenCV it raises an Error saying so.
void plot_metrics(const std::vector<nlohmann::json>& records, const std::string& png_path,
                  const PlotOptions& options = {});
void plot_metrics_file(const std::string& jsonl_path, const std::string& png_path,
                       const PlotOptions& options = {});
// False in builds without OpenCV: plot_metrics then always raises the Error above (trainers
// print it as a note and go on).
bool plot_metrics_available();

// "[#########.......]  1200/20000 (6%) loss 0.1234 lr 5.00e-05 38.2 img/s ETA 1:02:03"
struct ProgressInfo {
  int64_t step = 0, total = 0;
  std::optional<double> loss, lr, images_per_s;
  std::optional<double> eta_s;
};
std::string format_progress(const ProgressInfo& info, int bar_width = 24);
std::string format_duration(double seconds);  // "1:02:03", "4:05", "0:07"

// Throughput and ETA from wall-clock time: smooths images/s over recent updates and estimates
// the remaining time from steps left.
class ProgressMeter {
 public:
  explicit ProgressMeter(int64_t total_steps, int64_t start_step = 0);
  // Call after each step with the images processed in it (across all ranks); returns the line.
  std::string update(int64_t step, int64_t images, std::optional<double> loss,
                     std::optional<double> lr);
  double images_per_s() const { return images_per_s_; }

 private:
  using Clock = std::chrono::steady_clock;
  int64_t total_, start_step_;
  Clock::time_point start_, last_;
  double images_per_s_ = 0, steps_per_s_ = 0;
  bool first_ = true;
};

}  // namespace editclip
