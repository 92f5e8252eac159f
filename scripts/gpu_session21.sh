#!/usr/bin/env bash
# Session 21's device command (issue 16), from the repository root: OUT is where logs and tables go.
#   bash scripts/gpu_session21.sh OUT
# 1. benchmarks/device_crossing.py: a 1 GiB output handed between processes on the device (the
#    driver's virtual-memory API, a POSIX descriptor), from a PID namespace of its own;
# 2. the GPU tests this session's changes touch (TESTS, K: default the staged receive, the FLOP count);
# 3. warm evaluations, OLD's src (default .old21/src, carried) and this tree's alternately, twice;
# 4. a wrong candidate with a 1 GiB output (softmax scaled by 1.001) must still be judged incorrect.
set -u
out=${1:?usage: scripts/gpu_session21.sh OUT}
if [ -d .whl ] && ! python3 -c "import pydantic" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
base=${PYTHONPATH:-}
export PYTHONPATH="$PWD/src${base:+:$base}" PYTHONUNBUFFERED=1
mkdir -p "$out"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, triton, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__)"
  git log -1 --format='commit %h %cI' 2>/dev/null; } > "$out/gpu.txt" 2>&1
timeout "${T_CROSS:-120}" python3 benchmarks/device_crossing.py --mib 1024 --out "$out" > "$out/crossing.log" 2>&1
echo "crossing exit $?" >> "$out/crossing.log"
timeout "${T_TESTS:-200}" python3 -m pytest -q -rA --tb=short -p no:cacheprovider ${K:+-k "$K"} \
  ${TESTS:-tests/test_sol.py tests/evaluate/test_rawblob.py} > "$out/tests.log" 2>&1
echo "tests exit $?" >> "$out/tests.log"
for r in $(seq 1 "${ROUNDS:-1}"); do
  for tree in old new; do
    src=$PWD/src; [ "$tree" = old ] && src=${OLD:-.old21/src}
    # A cache folder of each pass's own: no count or peak carried from one tree's pass to the other's.
    KERNELSWARM_CACHE=$(mktemp -d) timeout "${T_WARM:-200}" python3 benchmarks/gpu_throughput.py --device cuda --src "$src" --warmup level1/matmul_square \
      --problems "${PROBLEMS:-level1/softmax,level1/matmul_square,level1/argmax,level1/conv2d,level1/layer_norm}" \
      --budget "${B_WARM:-170}" --warm-share 0.9 --out "$out/${tree}$r" > "$out/warm_${tree}$r.log" 2>&1
    echo "warm $tree $r exit $?" >> "$out/warm_${tree}$r.log"
  done
done
p=src/kernelswarm/problems/suite/level1/softmax.py
sed -e 's/class Model(/class ModelNew(/' -e 's/return torch.softmax(/return 1.001 * torch.softmax(/' "$p" > /tmp/wrong_softmax.py
timeout "${T_WRONG:-120}" python3 -m kernelswarm eval "$p" /tmp/wrong_softmax.py --device cuda --json > "$out/wrong.json" 2> "$out/wrong.err"
echo "wrong exit $?" >> "$out/wrong.err"
tail -n 3 "$out"/tests.log "$out"/wrong.err; tail -n 40 "$out/crossing.log"
for f in "$out"/old*/gpu_throughput.md "$out"/new*/gpu_throughput.md; do echo "== $f"; sed -n '/| warm evaluation/,$p' "$f"; done
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('wrong:', d.get('verdict'), str(d.get('reason'))[:200])" "$out/wrong.json"
