// ServeMetrics (see metrics.h).
#include "serve/metrics.h"

#include <sstream>

namespace masque::serve {

void ServeMetrics::count_response(int status) {
  std::lock_guard lock(status_mutex_);
  ++responses_[status];
}

void ServeMetrics::count_finished(const std::string& reason) {
  if (reason == "stop")
    ++finished_stop_;
  else if (reason == "length")
    ++finished_length_;
  else if (reason == "timeout")
    ++finished_timeout_;
  else
    ++finished_cancelled_;
}

void ServeMetrics::record_step(int decoded, int prefilled, double seconds) {
  ++steps_;
  busy_seconds_ = busy_seconds_ + seconds;
  std::lock_guard lock(rate_mutex_);
  // Decay so roughly the last ten busy seconds dominate the rates.
  const double keep = seconds_window_ > 10 ? 10 / seconds_window_ : 1.0;
  decoded_window_ = decoded_window_ * keep + decoded;
  prefilled_window_ = prefilled_window_ * keep + prefilled;
  seconds_window_ = seconds_window_ * keep + seconds;
}

std::string ServeMetrics::render_prometheus() const {
  std::ostringstream out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out << "# HELP masque_" << name << ' ' << help << "\n# TYPE masque_" << name << ' ' << type
        << "\nmasque_" << name << ' ' << value << '\n';
  };
  {
    std::lock_guard lock(status_mutex_);
    out << "# HELP masque_http_responses_total HTTP responses by status code.\n"
           "# TYPE masque_http_responses_total counter\n";
    for (const auto& [status, n] : responses_)
      out << "masque_http_responses_total{code=\"" << status << "\"} " << n << '\n';
  }
  out << "# HELP masque_requests_finished_total Generations by finish reason.\n"
         "# TYPE masque_requests_finished_total counter\n"
      << "masque_requests_finished_total{reason=\"stop\"} " << finished_stop_ << '\n'
      << "masque_requests_finished_total{reason=\"length\"} " << finished_length_ << '\n'
      << "masque_requests_finished_total{reason=\"cancelled\"} " << finished_cancelled_ << '\n'
      << "masque_requests_finished_total{reason=\"timeout\"} " << finished_timeout_ << '\n';
  metric("prompt_tokens_total", "counter", "Prompt tokens of admitted requests.",
         prompt_tokens_.load());
  metric("prompt_tokens_cached_total", "counter",
         "Prompt tokens reused from a slot's cache (not prefilled again).",
         cached_prompt_tokens_.load());
  metric("completion_tokens_total", "counter", "Tokens generated.", completion_tokens_.load());
  metric("engine_steps_total", "counter", "Batched engine steps.", steps_.load());
  metric("engine_busy_seconds_total", "counter", "Seconds spent in engine steps.",
         busy_seconds_.load());
  metric("queue_depth", "gauge", "Requests waiting for a slot.", queue_depth_.load());
  metric("slots_active", "gauge", "Slots generating.", active_slots_.load());
  metric("slots_total", "gauge", "Slots (--parallel).", slots_.load());
  double decode_rate = 0, prefill_rate = 0;
  {
    std::lock_guard lock(rate_mutex_);
    if (seconds_window_ > 0) {
      decode_rate = decoded_window_ / seconds_window_;
      prefill_rate = prefilled_window_ / seconds_window_;
    }
  }
  metric("decode_tokens_per_second", "gauge", "Generated tokens per busy second (recent).",
         decode_rate);
  metric("prefill_tokens_per_second", "gauge", "Prompt tokens per busy second (recent).",
         prefill_rate);
  return out.str();
}

}  // namespace masque::serve
