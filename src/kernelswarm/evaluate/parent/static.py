"""Static screen of a candidate's source: things an honest kernel never needs.

This is defense in depth, not the main line: the verdict is computed outside the candidate's
process from data the trusted side checks itself. The screen exists so that the obvious
attacks (introspecting the evaluator, forking, precision flags) get a clear reason instead of
depending on a later check to notice their effect. It reads code, not comments: names are
resolved through imports and aliases (`torch.multiprocessing`, `getattr(torch, "s" + "ys")`),
and only string constants that are code (native sources) are searched as text.

What honest published kernels do is allowed, each covered at run time instead (fixtures in
tests/evaluate/candidates): cuDNN flags in the candidate's own process (the reference runs in a
clean one), files written and built inside the worker's own folder (the sandbox confines
writes there; TMPDIR points into it), clocks read to pick the faster of two implementations
(timing objects are the evaluator's and patching them is still banned; timed outputs are
checked, so a clock-driven phase switch is caught).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from kernelswarm import pyast
from kernelswarm.evaluate.parent import static_rules as rules


@dataclass(frozen=True)
class Finding:
    """One banned construct in the candidate's source."""

    line: int  # 1-based line number
    what: str  # the construct, e.g. "import gc"
    why: str  # the reason an honest candidate does not need it


