#!/usr/bin/env bash
# The GPU check, for the project's H200 machine (CUDA 13, PyTorch with its libtorch, cmake, ninja;
# no Node, no network), run in the repository root through the device tool after
# scripts/pack-gpu-check.sh prepared .gpu-check/ on a development machine:
#   run(command="bash scripts/gpu-check.sh", carry=[".gpu-check"], timeout_s=600)
# Steps: node and node_modules from .gpu-check/; the addon built against PyTorch's libtorch
# (LIBTORCH_USE_PYTORCH=1, CUDA kernels for sm_80 and sm_90); the loss tests (CUDA against the CPU
# fused path and the float64 truth, every head); the benchmark table (fused, GEMM floor, PyTorch
# eager, torch.compile; B=512 D=512 C in {100k, 1M, 10M}, PyTorch up to 1M), written to bench/results/gpu-loss-<date>-<card>.md.
# Then training (issue 7): a smoke run of two CUDA steps (the training parts stop there if the trainer
# cannot run), the trainer's CUDA tests (test/trainer-precision.test.ts: bf16, fp16 and
# its scaler, channels-last, GPU-generated batches, the step in CUDA graphs against the eager step)
# and bench/train-gpu.ts: IResNet-50 and MobileFaceNet, 112x112, batch 256, bf16, mv-arc, mvface
# (without and with CUDA graphs, and with the fused batch norms, eager and in graphs) vs PyTorch eager
# vs torch.compile in one table (ratios), the RecordIO input pipeline alone, and 2,000 steps of host and device memory,
# written to bench/results/gpu-train-<date>-<card>.md (and .json); and bench/norm-gpu.ts: the fused
# batch norm kernels against the modules at IResNet-50's layer shapes (bench/results/gpu-norm-*.md).
# Logs and the tables go to $OUT (the device tool brings them back). Meant to take under 8 minutes
# on an H200 (not yet measured there); the device tool allows 10 minutes a command, so the two parts
# can also run as two calls (the build in build-gpu/ is kept while the machine stays warm):
#   --only loss | --only train   (train = train-tests, then train-bench; each can also run alone)
#   --only norm-bench            (the fused batch norm against the modules, about a minute)
#   --dry-run   check what was carried and the tools here, without building (any machine)
# With a 15-minute device budget (a start takes minutes): `--only train-bench` first (it builds, then
# writes its table after every run, the slowest (torch.compile) last, so a time limit keeps what was measured), then at once, while
# the machine is warm and build-gpu/ kept, `--only norm-bench`, `--only train-tests`, then
# `--only loss`. Shorten the training benchmark with MVFACE_GPU_TRAIN_ARGS="--no-compile
# --memory-steps 500" (and "--no-fused" to drop the fused-norm rows); with time to spare,
# MVFACE_GPU_TRAIN_ARGS="--channels-last --memory-steps 0" adds the NHWC table (both sides NHWC).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
carried=$root/.gpu-check
out=${OUT:-$carried/out}
tools=${TMPDIR:-/tmp}/mvface-gpu-check
dry_run=0
only=all
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=1 ;;
    --only) only=${2:-}; shift ;;
    *) echo "gpu-check: unknown argument $1 (expected --dry-run, --only loss|train|train-tests|train-bench|norm-bench)"; exit 2 ;;
  esac
  shift
done
case $only in all | loss | train | train-tests | train-bench | norm-bench) ;; *) echo "gpu-check: --only takes loss, train, train-tests, train-bench or norm-bench"; exit 2 ;; esac
mkdir -p "$out" "$tools/bin"

step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
fail() {
  echo "gpu-check: FAILED: $*"
  exit 1
}
# Runs "$@" with a time limit, its output in $out/<name>.log; on failure prints the log's tail.
logged() {
  local name=$1 limit=$2
  shift 2
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || { tail -n 60 "$out/$name.log"; echo "gpu-check: $name exited $rc (log: $out/$name.log)"; }
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
    dist/bench/train-gpu.js dist/bench/norm-gpu.js dist/lib/bench-train.js node_modules/jpeg-js; do
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

# Returns non-zero when python3 cannot import torch (the build needs its libtorch).
check_tools() {
  step "tools"
  (command -v cmake && cmake --version | head -n 1) || echo "gpu-check: no cmake on PATH"
  (command -v nvcc && nvcc --version | tail -n 1) || echo "gpu-check: no nvcc on PATH"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "gpu-check: no nvidia-smi"
  python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "devices", torch.cuda.device_count())'
}

build() {
  step "build against PyTorch's libtorch (build-gpu/, 16 jobs)"
  export LIBTORCH_USE_PYTORCH=1 MVFACE_BUILD_DIR=build-gpu MVFACE_BUILD_JOBS=${MVFACE_BUILD_JOBS:-16}
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-8.0;9.0}
  if command -v nvcc >/dev/null; then
    export CUDACXX=${CUDACXX:-$(command -v nvcc)}
    export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$CUDACXX")")}
  fi
  logged build 300 node scripts/build-native.js || fail "build"
  grep -E "mvface: (libtorch|CUDA)" "$out/build.log"
  export MVFACE_NATIVE=$root/build-gpu/Release/mvface.node
  node -e "const i = require('./dist/lib/backend').backendInfo(); console.log(JSON.stringify(i)); if (!i.cudaAvailable) process.exit(1)" ||
    fail "the addon does not see a CUDA device"
}

# Runs vitest on the given test files with a time limit, its log as $out/<name>.log; prints the summary.
vitest_part() {
  local name=$1 limit=$2
  shift 2
  logged "$name" "$limit" node node_modules/vitest/vitest.mjs run "$@"
  local rc=$?
  grep -E "Test Files|Tests |random seed" "$out/$name.log"
  return $rc
}

