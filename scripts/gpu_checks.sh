#!/usr/bin/env bash
# The GPU half of the test suite and the evaluator's benchmarks, in one device command.
#   bash scripts/gpu_checks.sh OUT [TEST_TIMEOUT_S] [BENCH_TIMEOUT_S] [CLAIMS_TIMEOUT_S]
# Writes OUT/gpu.txt (device, driver), OUT/gpu_tests.log (pytest -m gpu), OUT/overhead.md/.log
# (where an evaluation's time goes), OUT/claims.md/.log (the wall clock's verdicts on honest and
# lying candidates: benchmarks/wallclock_claims.py) and OUT/memory.md/.log (conv baselines with the
# device's memory held by another process: benchmarks/memory_pressure.py).
set -u
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # run from the repo root, installed or not
out=${1:?usage: scripts/gpu_checks.sh OUT [TEST_TIMEOUT_S] [BENCH_TIMEOUT_S] [CLAIMS_TIMEOUT_S] [MEMORY_TIMEOUT_S]}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
python3 -c "import torch, triton, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__)" >> "$out/gpu.txt" 2>&1
timeout "${2:-420}" python3 -m pytest -m gpu -q -rA -p no:cacheprovider tests/evaluate tests/test_profile.py \
  > "$out/gpu_tests.log" 2>&1
echo "pytest exit $?" >> "$out/gpu_tests.log"
timeout "${3:-150}" python3 benchmarks/evaluator_overhead.py --device cuda --repeats "${REPEATS:-2}" --only "${ONLY:-}" --out "$out/overhead" \
  > "$out/overhead.log" 2>&1
echo "benchmark exit $?" >> "$out/overhead.log"
timeout "${4:-240}" python3 benchmarks/wallclock_claims.py --device cuda --repeats "${CLAIMS_REPEATS:-2}" --out "$out/claims" \
  > "$out/claims.log" 2>&1
echo "claims exit $?" >> "$out/claims.log"
timeout "${5:-300}" python3 benchmarks/memory_pressure.py --out "$out/memory" > "$out/memory.log" 2>&1
echo "memory exit $?" >> "$out/memory.log"
