#!/usr/bin/env bash
# Issue 18 on one GPU, in one device command (under 9 minutes): the same problems and the same
# built-in candidates judged twice, by a plain run with --jobs N and by a run through a local Ray
# (one actor on the GPU, --jobs N inside it), each into its own store; verdicts compared per
# candidate (verdict/kind) and throughput side by side (benchmarks/scale_out.py, modes one, ray).
#
#   bash scripts/gpu_ray.sh OUT
#
# Ray comes from a slim archive made by scripts/ray_slim.sh (.ray/ray-<version>-cp<py>.tar.xz,
# git-ignored: carry it), pydantic from the wheels in .whl/ when present (carry it too); both are
# put on PYTHONPATH from /tmp, nothing is installed into the machine's Python.
# Writes OUT/scale_out.md (the tables), OUT/scale_out.json, OUT/one.db, OUT/ray.db, OUT/*.log.
# Environment: KS_RAY_CPU=1 runs a tiny CPU version instead (one small problem, one agent), to
# try this script on a machine without a GPU; PYTHON (default python3); JOBS (default 8);
# LIMIT_S (seconds per half before its figures are what is stored; default 190, CPU 500).
set -u
out=${1:?usage: scripts/gpu_ray.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PY=${PYTHON:-python3}
jobs=${JOBS:-8}
t0=$(date +%s)
site=$(mktemp -d /tmp/ks-site.XXXXXX)
rayd=$(mktemp -d /tmp/ks-ray.XXXXXX)
trap 'rm -rf "$site" "$rayd"' EXIT
say() { echo "[gpu_ray $(($(date +%s) - t0))s] $*" | tee -a "$out/gpu_ray.log"; }

if [ "${KS_RAY_CPU:-0}" = 1 ]; then
  limit=${LIMIT_S:-500}
  what=(--device cpu --problem tests/fixtures/swarm/problems/tiny_linear.py --agents compile
        --no-compile-baseline)
else
  limit=${LIMIT_S:-190}
  # Quick problems of levels 1 and 2 (28-35 s an evaluation in the stored H200 sweep), 3-5
  # candidates each: about 17 evaluations and 5 baseline pairs a half.
  what=(--device cuda --problem reduce_mean --problem l2_norm --problem matvec --problem matmul_large_k
        --problem conv3d_softmax_channels
        --agents compile,compile-reduce-overhead,cudagraph,cudnn-benchmark,channels-last)
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
fi

tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
archive=$(ls .ray/ray-*-"$tag".tar.xz 2>/dev/null | tail -1)
[ -n "$archive" ] || { say "no .ray/ray-*-$tag.tar.xz: make it with bash scripts/ray_slim.sh ${tag:2:1}.${tag:3}"; exit 2; }
if ls .whl/*.whl > /dev/null 2>&1; then
  timeout 90 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" .whl/*.whl > "$out/setup.log" 2>&1 || say "pydantic wheels: exit $? (see setup.log)"
fi
timeout 90 bash scripts/ray_unpack.sh "$archive" "$rayd" >> "$out/setup.log" 2>&1 \
  || { say "unpacking $archive failed: exit $? (see setup.log)"; exit 1; }
export PYTHONPATH="$rayd:$site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c 'import ray, sys; print("python", sys.version.split()[0], "ray", ray.__version__, ray.__file__)' \
  >> "$out/setup.log" 2>&1 || { say "import ray failed (see setup.log)"; exit 1; }
say "setup done: $(tail -1 "$out/setup.log")"

# Each half under its own limit: at --hard-limit the half writes what its store holds and ends;
# `timeout` is the backstop 25-60 s later (Python's start, Ray's start, the shutdown).
common=(--out "$out" --jobs "$jobs" --time-budget "$limit" --hard-limit "$limit" "${what[@]}")
timeout $((limit + 25)) "$PY" benchmarks/scale_out.py --modes one "${common[@]}" > "$out/one.log" 2>&1
say "one (--jobs $jobs): exit $?"
timeout $((limit + 60)) "$PY" benchmarks/scale_out.py --modes ray --append "${common[@]}" > "$out/ray.log" 2>&1
say "ray (--ray local, --jobs $jobs in the actor): exit $?"
cat "$out/scale_out.md" 2>/dev/null || say "no scale_out.md: see one.log and ray.log"
