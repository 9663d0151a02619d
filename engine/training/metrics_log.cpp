#include "engine/training/metrics_log.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "engine/core/error.h"
#include "engine/image/image_io.h"

// Only with OpenCV linked (CMake defines EDITCLIP_WITH_OPENCV): its headers alone may be installed
// in a -DEDITCLIP_WITH_OPENCV=OFF build, which must not reference its symbols.
#if defined(EDITCLIP_WITH_OPENCV) && __has_include(<opencv2/imgproc.hpp>)
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#define EDITCLIP_PLOT_WITH_OPENCV 1
#endif

namespace editclip {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

}  // namespace

// ---------------------------------------------------------------------------------------------
// JSONL log

MetricsLog::MetricsLog(std::string path, int64_t resume_step) : path_(std::move(path)) {
  std::error_code ec;
  const fs::path parent = fs::path(path_).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (resume_step >= 0 && fs::exists(path_, ec)) {
    // Keep what the checkpoint we resume from had seen; later lines are replayed by this run.
    std::vector<std::string> kept;
    {
      std::ifstream in(path_);
      std::string line;
      while (std::getline(in, line)) {
        try {
          const json j = json::parse(line);
          if (j.is_object() && j.contains("step") && j["step"].is_number() &&
              j["step"].get<double>() <= static_cast<double>(resume_step))
            kept.push_back(line);
        } catch (const json::exception&) {
          // a line cut short by the kill
        }
      }
    }
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      for (const auto& l : kept) out << l << '\n';
      if (!out) throw_error(tmp, ": cannot write the metrics log");
    }
    fs::rename(tmp, path_, ec);
    if (ec) throw_error(path_, ": cannot replace the metrics log (", ec.message(), ")");
    out_.open(path_, std::ios::app);
  } else {
    out_.open(path_, std::ios::trunc);
  }
  if (!out_) throw_error(path_, ": cannot open the metrics log for writing");
}

void MetricsLog::log(const json& record) {
  if (!record.is_object() || !record.contains("step") || !record["step"].is_number_integer())
    throw_error(path_, ": a metrics record needs an integer \"step\"");
  out_ << record.dump() << '\n';
  out_.flush();
  if (!out_) throw_error(path_, ": write failed (disk full?)");
}

std::vector<json> read_metrics_log(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_error(path, ": cannot open the metrics log");
  std::vector<json> out;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      throw_error(path, ":", n, ": not valid JSON (", first_line(e.what()), ")");
    }
    if (!j.is_object()) throw_error(path, ":", n, ": not a JSON object");
    out.push_back(std::move(j));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Plot

