"""Which package may import which, and the one home of a basic (issue #11; docs/architecture.md).

Read from the source with the ast module, so a rule holds for every module, imported by a test
or not:
- the device (device/) and the backend (backend/) share nothing but the wire format: neither
  imports the other; the offline verifier (ritbox_verify/) imports neither, so that it runs
  with nothing of Ritbox installed but itself (the backend's `trips verify` uses its rules);
- Dutch local time is declared once, in backend/local_time.py.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("backend", "device", "ritbox_verify")
# package -> the top-level packages of this repository it must not import
FORBIDDEN = {"backend": {"device"}, "device": {"backend", "ritbox_verify"},
             "ritbox_verify": {"backend", "device"}}


def _modules(package: str) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every import, at module level or inside a function."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module.split(".")[0]


@pytest.mark.parametrize("package", PACKAGES)
def test_the_device_the_backend_and_the_verifier_import_none_of_each_other(package) -> None:
    broken = [f"{path.relative_to(ROOT)}:{line} imports {name}"
              for path, tree in _modules(package) for line, name in _imported(tree) if name in FORBIDDEN[package]]
    assert broken == []


def test_dutch_local_time_has_one_home() -> None:
    """ZoneInfo("Europe/Amsterdam") is built in backend/local_time.py only; every other module
    imports LOCAL (and the day helpers) from there."""
    home = ROOT / "backend" / "local_time.py"
    elsewhere = []
    for package in PACKAGES:
        for path, tree in _modules(package):
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "ZoneInfo" \
                        and path != home:
                    elsewhere.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert elsewhere == []
