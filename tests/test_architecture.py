"""Which package may import which, and the one home of a basic (issue #11; docs/architecture.md).

Read from the source with the ast module, so a rule holds for every module, imported by a test
or not:
- the device (device/) and the backend (backend/) share nothing but the wire format: neither
  imports the other; the offline verifier (ritbox_verify/) imports neither, so that it runs
  with nothing of Ritbox installed but itself (the backend's `trips verify` uses its rules);
- the basics (errors, local time, numbers, database, configuration, request input) import nothing
  of the backend, and the audit log and the models only the database and the models at module
  level, so that every feature can use them (declare an audit kind, raise a UserError) without
  an import cycle;
- Dutch local time is declared once, in backend/local_time.py;
- docs/architecture.md names paths that exist (it is the map a newcomer follows).
"""
from __future__ import annotations

import ast
import re
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


BASICS = ("errors.py", "local_time.py", "numbers.py", "db.py", "config.py", "request_input.py")
# module -> the backend modules it may import at module level
LOWER_LAYERS = {"audit.py": ("backend.db", "backend.models"), "models": ("backend.db", "backend.models")}


def _module_level_backend_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] if node.module != "backend" else [f"backend.{a.name}" for a in node.names]
        else:
            continue
        yield from ((node.lineno, name) for name in names if name.split(".")[0] == "backend")


def test_the_basics_import_no_feature() -> None:
    """Every feature imports the basics; a basic that imported a feature would make a cycle."""
    broken = []
    for path, tree in _modules("backend"):
        relative = path.relative_to(ROOT / "backend")
        if relative.parts[0] in BASICS:
            allowed: tuple[str, ...] = ()
        elif relative.parts[0] in LOWER_LAYERS:
            allowed = LOWER_LAYERS[relative.parts[0]]
        else:
            continue
        broken += [f"backend/{relative}:{line} imports {name}" for line, name in _module_level_backend_imports(tree)
                   if not any(name == ok or name.startswith(ok + ".") for ok in allowed)]
    assert broken == []


def test_the_architecture_page_names_paths_that_exist() -> None:
    page = ROOT / "docs" / "architecture.md"
    text = page.read_text(encoding="utf-8")
    links = [(page.parent / target).resolve() for target in re.findall(r"\]\(([^)#\s]+)", text)
             if "://" not in target]
    named = [ROOT / name for name in re.findall(r"`((?:backend|device|tests|ritbox_verify|docs)/[^`:\s*<]+)", text)]
    missing = [str(path) for path in links + named if not path.exists()]
    assert len(links) >= 2 and len(named) >= 10 and missing == []
