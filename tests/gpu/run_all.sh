#!/usr/bin/env bash
# Every GPU check of masque in one go, on a machine with an NVIDIA GPU
# (docs/backend-cuda.md, docs/distributed.md). From the repository root:
#
#   bash tests/gpu/run_all.sh [build_dir]        (default build/gpu)
#   env: JOBS (build jobs, default nproc), SKIP_BUILD=1, SKIP_SANITIZER=1, SKIP_BENCH=1,
#        STEPS (loss-curve steps, default 200)
#
# Steps, each printed as PASS/FAIL/SKIP with its reason; the exit status is
# 1 when any step failed, 77 when no GPU is present (nothing was run):
#   1. configure with -DMASQUE_CUDA=ON and build masque, the op and CUDA tests
#   2. test_backend_cuda: every CudaBackend op against the CPU backend
#   3. test_backend: the op-test harness (random and odd shapes, poisoned
#      outputs) on the CPU and the CUDA backend against float64 references
#   4. compute-sanitizer memcheck and racecheck over test_backend_cuda (if installed)
#   5. one training step's loss and every gradient: --backend cuda vs cpu (masque debug forward)
#   6. STEPS-step loss curves: --backend cuda vs cpu, same data and seed
#   7. with >= 2 GPUs, mpirun and NCCL: 2 GPU ranks vs 1 GPU, same global batch
#   8. benchmarks: bench_ops --backend cuda, and training tok/s on the GPU
#      (bench/gpu_train_step.sh when present, the issue-17 comparison with PyTorch)
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/gpu}"
jobs="${JOBS:-$(nproc)}"
steps="${STEPS:-200}"
cd "$root"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "tests/gpu/run_all.sh: no NVIDIA GPU here (nvidia-smi $(command -v nvidia-smi >/dev/null && echo 'lists none' || echo 'is not installed')); nothing was run. Run it on a machine with a GPU and its driver." >&2
  exit 77
fi
gpus=$(nvidia-smi -L | grep -c '^GPU')
echo "== $(nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader | head -1) ($gpus GPU(s))"

failed=0
summary=()
pass() { summary+=("PASS  $1"); echo "PASS: $1"; }
fail() { summary+=("FAIL  $1"); echo "FAIL: $1"; failed=1; }
skip() { summary+=("SKIP  $1"); echo "SKIP: $1"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. Build.
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMASQUE_CUDA=ON >"$work/configure.log" 2>&1 \
    || { cat "$work/configure.log"; echo "FAIL: configure"; exit 1; }
  targets=(masque test_backend test_backend_cuda bench_ops)
  cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$work/build.log" 2>&1 \
    || { tail -50 "$work/build.log"; echo "FAIL: build"; exit 1; }
fi
M="$build/masque"
[[ -x "$build/test_backend_cuda" ]] || {
  echo "FAIL: $build has no test_backend_cuda: CMake found no nvcc (set CUDACXX or -DCMAKE_CUDA_COMPILER)"; exit 1; }
"$M" --backend cuda version >/dev/null 2>"$work/err.txt" \
  || { cat "$work/err.txt"; echo "FAIL: masque cannot use the GPU"; exit 1; }
pass "build with MASQUE_CUDA=ON ($build)"

# 2-3. Op tests; on a GPU machine nothing may be skipped.
gtest() {  # gtest NAME BINARY [args]
  local name="$1" bin="$2"
  shift 2
  "$bin" "$@" >"$work/$name.log" 2>&1
  local rc=$?
  local skipped
  skipped=$(grep -c '^\[  SKIPPED \]' "$work/$name.log" || true)
  if [[ $rc -ne 0 ]]; then
    grep -E '^\[  FAILED  \]|Failure|error' "$work/$name.log" | head -30
    fail "$name (exit $rc)"
  elif [[ $skipped -ne 0 ]]; then
    grep -A2 '^\[  SKIPPED \]' "$work/$name.log" | head -20
    fail "$name: $skipped tests skipped on a GPU machine"
  else
    pass "$name ($(grep -o '[0-9]* tests\? from [0-9]* test suites\? ran' "$work/$name.log" | head -1))"
  fi
}
gtest "test_backend_cuda (CudaBackend vs CPU, every op)" "$build/test_backend_cuda"
gtest "test_backend (op harness vs float64, CPU and CUDA)" "$build/test_backend"
grep '\[ harness \]' "$work/test_backend (op harness vs float64, CPU and CUDA).log" 2>/dev/null | head -60

# 4. compute-sanitizer.
sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)"
if [[ "${SKIP_SANITIZER:-0}" == 1 ]]; then
  skip "compute-sanitizer (SKIP_SANITIZER=1)"
