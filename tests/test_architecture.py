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
- docs/architecture.md names paths that exist (it is the map a newcomer follows);
- the door (backend/access/door/) and the writer (backend/ingest/) import only what their job
  needs of the backend, and nothing outside the door uses more of it than its public API.
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


# --- the door has one public API ------------------------------------------------------------
# Outside backend/access/door/, the door is `backend.access.door` and the names in its __all__:
# no submodule of it is imported or named, no private (or unlisted) name of it is touched.
DOOR = "backend.access.door"
DOOR_HOME = ROOT / "backend" / "access" / "door"
DOOR_CLIENTS = ("backend", "tests", "benchmarks")


def _door_public() -> frozenset[str]:
    from backend.access import door

    return frozenset(door.__all__)


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def door_violations(tree: ast.Module, public: frozenset[str]) -> list[tuple[int, str]]:
    """(line, what) of every use of the door other than its public API."""
    found: list[tuple[int, str]] = []
    aliases = set()  # local names bound to the door package itself
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == DOOR:
                found += [(node.lineno, f"imports {a.name} from {DOOR}, not in its __all__")
                          for a in node.names if a.name not in public]
            elif node.module.startswith(DOOR + "."):
                found.append((node.lineno, f"imports from the door's submodule {node.module}"))
            elif node.module == "backend.access":
                aliases |= {a.asname or a.name for a in node.names if a.name == "door"}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(DOOR + "."):
                    found.append((node.lineno, f"imports the door's submodule {alias.name}"))
                elif alias.name == DOOR and alias.asname:
                    aliases.add(alias.asname)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "ctx", None), ast.Del):
            dotted = _dotted(node)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            if head in aliases and node.value is not None and _dotted(node.value) == head:
                name = node.attr
            elif dotted.startswith(DOOR + ".") and _dotted(node.value) == DOOR:
                name = node.attr
            else:
                continue
            if name not in public and not (name.startswith("__") and name.endswith("__")):
                found.append((node.lineno, f"uses door.{name}, not in its __all__"))
        elif isinstance(node, ast.Call):
            # getattr(door, "_x"), importlib.import_module("backend.access.door.views"),
            # monkeypatch.setattr("backend.access.door._decide", ...)
            args = list(node.args)
            if (isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
                    and len(args) > 1 and isinstance(args[0], ast.Name) and args[0].id in aliases
                    and isinstance(args[1], ast.Constant) and args[1].value not in public):
                found.append((node.lineno, f"{node.func.id} on door with {args[1].value!r}"))
            for arg in args + [k.value for k in node.keywords]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                        and arg.value.startswith(DOOR + ".") and arg.value[len(DOOR) + 1:].split(".")[0] not in public:
                    found.append((node.lineno, f"names {arg.value} in a call"))
    return found


def _door_clients() -> Iterator[tuple[Path, ast.Module]]:
    for package in DOOR_CLIENTS:
        for path, tree in _modules(package):
            if DOOR_HOME not in path.parents:
                yield path, tree


def test_nothing_outside_the_door_touches_more_than_its_public_api() -> None:
    public = _door_public()
    assert {"trips_for_driver", "tax_report_rows", "AccessDenied"} <= public
    broken = [f"{path.relative_to(ROOT)}:{line}: {what}"
              for path, tree in _door_clients() for line, what in door_violations(tree, public)]
    assert broken == []


def test_every_name_in_the_doors_api_exists_and_is_public() -> None:
    from backend.access import door

    assert [name for name in door.__all__ if name.startswith("_") or not hasattr(door, name)] == []


DOOR_PLANTED = {
    "from backend.access.door import _decide\n": 1,
    "from backend.access.door.decide import decide\n": 1,
    "from backend.access.door import reads\n": 1,
    "import backend.access.door.views as v\n": 1,
    "from backend.access import door\nx = door._query\n": 1,
    "from backend.access import door as d\nd._views(1)\n": 1,
    "from backend.access import door\nfrom_views = door.views.trip_views\n": 1,
    "import backend.access.door\nbackend.access.door._Access\n": 1,
    "from backend.access import door\ngetattr(door, '_audit_read')\n": 1,
    "import importlib\nimportlib.import_module('backend.access.door.seals')\n": 1,
    "monkeypatch.setattr('backend.access.door._decide', None)\n": 1,
    # the public API is fine
    "from backend.access import door\nfrom backend.access.door import AccessDenied\ndoor.trip(a, 1)\n": 0,
    "from backend.access import door\nassert door.__all__\n": 0,
    "door = object()\n": 0,
}


@pytest.mark.parametrize("source", DOOR_PLANTED)
def test_the_door_api_check_catches_planted_violations(source) -> None:
    public = _door_public()
    assert len(door_violations(ast.parse(source), public)) == DOOR_PLANTED[source], source


# --- what the door and the writer may import of the backend ---------------------------------
# backend module -> the backend packages/modules (first part below backend.) it may import.
MAY_IMPORT = {
    # The door: the tables, the session, the audit log, the sealing keys, Dutch local time, the
    # purposes, and (of backend.governance) the agreement in force and the grants it decides by. One feature module:
    # backend.periods.service, for the home counts that leave out trips in closed months (the
    # closing rule is the periods feature's own; periods imports nothing of the door).
    "backend/access/door": {"access", "governance", "models", "db", "audit", "local_time", "sealing_keys",
                            "periods"},
    # The writer: the tables and the session, Dutch local time for a trip's local day, and the
    # audit log for a record sent again with other content (its kind declared there).
    "backend/ingest": {"ingest", "models", "db", "local_time", "audit"},
}
# Of backend.access and backend.governance, the door imports only these.
DOOR_MAY_IMPORT_NAMES = {"backend.access.door", "backend.access.purposes", "backend.governance.agreements",
                         "backend.governance.grants"}


def _backend_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import of a backend module or of a name from one."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("backend."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "backend":
                for alias in node.names:
                    yield node.lineno, f"backend.{alias.name}"
            elif node.module.startswith("backend."):  # the names too: `from backend.access import grants`
                for alias in node.names:
                    yield node.lineno, f"{node.module}.{alias.name}"


@pytest.mark.parametrize("home", sorted(MAY_IMPORT))
def test_the_door_and_the_writer_import_only_what_their_job_needs(home) -> None:
    allowed = MAY_IMPORT[home]
    broken = []
    for path in sorted((ROOT / home).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _backend_imports(tree):
            first = module.split(".")[1]
            if first not in allowed or (first in ("access", "governance") and home == "backend/access/door" and not any(
                    module == ok or module.startswith(ok + ".") for ok in DOOR_MAY_IMPORT_NAMES)):
                broken.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert broken == []
