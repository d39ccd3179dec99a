// LoraUpdate (see lora_update.h): the adapters' own AdamW update; the base
// weights stay W0 and the model holds W0 + s·BA, rewritten before every step
// and every save.
#include "posttrain/lora_update.h"

#include <algorithm>
#include <cmath>

#include "core/atomic_file.h"
#include "core/error.h"
#include "infer/model_dir.h"
#include "infer/model_weights.h"
#include "io/safetensors.h"
#include "posttrain/peft.h"
#include "train/checkpoint.h"

namespace masque {
namespace fs = std::filesystem;

float LoraUpdate::clip_gradients(float max_norm) {
  lora_.gather_gradients();
  const float norm = std::sqrt(lora_.grad_norm_squared());
  if (max_norm > 0 && norm > max_norm) lora_.scale_grads(max_norm / (norm + 1e-6f));
  return norm;
}

fs::path LoraUpdate::save_checkpoint(const fs::path& run_dir, const Tokenizer& tokenizer,
                                     const TrainerState& state, int keep) {
  lora_.apply();  // the checkpoint's model.safetensors is the merged model
  const fs::path final_dir = run_dir / "checkpoints" / cat("step-", state.step);
  {
    AtomicDir dir(final_dir);
    save_model_weights(model_, dir.path() / "model.safetensors");
    write_json_file(dir.path() / "config.json", model_.config().to_json());
    write_generation_config(dir.path(), model_.config(), tokenizer);
    write_tokenizer_files(dir.path(), tokenizer, model_.config().max_position_embeddings);
    lora_.save(dir.path() / "lora.safetensors");
    save_peft_adapter(lora_, info_.alpha, info_.targets,
                      fs::absolute(info_.base).lexically_normal().string(), dir.path());
    TrainerState with_sums = state;  // checksums verified on resume
    with_sums.checksums = file_checksums(dir.path(), {"model.safetensors", "lora.safetensors"});
    write_json_file(dir.path() / "trainer_state.json", with_sums.to_json());
    dir.commit();
  }
  // Retention and stale temporaries of killed saves, as save_checkpoint does.
  std::error_code ec;
  const auto checkpoints = list_checkpoints(run_dir);
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 1)); i < checkpoints.size(); ++i) {
    fs::remove_all(checkpoints[i].dir, ec);
  }
  for (const auto& entry : fs::directory_iterator(run_dir / "checkpoints", ec)) {
    if (entry.path().filename().string().rfind(".step-", 0) == 0) fs::remove_all(entry.path(), ec);
  }
  return final_dir;
}

bool LoraUpdate::checkpoint_is_resumable(const fs::path& dir, std::string* why) const {
  if (!checkpoint_is_complete(dir, /*need_trainer_state=*/false, why)) return false;
  try {
    read_trainer_state(dir);
    SafetensorsFile check(dir / "lora.safetensors");
  } catch (const Error& e) {
    if (why) *why = e.what();
    return false;
  }
  return true;
}

void LoraUpdate::load_checkpoint(const fs::path& dir) { lora_.load(dir / "lora.safetensors"); }

}  // namespace masque
