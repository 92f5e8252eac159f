#!/usr/bin/env bash
# A slim Ray for a machine with no package index (the lent GPU machine): the Ray wheel of the
# given Python version and its one pure-Python dependency chain that such a machine may lack
# (jsonschema), unpacked, stripped of what `run --ray` never loads, and packed as one .tar.xz
# that fits what a device call carries (64 MiB). Run here, where pip reaches PyPI:
#
#   bash scripts/ray_slim.sh [PYVER [OUT]]      # default 3.12 .ray  ->  OUT/ray-<ver>-cp<PYVER>.tar.xz
#
# then on the other machine: bash scripts/ray_unpack.sh OUT/ray-*.tar.xz TARGET; PYTHONPATH=TARGET.
#
# What goes (never imported by ray.init, actors, ray.get, ray.kill, nor by the processes a local
# Ray starts: raylet, GCS, dashboard head and agent, runtime-env agent; checked by tracing every
# file those processes open): the libraries on top of Ray core (rllib, tune, train, serve, data,
# llm, air, workflow), the Java jars, the dashboard's web client, test folders, and the debug
# symbols of the three native binaries (_raylet.so, gcs_server, raylet: ~120 MB to ~50 MB).
set -euo pipefail
PYVER=${1:-3.12}
OUT=${2:-.ray}
PY=${PY:-/work/main/.venv/bin/python}
RAY_VERSION=${RAY_VERSION:-$("$PY" -c 'import importlib.metadata as m; print(m.version("ray"))')}
TAG=cp${PYVER/./}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$WORK/dl" \
  "ray==$RAY_VERSION" jsonschema jsonschema-specifications referencing rpds-py
mkdir -p "$WORK/site"
for w in "$WORK"/dl/*.whl; do (cd "$WORK/site" && unzip -q -o "$w"); done

R="$WORK/site/ray"
rm -rf "$R"/{rllib,tune,train,serve,data,llm,air,workflow,jars} "$R/dashboard/client"
find "$WORK/site" -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +
strip --strip-unneeded "$R/_raylet.so"
strip --strip-all "$R/core/src/ray/gcs/gcs_server" "$R/core/src/ray/raylet/raylet"
# The binaries must stay executable wherever this is unpacked (tar keeps the mode bits).
chmod 755 "$R/core/src/ray/gcs/gcs_server" "$R/core/src/ray/raylet/raylet"

mkdir -p "$OUT"
ARCHIVE="$OUT/ray-$RAY_VERSION-$TAG.tar.xz"
tar -C "$WORK/site" -cf - . | xz -9 -T0 > "$ARCHIVE"
echo "$ARCHIVE: $(du -k "$ARCHIVE" | cut -f1) KiB packed, $(du -sk "$WORK/site" | cut -f1) KiB unpacked"
