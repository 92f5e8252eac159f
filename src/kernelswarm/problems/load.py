"""Loading one problem file (KernelBench format) and hashing it. Standard library only."""

from __future__ import annotations

import ast
import functools
import hashlib
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernelswarm import pyast

# Optional module-level dict in a problem file: per-device overrides of its size constants,
# e.g. KERNELSWARM_SIZES = {"cpu": {"batch_size": 8}}. Plain KernelBench files have none.
SIZES_NAME = "KERNELSWARM_SIZES"
# Optional module-level string: KERNELSWARM_MODE = "train" makes the problem a training problem
# (one call is forward plus backward); `--mode` on the command line wins over it.
MODE_NAME = "KERNELSWARM_MODE"


class ProblemError(ValueError):
    """A problem file that cannot be used; the message is one line and names the file."""


def reference_failed(path: Path, message: str) -> ProblemError:
    """The reference did not run in its worker. A module beside the problem file is not on the
    worker's import path (the file's folder is not: a project keeps its keys and its store there,
    and a candidate's worker sees only what its import path names), so where the message is that
    module missing, say how to bring it."""
    hint = ""
    missing = re.search(r"No module named '([\w.]+)'", message)
    if missing:
        top = missing.group(1).split(".")[0]
        folder = Path(path).resolve().parent
        if (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file():
            hint = (f" ({top} is beside the problem file: put its folder on PYTHONPATH, e.g. "
                    f"PYTHONPATH={folder}, or install it, so that the workers import it)")
    return ProblemError(f"{path}: the reference fails to run: {message}{hint}")


@dataclass(frozen=True)
class Problem:
    """A reference module in KernelBench format."""

    name: str  # file stem, e.g. "matmul_square"
    path: Path  # where it was loaded from
    source: str  # the file's text
    hash: str  # content hash ignoring comments and whitespace
    level: int | None = None  # suite level, when known
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-device size overrides

    @property
    def mode(self) -> str | None:
        """The problem's own KERNELSWARM_MODE ("train", "inference"), or None when it declares none."""
        return declared_mode(self.source)


def problem_hash(source: str) -> str:
    """A stable hash of the code: comments, docstrings, blank lines and formatting ignored."""
    tree = pyast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _is_docstring(body[0]):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()[:16]


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _level_from_path(path: Path) -> int | None:
    m = re.fullmatch(r"level_?(\d+)", path.parent.name)
    return int(m.group(1)) if m else None


def load_problem(path: str | Path, level: int | None = None) -> Problem:
    """Read and statically validate a problem file. Raises ProblemError with a one-line reason."""
    path = Path(path)
    try:
        source = path.read_text()
    except FileNotFoundError:
        raise ProblemError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProblemError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
    try:
        tree = pyast.parse(source, filename=str(path))
    except SyntaxError as e:
        raise ProblemError(f"{path}: syntax error at line {e.lineno}: {e.msg}") from None
    names = _top_level_names(tree)
    for required in ("Model", "get_inputs"):
        if required not in names:
            raise ProblemError(f"{path}: no `{required}` defined at module level")
    mode = _literal(tree, MODE_NAME)
    if mode is not None and mode not in ("train", "inference"):
        raise ProblemError(f"{path}: {MODE_NAME} = {mode!r}: choose 'train' or 'inference'")
    return Problem(
        name=path.stem,
        path=path.resolve(),
        source=source,
        hash=problem_hash(source),
        level=level if level is not None else _level_from_path(path),
        sizes=_literal_sizes(tree),
    )


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _literal(tree: ast.Module, name: str) -> Any:
    """The literal value assigned to module-level `name`, or None (absent or not a literal)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return None
    return None


def _literal_sizes(tree: ast.Module) -> dict[str, dict[str, Any]]:
    value = _literal(tree, SIZES_NAME)
    return value if isinstance(value, dict) else {}


@functools.lru_cache(maxsize=256)
def declared_mode(source: str) -> str | None:
    """KERNELSWARM_MODE of a problem's source, when it is a string literal."""
    try:
        value = _literal(pyast.parse(source), MODE_NAME)
    except SyntaxError:
        return None
    return value if isinstance(value, str) else None


def exec_problem(source: str, path: str, device: str) -> types.ModuleType:
    """Execute a problem's source as a fresh module and apply its size overrides for `device`.

    Overrides replace module globals, which `get_inputs` and `get_init_inputs` read at call time.
    """
    module = types.ModuleType("kernelswarm_problem")
    module.__file__ = path
    exec(compile(source, path, "exec"), module.__dict__)
    overrides = getattr(module, SIZES_NAME, {}) or {}
    for key, value in dict(overrides.get(device, {})).items():
        setattr(module, key, value)
    if not hasattr(module, "get_init_inputs"):
        module.get_init_inputs = lambda: []  # KernelBench files always have it; tolerate its absence
    return module


def local_imports_digest(problem: Problem, limit: int = 64) -> str:
    """A hash of the source of the user's own modules the problem imports (files next to it, and
    theirs in turn), for cache keys: editing such a module changes what the reference computes
    without changing the problem's own hash. Empty when it imports none."""
    seen: dict[Path, bytes] = {}
    todo = [(problem.path.parent, problem.source)]
    while todo and len(seen) < limit:
        folder, source = todo.pop()
        try:
            tree = pyast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level <= 1 else [])
            for name in names:
                top = name.split(".")[0]
                for path in (folder / f"{top}.py", folder / top / "__init__.py"):
                    if path.is_file() and path not in seen:
                        seen[path] = path.read_bytes()
                        todo.append((path.parent, seen[path].decode(errors="replace")))
    if not seen:
        return ""
    h = hashlib.sha256()
    for path in sorted(seen):
        h.update(str(path).encode() + b"\0" + seen[path] + b"\0")
    return h.hexdigest()[:16]