run_tests() {
  step "loss tests: CUDA vs CPU fused vs float64 truth, and the CPU suite on this libtorch"
  vitest_part tests 180 test/loss-cuda.test.ts test/loss.test.ts
}

benchmark() {
  step "benchmark (fused, GEMM floor, PyTorch eager, torch.compile)"
  export MVFACE_PYTHON=$(command -v python3)
  logged bench 390 node dist/bench/loss.js --device cuda
  local rc=$?
  local table
  table=$(ls -t bench/results/gpu-loss-*.md 2>/dev/null | head -n 1)
  [ -n "$table" ] && cp "$table" "$out/"
  sed -n '/^loss forward+backward on/,$p' "$out/bench.log"
  return $rc
}

# Two CUDA training steps of a small MobileFaceNet, eager, in CUDA graphs and with the fused batch
# norms (15 s): when the trainer cannot run on this GPU, the training parts stop here instead of
# spending the device time.
train_smoke() {
  step "smoke: two CUDA training steps, eager, in CUDA graphs, with the fused batch norms"
  local flags=(bench train --device cuda --backbone mobilefacenet --batch 32 --precision bf16 --classes 100 --warmup 1 --pipeline none)
  logged smoke 120 node dist/lib/cli.js "${flags[@]}" --steps 2 || fail "the trainer does not run on CUDA (see $out/smoke.log)"
  logged smoke-graph 120 node dist/lib/cli.js "${flags[@]}" --steps 4 --cuda-graph || echo "gpu-check: the CUDA-graph step failed (see $out/smoke-graph.log); going on"
  logged smoke-fused 120 node dist/lib/cli.js "${flags[@]}" --steps 2 --fused-norm || echo "gpu-check: the fused-norm step failed (see $out/smoke-fused.log); going on"
  grep -hE "^  step:|^mobilefacenet" "$out/smoke.log" "$out/smoke-graph.log" "$out/smoke-fused.log"
}

train_tests() {
  step "trainer tests on CUDA: bf16, fp16 + loss scaler, channels-last, fused batch norms, GPU-generated batches, CUDA graphs, Partial FC"
  vitest_part train-tests 240 test/trainer-precision.test.ts test/trainer-head.test.ts
}

# The fused batch norm against the modules at IResNet-50's layer shapes (about a minute): the kernels
# alone, before the whole step's table shows what they add up to.
norm_benchmark() {
  step "fused batch norm vs the modules (IResNet-50 layers, bf16, NCHW and channels-last)"
  logged norm-bench 150 node dist/bench/norm-gpu.js --out "$out" --repeats 20
  local rc=$?
  [ -n "$(ls "$out"/gpu-norm-*.md 2>/dev/null)" ] && mkdir -p bench/results && cp "$out"/gpu-norm-*.md bench/results/
  sed -n '/^Batch norm/,$p' "$out/norm-bench.log"
  return $rc
}

train_benchmark() {
  step "training benchmark (mvface vs PyTorch eager vs torch.compile; input pipeline; 2,000-step memory)"
  export MVFACE_PYTHON=$(command -v python3)
  # MVFACE_GPU_TRAIN_ARGS adds or overrides flags (the last one wins), e.g. "--no-compile --memory-steps 500".
  # shellcheck disable=SC2086
  logged train-bench 420 node dist/bench/train-gpu.js --out "$out" --steps 30 --warmup 10 --memory-steps 2000 ${MVFACE_GPU_TRAIN_ARGS:-}
  local rc=$?
  local table
  table=$(ls -t "$out"/gpu-train-*.md 2>/dev/null | head -n 1)
  [ -n "$table" ] && mkdir -p bench/results && cp "$out"/gpu-train-* bench/results/
  sed -n '/^GPU training throughput/,$p' "$out/train-bench.log"
  return $rc
}

unpack_node
check_tools || [ $dry_run = 1 ] || fail "python3 cannot import torch"
if [ $dry_run = 1 ]; then
  bash -n "$0" || fail "syntax"
  for f in bench/baselines/train_eager.py bench/baselines/loss_eager.py; do
    python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$f" || fail "$f does not parse"
  done
  echo "gpu-check: dry run OK ($(du -sh "$carried" | cut -f1) carried, parts: $only); on the GPU machine it would build, test and benchmark"
  exit 0
fi
image_libraries
build
tests_rc=0 bench_rc=0 train_tests_rc=0 train_bench_rc=0
if [ "$only" = all ] || [ "$only" = loss ]; then
  run_tests
  tests_rc=$?
  benchmark
  bench_rc=$?
fi
case $only in all | train | train-tests | train-bench) train_smoke ;; esac
if [ "$only" = all ] || [ "$only" = train ] || [ "$only" = train-tests ]; then
  train_tests
  train_tests_rc=$?
fi
if [ "$only" = all ] || [ "$only" = norm-bench ]; then
  norm_benchmark || echo "gpu-check: the fused batch norm benchmark failed (see $out/norm-bench.log); going on"
fi
if [ "$only" = all ] || [ "$only" = train ] || [ "$only" = train-bench ]; then
  train_benchmark
  train_bench_rc=$?
fi
step "done"
[ $tests_rc -eq 0 ] || fail "tests (see $out/tests.log)"
[ $bench_rc -eq 0 ] || fail "benchmark (see $out/bench.log)"
[ $train_tests_rc -eq 0 ] || fail "trainer tests (see $out/train-tests.log)"
[ $train_bench_rc -eq 0 ] || fail "training benchmark (see $out/train-bench.log)"
echo "gpu-check: OK"
