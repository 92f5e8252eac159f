#!/bin/bash
# $1 = output jsonl, $2 = rounds, $3 = order ("old new" or "new old")
R=/work/wt/liar19/benchmarks/results/noise_cpu_2026-12-03_s19_liar19
INF=$R/blocks_mlp_task.py=/work/wt/liar19/tests/optimize/candidates/blocks_mlp.py
TRN=$R/blocks_mlp_train_task.py=/work/wt/liar19/tests/optimize/candidates_train/blocks_mlp.py
for i in $(seq 1 $2); do
  for pair in $INF $TRN; do
    for tree in $3; do
      src=/work/wt/liar19/src; [ $tree = old ] && src=/tmp/liar19-old/src
      out=$(PYTHONPATH=$src timeout 900 /work/main/.venv/bin/python /tmp/liar19/probe.py $pair 2>>$1.err)
      echo "{\"tree\": \"$tree\", \"case\": \"$(basename ${pair%%=*} .py)\", \"row\": ${out:-null}}" >> $1
    done
  done
done
