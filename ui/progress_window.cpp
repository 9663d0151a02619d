// Progress window of interactive runs. GIMP's own progress bar cannot be used to cancel: its
// Cancel kills a 2.10 plug-in process. This window's Cancel only sets a flag that the engine's
// progress callback reads between steps, so the image stays untouched and the run ends cleanly.
#include <algorithm>
#include <string>

#include "ui/dialog_util.h"
#include "ui/dialogs.h"

namespace editclip::gimp {

using namespace detail;

struct ProgressWindow::Impl {
  GtkWidget* window = nullptr;
  GtkWidget* text = nullptr;
  GtkWidget* detail = nullptr;
  GtkWidget* bar = nullptr;
  GtkWidget* time = nullptr;
  GtkWidget* button = nullptr;
  bool cancelled = false;
  bool auto_cancel = false;
  double cancel_at = -1;  // test hook: press Cancel once the progress reaches this fraction
  bool exposed = false;
  int updates = 0;
  gint64 start_us = 0;
  std::string id;

  void pump() {
    while (gtk_events_pending()) gtk_main_iteration();
  }
  void cancel() {
    if (cancelled) return;
    cancelled = true;
    if (button) gtk_widget_set_sensitive(button, FALSE);
    if (text) gtk_label_set_text(GTK_LABEL(text), "Cancelling after the current step…");
  }
};

namespace {

void on_cancel(GtkButton*, gpointer data) {
  static_cast<ProgressWindow::Impl*>(data)->cancel();
}

gboolean on_expose(GtkWidget*, GdkEvent*, gpointer data) {
  static_cast<ProgressWindow::Impl*>(data)->exposed = true;
  return FALSE;
}

gboolean on_delete(GtkWidget*, GdkEvent*, gpointer data) {
  static_cast<ProgressWindow::Impl*>(data)->cancel();
  return TRUE;  // the owner destroys the window when the run has stopped
}

std::string clock_text(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    g_snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  else
    g_snprintf(buf, sizeof buf, "%d:%02d", s / 60, s % 60);
  return buf;
}

}  // namespace

ProgressWindow::ProgressWindow(const std::string& title, bool batch) : impl_(new Impl) {
  Impl& p = *impl_;
  p.id = "progress";
  p.start_us = g_get_monotonic_time();
  p.auto_cancel = auto_answer(p.id, true) == AutoAnswer::Cancel;
  if (const char* at = g_getenv("EDITCLIP_PROGRESS_CANCEL_AT"); at && *at)
    p.cancel_at = g_ascii_strtod(at, nullptr);
  if (!init_ui()) return;  // no display: a silent no-op window

  p.window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
  gtk_window_set_title(GTK_WINDOW(p.window), title.c_str());
  gtk_window_set_role(GTK_WINDOW(p.window), batch ? "editclip-progress-all" : "editclip-progress");
  gtk_window_set_resizable(GTK_WINDOW(p.window), FALSE);
  gtk_window_set_position(GTK_WINDOW(p.window), GTK_WIN_POS_CENTER);
  set_transient(p.window);
  g_signal_connect(p.window, "delete-event", G_CALLBACK(on_delete), &p);
  g_signal_connect_after(p.window, "expose-event", G_CALLBACK(on_expose), &p);

  GtkWidget* vbox = gtk_vbox_new(FALSE, 6);
  gtk_container_set_border_width(GTK_CONTAINER(vbox), 12);
  gtk_container_add(GTK_CONTAINER(p.window), vbox);

  p.detail = left_label("");
  gimp_label_set_attributes(GTK_LABEL(p.detail), PANGO_ATTR_WEIGHT, PANGO_WEIGHT_BOLD, -1);
  gtk_label_set_ellipsize(GTK_LABEL(p.detail), PANGO_ELLIPSIZE_MIDDLE);
  gtk_box_pack_start(GTK_BOX(vbox), p.detail, FALSE, FALSE, 0);

  p.text = left_label("Starting…");
  gtk_label_set_ellipsize(GTK_LABEL(p.text), PANGO_ELLIPSIZE_END);
  gtk_box_pack_start(GTK_BOX(vbox), p.text, FALSE, FALSE, 0);

  p.bar = gtk_progress_bar_new();
  // Start with every line occupied: a window that grows later has to wait for the X server
  // before it is repainted.
  gtk_progress_bar_set_text(GTK_PROGRESS_BAR(p.bar), " ");
  gtk_widget_set_size_request(p.bar, 380, -1);
  gtk_box_pack_start(GTK_BOX(vbox), p.bar, FALSE, FALSE, 0);

  p.time = left_label("Elapsed 0:00");
  gimp_label_set_attributes(GTK_LABEL(p.time), PANGO_ATTR_SCALE, PANGO_SCALE_SMALL, -1);
  gtk_box_pack_start(GTK_BOX(vbox), p.time, FALSE, FALSE, 0);

  GtkWidget* buttons = gtk_hbutton_box_new();
  gtk_button_box_set_layout(GTK_BUTTON_BOX(buttons), GTK_BUTTONBOX_END);
  p.button = gtk_button_new_from_stock(GTK_STOCK_CANCEL);
  gimp_help_set_help_data(
      p.button,
      batch ? "Stops after the current step. The image being edited is left unchanged; images "
              "already finished keep their new layer, and a message lists them."
            : "Stops after the current step. Nothing is written to the image.",
      nullptr);
  g_signal_connect(p.button, "clicked", G_CALLBACK(on_cancel), &p);
  gtk_container_add(GTK_CONTAINER(buttons), p.button);
  gtk_box_pack_start(GTK_BOX(vbox), buttons, FALSE, FALSE, 0);

  gtk_widget_show_all(p.window);
  gtk_widget_hide(p.detail);
  p.pump();
}

ProgressWindow::~ProgressWindow() {
  if (impl_->window) {
    gtk_widget_destroy(impl_->window);
    impl_->pump();
  }
}

void ProgressWindow::update(double fraction, const std::string& text) {
  Impl& p = *impl_;
  if (!p.window) return;
  if (!p.cancelled) gtk_label_set_text(GTK_LABEL(p.text), text.c_str());
  const double elapsed = (g_get_monotonic_time() - p.start_us) / 1e6;
  std::string time = "Elapsed " + clock_text(elapsed);
  if (fraction < 0) {
    gtk_progress_bar_pulse(GTK_PROGRESS_BAR(p.bar));
  } else {
    fraction = std::clamp(fraction, 0.0, 1.0);
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(p.bar), fraction);
    gchar* pct = g_strdup_printf("%d %%", static_cast<int>(fraction * 100 + 0.5));
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(p.bar), pct);
    g_free(pct);
    // An estimate is noise until a little work is done.
    if (fraction >= 0.05 && fraction < 1.0 && elapsed >= 2.0)
      time += ", about " + clock_text(elapsed * (1.0 - fraction) / fraction) + " left";
  }
  gtk_label_set_text(GTK_LABEL(p.time), time.c_str());
  p.pump();
  ++p.updates;
  if (p.updates == 1 && g_getenv("EDITCLIP_DIALOG_SNAPSHOT")) {
    // Test hook: the window must really be on screen (its first expose done) before it is read
    // back, or the capture shows an unpainted window. Waits at most 2 s.
    const gint64 until = g_get_monotonic_time() + 2000000;
    while (!p.exposed && g_get_monotonic_time() < until) {
      p.pump();
      g_usleep(10000);
    }
    // GTK holds back painting a toplevel until the X server confirms a size change.
    for (int i = 0; i < 20; ++i) {
      p.pump();
      g_usleep(10000);
    }
    gdk_window_process_all_updates();
    snapshot_window(p.window, p.id);
  }
  if (p.auto_cancel && p.updates >= 1) p.cancel();
  if (p.cancel_at >= 0 && fraction >= p.cancel_at) p.cancel();
}

void ProgressWindow::set_detail(const std::string& text) {
  Impl& p = *impl_;
  if (!p.window) return;
  gtk_label_set_text(GTK_LABEL(p.detail), text.c_str());
  if (text.empty())
    gtk_widget_hide(p.detail);
  else
    gtk_widget_show(p.detail);
  p.pump();
}

bool ProgressWindow::cancelled() {
  if (impl_->window) impl_->pump();
  return impl_->cancelled;
}

}  // namespace editclip::gimp
