#!/usr/bin/env bash
# One slice of the built-in sweep over the bundled suite on the GPU, resumable across commands.
#   bash scripts/gpu_sweep.sh OUT [HARD_LIMIT_S]
# The store is per GPU model (a run resumed on another model would mix timings, and is refused):
# .bench/swarm_<gpu>.db, kept between commands while the machine stays warm; when it is missing,
# the last copy brought back (benchmarks/results/swarm_builtin_<gpu>.db) is the start, if any.
# Each slice resumes the unfinished run, stops starting problems 90 s before its hard limit, and
# copies the store (with its per-invocation wall times) to OUT/swarm/.
# Environment: JOBS (default 8), AGENTS (default: the variants that can add over eager and compile).
set -u
out=${1:?usage: scripts/gpu_sweep.sh OUT [HARD_LIMIT_S]}
hard=${2:-520}
mkdir -p "$out/swarm" .bench
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
slug=$(printf '%s' "$gpu" | grep -oiE '[abhlg][0-9]{2,3}s?' | head -n 1 | tr 'A-Z' 'a-z')
slug=${slug:-$(printf '%s' "$gpu" | tr -c 'A-Za-z0-9' '_' | tr 'A-Z' 'a-z')}
db=.bench/swarm_${slug:-gpu}.db
seed=benchmarks/results/swarm_builtin_${slug:-gpu}.db
if [ ! -f "$db" ] && [ -f "$seed" ]; then
  python3 -c "import sqlite3,sys; a=sqlite3.connect(sys.argv[1]); b=sqlite3.connect(sys.argv[2]); a.backup(b)" "$seed" "$db"
  [ -f "${seed%.db}.sessions.json" ] && cp "${seed%.db}.sessions.json" "${db%.db}.sessions.json"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
python3 benchmarks/swarm_builtin.py --out "$out/swarm" --db "$db" --resume --jobs "${JOBS:-8}" \
  --agents "${AGENTS:-compile-max-autotune,compile-freezing,cudnn-benchmark,channels-last}" \
  --timeout 300 --time-budget $((hard - 90)) --hard-limit "$hard" > "$out/swarm.log" 2>&1
echo "swarm exit $?" >> "$out/swarm.log"
