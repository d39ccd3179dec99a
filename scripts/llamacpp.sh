#!/usr/bin/env bash
# llama.cpp for masque's GGUF checks and decode benchmark (docs/gguf.md).
#   scripts/llamacpp.sh install          build llama.cpp from the llama-cpp-python
#                                        source distribution into .venv (CPU only)
#   scripts/llamacpp.sh test [MASQUE]    run tests/python_llamacpp
#   scripts/llamacpp.sh bench [MASQUE]   bench/gguf_decode.py (docs/benchmarks.md)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$root/.venv/bin/python"
cmd="${1:-}"
masque="${2:-$root/build/release/masque}"

case "$cmd" in
  install)
    [ -x "$py" ] || { echo "no $py: run scripts/quickstart.sh test first" >&2; exit 1; }
    if "$py" -c "import llama_cpp" 2>/dev/null; then
      echo "llama-cpp-python already installed in .venv"; exit 0
    fi
    start=$(date +%s)
    # Native CPU build; no BLAS (ggml's own kernels are what llama.cpp users
    # run), no CUDA, no tools or examples; ccache makes a rebuild cheap.
    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_CUDA=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
-DLLAMA_BUILD_SERVER=OFF -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$py" -m pip install --no-binary llama-cpp-python -r "$root/tests/python_llamacpp/requirements.txt"
    echo "llama.cpp built in $(( $(date +%s) - start )) s"
    ;;
  test)
    MASQUE_BIN="$masque" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
      "$py" -m pytest -q -p no:cacheprovider "$root/tests/python_llamacpp"
    ;;
  bench)
    "$py" "$root/bench/gguf_decode.py" --masque "$masque" "${@:3}"
    ;;
  *)
    sed -n '2,6p' "$0"; exit 2
    ;;
esac
