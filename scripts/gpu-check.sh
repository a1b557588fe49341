#!/usr/bin/env bash
# The GPU check, for a GPU machine with CUDA 13, PyTorch (whose libtorch the addon builds against),
# cmake and ninja, but no Node and no network. scripts/pack-gpu-check.sh prepares .gpu-check/ on a
# development machine (node, node_modules, dist/); the check runs in the repository root, in two
# calls, tests first:
#   call 1 (tests):       build (every compile error at once), then only what needs the GPU: two
#                         CUDA training steps (eager, CUDA graphs, fused batch norms), the fused
#                         batch norm against float64 on CUDA tensors, the CUDA loss tests, the
#                         trainer's CUDA tests; TensorFloat-32 off wherever float32 is compared.
#                         The build comes back as $OUT/build-gpu.tar.xz.
#   call 2 (benchmarks):  the training benchmark without torch.compile or the long memory run, the
#                         fused batch norm against the modules, the loss benchmark (sizes that do not
#                         fit the card are skipped, and say so), then torch.compile and the memory
#                         run while time remains.
# Each call has a budget (MVFACE_GPU_BUDGET seconds overrides it) and each part a time limit and a
# minimum: a test part runs only with its whole limit left, a benchmark part with its minimum (it
# writes its table row by row, so a cut keeps what was measured); a part that does not fit is skipped
# with a line that says so. With a machine's start, both calls fit 13 minutes. Logs and tables go
# to $OUT. A call on a fresh machine rebuilds unless .gpu-check/build-gpu.tar.xz (call 1's, copied
# there) is carried. `--dry-run` checks what was carried and prints the plan, on any machine.
#   bash scripts/gpu-check.sh --call 1|2 [--dry-run]
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
carried=$root/.gpu-check
out=${OUT:-$carried/out}
tools=${TMPDIR:-/tmp}/mvface-gpu-check
build_dir=build-gpu
start_s=90  # a machine's start, counted in the device budget

# Each call's budget, and its parts in order as name:limit:minimum (seconds).
budget_1=390
budget_2=240
plan_1=(build:200:200 smoke:40:40 norm-check:60:60 loss-tests:60:60 trainer-tests:150:150)
plan_2=(train-bench:90:60 norm-bench:45:30 loss-bench:100:45 train-compile:120:45 train-memory:90:45)
describe() {
  case $1 in
    build) echo "build against PyTorch's libtorch (sm_80, sm_90; ninja -k 0), or unpack .gpu-check/build-gpu.tar.xz" ;;
    smoke) echo "two CUDA training steps: eager, in CUDA graphs, with the fused batch norms" ;;
    norm-check) echo "fused batch norm on CUDA tensors vs float64 (every case of the emulated check), TF32 off" ;;
    loss-tests) echo "test/loss-cuda.test.ts: CUDA vs CPU fused vs float64, every head (MVFACE_TF32=0)" ;;
    trainer-tests) echo "test/trainer-cuda.test.ts: fp32 vs CPU, bf16, fp16, channels-last, graphs, fused norms, Partial FC (MVFACE_TF32=0)" ;;
    train-bench) echo "training throughput, IResNet-50 and MobileFaceNet, mvface vs PyTorch eager (--no-compile --memory-steps 0)" ;;
    norm-bench) echo "fused batch norm vs the modules at IResNet-50's layers" ;;
    loss-bench) echo "loss forward+backward, B=512 D=512 C=100k, 1M, 10M where it fits the card" ;;
    train-compile) echo "training throughput against torch.compile (--memory-steps 0)" ;;
    train-memory) echo "host and device memory over 500 training steps" ;;
  esac
}
limit_of() { local p=$1; p=${p#*:}; echo "${p%%:*}"; }
minimum_of() { echo "${1##*:}"; }

call=""
dry_run=0
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=1 ;;
    --call) call=${2:-}; shift ;;
    *) echo "gpu-check: unknown argument $1 (expected --call 1|2, --dry-run)"; exit 2 ;;
  esac
  shift
done
case $call in 1 | 2 | "") ;; *) echo "gpu-check: --call takes 1 or 2"; exit 2 ;; esac
[ -n "$call" ] || [ $dry_run = 1 ] || { echo "gpu-check: say --call 1 (tests) or --call 2 (benchmarks); --dry-run shows the plan"; exit 2; }
mkdir -p "$out" "$tools/bin"

step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
fail() {
  echo "gpu-check: FAILED: $*"
  exit 1
}

