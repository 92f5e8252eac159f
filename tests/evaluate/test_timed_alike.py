"""The clean worker's timed requests do the same work as the candidate's beyond the call itself
(issue 13: a copy must measure 1 within its interval): the thread walk after every timed call."""

from __future__ import annotations

import threading
import types

from kernelswarm.evaluate.worker.base import Worker


def _module(path: str) -> types.ModuleType:
    module = types.ModuleType("m")
    module.__file__ = path
    exec(compile("import threading\ndef wait(ev):\n    ev.wait()\n", path, "exec"), module.__dict__)
    return module


class _Fake:
    def __init__(self, candidate, problem):
        self.candidate, self.problem = candidate, problem


def test_the_clean_worker_walks_its_threads_for_the_reference_module():
    problem = _module("/tmp/ks_problem_alike.py")
    ev = threading.Event()
    t = threading.Thread(target=problem.wait, args=(ev,), daemon=True)
    t.start()
    try:
        assert Worker.candidate_threads(_Fake(None, problem)) == 1  # the reference's: walked too
        assert Worker.candidate_threads(_Fake(_module("/tmp/ks_candidate_alike.py"), problem)) == 0
    finally:
        ev.set()
        t.join()


def test_no_module_file_counts_nothing():
    assert Worker.candidate_threads(_Fake(None, types.ModuleType("bare"))) == 0
