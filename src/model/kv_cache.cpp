// KvCache storage: [layers, capacity, kv_dim] per keys and values; growing
// re-lays each layer's rows into the larger buffer.
#include "model/kv_cache.h"

#include <algorithm>

#include "core/error.h"
#include "model/model.h"

namespace masque {

KvCache::KvCache(const Model& model)
    : model_(&model),
      layers_(model.config().num_hidden_layers),
      kv_dim_(model.config().num_key_value_heads * model.config().head_dim),
      max_length_(model.config().max_position_embeddings) {}

void KvCache::reserve(int tokens) {
  if (tokens <= capacity_) return;
  if (tokens > max_length_) {
    throw InputError(cat("the sequence would hold ", tokens,
                         " tokens, more than the model's context of ", max_length_,
                         " (max_position_embeddings): shorten the prompt or lower max tokens"));
  }
  // Geometric growth (at least 64 rows) so decoding token by token copies
  // the cache O(log n) times, never past the model's context.
  const int grown = std::min(max_length_, std::max({tokens, 2 * capacity_, 64}));
  const Backend& be = model_->backend();
  const std::size_t row = sizeof(float) * static_cast<std::size_t>(kv_dim_);
  DeviceBuffer k(be, row * layers_ * grown), v(be, row * layers_ * grown);
  const std::size_t used = row * tokens_.size();
  for (int l = 0; l < layers_ && used > 0; ++l) {
    be.copy(static_cast<char*>(k.data()) + row * grown * l,
            static_cast<const char*>(k_.data()) + row * capacity_ * l, used);
    be.copy(static_cast<char*>(v.data()) + row * grown * l,
            static_cast<const char*>(v_.data()) + row * capacity_ * l, used);
  }
  k_ = std::move(k);
  v_ = std::move(v);
  capacity_ = grown;
}

void KvCache::truncate(int length) {
  if (length < 0 || length > this->length()) {
    throw InputError(cat("cannot truncate a KV cache of ", this->length(), " tokens to ", length));
  }
  tokens_.resize(static_cast<std::size_t>(length));
}

void KvCache::copy_from(const KvCache& other) {
  if (other.model_ != model_)
    throw InputError("KvCache::copy_from: the caches belong to different models");
  if (&other == this) return;
  tokens_.clear();
  reserve(std::max(other.length(), 1));
  const Backend& be = model_->backend();
  const std::size_t row = sizeof(float) * static_cast<std::size_t>(kv_dim_);
  const std::size_t used = row * other.tokens_.size();
  for (int l = 0; l < layers_ && used > 0; ++l) {
    be.copy(static_cast<char*>(k_.data()) + row * capacity_ * l,
            static_cast<const char*>(other.k_.data()) + row * other.capacity_ * l, used);
    be.copy(static_cast<char*>(v_.data()) + row * capacity_ * l,
            static_cast<const char*>(other.v_.data()) + row * other.capacity_ * l, used);
  }
  tokens_ = other.tokens_;
}

float* KvCache::keys(int layer) const {
  return k_.f32() + static_cast<std::size_t>(layer) * capacity_ * kv_dim_;
}

float* KvCache::values(int layer) const {
  return v_.f32() + static_cast<std::size_t>(layer) * capacity_ * kv_dim_;
}

}  // namespace masque
