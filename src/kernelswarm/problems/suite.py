"""Finding problems: the bundled suite, KernelBench checkouts, folders, single files and name globs.

Standard library only, so that listing and resolving never import torch. Bad files never raise:
they come back as ProblemError entries (with `.path` and `.reason`) beside the problems that loaded.
"""

from __future__ import annotations

import fnmatch
import glob
import re
from pathlib import Path

from kernelswarm.problems.load import Problem, ProblemError, load_problem

# "bundled": the inference suite (suite/level1..3). "train": training problems (suite/train/levelN,
# KERNELSWARM_MODE = "train"), kept apart so that the default run is unchanged; name globs reach
# them with a "train/" prefix ("train/level1/*", "train/*_norm_train").
SUITES = ("bundled", "train")
TRAIN_PREFIX = "train/"

# Folder names that carry a level: level1, level_2 (KernelBench uses level1..level4).
_LEVEL_DIR = re.compile(r"level_?(\d+)")

# The default `kernelswarm run` set: one or two per level, all fast at their CPU sizes, covering a
# GEMM, a memory-bound op with a reduction, a fused convolution chain and a whole small model.
_QUICK = ("level1/matmul_square", "level1/softmax", "level2/conv2d_batchnorm_relu",
          "level2/linear_layernorm_gelu", "level3/mlp")
_QUICK_CPU = ("level1/softmax", "level2/conv2d_batchnorm_relu", "level3/mlp")


class NoMatch(ProblemError):
    """An argument that names nothing usable: a missing path, a glob that matches nothing, an unknown suite."""


def _error(path: str | Path, reason: str, cls: type[ProblemError] = ProblemError) -> ProblemError:
    err = cls(f"{path}: {reason}")
    err.path = str(path)  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    return err


def error_parts(err: ProblemError) -> tuple[str, str]:
    """(path, reason) of any ProblemError, including those raised by load_problem."""
    path = getattr(err, "path", None)
    reason = getattr(err, "reason", None)
    if path is not None and reason is not None:
        return path, reason
    text = str(err)
    head, sep, tail = text.partition(": ")
    return (head, tail) if sep else ("", text)


def bundled_dir() -> Path:
    """The package's problems/suite folder (plain files, so __file__ works for editable and wheel installs)."""
    return Path(__file__).resolve().parent / "suite"


def _load(path: Path, level: int | None = None) -> Problem | ProblemError:
    try:
        return load_problem(path, level=level)
    except ProblemError as e:
        path_s, reason = error_parts(e)
        return _error(path_s or path, reason)
    except Exception as e:  # anything else a hostile or odd file triggers while being read
        return _error(path, f"cannot load ({e.__class__.__name__}: {e})")


def _problem_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def _level_dirs(root: Path) -> list[tuple[int, Path]]:
    found = []
    for child in root.iterdir() if root.is_dir() else []:
        m = _LEVEL_DIR.fullmatch(child.name)
        if m and child.is_dir():
            found.append((int(m.group(1)), child))
    return sorted(found)


def load_folder(path: str | Path, level: int | None = None) -> tuple[list[Problem], list[ProblemError]]:
    """Every problem under a KernelBench checkout, a folder of levelN/*.py, or a flat folder of *.py.

    With `level`, only problems of that level (a flat folder's problems take their level from the
    folder's name, e.g. level2/, and have none otherwise).
    """
    root = Path(path)
    if not root.is_dir():
        return [], [_error(root, "no such folder", NoMatch)]
    if (root / "KernelBench").is_dir() and _level_dirs(root / "KernelBench"):
        root = root / "KernelBench"  # the root of a KernelBench checkout
    problems: list[Problem] = []
    errors: list[ProblemError] = []
    levels = _level_dirs(root)
    groups = [(n, d) for n, d in levels if level is None or n == level] if levels else [(None, root)]
    for n, folder in groups:
        for file in _problem_files(folder):
            loaded = _load(file, level=n)
            if isinstance(loaded, ProblemError):
                errors.append(loaded)
            elif level is None or loaded.level == level:
                problems.append(loaded)
    return problems, errors


def _bundled(suite: str = "bundled") -> tuple[list[Problem], list[ProblemError]]:
    return load_folder(bundled_dir() / "train" if suite == "train" else bundled_dir())


def _matches(problem: Problem, pattern: str) -> bool:
    pattern = pattern.removesuffix(".py")
    qualified = f"level{problem.level}/{problem.name}"
    return fnmatch.fnmatchcase(problem.name, pattern) or fnmatch.fnmatchcase(qualified, pattern)


def resolve_problems(
    args: list[str], suite: str | None = None, level: int | None = None
) -> tuple[list[Problem], list[ProblemError]]:
    """Turn command-line arguments into problems.

    Each argument is a file, a folder, a quoted path glob ('mine/*.py'), or a name glob over the
    bundled suite ("matmul_*", "level2/*").
    With no arguments, the whole suite (the bundled one when none is named). `level` filters folders,
    globs and suites; an explicitly named file is taken as it is.
    """
    if suite is not None and suite not in SUITES:
        return [], [_error(suite, f"unknown suite (known: {', '.join(SUITES)})", NoMatch)]
    problems: list[Problem] = []
    errors: list[ProblemError] = []
    if not args:
        found, bad = _bundled(suite or "bundled")
        problems += [p for p in found if level is None or p.level == level]
        errors += bad
    suites: dict[str, tuple[list[Problem], list[ProblemError]]] = {}  # bundled suites read so far
    for arg in args:
        path = Path(arg)
        if path.is_file():
            loaded = _load(path)
            (errors if isinstance(loaded, ProblemError) else problems).append(loaded)
        elif path.is_dir():
            found, bad = load_folder(path, level)
            if not found and not bad:
                errors.append(_error(path, "no problem files found", NoMatch))
            problems += found
            errors += bad
        elif _has_glob(arg) and (files := sorted(f for f in glob.glob(arg) if f.endswith(".py"))):
            for file in files:  # a quoted path glob, e.g. 'my_problems/*.py'
                loaded = _load(Path(file))
                (errors if isinstance(loaded, ProblemError) else problems).append(loaded)
        else:
            which = "train" if arg.startswith(TRAIN_PREFIX) or suite == "train" else "bundled"
            if which not in suites:
                suites[which] = _bundled(which)
                errors += suites[which][1]
            pattern = arg.removeprefix(TRAIN_PREFIX)
            hits = [p for p in suites[which][0] if _matches(p, pattern) and (level is None or p.level == level)]
            if not hits:
                looks_like_path = arg.endswith(".py") and not _has_glob(arg)
                reason = "no such file, and no bundled problem of that name" if looks_like_path else f"no problem matches {arg!r}"
                errors.append(_error(arg, reason, NoMatch))
            problems += hits
    return _dedupe(problems), errors


def _has_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[Path] = set()
    out = []
    for p in problems:
        if p.path not in seen:
            seen.add(p.path)
            out.append(p)
    return out


def quick_subset(device: str) -> list[Problem]:
    """The handful of bundled problems that `kernelswarm run` optimizes by default.

    Each problem's size preset for `device` keeps it fast on a CPU; the set spans levels 1 to 3.
    """
    # On a CPU the built-in agents' torch.compile builds dominate (tens of seconds per candidate on
    # two cores), so the default run there takes one problem per level to finish in a few minutes.
    names = _QUICK_CPU if device == "cpu" else _QUICK
    problems, _ = resolve_problems(list(names))
    return problems