elif [[ -z "$sanitizer" ]]; then
  skip "compute-sanitizer (not installed)"
else
  for tool in memcheck racecheck; do
    if "$sanitizer" --tool "$tool" --error-exitcode 1 "$build/test_backend_cuda" \
      >"$work/sanitizer-$tool.log" 2>&1; then
      pass "compute-sanitizer --tool $tool (test_backend_cuda)"
    else
      grep -E '=========' "$work/sanitizer-$tool.log" | head -30
      fail "compute-sanitizer --tool $tool (test_backend_cuda)"
    fi
  done
fi

# Data for the training checks: a small structured corpus.
cd "$work"
for doc in $(seq 1 300); do
  line=""
  for s in 1 2 3 4 5 6 7 8; do
    names=(Ada Bo Cy Dee Eve); verbs=(likes sees helps finds); things=("the cat" "a red ball" "the old tree" "some tea")
    line+="${names[$(( (doc * 7 + s * 3) % 5 ))]} ${verbs[$(( (doc + s * 5) % 4 ))]} ${things[$(( (doc * s) % 4 ))]}. "
  done
  printf '{"text": "%s"}\n' "$line"
done > corpus.jsonl
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 400 --out tok.json >/dev/null
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data >/dev/null
cat > compare.py <<'EOF'
# compare.py lists|tensors A B: max relative difference (per value for lists,
# ||a - b|| / ||b|| per tensor for safetensors files), stdlib only.
import array, json, math, struct, sys
def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    return {k: array.array("f", raw[8 + n + t["data_offsets"][0]:8 + n + t["data_offsets"][1]])
            for k, t in header.items() if k != "__metadata__" and t["dtype"] == "F32"}
def rel(a, b):
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    return num / (math.sqrt(sum(y * y for y in b)) or 1.0)
kind, x, y = sys.argv[1:4]
if kind == "lists":
    a = [float(v) for v in open(x).read().split()]
    b = [float(v) for v in open(y).read().split()]
    assert len(a) == len(b) and a
    print(max(abs(p - q) / max(abs(q), 1e-12) for p, q in zip(a, b)))
else:
    ta, tb = tensors(x), tensors(y)
    assert ta.keys() == tb.keys()
    worst = max(ta, key=lambda k: rel(ta[k], tb[k]))
    print(rel(ta[worst], tb[worst]), worst)
EOF
le() { python3 -c "import sys; sys.exit(0 if float('$1') <= float('$2') else 1)"; }
losses() { grep '"type":"train"' "$1/metrics.jsonl" | grep -o '"loss":[^,]*' | cut -d: -f2; }
TRAIN=(--quiet train --depth 2 --tokenizer tok.json --data data --batch-size 8 --seq-len 64
       --lr 3e-3 --warmup 10 --eval-every 0)

# 5. One step: loss and every gradient, GPU vs CPU (float32, tolerance 1e-4 relative).
"$M" --quiet --backend cpu "${TRAIN[@]:1}" --steps 1 --out base >/dev/null 2>&1 || fail "base model for the step check"
tokens=$(seq 5 68 | paste -sd, -)
for dev in cpu cuda; do
  "$M" --quiet --backend "$dev" debug forward --model base --tokens "$tokens" --out "step-$dev.safetensors" \
    >/dev/null 2>"err-$dev.txt" || { cat "err-$dev.txt"; fail "debug forward on $dev"; }
