// LoRA adapter math and persistence (see lora.h for the equations).
#include "posttrain/lora.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"

namespace masque {
namespace {
const std::vector<std::string> kKnownTargets = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                "gate_proj", "up_proj", "down_proj"};
bool has_suffix(const std::string& name, const std::string& module) {
  const std::string suffix = "." + module + ".weight";
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

LoraAdapter::LoraAdapter(Model& model, int rank, float alpha, const std::vector<std::string>& targets,
                         std::uint64_t seed)
    : model_(model), rank_(rank), scale_(alpha / static_cast<float>(rank)) {
  if (targets.empty()) throw InputError("--lora-targets is empty (e.g. q_proj,v_proj)");
  for (const auto& t : targets) {
    if (std::find(kKnownTargets.begin(), kKnownTargets.end(), t) == kKnownTargets.end()) {
      throw InputError(cat("unknown LoRA target module '", t,
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
      throw InputError(cat("--lora-rank ", rank, " exceeds the smaller dimension of ", p.name,
                           " (", out, "x", in, ")"));
    }
    Target t{&p, std::vector<float>(p.data, p.data + p.numel), offset, offset + rank * in};
    offset += rank * in + out * rank;
    targets_.push_back(std::move(t));
  }
  params_.assign(offset, 0.0f);
  grads_.assign(offset, 0.0f);
  m_.assign(offset, 0.0f);
  v_.assign(offset, 0.0f);
  // A ~ N(0, 1/in), B = 0: the adapted model starts equal to the base model.
  for (const Target& t : targets_) {
    const auto in = static_cast<std::size_t>(t.weight->shape[1]);
    const double std = 1.0 / std::sqrt(static_cast<double>(in));
    for (std::size_t i = 0; i < rank_ * in; ++i) {
      params_[t.a_offset + i] = static_cast<float>(rng.normal() * std);
    }
  }
}

void LoraAdapter::apply() {
  for (Target& t : targets_) {
    const int out = static_cast<int>(t.weight->shape[0]);
    const int in = static_cast<int>(t.weight->shape[1]);
    std::copy(t.base.begin(), t.base.end(), t.weight->data);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, rank_, scale_,
                params_.data() + t.b_offset, rank_, params_.data() + t.a_offset, in, 1.0f,
                t.weight->data, in);
  }
}

void LoraAdapter::gather_gradients() {
  for (Target& t : targets_) {
    const int out = static_cast<int>(t.weight->shape[0]);
    const int in = static_cast<int>(t.weight->shape[1]);
    const float* dw = t.weight->grad;
    // dB [out, r] = s * dW [out, in] * A^T [in, r]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, out, rank_, in, scale_, dw, in,
                params_.data() + t.a_offset, in, 0.0f, grads_.data() + t.b_offset, rank_);
    // dA [r, in] = s * B^T [r, out] * dW [out, in]
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rank_, in, out, scale_,
                params_.data() + t.b_offset, rank_, dw, in, 0.0f, grads_.data() + t.a_offset, in);
  }
}

float LoraAdapter::grad_norm_squared() const {
  double sum = 0.0;
  for (float g : grads_) sum += static_cast<double>(g) * g;
  return static_cast<float>(sum);
}

void LoraAdapter::scale_grads(float factor) {
  for (float& g : grads_) g *= factor;
}

void LoraAdapter::save(const std::filesystem::path& path) const {
  SafetensorsWriter writer;
  for (const Target& t : targets_) {
    const std::int64_t out = t.weight->shape[0];
    const std::int64_t in = t.weight->shape[1];
    const std::string& name = t.weight->name;
    const std::vector<std::int64_t> a_shape = {rank_, in};
    const std::vector<std::int64_t> b_shape = {out, rank_};
    writer.add_f32(name + ".lora_A", a_shape, params_.data() + t.a_offset);
    writer.add_f32(name + ".lora_B", b_shape, params_.data() + t.b_offset);
    writer.add_f32("m." + name + ".lora_A", a_shape, m_.data() + t.a_offset);
    writer.add_f32("m." + name + ".lora_B", b_shape, m_.data() + t.b_offset);
    writer.add_f32("v." + name + ".lora_A", a_shape, v_.data() + t.a_offset);
    writer.add_f32("v." + name + ".lora_B", b_shape, v_.data() + t.b_offset);
  }
  writer.set_metadata("lora_rank", std::to_string(rank_));
  writer.set_metadata("lora_scale", cat(scale_));
  writer.set_metadata("step", std::to_string(steps));
  writer.write(path);
}

void LoraAdapter::load(const std::filesystem::path& path) {
  SafetensorsFile file(path);
  auto rank_it = file.metadata().find("lora_rank");
  if (rank_it == file.metadata().end() || rank_it->second != std::to_string(rank_)) {
    throw FormatError(cat(path.string(), " holds a LoRA adapter of another rank (resume with the same ",
                          "--lora-rank)"));
  }
  for (Target& t : targets_) {
    const std::string& name = t.weight->name;
    const std::size_t a_n = rank_ * static_cast<std::size_t>(t.weight->shape[1]);
    const std::size_t b_n = rank_ * static_cast<std::size_t>(t.weight->shape[0]);
    for (const auto& [prefix, buf] : {std::pair<std::string, float*>{"", params_.data()},
                                      {"m.", m_.data()}, {"v.", v_.data()}}) {
      const std::string a = prefix + name + ".lora_A";
      const std::string b = prefix + name + ".lora_B";
      if (!file.contains(a) || !file.contains(b)) {
        throw FormatError(cat(path.string(), " lacks ", a, " or ", b,
                              " (resume with the same --lora-targets)"));
      }
      file.read_f32(a, buf + t.a_offset, a_n);
      file.read_f32(b, buf + t.b_offset, b_n);
    }
  }
  auto step_it = file.metadata().find("step");
  steps = step_it == file.metadata().end() ? 0 : std::stoll(step_it->second);
}

}  // namespace masque