namespace {

struct Series {
  std::string key;
  std::vector<std::pair<double, double>> points;  // (x, y), x ascending
};

// 1, 2 or 5 times a power of ten, about span / target.
double nice_step(double span, int target) {
  const double raw = span / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

std::string tick_label(double v, double step) {
  char buf[32];
  if (std::fabs(v) < std::fabs(step) * 1e-6) return "0";  // not "-0.00000" from accumulation
  const double a = std::fabs(v);
  if (step < 1e-3 || a >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1e", v);
  else {
    const int decimals = std::max(0, std::min(6, static_cast<int>(-std::floor(std::log10(step)))));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

std::vector<Series> collect(const std::vector<json>& records, const std::vector<std::string>& keys,
                            const std::string& x_key, bool log_y) {
  std::vector<Series> out;
  for (const std::string& key : keys) {
    Series s{key, {}};
    for (const json& r : records) {
      auto x = r.find(x_key), y = r.find(key);
      if (x == r.end() || y == r.end() || !x->is_number() || !y->is_number()) continue;
      const double yv = y->get<double>();
      if (!std::isfinite(yv) || (log_y && yv <= 0)) continue;
      s.points.emplace_back(x->get<double>(), yv);
    }
    std::stable_sort(s.points.begin(), s.points.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    if (!s.points.empty()) out.push_back(std::move(s));
  }
  return out;
}

std::vector<PlotPanel> default_panels(const std::vector<json>& records) {
  std::set<std::string> loss, lr;
  for (const json& r : records)
    for (const auto& [k, v] : r.items()) {
      if (!v.is_number()) continue;
      if (k.find("loss") != std::string::npos) loss.insert(k);
      if (k.rfind("lr", 0) == 0) lr.insert(k);
    }
  std::vector<PlotPanel> panels;
  if (!loss.empty()) panels.push_back({"loss", {loss.begin(), loss.end()}, false, true});
  if (!lr.empty()) panels.push_back({"learning rate", {lr.begin(), lr.end()}, false, false});
  return panels;
}

#ifdef EDITCLIP_PLOT_WITH_OPENCV

const cv::Scalar kColors[] = {
    {180, 119, 31},  {14, 127, 255}, {44, 160, 44},   {40, 39, 214},
    {189, 103, 148}, {75, 86, 140},  {194, 119, 227}, {127, 127, 127},
};  // matplotlib's tab10, BGR

cv::Scalar tint(const cv::Scalar& c, double t) {  // mix with white
  return {255 - (255 - c[0]) * t, 255 - (255 - c[1]) * t, 255 - (255 - c[2]) * t};
}

void put_text(cv::Mat& img, const std::string& s, cv::Point at, double scale, int thick,
              const cv::Scalar& color, int align /* -1 left, 0 center, 1 right */,
              bool vcenter = false) {
  int base = 0;
  const cv::Size sz = cv::getTextSize(s, cv::FONT_HERSHEY_SIMPLEX, scale, thick, &base);
  cv::Point p = at;
  if (align == 0) p.x -= sz.width / 2;
  if (align == 1) p.x -= sz.width;
  if (vcenter) p.y += sz.height / 2;
  cv::putText(img, s, p, cv::FONT_HERSHEY_SIMPLEX, scale, color, thick, cv::LINE_AA);
}

// TensorBoard-style exponential smoothing with debiasing.
std::vector<double> smooth(const std::vector<std::pair<double, double>>& pts, double weight) {
  std::vector<double> out;
  double last = 0, num = 0;
  for (const auto& p : pts) {
    last = last * weight + (1 - weight) * p.second;
    num = num * weight + (1 - weight);
    out.push_back(last / num);
  }
  return out;
}

void draw_panel(cv::Mat& img, cv::Rect area, const PlotPanel& panel,
                const std::vector<Series>& series, const std::string& x_key) {
  const int left = 92, right = 24, top = 34, bottom = 52;
  const cv::Rect plot(area.x + left, area.y + top, area.width - left - right,
                      area.height - top - bottom);
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : series)
    for (const auto& [x, y] : s.points) {
      const double yv = panel.log_y ? std::log10(y) : y;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, yv), y1 = std::max(y1, yv);
    }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) {
    const double pad = std::fabs(y0) > 0 ? std::fabs(y0) * 0.1 : 1.0;
    y0 -= pad, y1 += pad;
  } else {
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
  }
  auto px = [&](double x) { return plot.x + (x - x0) / (x1 - x0) * plot.width; };
  auto py = [&](double y) {
    const double v = panel.log_y ? std::log10(y) : y;
    return plot.y + plot.height - (v - y0) / (y1 - y0) * plot.height;
  };

  const cv::Scalar axis(60, 60, 60), grid(228, 228, 228), text(30, 30, 30);
  put_text(img, panel.title + (panel.log_y ? " (log scale)" : ""),
           {area.x + left, area.y + top - 10}, 0.6, 1, text, -1);

  // x ticks
  const double xs = nice_step(x1 - x0, 8);
  for (int64_t k = static_cast<int64_t>(std::ceil(x0 / xs)); k * xs <= x1 + 1e-9 * xs; ++k) {
    const double t = static_cast<double>(k) * xs;
    const int x = static_cast<int>(std::lround(px(t)));
    cv::line(img, {x, plot.y}, {x, plot.y + plot.height}, grid, 1);
    cv::line(img, {x, plot.y + plot.height}, {x, plot.y + plot.height + 5}, axis, 1);
    put_text(img, tick_label(t, xs), {x, plot.y + plot.height + 22}, 0.45, 1, text, 0);
  }
  put_text(img, x_key, {plot.x + plot.width / 2, plot.y + plot.height + 44}, 0.5, 1, text, 0);
  // y ticks (decades of the log10 value on a log axis)
  const double ys =
      panel.log_y ? std::max(1.0, std::round(nice_step(y1 - y0, 5))) : nice_step(y1 - y0, 6);
  for (int64_t k = static_cast<int64_t>(std::ceil(y0 / ys)); k * ys <= y1 + 1e-9 * ys; ++k) {
    const double t = static_cast<double>(k) * ys;
    const double value = panel.log_y ? std::pow(10.0, t) : t;
    const int y = static_cast<int>(std::lround(py(value)));
    cv::line(img, {plot.x, y}, {plot.x + plot.width, y}, grid, 1);
    cv::line(img, {plot.x - 5, y}, {plot.x, y}, axis, 1);
    put_text(img, panel.log_y ? tick_label(value, value) : tick_label(t, ys), {plot.x - 8, y}, 0.45,
             1, text, 1, true);
  }
  cv::rectangle(img, plot, axis, 1);

  // curves, clipped to the plot
  cv::Mat roi = img(plot);
  const cv::Point2d off(plot.x, plot.y);
  auto to_pt = [&](double x, double y) {
    // 3 fractional bits for anti-aliased sub-pixel lines
    return cv::Point(static_cast<int>(std::lround((px(x) - off.x) * 8)),
                     static_cast<int>(std::lround((py(y) - off.y) * 8)));
  };
  std::vector<std::string> legend;
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    const cv::Scalar color = kColors[i % (sizeof kColors / sizeof kColors[0])];
    const bool noisy = panel.smooth && s.points.size() > 40;
    auto draw = [&](const std::vector<double>& ys, const cv::Scalar& c, int thick) {
      if (s.points.size() == 1) {
        cv::circle(roi, to_pt(s.points[0].first, ys[0]), 3 * 8, c, cv::FILLED, cv::LINE_AA, 3);
        return;
      }
      for (size_t k = 1; k < s.points.size(); ++k)
        cv::line(roi, to_pt(s.points[k - 1].first, ys[k - 1]), to_pt(s.points[k].first, ys[k]), c,
                 thick, cv::LINE_AA, 3);
    };
    std::vector<double> raw;
    for (const auto& p : s.points) raw.push_back(p.second);
    if (noisy) {
      draw(raw, tint(color, 0.3), 1);
      draw(smooth(s.points, 0.9), color, 2);
    } else {
      draw(raw, color, 2);
    }
    legend.push_back(s.key + (noisy ? " (smoothed)" : ""));
  }

  // legend box, top right inside the plot
  int w = 0, line_h = 20;
  for (const auto& l : legend) {
    int base = 0;
    w = std::max(w, cv::getTextSize(l, cv::FONT_HERSHEY_SIMPLEX, 0.45, 1, &base).width);
  }
  const cv::Rect box(plot.x + plot.width - w - 48, plot.y + 8, w + 40,
                     static_cast<int>(legend.size()) * line_h + 8);
  cv::rectangle(img, box, cv::Scalar(255, 255, 255), cv::FILLED);
  cv::rectangle(img, box, cv::Scalar(190, 190, 190), 1);
  for (size_t i = 0; i < legend.size(); ++i) {
    const int y = box.y + 14 + static_cast<int>(i) * line_h;
    const cv::Scalar color = kColors[i % (sizeof kColors / sizeof kColors[0])];
    cv::line(img, {box.x + 6, y}, {box.x + 26, y}, color, 2, cv::LINE_AA);
    put_text(img, legend[i], {box.x + 32, y}, 0.45, 1, text, -1, true);
  }
}

#endif

}  // namespace

void plot_metrics(const std::vector<json>& records, const std::string& png_path,
                  const PlotOptions& options) {
  const std::vector<PlotPanel> panels =
      options.panels.empty() ? default_panels(records) : options.panels;
  std::vector<std::pair<PlotPanel, std::vector<Series>>> drawn;
  for (const PlotPanel& p : panels) {
    auto s = collect(records, p.keys, options.x_key, p.log_y);
    if (!s.empty()) drawn.emplace_back(p, std::move(s));
  }
  if (drawn.empty())
    throw_error(png_path, ": nothing to plot (no numeric values against \"", options.x_key,
                "\" in ", records.size(), " records)");
#ifdef EDITCLIP_PLOT_WITH_OPENCV
  const int title_h = 44;
  const int width = std::max(options.width, 400);
  const int ph = std::max(options.panel_height, 200);
  cv::Mat img(title_h + ph * static_cast<int>(drawn.size()), width, CV_8UC3,
              cv::Scalar(255, 255, 255));
  put_text(img, options.title, {width / 2, 30}, 0.8, 2, cv::Scalar(20, 20, 20), 0);
  for (size_t i = 0; i < drawn.size(); ++i)
    draw_panel(img, cv::Rect(0, title_h + static_cast<int>(i) * ph, width, ph), drawn[i].first,
               drawn[i].second, options.x_key);
  cv::Mat rgb;
  cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
  const at::Tensor t =
      at::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, at::TensorOptions().dtype(at::kByte))
          .clone();
  std::error_code ec;
  const fs::path parent = fs::path(png_path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  save_image(png_path, t);
#else
  throw_error(png_path,
              ": this build cannot draw plots (built without OpenCV); the values are in the "
              "metrics log (.jsonl)");
#endif
}

bool plot_metrics_available() {
#ifdef EDITCLIP_PLOT_WITH_OPENCV
  return true;
#else
  return false;
#endif
}

void plot_metrics_file(const std::string& jsonl_path, const std::string& png_path,
                       const PlotOptions& options) {
  plot_metrics(read_metrics_log(jsonl_path), png_path, options);
}

// ---------------------------------------------------------------------------------------------
// Progress

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}

