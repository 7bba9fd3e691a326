"""The package's import graph: no cycles between modules, and none hidden in function-local imports."""

from __future__ import annotations

import ast
import pathlib

import distpos_abci

ROOT = pathlib.Path(distpos_abci.__file__).parent
# Imported inside one command only, to keep every other CLI start fast: third-party, never a cycle.
LAZY_THIRD_PARTY = {"uvicorn", "websockets.sync.client"}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, tuple[pathlib.Path, ast.Module]]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        if "gen" in path.relative_to(ROOT).parts:
            continue
        out[_module_name(path)] = (path, ast.parse(path.read_text(), str(path)))
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str, path: pathlib.Path, tree: ast.Module, known: set[str]):
    """(target module, line, at module level?) for every import of a distpos_abci module outside TYPE_CHECKING."""
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, top: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.ImportFrom):
                target = _resolve(module, is_package, child)
                names = [f"{target}.{a.name}" for a in child.names]
                for name in names:  # `from pkg import submodule` depends on the submodule
                    yield (name if name in known else target), child.lineno, top
            elif isinstance(child, ast.Import):
                for a in child.names:
                    yield a.name, child.lineno, top
            else:
                inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                yield from visit(child, inner)

    yield from visit(tree, True)


def test_no_function_local_imports_of_the_package():
    sources = _sources()
    local = []
    for module, (path, tree) in sources.items():
        for target, line, top in _imports(module, path, tree, set(sources)):
            if not top and target not in LAZY_THIRD_PARTY:
                local.append(f"{path.relative_to(ROOT.parent)}:{line} imports {target} inside a function")
    assert not local, "\n".join(local)


def test_module_import_graph_has_no_cycles():
    sources = _sources()
    known = set(sources)
    graph = {m: sorted({t for t, _, top in _imports(m, *sources[m], known) if top and t in known and t != m})
             for m in sources}
    # A package's __init__ re-exports its modules; a module importing a sibling through the package is an edge
    # to the package, which points back at every module: count only edges between distinct modules, and treat
    # `pkg -> pkg.sub` (re-exports) as part of the package rather than a dependency of it.
    def deps(m: str) -> list[str]:
        return [t for t in graph[m] if not t.startswith(m + ".")]

    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in deps(m):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                dfs(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles[:10])
