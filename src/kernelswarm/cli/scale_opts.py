"""The command line's side of scale-out (kernelswarm.scale): `--devices` and `--ray` turned into
the places a run times on, with unusable values as one line and exit 2."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from kernelswarm.cli.common import die
from kernelswarm.scale.placement import NowhereToTime

__all__ = ["NowhereToTime", "check_ray", "gpus", "placement"]

if TYPE_CHECKING:
    from kernelswarm.runconfig import RunConfig
    from kernelswarm.scale.devices import Gpu
    from kernelswarm.scale.placement import Slot


def gpus(spec: str) -> "list[Gpu]":
    """The GPUs a --devices value names (scale.devices)."""
    from kernelswarm.scale.devices import DeviceError, resolve_devices

    try:
        return resolve_devices(spec)
    except DeviceError as e:
        die(str(e))


def check_ray() -> None:
    """--ray without Ray installed: say how to install it."""
    from kernelswarm.scale.ray_pool import RayError, import_ray

    try:
        import_ray()
    except RayError as e:
        die(str(e))


@contextmanager
def placement(config: "RunConfig", note: Callable[[str], None]) -> "Iterator[list[Slot] | None]":
    """The slots of a run spread over GPUs or Ray actors (None for a run on one device); Ray's
    actors are stopped when the run ends."""
    if config.devices:
        from kernelswarm.scale.placement import gpu_slots

        yield gpu_slots(gpus(",".join(config.devices)))
        return
    if not config.ray:
        yield None
        return
    from kernelswarm.scale.ray_pool import ActorPool, RayError, connect, ray_slots

    threads = int(os.environ.get("KERNELSWARM_CPU_THREADS", "0")) or 1
    try:
        connect(config.ray)
        pool = ActorPool(config.device, config.jobs, cpu_threads=threads if config.device == "cpu" else None,
                         on_note=note)
    except RayError as e:
        die(str(e))
    for i in range(len(pool.actors)):
        note(f"{pool.label(i)} ready")
    try:
        yield ray_slots(pool)
    finally:
        pool.shutdown()
