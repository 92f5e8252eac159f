#!/bin/bash
# usage: run1.sh TREE OUTJSON [extra env]
TREE=$1; OUT=$2
PY=/work/main/.venv/bin/python
T=$(mktemp -d /tmp/b20.XXXX)
sed 's/class Model(/class ModelNew(/' $TREE/tests/evaluate/problems/softmax_rows.py > $T/copy.py
$PY -c "while True: pass" & B1=$!
$PY -c "while True: pass" & B2=$!
L0=$(cat /proc/loadavg)
S=$(date +%s)
B20_DEBUG=$OUT.dbg KERNELSWARM_CACHE=$T/cache PYTHONPATH=$TREE/src $PY -m kernelswarm eval $TREE/tests/evaluate/problems/softmax_rows.py $T/copy.py --device cpu --json --min-speedup 1.5 --timeout 600 > $OUT 2>$OUT.err
RC=$?
L1=$(cat /proc/loadavg)
kill $B1 $B2; wait $B1 $B2 2>/dev/null
echo "rc=$RC secs=$(( $(date +%s)-S )) load0=$L0 load1=$L1" > $OUT.meta
rm -rf $T
