"""The processes of the training-step check (optimize/steps.py): starting, talking to, stopping
and killing them, and reading what they wrote. Standard library only (torch for the files).

The candidate's process runs model-written code, which can rewrite anything in that process: its
replies, its timer, the files it writes. So, as the evaluator does for a candidate's worker
(evaluate/parent/procs.py):
- it is started contained (evaluate/worker/contain.py: its own PID and mount namespaces, private
  /proc, /tmp and homes) and confined (no `setsid`, no other process's memory, writes only in its
  folder: worker/sandbox.candidate_sandbox), with an environment that holds no secret;
- it is stopped (SIGSTOP, with every process of its session) whenever it is not answering one of
  the parent's requests: no thread, child or signal handler of it runs between requests, so every
  piece of work it does falls inside a request whose wall time the parent measures itself;
- every reply is validated (a malformed one is a StepsError, one line), and a file it names is
  read only as a plain file of its own folder (no link to another process's output).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MAX_REPLY = 1 << 20  # a reply line longer than this is malformed (losses of a few hundred steps fit)


class StepsError(RuntimeError):
    """A worker failed (the model raised, the process died, a reply was malformed); one line."""


class StepWorker:
    """One step process in its own session, folder and caches. `contained`: the candidate's;
    `frozen`: stopped between requests (the candidate's always; the baseline it is timed beside
    too, so that both sides' steps start alike)."""

    def __init__(self, role: str, folder: Path, device: str, contained: bool = False, readable: tuple[str, ...] = (),
                 frozen: bool = False) -> None:
        from kernelswarm.evaluate.parent import environment
        from kernelswarm.evaluate.worker import contain

        self.role = role
        self.folder = folder / role
        self.folder.mkdir(parents=True, exist_ok=True)
        # The allow-listed environment only (no API key under any name), threads that sleep when
        # idle (one spinning after its step must not take the cores from the other's), and every
        # cache in the worker's own folder, the only place a candidate's process may write.
        # The import path is a worker's (environment.worker_python_path: the package's and the user's
        # PYTHONPATH), not this process's sys.path: that holds the folder of the script that ran
        # `optimize`, or one a notebook prepended, where a project keeps its keys, and every folder
        # on it is bound into a contained process's root (a key there came back hashed, adv13).
        env = environment.worker_environment(os.environ)
        env.update(PYTHONPATH=environment.worker_python_path(env), OMP_WAIT_POLICY="PASSIVE",
                   TMPDIR=str(self.folder), **{k: str(self.folder / v) for k, v in (
                       ("TORCHINDUCTOR_CACHE_DIR", "inductor"), ("TRITON_CACHE_DIR", "triton"),
                       ("TORCH_EXTENSIONS_DIR", "extensions"), ("CUDA_CACHE_PATH", "nv_cache"),
                       ("CUPY_CACHE_DIR", "cupy_cache"))})
        # A new file: a kept steps folder may hold what an earlier winner left in its own folder,
        # a link to a file of the user's where this log goes included (truncated through it).
        self.log_path = self.folder / "log.txt"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path)
        self.log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                     | os.O_CLOEXEC, 0o644), "wb")  # closed in kill
        argv = [sys.executable, "-m", "kernelswarm.optimize.steps_worker"]
        report_r = report_w = -1
        self.contained = contained and contain.available()
        if self.contained:
            report_r, report_w = os.pipe()
            private = [str(self.folder), *readable, *contain.code_paths(env["PYTHONPATH"], env), *contain.shared_paths()]
            argv = contain.launch_argv(argv, report_w, sorted(set(private)))
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     cwd=self.folder, start_new_session=True, pass_fds=(report_w,) if self.contained else (),
                                     preexec_fn=contain.set_parent_death_signal)
        self.containment = "session"
        self._init_pid = -1
        if self.contained:
            os.close(report_w)
            self.containment = self._await_launcher(report_r)
        # The candidate's processes' disk and memory together, bounded as an evaluation's are
        # (evaluate/parent/guard.py): the step process has no address-space limit of its own.
        self.exceeded = ""
        self._guard = None
        if contained:
            from kernelswarm.evaluate.parent.guard import Guard

            self._guard = Guard(self.folder, self._exceed, sid=self.proc.pid)
        self.last_ms = 0.0
        self.sandbox = ""  # what the candidate's process applied (steps_worker), as it said
        self.frozen = False
        if contained or frozen:
            self._freeze()

    def _await_launcher(self, fd: int) -> str:
        """The launcher's one frame (contain._report): how the worker is contained."""
        import select
        import struct

        try:
            ready, _, _ = select.select([fd], [], [], 120.0)
            head = os.read(fd, 16) if ready else b""
            size = struct.unpack("<QQ", head)[0] if len(head) == 16 else 0
            header = json.loads(os.read(fd, min(size, 1 << 16)) or b"null") if 0 < size < 1 << 16 else None
        except (OSError, ValueError, struct.error):
            header = None
        finally:
            os.close(fd)
        if not isinstance(header, dict) or header.get("op") != "contain":
            self.kill()
            raise StepsError(f"the {self.role} step process could not be contained: {self._tail()}")
        if isinstance(header.get("init"), int):
            self._init_pid = int(header["init"])
        return str(header.get("contain")) + (f": {header['why']}" if header.get("why") else "")

    def _freeze(self) -> None:
        from kernelswarm.evaluate.worker.contain import signal_session

        signal_session(self.proc.pid, signal.SIGSTOP)
        self.frozen = True

    def _thaw(self) -> None:
        from kernelswarm.evaluate.worker.contain import signal_session

        signal_session(self.proc.pid, signal.SIGCONT)
        self.frozen = False

    def _exceed(self, reason: str) -> None:
        """From the guard's thread: kill every process of the step process's session."""
        from kernelswarm.evaluate.worker.contain import signal_session

        self.exceeded = reason
        if self._init_pid > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._init_pid, signal.SIGKILL)
        signal_session(self.proc.pid, signal.SIGKILL)

    def call(self, msg: dict[str, Any], want: dict[str, type] | None = None) -> dict[str, Any]:
        """Send one request and read its reply; `last_ms` is the parent's own clock around it (the
        thawing and stopping of a candidate's process outside it). `want`: the reply's fields and
        their types; anything else is malformed."""
        frozen = self.frozen
        if frozen:
            self._thaw()
        t = time.perf_counter()
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
            line = self.proc.stdout.readline(MAX_REPLY + 1)
        except (BrokenPipeError, OSError):
            line = b""
        self.last_ms = 1e3 * (time.perf_counter() - t)
        if frozen:
            self._freeze()
        if not line and self.exceeded:
            raise StepsError(f"the {self.role} step process was killed ({msg['op']}): {self.exceeded}")
        if not line:
            raise StepsError(f"the {self.role} step process died ({msg['op']}): {self._tail()}")
        return self._validate(msg["op"], line, want or {})

    def _validate(self, op: str, line: bytes, want: dict[str, type]) -> dict[str, Any]:
        try:
            reply = json.loads(line) if len(line) <= MAX_REPLY else None
        except ValueError:
            reply = None
        if isinstance(reply, dict) and isinstance(reply.get("error"), str):
            raise StepsError(f"the {self.role} ({op}): {reply['error'][:400]}")
        if not isinstance(reply, dict) or not all(_typed(reply.get(k), t) for k, t in want.items()):
            raise StepsError(f"the {self.role} step process sent a malformed reply to {op!r}")
        return reply

    def load(self, path: Path) -> dict[str, Any]:
        """A state dict the worker wrote at `path`, read once and removed: a plain file of its own
        folder (not a link to another process's output), of tensors only."""
        import torch

        from kernelswarm.evaluate.wire.protocol import inflated_archive

        if path.parent != self.folder:
            raise StepsError(f"the {self.role}'s output is outside its folder")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise StepsError(f"the {self.role} wrote no {path.name} ({e.strerror})") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise StepsError(f"the {self.role}'s {path.name} is not a plain file of its own")
            with os.fdopen(os.dup(fd), "rb") as f:
                if inflated_archive(f, st.st_size):  # a winner's 1 MB file took 1 GiB here (zip_bomb)
                    raise StepsError(f"the {self.role}'s {path.name} is not as torch.save writes it "
                                     "(compressed entries, or larger than the file)")
            # Mapped, not read: torch.load inflates a compressed entry however large it says it is,
            # and maps only stored ones, so what this reads is the file's own bytes (the check above
            # reads the archive as Python's zipfile does, this as torch's own reader does). Copied
            # at once: the mapping would follow what the writer still does to the file.
            mapped = torch.load(f"/proc/self/fd/{fd}", weights_only=True, map_location="cpu", mmap=True)
            state = ({k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in mapped.items()}
                     if isinstance(mapped, dict) else mapped)
            del mapped
        except StepsError:
            raise
        except (OSError, RuntimeError, ValueError, EOFError) as e:
            raise StepsError(f"the {self.role}'s {path.name} cannot be read ({type(e).__name__})") from None
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise StepsError(f"the {self.role}'s {path.name} is not a state dict")
        return state

    def _tail(self) -> str:
        self.log.flush()
        from kernelswarm.evaluate.parent.own_files import read_tail

        # In the step process's folder: not through a link it made there (own_files.py).
        lines = read_tail(self.log_path, 4000).decode(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else "no output"

    def kill(self) -> None:
        """Kill the process and everything it started (its PID namespace goes with its first
        process; its session in any case: no candidate's process can leave it)."""
        from kernelswarm.evaluate.worker.contain import kill_session

        if self._guard is not None:
            self._guard.stop()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self._init_pid > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._init_pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        kill_session(self.proc.pid)
        for f in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                f.close()
        self.log.close()


def _typed(value: Any, kind: type) -> bool:
    if kind is float:  # a number (not finite is the judge's to refuse, with its reason)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is list:  # a list of numbers (losses)
        return isinstance(value, list) and all(_typed(v, float) for v in value)
    return isinstance(value, kind)
