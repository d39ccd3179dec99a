#!/usr/bin/env bash
# masque quick start: installs what is missing (Debian 12 packages, and for
# tests a Python venv of real clients from PyPI), builds, then runs either the
# demo or the whole test suite.
#   bash scripts/quickstart.sh demo [masque demo options]
#   bash scripts/quickstart.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
[ $# -gt 0 ] && shift
case "$mode" in demo|test|build) ;; *)
  echo "usage: bash scripts/quickstart.sh demo|test|build" >&2; exit 2 ;;
esac

packages=(build-essential cmake ninja-build pkg-config git python3 python3-venv
  libopenblas-openmp-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin)  # MPI: data-parallel training (docs/distributed.md)
# test mode also checks formatting and runs a clang sanitizer + libFuzzer
# build (docs/fuzzing.md): clang, its runtimes (ASan/UBSan/libFuzzer), libomp.
# The web UI's browser test drives headless Chromium (tests/python/test_serve_ui.py).
[ "$mode" = test ] && packages+=(clang-14 libclang-rt-14-dev libomp-14-dev clang-format
  chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[quickstart] installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake_args=(-S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release)
if [ "$mode" = test ]; then
  # Real clients (transformers, tokenizers, torch, ...) check masque's files.
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sys" 2>/dev/null; then
    python3 -m venv .venv
  fi
  if ! cmp -s tests/python/requirements.txt .venv/.masque-requirements 2>/dev/null; then
    echo "[quickstart] installing Python test clients into .venv (first run only)"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -r tests/python/requirements.txt
    cp tests/python/requirements.txt .venv/.masque-requirements
  fi
  cmake_args+=(-DMASQUE_PYTHON="$PWD/.venv/bin/python")
fi
cmake "${cmake_args[@]}" >/dev/null
cmake --build build/release -j "$(nproc)"

case "$mode" in
  demo) exec build/release/masque demo "$@" ;;
  test)
    # 1. Formatting of every tracked C++ file (seconds; fails before any build time).
    echo "[quickstart] clang-format check"
    git ls-files -z '*.cpp' '*.h' '*.cu' '*.cuh' | xargs -0 clang-format --dry-run --Werror
    # 2. The suite on the release build.
    (cd build/release && ctest --output-on-failure -j "$(nproc)" "$@")
    # 3. Sanitizers and fuzzing (scripts/ci_hardening.sh; docs/fuzzing.md for
    #    the cost): every stage's unit tests and every harness by default
    #    (MASQUE_CI_SANITIZE=full); =quick for the parser and engine stages
    #    only, =0 or MASQUE_CI_FUZZ_SECONDS=0 to skip.
    exec bash scripts/ci_hardening.sh build/release/masque ;;
  build) echo "[quickstart] built build/release/masque" ;;
esac
