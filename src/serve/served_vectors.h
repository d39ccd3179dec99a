// Persona vectors the server was started with (--vector NAME=FILE), and the
// translation of a request's `masque` extension (names, 1-based layers,
// coefficients) into the scheduler's per-job steering and monitoring.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "serve/request.h"
#include "serve/scheduler.h"

namespace masque::serve {

struct ServedVector {
  std::string name;
  std::string file;
  // layers[L]: the direction for the residual after block L (1-based, as
  // persona-vector files store them), layers[0] the token embedding; null
  // where the file has no such layer.
  std::vector<std::shared_ptr<const std::vector<float>>> layers;
  int default_layer = 0;  // 1-based: monitor and steering without "layer" use it
};

struct ResolvedExtension {
  std::vector<JobSteer> steer;
  std::vector<JobMonitor> monitor;
};

// ApiError 400 naming the vector or layer the server does not have.
ResolvedExtension resolve_extension(const MasqueExtension& ext,
                                    const std::vector<ServedVector>& vectors);

// GET /v1/vectors: {"object": "list", "data": [{"id", "layers", "default_layer", ...}]}.
Json vectors_json(const std::vector<ServedVector>& vectors);

}  // namespace masque::serve
