#!/usr/bin/env bash
# Session 7's GPU work in two device commands (each inside 600 s), from the repository root:
#   bash scripts/gpu_session7.sh tests OUT     # every gpu-marked test (evaluator, training, optimize, scale)
#   bash scripts/gpu_session7.sh bench OUT     # paired timing, training and whole-model benchmarks
# Each step has its own limit (seconds, environment: T_TESTS, T_NOISE, T_TRAIN, T_MODELS); a step
# that runs out writes what it had. Logs and tables go to OUT (at most 8 files come back).
set -u
what=${1:?usage: scripts/gpu_session7.sh tests|bench OUT}
out=${2:?usage: scripts/gpu_session7.sh tests|bench OUT}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out" .bench
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, triton, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.version.cuda)"
} > "$out/gpu.txt" 2>&1
step() {  # step LOG LIMIT_S COMMAND...
  local log=$1 limit=$2
  shift 2
  timeout "$limit" "$@" > "$log" 2>&1
  echo "exit $?" >> "$log"
}
case "$what" in
  tests)
    step "$out/gpu_tests.log" "${T_TESTS:-560}" python3 -m pytest -m gpu -q -rA -p no:cacheprovider --durations=15 tests
    ;;
  bench)
    step "$out/noise.log" "${T_NOISE:-240}" python3 benchmarks/paired_timing.py --device cuda --limit "${NOISE_LIMIT:-20}" --out .bench/noise
    cp .bench/noise/paired_timing.md "$out/" 2>/dev/null
    step "$out/train.log" "${T_TRAIN:-150}" python3 benchmarks/train_builtin.py --out .bench/train --device cuda --time-budget $(( ${T_TRAIN:-150} - 45 ))
    cp .bench/train/train_builtin.md "$out/" 2>/dev/null
    step "$out/models.log" "${T_MODELS:-170}" python3 benchmarks/optimize_models.py --out "$out/optimize_models.json"
    ;;
esac
tail -n 25 "$out"/*.log
