// KvCache: one sequence's keys (after RoPE) and values for every layer, owned
// by the caller of the inference engine. It holds exactly the tokens it was
// fed (tokens()), grows by need (geometrically, up to the model's context),
// and is copied only when asked: fork a prompt's cache with copy_from() to
// sample several continuations after one prefill; truncate() to rewind to a
// shared prefix.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace masque {

class Model;

class KvCache {
 public:
  explicit KvCache(const Model& model);  // empty; no memory until used
  KvCache(KvCache&&) noexcept = default;
  KvCache& operator=(KvCache&&) noexcept = default;
  KvCache(const KvCache&) = delete;  // copying a cache is explicit: copy_from()
  KvCache& operator=(const KvCache&) = delete;

  int length() const { return static_cast<int>(tokens_.size()); }
  int capacity() const { return capacity_; }
  int max_length() const { return max_length_; }  // the model's max_position_embeddings
  const std::vector<std::int32_t>& tokens() const { return tokens_; }
  std::size_t bytes() const { return k_.bytes() + v_.bytes(); }

  // Room for `tokens` tokens (InputError past the model's context).
  void reserve(int tokens);
  void clear() { tokens_.clear(); }  // keeps the memory
  void truncate(int length);         // forget the tokens after `length`
  void copy_from(
      const KvCache& other);  // same model; this becomes a copy of other's tokens and keys/values

  // For the engine: layer l's key and value rows [capacity, kv_dim] on the device.
  float* keys(int layer) const;
  float* values(int layer) const;
  // Append token ids after their keys/values were written (engine only).
  void commit(const std::int32_t* ids, int n) { tokens_.insert(tokens_.end(), ids, ids + n); }
  const Model& model() const { return *model_; }

 private:
  const Model* model_;
  int layers_ = 0, kv_dim_ = 0, max_length_ = 0;
  int capacity_ = 0;
  DeviceBuffer k_, v_;  // [layers, capacity, kv_dim]
  std::vector<std::int32_t> tokens_;
};

}  // namespace masque
