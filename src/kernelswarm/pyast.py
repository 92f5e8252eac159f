"""`ast.parse` for the parent's threads, one at a time.

CPython 3.11's AST constructor keeps its recursion depth in state shared by every thread; two
parses at once can fail with a spurious `SystemError: AST constructor recursion depth mismatch`
(python/cpython#106905). The supervisor asks agents, screens candidates and loads problems in
threads side by side, and a built-in agent once answered nothing in CI because of it.
"""

from __future__ import annotations

import ast
import threading

_ONE_AT_A_TIME = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    with _ONE_AT_A_TIME:
        return ast.parse(source, filename=filename)