done
if [[ -f step-cuda.safetensors && -f step-cpu.safetensors ]]; then
  read -r worst name < <(python3 compare.py tensors step-cuda.safetensors step-cpu.safetensors)
  if le "$worst" 1e-4; then pass "one step, loss and gradients GPU vs CPU (worst $name: $worst <= 1e-4)"
  else fail "one step GPU vs CPU: $name differs by $worst (> 1e-4)"; fi
fi

# 6. Loss curves over $steps steps.
for dev in cpu cuda; do
  "$M" --quiet --backend "$dev" "${TRAIN[@]:1}" --steps "$steps" --out "curve-$dev" >/dev/null 2>"err-$dev.txt" \
    || { cat "err-$dev.txt"; fail "$steps-step run on $dev"; }
done
if [[ -f curve-cuda/metrics.jsonl && -f curve-cpu/metrics.jsonl ]]; then
  losses curve-cuda >a.txt; losses curve-cpu >b.txt
  d=$(python3 compare.py lists a.txt b.txt)
  if le "$d" 2e-2; then pass "$steps-step loss curves overlap (max relative difference $d <= 2e-2)"
  else fail "$steps-step loss curves: max relative difference $d > 2e-2"; fi
fi

# 7. Two GPU ranks (NCCL) vs one GPU.
if [[ $gpus -lt 2 ]]; then
  skip "2 GPU ranks vs 1 (needs 2 GPUs, found $gpus)"
elif ! command -v mpirun >/dev/null; then
  skip "2 GPU ranks vs 1 (mpirun not installed: apt-get install openmpi-bin libopenmpi-dev)"
else
  mpi=(mpirun -np 2 --bind-to none); [[ "$(id -u)" -eq 0 ]] && mpi+=(--allow-run-as-root)
  "$M" --quiet --backend cuda "${TRAIN[@]:1}" --steps 20 --schedule constant --out dp1 >/dev/null 2>&1
  "${mpi[@]}" "$M" --quiet --backend cuda "${TRAIN[@]:1}" --steps 20 --schedule constant --out dp2 \
    >/dev/null 2>dp2.err || { tail -20 dp2.err; fail "2 GPU ranks (mpirun)"; }
  if [[ -f dp2/metrics.jsonl ]]; then
    losses dp1 >a.txt; losses dp2 >b.txt
    d=$(python3 compare.py lists b.txt a.txt)
    if le "$d" 1e-3; then pass "2 GPU ranks vs 1 GPU, 20 steps (max relative loss difference $d <= 1e-3)"
    else fail "2 GPU ranks vs 1 GPU: max relative loss difference $d > 1e-3"; fi
  fi
fi

# 8. Benchmarks.
cd "$root"
if [[ "${SKIP_BENCH:-0}" == 1 ]]; then
  skip "benchmarks (SKIP_BENCH=1)"
else
  for config in C1 C2; do
    if "$build/bench_ops" --backend cuda --config "$config" >"$work/ops-$config.log" 2>&1; then
      cat "$work/ops-$config.log"; pass "bench_ops --backend cuda --config $config"
    else
      tail -5 "$work/ops-$config.log"; fail "bench_ops --backend cuda --config $config"
    fi
  done
  if [[ -x bench/gpu_train_step.sh ]]; then
    if bench/gpu_train_step.sh "$build"; then pass "bench/gpu_train_step.sh"; else fail "bench/gpu_train_step.sh"; fi
  else
    skip "bench/gpu_train_step.sh (masque vs PyTorch torch.compile, issue 17) is not written yet"
  fi
  # Training throughput on the GPU through the CLI, whatever benchmarks exist.
  cd "$work"
  if "$M" --quiet --backend cuda train --depth 8 --tokenizer tok.json --data data --batch-size 16 \
      --seq-len 256 --steps 30 --eval-every 0 --checkpoint-every 0 --out tput --json >tput.json 2>tput.err; then
    pass "masque train --backend cuda, depth 8, B 16 x T 256: $(grep -o '"tokens_per_second":[^,}]*' tput.json)"
  else
    tail -5 tput.err; fail "masque train --backend cuda throughput run"
  fi
fi

echo
echo "== summary ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
printf '%s\n' "${summary[@]}"
exit $failed
