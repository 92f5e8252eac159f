#!/usr/bin/env bash
# One slice of the built-in sweep over the bundled suite on the GPU, resumable across commands.
#   bash scripts/gpu_sweep.sh OUT [HARD_LIMIT_S]
# The store lives in .bench/swarm.db (kept between commands while the machine stays warm); when it
# is missing, the last copy brought back (benchmarks/results/swarm_builtin_h100.db) is the start.
# Each slice resumes the unfinished run, stops starting problems 90 s before its hard limit, and
# copies the store (with its per-invocation wall times) to OUT/swarm/.
# Environment: JOBS (default 8), AGENTS (default: the variants that can add over eager and compile).
set -u
out=${1:?usage: scripts/gpu_sweep.sh OUT [HARD_LIMIT_S]}
hard=${2:-520}
mkdir -p "$out/swarm" .bench
db=.bench/swarm.db
seed=benchmarks/results/swarm_builtin_h100.db
if [ ! -f "$db" ] && [ -f "$seed" ]; then
  python3 -c "import sqlite3,sys; a=sqlite3.connect(sys.argv[1]); b=sqlite3.connect(sys.argv[2]); a.backup(b)" "$seed" "$db"
  [ -f "${seed%.db}.sessions.json" ] && cp "${seed%.db}.sessions.json" "${db%.db}.sessions.json"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
python3 benchmarks/swarm_builtin.py --out "$out/swarm" --db "$db" --resume --jobs "${JOBS:-8}" \
  --agents "${AGENTS:-compile-max-autotune,compile-freezing,cudnn-benchmark,channels-last}" \
  --timeout 300 --time-budget $((hard - 90)) --hard-limit "$hard" > "$out/swarm.log" 2>&1
echo "swarm exit $?" >> "$out/swarm.log"
