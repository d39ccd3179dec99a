// LoRA adapter math and persistence (see lora.h for the equations), through
// the model's backend: the adapter lives on the same device as the model.
#include "posttrain/lora.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"

namespace masque {
namespace {
const std::vector<std::string> kKnownTargets = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                "gate_proj", "up_proj", "down_proj"};
bool has_suffix(const std::string& name, const std::string& module) {
  const std::string suffix = "." + module + ".weight";
  return name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

LoraAdapter::LoraAdapter(Model& model, int rank, float alpha,
                         const std::vector<std::string>& targets, std::uint64_t seed)
    : backend_(model.backend()), rank_(rank), scale_(alpha / static_cast<float>(rank)) {
  if (targets.empty()) throw InputError("--lora-targets is empty (e.g. q_proj,v_proj)");
  for (const auto& t : targets) {
    if (std::find(kKnownTargets.begin(), kKnownTargets.end(), t) == kKnownTargets.end()) {
      throw InputError(
          cat("unknown LoRA target module '", t,
              "' (use q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or down_proj)"));
    }
  }
  if (rank < 1) throw InputError(cat("--lora-rank must be >= 1, got ", rank));
  Rng rng(seed);
  std::size_t offset = 0;
  for (ParamView& p : model.params()) {
    bool wanted = std::any_of(targets.begin(), targets.end(),
                              [&](const std::string& t) { return has_suffix(p.name, t); });
    if (!wanted) continue;
    const auto out = static_cast<std::size_t>(p.shape[0]);
    const auto in = static_cast<std::size_t>(p.shape[1]);
    if (static_cast<std::size_t>(rank) > std::min(out, in)) {
      throw InputError(cat("--lora-rank ", rank, " exceeds the smaller dimension of ", p.name, " (",
                           out, "x", in, ")"));
    }
    Target t{&p, DeviceBuffer::floats(backend_, p.numel), offset, offset + rank * in};
    backend_.copy(t.base.data(), p.data, p.numel * sizeof(float));
    offset += rank * in + out * rank;
    targets_.push_back(std::move(t));
  }
  size_ = offset;
  params_ = DeviceBuffer::floats(backend_, size_);
  grads_ = DeviceBuffer::floats(backend_, size_);
  m_ = DeviceBuffer::floats(backend_, size_);
  v_ = DeviceBuffer::floats(backend_, size_);
  // A ~ N(0, 1/in), B = 0: the adapted model starts equal to the base model.
  std::vector<float> host(size_, 0.0f);
  for (const Target& t : targets_) {
    const auto in = static_cast<std::size_t>(t.weight->shape[1]);
    const double std = 1.0 / std::sqrt(static_cast<double>(in));
    for (std::size_t i = 0; i < rank_ * in; ++i)
      host[t.a_offset + i] = static_cast<float>(rng.normal() * std);
  }
  params_.upload(host.data(), host.size() * sizeof(float));
}

void LoraAdapter::step(float lr, const AdamWConfig& config) {
  ++steps;
  adamw_update(backend_, params_.f32(), grads_.f32(), m_.f32(), v_.f32(), nullptr, size_, lr,
               config, steps);
}

void LoraAdapter::apply() {
  for (Target& t : targets_) {
    const int out = static_cast<int>(t.weight->shape[0]);
    const int in = static_cast<int>(t.weight->shape[1]);
    backend_.copy(t.weight->data, t.base.data(), t.weight->numel * sizeof(float));
    backend_.gemm(false, false, out, in, rank_, scale_, params() + t.b_offset, rank_,
                  params() + t.a_offset, in, 1.0f, t.weight->data, in);
  }
}

void LoraAdapter::gather_gradients() {
  for (Target& t : targets_) {
    const int out = static_cast<int>(t.weight->shape[0]);
    const int in = static_cast<int>(t.weight->shape[1]);
    const float* dw = t.weight->grad;
    // dB [out, r] = s * dW [out, in] * A^T [in, r]
    backend_.gemm(false, true, out, rank_, in, scale_, dw, in, params() + t.a_offset, in, 0.0f,
                  grads() + t.b_offset, rank_);
    // dA [r, in] = s * B^T [r, out] * dW [out, in]
    backend_.gemm(true, false, rank_, in, out, scale_, params() + t.b_offset, rank_, dw, in, 0.0f,
                  grads() + t.a_offset, in);
  }
}

float LoraAdapter::grad_norm_squared() const {
  return static_cast<float>(backend_.sum_squares(grads_.f32(), size_));
}

void LoraAdapter::scale_grads(float factor) { backend_.scale_inplace(grads_.f32(), size_, factor); }

void LoraAdapter::save(const std::filesystem::path& path) const {
  std::vector<float> p(size_), m(size_), v(size_);
  params_.download(p.data(), size_ * sizeof(float));
  m_.download(m.data(), size_ * sizeof(float));
  v_.download(v.data(), size_ * sizeof(float));
  SafetensorsWriter writer;
  for (const Target& t : targets_) {
    const std::int64_t out = t.weight->shape[0];
    const std::int64_t in = t.weight->shape[1];
    const std::string& name = t.weight->name;
    const std::vector<std::int64_t> a_shape = {rank_, in};
    const std::vector<std::int64_t> b_shape = {out, rank_};
    writer.add_f32(name + ".lora_A", a_shape, p.data() + t.a_offset);
    writer.add_f32(name + ".lora_B", b_shape, p.data() + t.b_offset);
    writer.add_f32("m." + name + ".lora_A", a_shape, m.data() + t.a_offset);
    writer.add_f32("m." + name + ".lora_B", b_shape, m.data() + t.b_offset);
    writer.add_f32("v." + name + ".lora_A", a_shape, v.data() + t.a_offset);
    writer.add_f32("v." + name + ".lora_B", b_shape, v.data() + t.b_offset);
  }
  writer.set_metadata("lora_rank", std::to_string(rank_));
  writer.set_metadata("lora_scale", cat(scale_));
  writer.set_metadata("step", std::to_string(steps));
  writer.write(path);
}

std::vector<LoraAdapter::TargetInfo> LoraAdapter::target_info() const {
  std::vector<TargetInfo> out;
  for (const Target& t : targets_) {
    out.push_back({t.weight->name, t.weight->shape[0], t.weight->shape[1], t.a_offset, t.b_offset});
  }
  return out;
}

std::vector<float> LoraAdapter::params_host() const {
  std::vector<float> host(size_);
  params_.download(host.data(), size_ * sizeof(float));
  return host;
}

void LoraAdapter::set_params_host(const std::vector<float>& host) {
  if (host.size() != size_) {
    throw Error(cat("LoRA parameters of ", host.size(), " floats for an adapter of ", size_,
                    " (a bug in masque: please report it)"));
  }
  params_.upload(host.data(), size_ * sizeof(float));
  backend_.fill_zero(m_.data(), m_.bytes());
  backend_.fill_zero(v_.data(), v_.bytes());
  steps = 0;
}

void LoraAdapter::load(const std::filesystem::path& path) {
  SafetensorsFile file(path);
  auto rank_it = file.metadata().find("lora_rank");
  if (rank_it == file.metadata().end() || rank_it->second != std::to_string(rank_)) {
    throw FormatError(cat(path.string(),
                          " holds a LoRA adapter of another rank (resume with the same ",
                          "--lora-rank)"));
  }
  std::vector<float> p(size_), m(size_), v(size_);
  for (Target& t : targets_) {
    const std::string& name = t.weight->name;
    const std::size_t a_n = rank_ * static_cast<std::size_t>(t.weight->shape[1]);
    const std::size_t b_n = rank_ * static_cast<std::size_t>(t.weight->shape[0]);
    for (const auto& [prefix, buf] :
         {std::pair<std::string, float*>{"", p.data()}, {"m.", m.data()}, {"v.", v.data()}}) {
      const std::string a = prefix + name + ".lora_A";
      const std::string b = prefix + name + ".lora_B";
      if (!file.contains(a) || !file.contains(b)) {
        throw FormatError(
            cat(path.string(), " lacks ", a, " or ", b, " (resume with the same --lora-targets)"));
      }
      file.read_f32(a, buf + t.a_offset, a_n);
      file.read_f32(b, buf + t.b_offset, b_n);
    }
  }
  params_.upload(p.data(), size_ * sizeof(float));
  m_.upload(m.data(), size_ * sizeof(float));
  v_.upload(v.data(), size_ * sizeof(float));
  auto step_it = file.metadata().find("step");
  steps = step_it == file.metadata().end() ? 0 : std::stoll(step_it->second);
}

}  // namespace masque
