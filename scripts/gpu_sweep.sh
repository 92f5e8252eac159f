#!/usr/bin/env bash
# One slice of the built-in sweep over the bundled suite on the GPUs, resumable across commands.
#   bash scripts/gpu_sweep.sh OUT [HARD_LIMIT_S]
# The suite is split into SHARDS shares (default: one per GPU; set it to continue shards made on a
# machine with another GPU count), each its own run and store, timed on one GPU
# (CUDA_VISIBLE_DEVICES): GPU g takes shards g, g+GPUS, ... one after another within the limit.
# Stores are per GPU model (a run resumed on another model would mix timings, and is refused):
# .bench/swarm_builtin_<gpu>[_<k>of<n>].db, kept between commands while the machine stays warm;
# when one is missing, the copy brought back last (benchmarks/results/, same name) is its start.
# Each shard resumes its unfinished run (a finished one is left as it is) and stops starting
# problems 90 s before its share of the limit. OUT gets each store and its per-invocation wall times, the tables over all of them
# (OUT/all.md), the GPU (OUT/gpu.txt) and one log (OUT/sweep.log): at most 8 files for 3 shards.
# Environment: JOBS (default 8 per GPU), AGENTS (default: the variants that can add over eager and
# compile), SHARDS, GPUS (which GPUs, e.g. "0"; default all), ONLY (which shards this time, e.g.
# "0 2"; default all), EXTRA (more arguments for benchmarks/swarm_builtin.py).
set -u
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # run from the repo root, installed or not
out=${1:?usage: scripts/gpu_sweep.sh OUT [HARD_LIMIT_S]}
hard=${2:-520}
mkdir -p "$out" .bench
all=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
[ "$all" -ge 1 ] 2>/dev/null || all=1
list=${GPUS:-$(seq -s ' ' 0 $((all - 1)))}
read -r -a ids <<< "${list//,/ }"
gpus=${#ids[@]}
shards=${SHARDS:-$gpus}
list=${ONLY:-$(seq -s ' ' 0 $((shards - 1)))}
read -r -a todo <<< "${list//,/ }"
for k in "${todo[@]}"; do
  [[ "$k" =~ ^[0-9]+$ ]] && [ "$k" -lt "$shards" ] || { echo "ONLY: shard '$k' is not one of 0..$((shards - 1))" >&2; exit 2; }
done
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
slug=$(printf '%s' "$gpu" | grep -oiE '[abhlg][0-9]{2,3}s?' | head -n 1 | tr 'A-Z' 'a-z')
slug=${slug:-$(printf '%s' "$gpu" | tr -c 'A-Za-z0-9' '_' | tr 'A-Z' 'a-z')}
slug=${slug:-gpu}
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1

name_of() {  # the store's name for shard $1
  if [ "$shards" -gt 1 ]; then echo "swarm_builtin_${slug}_$1of${shards}"; else echo "swarm_builtin_${slug}"; fi
}

run_shard() {  # GPU $1 runs shard $2 within $3 seconds
  local name db seed
  name=$(name_of "$2")
  db=.bench/$name.db
  seed=benchmarks/results/$name.db
  if [ ! -f "$db" ] && [ -f "$seed" ]; then
    python3 -c \
      "import sys; from kernelswarm.store import Store; Store(sys.argv[1], read_only=True).copy_to(sys.argv[2])" "$seed" "$db"
    [ -f "${seed%.db}.sessions.json" ] && cp "${seed%.db}.sessions.json" "${db%.db}.sessions.json"
  fi
  # shellcheck disable=SC2086  # EXTRA is a list of arguments
  CUDA_VISIBLE_DEVICES=$1 python3 benchmarks/swarm_builtin.py --out ".bench/out_$name" --db "$db" --resume \
    --shard "$2/$shards" --jobs "${JOBS:-8}" \
    --agents "${AGENTS:-compile-max-autotune,compile-freezing,cudnn-benchmark,channels-last}" \
    --timeout 300 --time-budget $(($3 - 90)) --hard-limit "$3" ${EXTRA:-} > ".bench/$name.log" 2>&1
  echo "$name on GPU $1: exit $?" >> ".bench/$name.log"
  cp ".bench/out_$name/swarm_builtin.db" "$out/$name.db" 2>/dev/null
  cp "${db%.db}.sessions.json" "$out/$name.sessions.json" 2>/dev/null
}

for ((g = 0; g < gpus && g < ${#todo[@]}; g++)); do
  (
    mine=$(( (${#todo[@]} - g + gpus - 1) / gpus ))  # shards this GPU takes, one after another
    for ((i = g; i < ${#todo[@]}; i += gpus)); do
      run_shard "${ids[$g]}" "${todo[$i]}" $((hard / mine))
    done
  ) &
done
wait
dbs=()
for ((k = 0; k < shards; k++)); do
  [ -f ".bench/$(name_of "$k").db" ] && dbs+=(--db ".bench/$(name_of "$k").db")
done
python3 benchmarks/swarm_builtin.py --out .bench/out_all "${dbs[@]}" --aggregate > .bench/aggregate.log 2>&1
cp .bench/out_all/swarm_builtin_all.md "$out/all.md" 2>/dev/null
for k in "${todo[@]}"; do cat ".bench/$(name_of "$k").log"; done > "$out/sweep.log" 2>&1
cat .bench/aggregate.log >> "$out/sweep.log"