def screen_source(source: str, allow_tf32: bool = False) -> list[Finding]:
    """Return every banned construct found; an empty list means the screen passed.
    `allow_tf32`: the precision policy allows TF32 or lower (`--precision tf32|bf16|fp16`), so
    precision switches in the candidate's own process are its own business."""
    try:
        tree = pyast.parse(source)
    except SyntaxError as e:
        return [Finding(e.lineno or 0, "syntax error", e.msg)]
    screen = _Screen(_aliases(tree), allow_tf32, _bound_names(tree))
    screen.visit(tree)
    screen.native_text(tree)
    return sorted(set(screen.findings), key=lambda f: (f.line, f.what))


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted module path it stands for, from imports and plain assignments
    (`import torch.multiprocessing as mp`, `from torch import sys as s`, `t = torch`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    for _ in range(3):  # assignments of aliases to aliases, a few levels deep
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                dotted = _resolve(node.value, names)
                if dotted and node.targets[0].id not in names:
                    names[node.targets[0].id] = dotted
    return names


def _bound_names(tree: ast.Module) -> set[str]:
    """Names the candidate binds itself (variables, parameters, functions, classes): a variable
    called `vars` is not the builtin, though calling it is still flagged."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return bound


def _resolve(node: ast.AST, names: dict[str, str]) -> str | None:
    """The dotted module path an expression reaches (`torch.os.system`), or None when it is not
    rooted at an imported module."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, names)
        return f"{owner}.{node.attr}" if owner else None
    if isinstance(node, ast.Call) and _is_getattr(node):
        owner, name = _resolve(node.args[0], names), _constant_str(node.args[1])
        return f"{owner}.{name}" if owner and name else None
    return None


def _is_getattr(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2


def _constant_str(node: ast.AST) -> str | None:
    """A string the code spells out, concatenations and f-strings of constants included."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant_str(node.left), _constant_str(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_constant_str(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    return None


def _constant_prefix(node: ast.AST) -> str:
    """The constant text a computed string starts with (`f"conv{i}"`, `"layer" + str(i)`)."""
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _constant_str(node.left) or _constant_prefix(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _constant_prefix(node.func.value) if not isinstance(node.func.value, ast.Constant) \
            else str(node.func.value.value).split("{", 1)[0]
    return ""


def _harmless_prefix(prefix: str) -> bool:
    """A constant start no banned name shares: nothing banned can be reached behind it."""
    if not prefix or prefix.startswith("_"):
        return False
    banned = (set(rules.BANNED_IMPORTS) | set(rules.BANNED_ATTRS) | set(rules.PRECISION_ATTRS) | rules.OS_CALLS
              | set(rules.BANNED_BUILTINS) | rules.SEEDERS | {"load", "environ", "getattr"})
    return not any(b.startswith(prefix) for b in banned)


class _Screen(ast.NodeVisitor):
    def __init__(self, names: dict[str, str], allow_tf32: bool, bound: set[str]) -> None:
        self.names = names
        self.bound = bound
        self.allow_tf32 = allow_tf32
        self.findings: list[Finding] = []
        self.called: set[int] = set()  # ids of Name nodes that are the function of a call

    def flag(self, node: ast.AST, what: str, why: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 0), what, why))

    # -- imports --------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.check_dotted(node, a.name, imported=True)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.flag(node, "relative import", "a candidate is a single self-contained file")
        module = node.module or ""
        self.check_dotted(node, module, imported=True)
        for a in node.names:
            self.check_dotted(node, f"{module}.{a.name}", imported=True)
            self.check_attr(node, a.name, f"{module}.{a.name}")

    # -- names and attributes -------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name):
            self.called.add(id(node.func))
        if _is_getattr(node):
            self.check_getattr(node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in rules.BANNED_BUILTINS and node.id not in self.names:
            if id(node) in self.called:
                self.flag(node, f"{node.id}()", rules.BANNED_BUILTINS[node.id])
            elif node.id not in self.bound or node.id.startswith("__"):  # the builtin itself, passed around
                self.flag(node, node.id, rules.BANNED_BUILTINS[node.id])
        elif node.id == "getattr" and id(node) not in self.called:
            self.flag(node, "getattr", "passing getattr around hides what is looked up")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _resolve(node, self.names)
        if not (dotted and self.check_dotted(node, dotted)):
            self.check_attr(node, node.attr, dotted)
        self.generic_visit(node)

    def check_getattr(self, node: ast.Call) -> None:
        owner, name = node.args[0], _constant_str(node.args[1])
        owner_text = ast.unparse(owner)
        if name is None:
            # `getattr(self, f"conv{i}")` is how modules reach numbered layers; anything else
            # looked up by a computed name could be any attribute of any module. `self` is only a
            # parameter's name: a function called with a module as `self` reached any of its
            # attributes (cheat/screen_self_getattr), so the name must start with a constant that
            # begins no banned name (`conv` can reach `conv1`, never `sys`).
            prefix = _constant_prefix(node.args[1])
            if not (isinstance(owner, ast.Name) and owner.id == "self" and _harmless_prefix(prefix)):
                self.flag(node, f"getattr({owner_text}, ...)", "looking up attributes by a computed name hides what is reached")
            return
        dotted, what = _resolve(node, self.names), f"getattr({owner_text}, {name!r})"
        if not (dotted and self.check_dotted(node, dotted, what=what)):
            self.check_attr(node, name, dotted, what=what)

    def check_dotted(self, node: ast.AST, dotted: str, imported: bool = False, what: str | None = None) -> bool:
        """A module path reached by an import or an attribute chain rooted at a module; True when
        it is banned."""
        parts = dotted.split(".")
        banned = rules.BANNED_IMPORTS if imported else rules.BANNED_ANYWHERE
        label = what or (f"import {dotted}" if imported else dotted)
        for i, part in enumerate(parts):
            if part in rules.BANNED_ANYWHERE or (i == 0 and part in banned):
                # An attribute chain is named up to the banned module, so that the chain's inner
                # attributes give the same finding instead of one each.
                inner = ".".join(parts[: i + 1])
                why = banned.get(part) or rules.BANNED_ANYWHERE[part]
                self.flag(node, what or (f"import {dotted}" if imported else inner), why)
                return True
        if "os" in parts[:-1] and parts[-1] in rules.OS_CALLS:
            why = "processes, signals and shells escape the evaluation"
        elif dotted in rules.LOADERS:
            why = "loading stored results is not computing them"
        elif parts[-1] in rules.SEEDERS and len(parts) > 1 and parts[0] in ("torch", "random", "numpy"):
            why = rules.SEED
        elif imported and dotted.startswith(rules.TORCH_INTERNALS):
            why = "evaluator internals are not a kernel's business"
        elif any(dotted == m or dotted.startswith(m + ".") for m in rules.TORCH_UNREAD):
            why = rules.UNREAD
        else:
            return False
        self.flag(node, label, why)
        return True

    def check_attr(self, node: ast.AST, attr: str, dotted: str | None, what: str | None = None) -> None:
        """An attribute name that is banned whoever owns it, or a precision switch."""
        if attr in rules.BANNED_ATTRS:
            self.flag(node, what or attr, rules.BANNED_ATTRS[attr])
        elif attr in rules.PRECISION_ATTRS and not self.allow_tf32:
            self.flag(node, what or (dotted or attr), rules.PRECISION_ATTRS[attr])

    # -- patching -------------------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.check_patch(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.check_patch(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.check_patch(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self.check_patch(target)
        self.generic_visit(node)

    def check_patch(self, target: ast.AST) -> None:
        """Assigning to an attribute of a module (torch.x = ..., time.perf_counter = ...) is patching."""
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self.check_patch(t)
            return
        if not isinstance(target, ast.Attribute):
            return
        dotted = _resolve(target, self.names)
        if dotted is None or dotted.startswith(rules.ALLOWED_SETTINGS):
            return
        if self.allow_tf32 and dotted.startswith(rules.TF32_SETTINGS) and target.attr in rules.PRECISION_ATTRS:
            return
        if target.attr in rules.PRECISION_ATTRS:
            return  # flagged with the precision reason by check_attr
        self.flag(target, f"assignment to {ast.unparse(target)}", f"patching a library ({dotted}) alters the reference and the evaluator")

    # -- native code ----------------------------------------------------------------------
    def native_text(self, tree: ast.Module) -> None:
        """Search string constants that are code (native sources), not docstrings, not comments.
        Concatenations of constants are searched whole, so a split name is still seen."""
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
                text: str | None = node.value.decode("latin-1")
            elif isinstance(node, (ast.Constant, ast.BinOp, ast.JoinedStr)):
                text = _constant_str(node)
            else:
                continue
            if not text:
                continue
            if "\n" in text:  # a native source: its comments are not code (a one-line path is kept whole)
                text = rules.NATIVE_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
            for pattern, why in rules.BANNED_TEXT:
                for m in pattern.finditer(text):
                    self.findings.append(Finding(node.lineno + text.count("\n", 0, m.start()), m.group(0).strip(), why))
