#!/bin/bash
TREE=$1; OUT=$2
T=$(mktemp -d /tmp/b20.XXXX)
B20_DEBUG=$OUT.dbg KERNELSWARM_CACHE=$T/cache PYTHONPATH=$TREE/src /work/main/.venv/bin/python /work/b20/probe_eval.py $TREE/tests/evaluate/problems/softmax_rows.py $OUT 2> $OUT.err
rm -rf $T
