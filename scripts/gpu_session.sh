#!/usr/bin/env bash
# One device command for a session: the GPU checks (scripts/gpu_checks.sh) and the built-in sweep
# (scripts/gpu_sweep.sh) side by side, the checks on the last GPU and the sweep on the others.
#   bash scripts/gpu_session.sh OUT [SWEEP_LIMIT_S]
# With one GPU the checks run first and the sweep gets what is left of the limit. SHARDS, ONLY,
# JOBS, AGENTS and EXTRA go to the sweep. OUT gets checks.tgz (every check's log and table) and the
# sweep's files: at most 8 files with 2 shares.
set -u
out=${1:?usage: scripts/gpu_session.sh OUT [SWEEP_LIMIT_S]}
limit=${2:-545}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out" .bench
n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
checks() {
  rm -rf .bench/checks
  bash scripts/gpu_checks.sh .bench/checks 340 0 130 100  # 570 s at most: inside one 600 s command
  tar czf "$out/checks.tgz" -C .bench checks
}
if [ "$n" -ge 2 ]; then
  (CUDA_VISIBLE_DEVICES=$((n - 1)) checks) &
  GPUS=${GPUS:-$(seq -s ' ' 0 $((n - 2)))} bash scripts/gpu_sweep.sh "$out" "$limit"
  wait
else
  start=$(date +%s)
  checks
  left=$((limit - $(date +%s) + start))
  [ "$left" -gt 150 ] && bash scripts/gpu_sweep.sh "$out" "$left"
fi
exit 0
