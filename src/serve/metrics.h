// ServeMetrics: the server's counters and gauges, updated lock-free by the
// HTTP threads and the scheduler, rendered as Prometheus text for GET
// /metrics (the format llama.cpp's server and every scraper speak).
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace masque::serve {

class ServeMetrics {
 public:
  void count_response(int status);  // every HTTP response, by status code
  void add_prompt_tokens(std::int64_t n) { prompt_tokens_ += n; }
  void add_completion_tokens(std::int64_t n) { completion_tokens_ += n; }
  void add_cached_prompt_tokens(std::int64_t n) { cached_prompt_tokens_ += n; }
  void count_finished(const std::string& finish_reason);
  void set_queue_depth(int n) { queue_depth_ = n; }
  void set_active_slots(int n) { active_slots_ = n; }
  void set_slots(int n) { slots_ = n; }
  // One engine step: rows decoded (generated tokens), rows prefilled, seconds.
  void record_step(int decoded, int prefilled, double seconds);

  std::int64_t completion_tokens() const { return completion_tokens_; }
  std::string render_prometheus() const;

 private:
  std::atomic<std::int64_t> prompt_tokens_{0}, completion_tokens_{0}, cached_prompt_tokens_{0};
  std::atomic<std::int64_t> steps_{0}, finished_stop_{0}, finished_length_{0},
      finished_cancelled_{0}, finished_timeout_{0};
  std::atomic<int> queue_depth_{0}, active_slots_{0}, slots_{0};
  // Throughput over a sliding window of busy time: decayed sums so the gauge
  // follows the load without storing history.
  mutable std::mutex rate_mutex_;
  double decoded_window_ = 0, prefilled_window_ = 0, seconds_window_ = 0;
  std::atomic<double> busy_seconds_{0};
  mutable std::mutex status_mutex_;
  std::map<int, std::int64_t> responses_;
};

}  // namespace masque::serve
