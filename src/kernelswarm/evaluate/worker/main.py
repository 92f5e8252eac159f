"""The worker's request loop: `serve` answers the parent's requests over the channel until it
closes. Run as `python -m kernelswarm.evaluate.worker ROLE READ_FD WRITE_FD` (__main__.py), or
called in a process forked from the zygote (zygote.py)."""

from __future__ import annotations

import os
import sys
import time
import traceback

from kernelswarm.evaluate.wire.protocol import Channel, ChannelClosed
from kernelswarm.evaluate.worker import support
from kernelswarm.evaluate.worker.base import Worker, _Unusable
from kernelswarm.evaluate.worker.candidate import CandidateWorker
from kernelswarm.evaluate.worker.reference import ReferenceWorker

ROLES: dict[str, type[Worker]] = {"reference": ReferenceWorker, "candidate": CandidateWorker}

# Ops that run the model (and so may make a library's first, lasting choice of algorithm).
_MODEL_OPS = frozenset({"spec", "run", "label", "time_setup", "check", "fingerprints"})


def main() -> None:
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), os.getppid())


def serve(role: str, read_fd: int, write_fd: int, peer_pid: int) -> None:
    """Answer the parent's requests until it closes the channel. `peer_pid`: the process whose
    sealed files this one opens (the evaluator; its parent, unless forked by a zygote)."""
    chan = Channel(read_fd, write_fd, peer_pid=peer_pid)
    worker: Worker | None = None
    while True:
        try:
            msg, blob = chan.recv()
        except ChannelClosed:
            return
        op = msg.get("op")
        re = {"re": msg.get("id")}  # every reply names the request it answers (replies.py)
        started = time.perf_counter()
        try:
            if op == "init":
                worker = ROLES[role](role, chan, msg)
                reply, out_blob = {}, b""
            elif op == "quit":
                chan.send({"ok": True, **re})
                os._exit(0)
            else:
                if op == "import" and role != "candidate":
                    raise PermissionError("the reference worker never imports candidate code")
                handler = getattr(worker, f"op_{op}")
                if op in _MODEL_OPS:
                    worker.note_memory()
                result = handler(msg, blob) if op == "check" else handler(msg)
                if op in _MODEL_OPS:
                    worker.note_memory()
                reply, out_blob = result if isinstance(result, tuple) else (result, b"")
            chan.send({"ok": True, **reply, **re, "op_s": time.perf_counter() - started}, out_blob)
        except _Unusable as e:
            chan.send({"ok": False, "kind": "compile_error", "error": str(e), **re})
        except BaseException as e:  # report every failure to the parent, which decides what it means
            tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-6000:]
            kind = "compile_error" if op == "import" else support.classify(e)  # failing to load is failing to build
            chan.send({"ok": False, "kind": kind, "error": f"{e.__class__.__name__}: {e}"[:2000], "traceback": tb, **re})