print_plan() {
  echo "gpu-check plan: a machine start (about ${start_s}s) + call 1 (${budget_1}s) + call 2 (${budget_2}s) = $((start_s + budget_1 + budget_2))s of device time"
  for n in 1 2; do
    local -n parts=plan_$n
    local -n budget=budget_$n
    echo
    echo "call $n: run(command=\"bash scripts/gpu-check.sh --call $n\", carry=[\".gpu-check\"], timeout_s=$((budget + 30)))"
    printf '  %-14s %6s %8s  %s\n' part limit minimum what
    for p in "${parts[@]}"; do printf '  %-14s %5ss %7ss  %s\n' "${p%%:*}" "$(limit_of "$p")" "$(minimum_of "$p")" "$(describe "${p%%:*}")"; done
  done
  echo
  echo "Between the calls, while the machine is warm, build-gpu/ stays; on a fresh machine copy call 1's"
  echo "build-gpu.tar.xz into .gpu-check/ and carry it. Parts that do not fit a call's budget are skipped, by name."
}

# Runs part $1 (name:limit:minimum) for at most its limit and what is left of the budget, if its
# minimum is left.
budget_end=0
run_part() {
  local name=${1%%:*} limit minimum
  limit=$(limit_of "$1")
  minimum=$(minimum_of "$1")
  shift
  local left=$((budget_end - SECONDS))
  if [ "$left" -lt "$minimum" ]; then
    echo "gpu-check: skipped $name: ${left}s left of the call's budget, it needs ${minimum}s"
    skipped+=("$name")
    return 0
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  step "$name: $(describe "$name") (limit ${limit}s)"
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then
    tail -n 40 "$out/$name.log"
    echo "gpu-check: $name exited $rc (log: $out/$name.log)"
    failed+=("$name")
  fi
  return $rc
}

unpack_node() {
  step "node and npm packages from $carried"
  [ -s "$carried/node.xz" ] && [ -s "$carried/npm.tar.xz" ] || fail "run scripts/pack-gpu-check.sh first and carry .gpu-check"
  xz -dc "$carried/node.xz" >"$tools/bin/node" && chmod +x "$tools/bin/node" || fail "cannot unpack node"
  export PATH=$tools/bin:$PATH
  node --version || fail "the carried node does not run here"
  local into=$root
  [ $dry_run = 1 ] && into=$tools/npm && mkdir -p "$into"
  tar -xJf "$carried/npm.tar.xz" -C "$into" || fail "cannot unpack npm.tar.xz"
  for f in node_modules/vitest/vitest.mjs node_modules/cmake-js/bin/cmake-js node_modules/node-addon-api dist/bench/loss.js \
    dist/bench/train-gpu.js dist/bench/norm-gpu.js dist/lib/bench/train-bench.js node_modules/jpeg-js; do
    [ -e "$into/$f" ] || fail "npm.tar.xz lacks $f"
  done
}

# Debian's dev packages, for whichever of libjpeg, libpng, zlib has no header on this image.
image_libraries() {
  local deps=$tools/deps missing=()
  [ -f /usr/include/jpeglib.h ] || missing+=(libjpeg62-turbo)
  [ -f /usr/include/png.h ] || missing+=(libpng)
  [ -f /usr/include/zlib.h ] || missing+=(zlib1g)
  [ ${#missing[@]} -eq 0 ] && return 0
  step "carried dev packages for ${missing[*]}"
  for name in "${missing[@]}"; do
    for deb in "$carried"/debs/"$name"*.deb; do
      [ -f "$deb" ] || fail "no carried .deb for $name"
      dpkg -x "$deb" "$deps" || fail "cannot unpack $deb"
    done
  done
  local arch_dir=$deps/usr/lib/x86_64-linux-gnu
  export CMAKE_PREFIX_PATH=$deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export CPATH=$deps/usr/include:$deps/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}
  export LIBRARY_PATH=$arch_dir${LIBRARY_PATH:+:$LIBRARY_PATH}
  export LD_LIBRARY_PATH=$arch_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}

check_tools() {
  step "tools"
  (command -v cmake && cmake --version | head -n 1) || echo "gpu-check: no cmake on PATH"
  (command -v ninja && ninja --version) || echo "gpu-check: no ninja on PATH (make instead)"
  (command -v nvcc && nvcc --version | tail -n 1) || echo "gpu-check: no nvcc on PATH"
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader 2>/dev/null || echo "gpu-check: no nvidia-smi"
  python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "devices", torch.cuda.device_count())'
}

build_env() {
  export LIBTORCH_USE_PYTORCH=1 MVFACE_BUILD_DIR=$build_dir MVFACE_BUILD_JOBS=${MVFACE_BUILD_JOBS:-16}
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-8.0;9.0}
  if command -v nvcc >/dev/null; then
    export CUDACXX=${CUDACXX:-$(command -v nvcc)}
    export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$CUDACXX")")}
  fi
  export MVFACE_NATIVE=$root/$build_dir/Release/mvface.node
}

