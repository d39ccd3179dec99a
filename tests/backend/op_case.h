// Op-test harness core (no GoogleTest here: bench/ops.cpp includes it too).
// An OpCase is one call of one Backend op: host arrays holding every input
// and output before the call, a `run` that calls the op on device copies of
// them, and a float64 `reference` that says what each output element must be
// and how far float32 rounding may take it (a tolerance per element, derived
// per op: see docs/backend.md, "Thresholds"). The correctness test runs each
// case on every backend present; the performance mode times `run` alone.
// Also the finite-difference check that validates every float64 backward
// reference against its forward (formerly tests/backend_cpu/op_check.h).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/rng.h"

namespace masque::optest {

// float32 unit roundoff u: a correctly rounded result x' of an exact x has
// |x' - x| <= u |x|. Every tolerance is a multiple of it.
inline constexpr double kUnit = 0x1p-24;
// c in tol = c * K * u * magnitude: rounding-error bounds give gamma_K =
// K u / (1 - K u) per K roundings; c = 2 covers the 1/(1 - K u) and an
// implementation that rounds one intermediate more than the count assumes
// (e.g. alpha applied before the sum). Measured errors sit far below
// (typically ~sqrt(K) u, not K u); a wrong index or a missing term is O(1).
inline constexpr double kSlack = 2.0;
// Results below float32's normal range (2^-126) have no relative accuracy;
// where an op's math can underflow (sigmoid of g < -87) the tolerance adds
// this absolute slack times the element's multipliers.
inline constexpr double kTiny = 0x1p-126;

enum class Role { kIn, kOut, kInOut };  // read only; written only; read and written

// One array of a case: its contents before the call.
struct HostArray {
  std::string name;
  Role role = Role::kIn;
  bool host_only = false;  // host memory even on a device backend (gather_rows' output)
  std::vector<float> f32;
  std::vector<std::int32_t> i32;
  std::vector<double> f64;  // host-only float64 results (sum_squares)

  std::size_t count() const { return f32.size() + i32.size() + f64.size(); }
  std::size_t bytes() const { return f32.size() * 4 + i32.size() * 4 + f64.size() * 8; }
  std::vector<double> as_double() const {
    if (!f32.empty()) return {f32.begin(), f32.end()};
    if (!i32.empty()) return {i32.begin(), i32.end()};
    return f64;
  }
};

// Expected contents of one array after the call: the float64 value of every
// element and the absolute error allowed (0: exact; infinity: not checked).
struct Expected {
  int array = 0;
  std::vector<double> value, tol;
};

// A finite-difference check of a float64 backward reference.
struct GradResult {
  std::string name;
  double worst =
      0;  // max over the sampled indices of |analytic - numeric| / allowed (passes at <= 1)
  std::string detail;  // the worst index, for the failure message
};

struct Reference {
  std::vector<Expected> expected;
  std::vector<GradResult> gradients;
  void expect(int array, std::vector<double> value, std::vector<double> tol) {
    expected.push_back({array, std::move(value), std::move(tol)});
  }
};

class DeviceArrays;

struct OpCase {
  std::string op;     // the Backend method under test
  std::string shape;  // its sizes, for messages and the perf table
  int per_step = 0;   // perf mode: calls per training step (0: not in a plain step)
  double flops = 0;   // perf mode: useful floating-point operations per call (0: a memory op)
  std::vector<HostArray> arrays;
  std::function<void(const Backend&, DeviceArrays&)> run;
  std::function<void(const OpCase&, Reference&)> reference;  // float64 expectation (test mode only)

