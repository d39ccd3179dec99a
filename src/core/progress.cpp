// ProgressBar rendering (see progress.h).
#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace masque {
namespace {
std::atomic<bool> g_enabled{true};
}

void set_progress_enabled(bool enabled) { g_enabled = enabled; }
bool progress_enabled() { return g_enabled; }

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
  else if (n >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else if (n >= 1e4)
    std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
  else if (n == std::floor(n))
    std::snprintf(buf, sizeof buf, "%.0f", n);
  else
    std::snprintf(buf, sizeof buf, "%.2f", n);
  return buf;
}

std::string human_bytes(double bytes) {
  char buf[32];
  if (bytes >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  else if (bytes >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  else if (bytes >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1f kB", bytes / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  return buf;
}

std::string human_duration(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(std::fmod(s, 3600) / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(std::fmod(s, 60)));
  else
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

ProgressBar::ProgressBar(std::string label, std::uint64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  start_ = last_render_ = std::chrono::steady_clock::now();
  tty_ = ::isatty(STDERR_FILENO) != 0;
  enabled_ = progress_enabled();
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::add(std::uint64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  maybe_render(false);
}

void ProgressBar::set(std::uint64_t done) {
  done_.store(done, std::memory_order_relaxed);
  maybe_render(false);
}

void ProgressBar::set_total(std::uint64_t total) { total_ = total; }

void ProgressBar::set_postfix(std::string text) {
  std::lock_guard<std::mutex> lock(mutex_);
  postfix_ = std::move(text);
}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (enabled_) render_locked(true);
}

void ProgressBar::maybe_render(bool force) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_render_).count();
  double period = tty_ ? 0.1 : 10.0;
  if (!force && since < period) return;
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;
  last_render_ = now;
  render_locked(false);
}

void ProgressBar::render_locked(bool final) {
  double elapsed = elapsed_seconds();
  double done = static_cast<double>(done_.load());
  double total = static_cast<double>(total_.load());
  double rate = elapsed > 0 ? done / elapsed : 0.0;
  std::string line = label_;
  if (total > 0) {
    double frac = std::min(1.0, done / total);
    int width = 24;
    int filled = static_cast<int>(frac * width);
    line += " [" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3.0f%% ", frac * 100);
    line += pct;
    line += human_count(done) + "/" + human_count(total) + " " + unit_;
  } else {
    line += " " + human_count(done) + " " + unit_;
  }
  line += " | " + human_count(rate) + " " + unit_ + "/s";
  if (final) {
    line += " | " + human_duration(elapsed);
  } else if (total > 0 && rate > 0) {
    line += " | ETA " + human_duration((total - done) / rate);
  }
  if (!postfix_.empty()) line += " | " + postfix_;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace masque
