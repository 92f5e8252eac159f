"""Python source surgery: keep a file's definitions, prefix its top-level names (so that several
files can share one module without collisions)."""

from __future__ import annotations

import ast

_INPUT_BUILDERS = ("get_inputs", "get_init_inputs")


def definitions(source: str) -> str:
    """Only the imports, classes, functions and assignments of a file (no script code, no input
    builders, no `if __name__ == "__main__":`)."""
    tree = ast.parse(source)
    keep = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign, ast.AnnAssign)
    tree.body = [n for n in tree.body if isinstance(n, keep)
                 and not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in _INPUT_BUILDERS)]
    return ast.unparse(tree)


def _bound_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names bound at top level by definitions and assignments, names bound by imports)."""
    defs, imports = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
            for t in ast.walk(node):
                if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store):
                    defs.add(t.id)
    return defs, imports


class _Rename(ast.NodeTransformer):
    def __init__(self, names: set[str], prefix: str) -> None:
        self.names, self.prefix = names, prefix

    def _new(self, name: str) -> str:
        return self.prefix + name if name in self.names else name

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._new(node.arg)
        self.generic_visit(node)
        return node

    def visit_FunctionDef(self, node):
        node.name = self._new(node.name)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        node.name = self._new(node.name)
        self.generic_visit(node)
        return node

    def visit_Global(self, node: ast.Global) -> ast.Global:
        node.names = [self._new(n) for n in node.names]
        return node


def prefixed(source: str, prefix: str, taken_imports: dict[str, str]) -> str:
    """`source` with its top-level definitions renamed `prefix + name` (imports renamed too when
    another part of the file imports something else under the same name)."""
    tree = ast.parse(source)
    tree.body = [n for n in tree.body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    defs, imported = _bound_names(tree)
    clash = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            text = ast.unparse(node)
            for a in node.names:
                name = (a.asname or a.name).split(".")[0]
                if taken_imports.setdefault(name, text) != text and "." not in a.name:
                    clash.add(name)
    for node in tree.body:  # a clashing import is bound under the prefixed name instead
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if (a.asname or a.name) in clash:
                    a.asname = prefix + (a.asname or a.name)
    tree = _Rename(defs | clash, prefix).visit(tree)
    return ast.unparse(tree)


