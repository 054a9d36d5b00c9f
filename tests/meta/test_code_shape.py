"""Code-shape rules of the project that a reviewer would otherwise check by eye."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lumbarseg"
MAX_FUNCTION_LINES = 80


def long_functions(root: Path = PACKAGE, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``path:line name (n lines)`` of every function or method longer than ``limit`` lines,
    decorators and docstring included."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                length = node.end_lineno - first + 1
                if length > limit:
                    found.append(f"{path.relative_to(root.parent)}:{first} {node.name} ({length})")
    return found


def own_import_guards(root: Path = PACKAGE) -> list[str]:
    """``try: import lumbarseg...`` guards: the package's own modules are always there."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Try):
                continue
            for stmt in node.body:
                names = [a.name for a in getattr(stmt, "names", [])]
                module = getattr(stmt, "module", None) or ""
                if isinstance(stmt, (ast.Import, ast.ImportFrom)) and (
                    module.startswith("lumbarseg") or any(n.startswith("lumbarseg") for n in names)
                ):
                    found.append(f"{path.relative_to(root.parent)}:{stmt.lineno}")
    return found


def test_no_function_longer_than_80_lines():
    assert long_functions() == []


def test_no_import_guards_around_own_modules():
    assert own_import_guards() == []


def test_the_checks_find_what_they_look_for(tmp_path):
    package = tmp_path / "lumbarseg"
    package.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    (package / "m.py").write_text(
        f"def long():\n{body}\n\n\ndef short():\n    return 1\n\n\n"
        "try:\n    from lumbarseg.postprocess import api\nexcept ImportError:\n    api = None\n"
    )
    assert long_functions(package) == ["lumbarseg/m.py:1 long (81)"]
    assert long_functions(package, limit=81) == []
    assert own_import_guards(package) == ["lumbarseg/m.py:89"]
