"""Parses from the parent's threads go one at a time (CPython 3.11's AST constructor is not safe
with two at once: python/cpython#106905)."""

from __future__ import annotations

import ast
import threading
import time

from kernelswarm import pyast


def test_parses_never_overlap(monkeypatch) -> None:
    inside, most = 0, 0
    guard = threading.Lock()
    real = ast.parse

    def slow_parse(*args, **kwargs):
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.005)  # long enough for another thread to come in, were it let in
        try:
            return real(*args, **kwargs)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(ast, "parse", slow_parse)
    threads = [threading.Thread(target=lambda: [pyast.parse("x = 1") for _ in range(10)]) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
    assert isinstance(pyast.parse("def f():\n    return 1\n"), ast.Module)
