"""The command line's side of scale-out (kernelswarm.scale): `--devices` and `--ray` turned into
the places a run times on, with unusable values as one line and exit 2."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from kernelswarm.cli.common import die
from kernelswarm.scale.devices import DeviceError
from kernelswarm.scale.placement import NowhereToTime
from kernelswarm.scale.ray_pool import RayError

__all__ = ["DeviceError", "NowhereToTime", "RayError", "check_ray", "gpus", "placement"]

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


def check_ray(address: str) -> str:
    """A --ray value, before anything is written: Ray installed (else how to install it), the
    address one Ray can use and, for a cluster, answering. Returns it stripped."""
    from kernelswarm.scale.ray_pool import RayError, check_reachable, import_ray, parse_address

    try:
        text = parse_address(address)[0]
        import_ray()
        check_reachable(text)
        return text
    except RayError as e:
        die(str(e))


@contextmanager
def placement(config: "RunConfig", note: Callable[[str], None]) -> "Iterator[list[Slot] | None]":
    """scale.placement.place, with what cannot be had as one line and exit 2."""
    from kernelswarm.scale.placement import place

    entered = False
    try:
        with place(config, note) as slots:
            entered = True
            yield slots
    except (DeviceError, RayError) as e:
        if entered:  # raised by the run itself, not by setting up its places
            raise
        die(str(e))
