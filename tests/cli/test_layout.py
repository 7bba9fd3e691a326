"""One place (cli/main.py) maps the module namespaces; command files import only the shared helper modules,
never one another, so no import cycle can form between them."""

from __future__ import annotations

import ast
import pathlib

CLI = pathlib.Path(__file__).parents[2] / "distpos_abci" / "cli"
HELPERS = {"client", "common", "output", "clientconfig", "underwriting_client", "instant_client", "lightproof"}


def _relative_imports(path: pathlib.Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out |= {node.module} if node.module else {a.name for a in node.names}
    return out


def test_command_files_import_only_helpers():
    for path in CLI.glob("*.py"):
        if path.stem in ("main", "__init__"):
            continue
        imported = _relative_imports(path)
        assert imported <= HELPERS, f"{path.name} imports {sorted(imported - HELPERS)}"


def test_helpers_import_no_command_file():
    for name in HELPERS:
        assert _relative_imports(CLI / f"{name}.py") <= HELPERS


def test_no_function_local_imports_of_command_files():
    for path in CLI.glob("*.py"):
        for fn in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)):
            for node in ast.walk(fn):
                assert not (isinstance(node, ast.ImportFrom) and node.level == 1), f"{path.name}:{node.lineno}"
