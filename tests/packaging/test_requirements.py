"""setup.py declares every third-party package lumbarseg imports, and caps the DICOM libraries
at versions the tests have run with."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions, version
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
# Installed by tools/install_detectron2.py (not on PyPI under its own name), see setup.py.
NOT_FROM_SETUP = {"detectron2", "lumbarseg"}


def _setup_literal(name: str):
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
        if isinstance(node, ast.keyword) and node.arg == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in setup.py")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in _setup_literal("INSTALL_REQUIRES")]
    return {_canonical(r.name): r for r in reqs}


def _imported_modules() -> set[str]:
    modules = set()
    for path in (ROOT / "lumbarseg").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names} - NOT_FROM_SETUP


def test_every_imported_package_is_required():
    declared = _requirements()
    distributions = packages_distributions()
    modules = _imported_modules()
    assert "yaml" in modules  # the check below sees real imports
    missing = {
        module: distributions.get(module)
        for module in modules
        if not any(_canonical(d) in declared for d in distributions.get(module, [module]))
    }
    assert not missing, f"imported but not in install_requires: {missing}"


def test_dicom_libraries_are_capped_at_tested_versions():
    declared = _requirements()
    for name in ("pydicom", "highdicom"):
        spec = declared[name].specifier
        assert any(s.operator in ("<", "<=", "~=", "==") for s in spec), f"{name} has no cap"
        assert spec.contains(version(name)), f"installed {name} {version(name)} outside {spec}"


def test_no_unused_extras():
    extras = _setup_literal("extras_require")
    assert "playwright" not in str(extras)  # the report's browser test uses system chromium