  int add(std::string name, Role role, std::vector<float> v) {
    arrays.push_back({std::move(name), role, false, std::move(v), {}, {}});
    return static_cast<int>(arrays.size()) - 1;
  }
  int in(std::string name, std::vector<float> v) {
    return add(std::move(name), Role::kIn, std::move(v));
  }
  int out(std::string name, std::vector<float> v) {
    return add(std::move(name), Role::kOut, std::move(v));
  }
  int inout(std::string name, std::vector<float> v) {
    return add(std::move(name), Role::kInOut, std::move(v));
  }
  int ints(std::string name, std::vector<std::int32_t> v) {
    arrays.push_back({std::move(name), Role::kIn, false, {}, std::move(v), {}});
    return static_cast<int>(arrays.size()) - 1;
  }
  // Host-only inputs (an op's host arrays, such as lm_head_loss's targets).
  int host_in(std::string name, std::vector<float> v) {
    arrays.push_back({std::move(name), Role::kIn, true, std::move(v), {}, {}});
    return static_cast<int>(arrays.size()) - 1;
  }
  int host_ints(std::string name, std::vector<std::int32_t> v) {
    arrays.push_back({std::move(name), Role::kIn, true, {}, std::move(v), {}});
    return static_cast<int>(arrays.size()) - 1;
  }
  int host_out(std::string name, std::vector<float> v) {
    arrays.push_back({std::move(name), Role::kOut, true, std::move(v), {}, {}});
    return static_cast<int>(arrays.size()) - 1;
  }
  int host_out_f64(std::string name, std::size_t n) {
    arrays.push_back({std::move(name), Role::kOut, true, {}, {}, std::vector<double>(n, 0.0)});
    return static_cast<int>(arrays.size()) - 1;
  }
  std::vector<double> d(int i) const { return arrays[static_cast<std::size_t>(i)].as_double(); }
  const std::vector<std::int32_t>& ints_of(int i) const {
    return arrays[static_cast<std::size_t>(i)].i32;
  }
  // Bytes an ideal implementation must move: inputs read, outputs written, in-outs both.
  double traffic_bytes() const {
    double total = 0;
    for (const auto& a : arrays)
      total += static_cast<double>(a.bytes()) * (a.role == Role::kInOut ? 2 : 1);
    return total;
  }
};

// A case's arrays on one backend: device buffers (host vectors for host-only
// arrays) and the Workspace the op may use.
class DeviceArrays {
 public:
  DeviceArrays(const Backend& backend, const OpCase& c) : backend_(&backend), workspace_(backend) {
    for (const auto& a : c.arrays) {
      host_f32_.emplace_back(a.host_only ? a.f32 : std::vector<float>{});
      host_f64_.emplace_back(a.host_only ? a.f64 : std::vector<double>{});
      host_i32_.emplace_back(a.host_only ? a.i32 : std::vector<std::int32_t>{});
      device_.emplace_back(a.host_only ? DeviceBuffer() : DeviceBuffer(backend, a.bytes()));
    }
    restore(c, false);
  }
  // Uploads the initial contents (all arrays, or only those the op writes:
  // what the perf mode restores between repetitions).
  void restore(const OpCase& c, bool written_only) {
    for (std::size_t i = 0; i < c.arrays.size(); ++i) {
      const HostArray& a = c.arrays[i];
      if (written_only && a.role == Role::kIn) continue;
      if (a.host_only) {
        host_f32_[i] = a.f32;
        host_f64_[i] = a.f64;
        host_i32_[i] = a.i32;
      } else if (!a.f32.empty()) {
        device_[i].upload(a.f32.data(), a.bytes());
      } else {
        device_[i].upload(a.i32.data(), a.bytes());
      }
    }
  }
  // Every array after the call, as float64.
  std::vector<std::vector<double>> download(const OpCase& c) const {
    backend_->synchronize();
    std::vector<std::vector<double>> all;
    for (std::size_t i = 0; i < c.arrays.size(); ++i) {
      const HostArray& a = c.arrays[i];
      if (a.host_only && !a.i32.empty()) {
        all.emplace_back(host_i32_[i].begin(), host_i32_[i].end());
      } else if (a.host_only) {
        all.emplace_back(a.f64.empty()
                             ? std::vector<double>(host_f32_[i].begin(), host_f32_[i].end())
                             : host_f64_[i]);
      } else if (!a.f32.empty()) {
        std::vector<float> host(a.f32.size());
        device_[i].download(host.data(), a.bytes());
        all.emplace_back(host.begin(), host.end());
      } else {
        std::vector<std::int32_t> host(a.i32.size());
        device_[i].download(host.data(), a.bytes());
        all.emplace_back(host.begin(), host.end());
      }
    }
    return all;
  }
  float* f32(int i) {
    const auto k = static_cast<std::size_t>(i);
    return host_f32_[k].empty() ? device_[k].f32() : host_f32_[k].data();
  }
  std::int32_t* i32(int i) {
    const auto k = static_cast<std::size_t>(i);
    return host_i32_[k].empty() ? device_[k].i32() : host_i32_[k].data();
  }
  double* f64(int i) { return host_f64_[static_cast<std::size_t>(i)].data(); }
  Workspace& workspace() { return workspace_; }

