#!/usr/bin/env bash
# Issue 18 on one GPU, in one device command of at most ~280 s: a run through a local Ray (one
# actor on the GPU, --jobs N inside it) against a plain run with --jobs N, compared fairly by
# benchmarks/ray_vs_jobs.py: Ray started once (its start reported apart), both paths warmed with
# one tiny evaluation each, then A B B A over the problems' two halves (plain, Ray on the first;
# Ray, plain on the second), the same fixed candidates (benchmarks/candidates/scale and the
# deterministic cudagraph and cudnn-benchmark built-ins). Per half: evaluations, wall, evaluations
# per GPU-minute; per candidate: its verdict/kind in each half and whether they are equal.
#
#   bash scripts/gpu_ray.sh OUT
#
# Ray comes from a slim archive made by scripts/ray_slim.sh (.ray/ray-<version>-cp<py>.tar.xz,
# git-ignored: carry it), pydantic from the wheels in .whl/ when present (carry it too); both are
# put on PYTHONPATH from /tmp, nothing is installed into the machine's Python.
# Writes OUT/ray_vs_jobs.md (the tables; rewritten after every quarter), OUT/ray_vs_jobs.json,
# OUT/q<N>_<path>.db, OUT/warm_<path>.db, OUT/ray_vs_jobs.log.
# Environment: KS_RAY_CPU=1 runs a small CPU version instead (the two problems of
# tests/fixtures/swarm), to try this script on a machine without a GPU; PYTHON (default
# python3); JOBS (default 8; CPU 2); LIMIT_S (seconds for the whole command, setup included, before
# no new quarter starts; default 250, CPU 2400); a `timeout` 25 s later is the backstop.
set -u
out=${1:?usage: scripts/gpu_ray.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PY=${PYTHON:-python3}
t0=$(date +%s)
site=$(mktemp -d /tmp/ks-site.XXXXXX)
rayd=$(mktemp -d /tmp/ks-ray.XXXXXX)
trap 'rm -rf "$site" "$rayd"' EXIT
say() { echo "[gpu_ray $(($(date +%s) - t0))s] $*" | tee -a "$out/gpu_ray.log"; }

if [ "${KS_RAY_CPU:-0}" = 1 ]; then
  limit=${LIMIT_S:-2400}
  jobs=${JOBS:-2}
  what=(--device cpu --problem tests/fixtures/swarm/problems/tiny_linear.py
        --problem tests/fixtures/swarm/problems/tiny_conv.py --agents channels-last)
else
  limit=${LIMIT_S:-250}
  jobs=${JOBS:-8}
  # Quick level-1 and level-2 problems: a correct and a wrong file of benchmarks/candidates/scale
  # and the cudagraph built-in on each, cudnn-benchmark on the convolution; no torch.compile
  # anywhere (a compile cache warmed by the first path would favour the second).
  what=(--device cuda --problem reduce_mean --problem l2_norm --problem relu --problem conv2d_bias_relu
        --agents cudagraph,cudnn-benchmark)
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

# The deadline counts from the benchmark's own start: what the setup took is taken off.
left=$((limit - ($(date +%s) - t0)))
timeout $((left + 25)) "$PY" benchmarks/ray_vs_jobs.py --out "$out" --jobs "$jobs" --deadline "$left" \
  --candidates benchmarks/candidates/scale "${what[@]}" > "$out/ray_vs_jobs.log" 2>&1
say "ray_vs_jobs: exit $? (deadline ${left} s)"
cat "$out/ray_vs_jobs.md" 2>/dev/null || say "no ray_vs_jobs.md: see ray_vs_jobs.log"
