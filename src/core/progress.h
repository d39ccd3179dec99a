// Progress bars for long work: label, bar, count, rate and ETA on stderr.
// On a terminal it redraws in place at most 10 times a second; in a log (not a
// tty) it prints one line every few seconds and a final line, so CI output stays
// short. Safe to advance from several threads.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace masque {

// Global switch (CLI --quiet / --json turn bars off).
void set_progress_enabled(bool enabled);
bool progress_enabled();

class ProgressBar {
 public:
  // total == 0 means unknown (no bar, no ETA). unit is "tok", "B", "step", ...
  ProgressBar(std::string label, std::uint64_t total, std::string unit = "it");
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();

  void add(std::uint64_t n);
  void set(std::uint64_t done);
  void set_total(std::uint64_t total);
  void set_postfix(std::string text);  // e.g. "loss 3.21"
  void finish();                       // final line; idempotent
  double elapsed_seconds() const;

 private:
  void maybe_render(bool force);
  void render_locked(bool final);

  std::string label_;
  std::string unit_;
  std::atomic<std::uint64_t> total_;
  std::atomic<std::uint64_t> done_{0};
  std::string postfix_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_render_;
  bool tty_ = false;
  bool finished_ = false;
  bool enabled_ = true;
};

// "1.23M", "456k"; "12.3 MB"; "1h02m", "4m05s", "12.3s".
std::string human_count(double n);
std::string human_bytes(double bytes);
std::string human_duration(double seconds);

}  // namespace masque