 private:
  const Backend* backend_;
  std::vector<DeviceBuffer> device_;
  std::vector<std::vector<float>> host_f32_;
  std::vector<std::vector<double>> host_f64_;
  std::vector<std::vector<std::int32_t>> host_i32_;
  Workspace workspace_;
};

// Runs a case once on `backend` from its initial contents; returns every array.
inline std::vector<std::vector<double>> run_once(const OpCase& c, const Backend& backend) {
  DeviceArrays arrays(backend, c);
  c.run(backend, arrays);
  return arrays.download(c);
}

// The element of `got` furthest outside its tolerance, as a ratio |err| / tol
// (> 1 fails; exact elements give 0 or infinity).
struct Mismatch {
  double ratio = 0;
  std::size_t index = 0;
  double got = 0, want = 0, tol = 0;
};
inline Mismatch compare(const std::vector<double>& got, const Expected& e) {
  Mismatch worst;
  worst.ratio = -1;
  for (std::size_t i = 0; i < e.value.size(); ++i) {
    const double want = e.value[i], tol = e.tol[i], g = got[i];
    double ratio = 0;
    if (std::isinf(tol)) continue;
    if (std::isnan(want) || std::isnan(g)) {
      ratio = std::isnan(want) && std::isnan(g) ? 0 : std::numeric_limits<double>::infinity();
    } else if (g != want) {
      ratio = tol > 0 ? std::abs(g - want) / tol : std::numeric_limits<double>::infinity();
    }
    if (ratio > worst.ratio) worst = {ratio, i, g, want, tol};
  }
  worst.ratio = std::max(worst.ratio, 0.0);
  return worst;
}

// Bit-identical (NaN equals NaN): the determinism checks.
inline bool same_bits(const std::vector<std::vector<double>>& a,
                      const std::vector<std::vector<double>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return false;
    if (!a[i].empty() && std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(double)) != 0)
      return false;
  }
  return true;
}

// ---- random data ------------------------------------------------------------

// Uniform with unit variance (uniform, not normal: the step-sized perf cases
// draw tens of millions of values). Tolerances are computed from the drawn
// values, so the distribution only sets which paths run.
inline std::vector<float> random_floats(std::size_t n, Rng& rng, double scale = 1.0) {
  std::vector<float> v(n);
  for (auto& x : v)
    x = static_cast<float>((2.0 * rng.uniform() - 1.0) * 1.7320508075688772 * scale);
  return v;
}
inline std::vector<float> nans(std::size_t n) { return std::vector<float>(n, std::nanf("")); }
inline int pick(Rng& rng, std::initializer_list<int> options) {
  return options.begin()[rng.below(options.size())];
}
inline std::vector<double> zeros(std::size_t n) { return std::vector<double>(n, 0.0); }

// ---- finite differences -----------------------------------------------------

inline std::string g6(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Central differences of the float64 `loss` (which reads x) against the
// float64 `analytic` gradient at up to `samples` indices spread over x. With
// h = 1e-5 the truncation error is ~h^2; the cancellation error of
// (up - down) / 2h is ~eps |loss| / h, which matters where the gradient is
// tiny next to the loss (cross-entropy over a large vocabulary). An index
// passes when |analytic - numeric| <= tolerance * (largest sampled gradient)
// + 100 * 2^-52 * |loss| / h; `worst` is the largest ratio to that (<= 1).
inline GradResult finite_difference(std::string name, std::vector<double>& x,
                                    const std::vector<double>& analytic,
                                    const std::function<double()>& loss, double tolerance = 1e-6,
                                    int samples = 48) {
  GradResult result{std::move(name), 0.0, ""};
  if (x.size() != analytic.size()) {
    result.worst = std::numeric_limits<double>::infinity();
    result.detail = "analytic gradient has the wrong size";
    return result;
  }
  const double h = 1e-5;
  std::vector<std::size_t> picks;
  const std::size_t stride = std::max<std::size_t>(1, x.size() / static_cast<std::size_t>(samples));
  for (std::size_t i = 0; i < x.size(); i += stride) picks.push_back(i);
  std::vector<double> numeric, noise;
  double scale = 0;
  for (std::size_t i : picks) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    numeric.push_back((up - down) / (2 * h));
    noise.push_back(100 * 0x1p-52 * std::max(std::abs(up), std::abs(down)) / h);
    scale = std::max(scale, std::abs(numeric.back()));
  }
  for (std::size_t n = 0; n < picks.size(); ++n) {
    const double allowed = tolerance * scale + noise[n] + 1e-300;
    const double ratio = std::abs(analytic[picks[n]] - numeric[n]) / allowed;
    if (ratio > result.worst || n == 0) {
      result.worst = ratio;
      result.detail = "index " + std::to_string(picks[n]) + ": analytic " + g6(analytic[picks[n]]) +
                      " vs numeric " + g6(numeric[n]) + " (allowed difference " + g6(allowed) + ")";
    }
  }
  return result;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace masque::optest