std::string format_progress(const ProgressInfo& info, int bar_width) {
  const double frac =
      info.total > 0 ? std::clamp(static_cast<double>(info.step) / info.total, 0.0, 1.0) : 0.0;
  std::string out;
  if (bar_width > 0) {
    const int filled = static_cast<int>(frac * bar_width);
    out = "[" + std::string(filled, '#') + std::string(bar_width - filled, '.') + "] ";
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld/%lld (%d%%)", static_cast<long long>(info.step),
                static_cast<long long>(info.total), static_cast<int>(frac * 100));
  out += buf;
  if (info.loss) {
    std::snprintf(buf, sizeof buf, " loss %.4f", *info.loss);
    out += buf;
  }
  if (info.lr) {
    std::snprintf(buf, sizeof buf, " lr %.2e", *info.lr);
    out += buf;
  }
  if (info.images_per_s) {
    std::snprintf(buf, sizeof buf, " %.1f img/s", *info.images_per_s);
    out += buf;
  }
  if (info.eta_s) out += " ETA " + format_duration(*info.eta_s);
  return out;
}

ProgressMeter::ProgressMeter(int64_t total_steps, int64_t start_step)
    : total_(total_steps), start_step_(start_step), start_(Clock::now()), last_(start_) {}

std::string ProgressMeter::update(int64_t step, int64_t images, std::optional<double> loss,
                                  std::optional<double> lr) {
  const Clock::time_point now = Clock::now();
  const double dt = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  if (dt > 0) {
    const double ips = images / dt, sps = 1.0 / dt;
    // The first steps are slow (allocation, warm-up): a short memory lets the rate settle fast.
    const double a = first_ ? 1.0 : 0.1;
    images_per_s_ = first_ ? ips : (1 - a) * images_per_s_ + a * ips;
    steps_per_s_ = first_ ? sps : (1 - a) * steps_per_s_ + a * sps;
    first_ = false;
  }
  ProgressInfo info;
  info.step = step;
  info.total = total_;
  info.loss = loss;
  info.lr = lr;
  if (images_per_s_ > 0) info.images_per_s = images_per_s_;
  if (steps_per_s_ > 0) info.eta_s = std::max<int64_t>(total_ - step, 0) / steps_per_s_;
  return format_progress(info);
}

}  // namespace editclip
