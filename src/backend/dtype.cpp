// backend_for_dtype (see dtype.h).
#include "backend/dtype.h"

#include "core/error.h"

namespace masque {

void check_dtype(const std::string& dtype) {
  if (dtype != "f32" && dtype != "bf16") {
    throw InputError(cat("unknown --dtype '", dtype, "' (use f32 or bf16)"));
  }
}

const Backend& backend_for_dtype(const std::string& dtype) {
  check_dtype(dtype);
  const Backend& base = default_backend();
  if (dtype == "f32") return base;
  if (&base != &cpu_backend()) {
    throw InputError(cat("--dtype bf16 runs on the CPU backend only (this run uses '", base.name(),
                         "'); use --backend cpu or --dtype f32"));
  }
  return cpu_bf16_backend();
}

}  // namespace masque
