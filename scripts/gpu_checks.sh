#!/usr/bin/env bash
# The GPU half of the test suite and the evaluator's benchmarks, in one device command.
#   bash scripts/gpu_checks.sh OUT [TEST_TIMEOUT_S] [OVERHEAD_TIMEOUT_S] [CLAIMS_TIMEOUT_S] [MEMORY_TIMEOUT_S]
# A timeout of 0 skips that step; the defaults add up to 9 minutes. Writes OUT/gpu.txt (device,
# driver), OUT/gpu_tests.log (pytest -m gpu), OUT/overhead.md/.log (where an evaluation's time
# goes: benchmarks/evaluator_overhead.py), OUT/claims.md/.log (the wall clock's verdicts on honest
# and lying candidates: benchmarks/wallclock_claims.py) and OUT/memory.md/.log (conv baselines
# with the device's memory held by another process: benchmarks/memory_pressure.py).
# Environment: REPEATS and OVERHEAD_ONLY (evaluator_overhead.py), CLAIMS_REPEATS.
set -u
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # run from the repo root, installed or not
out=${1:?usage: scripts/gpu_checks.sh OUT [TEST_TIMEOUT_S] [OVERHEAD_TIMEOUT_S] [CLAIMS_TIMEOUT_S] [MEMORY_TIMEOUT_S]}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
python3 -c "import torch, triton, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__)" >> "$out/gpu.txt" 2>&1

step() {  # step LOG TIMEOUT_S COMMAND...: run it under its limit, or not at all with a limit of 0
  local log=$1 limit=$2
  shift 2
  if [ "$limit" -gt 0 ]; then
    timeout "$limit" "$@" > "$log" 2>&1
    echo "exit $?" >> "$log"
  fi
}
step "$out/gpu_tests.log" "${2:-340}" python3 -m pytest -m gpu -q -rA -p no:cacheprovider tests/evaluate tests/test_profile.py
step "$out/overhead.log" "${3:-60}" python3 benchmarks/evaluator_overhead.py --device cuda --repeats "${REPEATS:-1}" \
  --only "${OVERHEAD_ONLY:-}" --out "$out/overhead"
step "$out/claims.log" "${4:-130}" python3 benchmarks/wallclock_claims.py --device cuda --repeats "${CLAIMS_REPEATS:-2}" --out "$out/claims"
step "$out/memory.log" "${5:-100}" python3 benchmarks/memory_pressure.py --out "$out/memory"
