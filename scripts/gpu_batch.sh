#!/usr/bin/env bash
# A session's GPU work in device commands of at most 600 s each, from the repository root:
#   bash scripts/gpu_batch.sh tests OUT   # every gpu-marked test, WORKERS at once, then the failures alone
#   bash scripts/gpu_batch.sh bench OUT   # paired timing (copies of the reference), training, whole models
# `tests`: first every gpu-marked test with pytest-xdist (WORKERS processes, default 3: each has its
# own device locks, so their evaluations share the GPU as other users' work would), then whatever
# failed, again one at a time with the GPU to itself, so that a failure under contention and a
# failure alone are told apart. Each step has its own limit (seconds, environment: T_TESTS, T_RERUN,
# T_NOISE, T_TRAIN, T_MODELS); a step that runs out writes what it had. Logs and tables go to OUT.
# Without pydantic on the machine, carry its wheels in .whl/ (see docs/benchmarks.md).
set -u
what=${1:?usage: scripts/gpu_batch.sh tests|bench OUT}
out=${2:?usage: scripts/gpu_batch.sh tests|bench OUT}
if [ -d .whl ] && ! python3 -c "import pydantic" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out" .bench
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, triton, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.version.cuda)"
  git log -1 --format='commit %h %cI' 2>/dev/null
} > "$out/gpu.txt" 2>&1
step() {  # step LOG LIMIT_S COMMAND...
  local log=$1 limit=$2
  shift 2
  timeout "$limit" "$@" > "$log" 2>&1
  echo "exit $?" >> "$log"
}
case "$what" in
  tests)
    rm -rf .pytest_cache
    step "$out/gpu_tests.log" "${T_TESTS:-400}" python3 -m pytest -m gpu -q -rfE --tb=short --durations=15 \
      -n "${WORKERS:-3}" tests
    step "$out/gpu_rerun.log" "${T_RERUN:-170}" python3 -m pytest -m gpu -q -rA --tb=short --lf --lfnf=none tests
    ;;
  bench)
    step "$out/noise.log" "${T_NOISE:-210}" python3 benchmarks/paired_timing.py --device cuda --limit "${NOISE_LIMIT:-20}" --budget $(( ${T_NOISE:-210} - 90 )) --out .bench/noise
    cp .bench/noise/paired_timing.md "$out/" 2>/dev/null
    step "$out/train.log" "${T_TRAIN:-150}" python3 benchmarks/train_builtin.py --out .bench/train --device cuda \
      --time-budget $(( ${T_TRAIN:-150} - 50 )) --hard-limit $(( ${T_TRAIN:-150} - 10 ))
    cp .bench/train/train_builtin.md "$out/" 2>/dev/null
    step "$out/models.log" "${T_MODELS:-215}" python3 benchmarks/optimize_models.py --models "${MODELS:-gpt2}" --out "$out/optimize_models.json"
    ;;
esac
tail -n 30 "$out"/*.log
