#!/usr/bin/env bash
# One device command for a session: the GPU checks (scripts/gpu_checks.sh) and the built-in sweep
# (scripts/gpu_sweep.sh) side by side, the checks on the last GPU and the sweep on the others.
#   bash scripts/gpu_session.sh OUT [SWEEP_LIMIT_S]
# With one GPU the checks run first and the sweep gets what is left of the limit. SHARDS, ONLY,
# JOBS, AGENTS and EXTRA go to the sweep. First a preflight (see below, up to 90 s). OUT gets
# checks.tgz (every check's log and table) and the sweep's files: at most 8 files with 2 shares.
set -u
out=${1:?usage: scripts/gpu_session.sh OUT [SWEEP_LIMIT_S]}
limit=${2:-545}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out" .bench
n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
# Preflight: a Triton candidate under the sandbox (a new restriction, first run on a GPU here). If
# it fails, the sweep runs unsandboxed rather than judging every candidate an error (built-in
# agents are trusted transformations; the timings do not depend on the sandbox); the checks stay
# sandboxed, to show what fails, and the log says so.
began=$(date +%s)
sweep_env=()
if ! CUDA_VISIBLE_DEVICES=$((n > 1 ? n - 1 : 0)) timeout 90 python3 -m pytest -q -m gpu -p no:cacheprovider \
    tests/evaluate/test_gpu_fixtures.py -k "triton_relu and not strict" > .bench/preflight.log 2>&1; then
  sweep_env=(KERNELSWARM_NO_SANDBOX=1)
  echo "preflight failed: the sweep runs with KERNELSWARM_NO_SANDBOX=1" >> .bench/preflight.log
fi
limit=$((limit - $(date +%s) + began))
checks() {
  rm -rf .bench/checks
  # 480 s at most, after a preflight of 90 s at most: inside one 600 s command.
  CLAIMS_REPEATS=1 bash scripts/gpu_checks.sh .bench/checks 340 0 70 70
  cp .bench/preflight.log .bench/checks/ 2>/dev/null
  tar czf "$out/checks.tgz" -C .bench checks
}
if [ "$n" -ge 2 ]; then
  (CUDA_VISIBLE_DEVICES=$((n - 1)) checks) &
  env "${sweep_env[@]}" GPUS="${GPUS:-$(seq -s ' ' 0 $((n - 2)))}" bash scripts/gpu_sweep.sh "$out" "$limit"
  wait
else
  start=$(date +%s)
  checks
  left=$((limit - $(date +%s) + start))
  [ "$left" -gt 150 ] && env "${sweep_env[@]}" bash scripts/gpu_sweep.sh "$out" "$left"
fi
exit 0