# The addon and the norm check: kept from a warm machine, unpacked from a carried build, or built.
build() {
  if [ -f "$build_dir/Release/mvface.node" ] && [ -f "$build_dir/mvface_check_norm_cuda" ]; then
    echo "gpu-check: $build_dir/ is here (a warm machine): not rebuilt"
  elif [ -s "$carried/build-gpu.tar.xz" ]; then
    tar -xJf "$carried/build-gpu.tar.xz" || return 1
    echo "gpu-check: unpacked the carried build"
  else
    node scripts/build-native.js --keep-going || return 1
    node scripts/build-native.js --target mvface_check_norm_cuda || return 1
    grep -hE "mvface: (libtorch|CUDA)" "$build_dir/CMakeFiles/CMakeOutput.log" 2>/dev/null | head -n 4
    tar -cJf "$out/build-gpu.tar.xz" "$build_dir/Release/mvface.node" "$build_dir/mvface_check_norm_cuda" "$build_dir/libtorch.txt"
    echo "gpu-check: the build is in \$OUT/build-gpu.tar.xz ($(du -h "$out/build-gpu.tar.xz" | cut -f1))"
  fi
  node -e "const i = require('./dist/lib/native/backend').backendInfo(); console.log(JSON.stringify(i)); if (!i.cudaAvailable) process.exit(1)"
}

smoke() {
  local flags=(bench train --device cuda --backbone mobilefacenet --batch 32 --precision bf16 --classes 100 --warmup 1 --pipeline none)
  node dist/lib/cli/main.js "${flags[@]}" --steps 2 &&
    node dist/lib/cli/main.js "${flags[@]}" --steps 4 --cuda-graph &&
    node dist/lib/cli/main.js "${flags[@]}" --steps 2 --fused-norm
}

vitest_file() { MVFACE_TF32=0 node node_modules/vitest/vitest.mjs run "$@"; }

# A table the benchmark wrote, copied under $OUT and bench/results/.
keep_tables() {
  mkdir -p bench/results
  local f
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$out/" && cp "$f" bench/results/ 2>/dev/null; done
  return 0
}

call_1() {
  run_part "${plan_1[0]}" build || fail "build (see $out/build.log): nothing else can run"
  run_part "${plan_1[1]}" smoke || fail "the trainer does not run on CUDA (see $out/smoke.log)"
  grep -hE "^  step:|^mobilefacenet" "$out/smoke.log"
  run_part "${plan_1[2]}" "$build_dir/mvface_check_norm_cuda"
  grep -E "^FAIL|checks passed" "$out/norm-check.log"
  run_part "${plan_1[3]}" vitest_file test/loss-cuda.test.ts
  grep -E "Test Files|Tests |random seed" "$out/loss-tests.log"
  run_part "${plan_1[4]}" vitest_file test/trainer-cuda.test.ts
  grep -E "Test Files|Tests " "$out/trainer-tests.log"
}

call_2() {
  export MVFACE_PYTHON=$(command -v python3)
  run_part "${plan_1[0]}" build || fail "build (see $out/build.log)"
  local train=(node dist/bench/train-gpu.js --out "$out" --steps 30 --warmup 10)
  run_part "${plan_2[0]}" "${train[@]}" --no-compile --memory-steps 0
  keep_tables "$out"/gpu-train-*.md
  run_part "${plan_2[1]}" node dist/bench/norm-gpu.js --out "$out" --repeats 20
  keep_tables "$out"/gpu-norm-*.md
  run_part "${plan_2[2]}" node dist/bench/loss.js --device cuda
  keep_tables $(ls -t bench/results/gpu-loss-*.md 2>/dev/null | head -n 1)
  run_part "${plan_2[3]}" "${train[@]}" --memory-steps 0
  keep_tables "$out"/gpu-train-*.md
  run_part "${plan_2[4]}" "${train[@]}" --no-compile --memory-steps 500
  keep_tables "$out"/gpu-train-*.md
  sed -n '/^GPU training throughput/,$p' "$out/train-bench.log" 2>/dev/null
}

unpack_node
if [ $dry_run = 1 ]; then
  check_tools || echo "gpu-check: (dry run) python3 cannot import torch here"
  bash -n "$0" || fail "syntax"
  for f in bench/baselines/train_eager.py bench/baselines/loss_eager.py; do
    python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$f" || fail "$f does not parse"
  done
  for f in test/loss-cuda.test.ts test/trainer-cuda.test.ts native/core/cuda/checks/check_norm_cuda.cpp; do
    [ -f "$f" ] || fail "$f is missing"
  done
  echo "gpu-check: dry run OK ($(du -sh "$carried" | cut -f1) carried)"
  echo
  print_plan
  exit 0
fi
check_tools || fail "python3 cannot import torch"
image_libraries
build_env
declare -n budget=budget_$call
budget_end=$((SECONDS + ${MVFACE_GPU_BUDGET:-$budget}))
failed=()
skipped=()
"call_$call"
step "done"
[ ${#skipped[@]} -eq 0 ] || echo "gpu-check: skipped (no time left): ${skipped[*]}"
[ ${#failed[@]} -eq 0 ] || fail "${failed[*]} (logs under $out)"
echo "gpu-check: call $call OK"
