"""No module outside the door touches the trip tables, nor the personal data typed about trips
(trip_revisions: classes, addresses and notes drivers type; odometer_corrections: per trip the
share of a calibration).

Every backend module is parsed (ast) and refused when it imports the trip models, names them
through an attribute, imports their module by name, subscripts a table by name, carries SQL
text that reads one of the trip tables, or passes a guarded table's or model's name as a string
to any call (sqlalchemy's table()/Table(), metadata.tables.get(), getattr(), import_module(),
__import__(), ...): whatever resolves a name at run time is refused by the one simple rule.
Only the allow-list may: the door package, the models themselves, and ingest's writer
bookkeeping. A self-test plants violations in a temporary package and checks that each one is
caught.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from backend.models.trips import TRIP_TABLES

BACKEND = Path(__file__).resolve().parents[2] / "backend"
ALLOWED = (
    "access/door/",  # the door: every read of trip data
    "models/",  # the tables themselves
    "ingest/",  # the writer: stores what the devices signed
    "access/retention.py",  # the eraser: deletes trip data past its retention (reads ids, dates, modes)
)
TRIP_MODULE = "backend.models.trips"
# DeviceChainHead (a device's newest seq and hash, no personal data) is ingest bookkeeping that
# enrollment may create; it is not trip data.
TRIP_NAMES = {"Trip", "TripTrack", "ChainEvent", "TripRevision", "OdometerCorrection"}
TABLES = set(TRIP_TABLES) | {"trip_revisions", "odometer_corrections"}
GUARDED_STRINGS = TABLES | TRIP_NAMES
# Writers outside the door: they may import a guarded model to construct new rows (a call of the
# model) and name it in type annotations, and nothing else - selecting or filtering on it, even
# in these modules, is a read and belongs in the door.
WRITERS = {
    "trips/revisions.py": {"TripRevision"},  # revise(): appends the revisions people type
    "odometer/service.py": {"OdometerCorrection"},  # calibrate(): books a reading's corrections
}
# Translated texts name things for people, never a table to resolve.
TRANSLATION_CALLS = {"_", "_l", "N_", "gettext", "lazy_gettext", "ngettext"}
# Reviewed strings that name no table: (module, string) -> why.
NOT_A_TABLE = {
    ("api/schema.py", "trips"): "the upload body's JSON key",
    ("access/trips_cli.py", "trips"): "the name of the `flask trips` command group",
}
SQL = re.compile(r"\b(from|join|into|update|table|truncate)\s+[\"`]?(" + "|".join(sorted(TABLES)) + r")\b",
                 re.IGNORECASE)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    what: str


def _allowed(relative: str) -> bool:
    return any(relative == entry or (entry.endswith("/") and relative.startswith(entry)) for entry in ALLOWED)


def _names_guarded(value: str) -> bool:
    """A guarded table or model named by a string, also as the last part of a dotted or
    relative name ('.trips', 'backend.models.trips')."""
    value = value.lstrip(".")
    return value in GUARDED_STRINGS or (value.startswith("backend.models.")
                                        and value.rsplit(".", 1)[-1] in GUARDED_STRINGS)


def _string_arguments(call: ast.Call):
    """The string constants a call is given: positional (also inside a list, tuple or set, or
    starred) and keyword arguments."""
    pending = list(call.args) + [keyword.value for keyword in call.keywords]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Starred):
            pending.append(node.value)
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            pending.extend(node.elts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node


def _constructing_or_annotating(tree: ast.AST) -> set[int]:
    """ids of the name nodes that construct a row (the called function) or sit in an annotation."""
    ok: set[int] = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.Call):
            ok.add(id(node.func))
        elif isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        for annotation in annotations:
            ok.update(id(inner) for inner in ast.walk(annotation))
    return ok


def scan_source(source: str, relative: str) -> list[Violation]:
    found = []
    tree = ast.parse(source, filename=relative)
    writes = WRITERS.get(relative, set())
    writer_uses = _constructing_or_annotating(tree) if writes else set()
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("backend.models") \
                and node.module != TRIP_MODULE and {a.name for a in node.names} & (TRIP_NAMES - writes):
            what = f"imports {', '.join(sorted({a.name for a in node.names} & TRIP_NAMES))} from {node.module}"
        elif isinstance(node, ast.Name) and node.id in writes and id(node) not in writer_uses:
            what = f"reads {node.id}: a writer may only construct its rows"
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {alias.name for alias in node.names}
            if (node.module == TRIP_MODULE or node.module.startswith(TRIP_MODULE + ".")) \
                    and names - {"DeviceChainHead", "GENESIS_HASH", "TripMode", "IngestFlag", "TRIP_TABLES"}:
                what = f"imports {', '.join(sorted(names))} from {node.module}"
            elif node.module in ("backend.models", "backend") and names & (TRIP_NAMES | {"trips"}):
                what = f"imports {', '.join(sorted(names & (TRIP_NAMES | {'trips'})))} from {node.module}"
        elif isinstance(node, ast.Import):
            if any(alias.name == TRIP_MODULE or alias.name.startswith(TRIP_MODULE + ".") for alias in node.names):
                what = f"imports {TRIP_MODULE}"
        elif isinstance(node, ast.Attribute) and node.attr in TRIP_NAMES:
            what = f"uses .{node.attr}"
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and node.slice.value in TABLES and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "tables":  # metadata.tables["trips"]; not body["trips"]
            what = f"subscripts the table {node.slice.value!r}"
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) not in TRANSLATION_CALLS:
            named = [arg.value for arg in _string_arguments(node)
                     if _names_guarded(arg.value) and (relative, arg.value) not in NOT_A_TABLE]
            if named:
                what = f"names {named[0]!r} in a call"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if TRIP_MODULE in node.value:
                what = f"names the module {TRIP_MODULE} in a string"
            elif SQL.search(node.value):
                what = f"SQL text on the table {SQL.search(node.value).group(2)}"
        if what:
            found.append(Violation(relative, getattr(node, "lineno", 0), what))
    return found


def scan(root: Path) -> list[Violation]:
    violations = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if not _allowed(relative):
            violations.extend(scan_source(path.read_text(encoding="utf-8"), relative))
    return violations


def test_no_module_outside_the_door_touches_the_trip_tables() -> None:
    assert sorted(BACKEND.rglob("*.py")), "no backend modules found: the scan would prove nothing"
    violations = scan(BACKEND)
    assert violations == [], "\n".join(f"backend/{v.path}:{v.line}: {v.what} - read trips through "
                                       "backend.access.door instead" for v in violations)


def test_the_allow_list_names_files_that_exist() -> None:
    for entry in ALLOWED:
        assert (BACKEND / entry).exists(), f"allow-list entry backend/{entry} does not exist"


PLANTED = {
    "reports/sneaky.py": "from backend.models.trips import Trip\n",
    "web/also.py": "from backend.models import TripTrack\n",
    "api/mod.py": "import backend.models.trips as t\n",
    "api/attr.py": "from backend import models\nrows = models.trips.Trip\n",
    "cli2.py": "from sqlalchemy import text\nSQL = text('SELECT * FROM trips WHERE driver_id = 3')\n",
    "x/join.py": "q = 'select 1 from users u join trip_tracks t on t.trip_id = u.id'\n",
    "x/table.py": "from backend.db import db\ntable = db.metadata.tables['chain_events']\n",
    "x/dyn.py": "import importlib\nm = importlib.import_module('backend.models.trips')\n",
    "access/door/views.py": "from backend.models.trips import Trip\n",  # allowed: the door itself
    "access/grants.py": "from backend.models.trips import Trip\n",  # not allowed: the door's package only
    "ingest/records.py": "from backend.models.trips import Trip\n",  # allowed: the writer
    "trips/views.py": "from backend.models.trips import Trip\n",  # not allowed: trips/ reads through the door
    "web/innocent.py": "bp_name = 'trips'\nTITLE = 'My trips from last week'\nn = len(body['trips'])\n",
    "api/head.py": "from backend.models.trips import DeviceChainHead, TripMode\n",  # bookkeeping: allowed
    "api/mixed.py": "from backend.models.trips import DeviceChainHead, Trip\n",
    # Naming a table or a model by a string, passed to whatever resolves it:
    "x/sa_table.py": "from sqlalchemy import table, column\nt = table('trips', column('id'))\n",
    "x/sa_Table.py": "from sqlalchemy import Table\nt = Table('trip_tracks', metadata, autoload_with=engine)\n",
    "x/tables_get.py": "from backend.db import db\nt = db.metadata.tables.get('chain_events')\n",
    "x/getattr_models.py": "from backend import models\nT = getattr(models.trips, 'Trip')\n",
    "x/getattr_any.py": "def model(x):\n    return getattr(x, \"ChainEvent\")\n",
    "x/import_module.py": "import importlib\nm = importlib.import_module('.trips', 'backend.models')\n",
    "x/dunder_import.py": "m = __import__('backend.models', fromlist=['trips'])\n",
    "x/gettext.py": "from flask_babel import lazy_gettext as _l\nLABEL = _l('Trip')\nflask_cli('trip_tracks')\n",
    "api/schema.py": "key = body.get('trips')\nbad = body.get('chain_events')\n",  # only 'trips' is reviewed there
    "x/url.py": "url_for('driver.trips')\n",  # an endpoint, not a table
    "x/revisions.py": "from backend.models.revisions import RevisionField, TripRevision\n",
    "x/odometer.py": "from backend.models.odometer import OdometerCalibration, OdometerCorrection\n",
    "x/rev_sql.py": "q = 'SELECT new_value FROM trip_revisions WHERE trip_id = 1'\n",
    "x/rev_table.py": "from sqlalchemy import table\nt = table('odometer_corrections')\n",
    "x/enum_ok.py": "from backend.models.revisions import RevisionField, TripClass\n",  # enums: allowed
    # The revision writer constructs rows; selecting them there is a read.
    "trips/revisions.py": "from backend.models.revisions import TripRevision\n"
                          "def revise(x) -> list[TripRevision]:\n    row: TripRevision = TripRevision(trip_id=1)\n"
                          "    return [row]\n",
    "odometer/service.py": "from backend.models.odometer import OdometerCorrection\n"
                           "def totals(select):\n    return select(OdometerCorrection.trip_id)\n",
    "x/in_list.py": "from backend.db import db\nts = [db.metadata.tables[n] for n in ('trips',)]\nf(*['trip_tracks'])\n",
}


def test_the_checker_catches_planted_violations(tmp_path: Path) -> None:
    for relative, source in PLANTED.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    caught = {v.path for v in scan(tmp_path)}
    assert caught == {"reports/sneaky.py", "web/also.py", "api/mod.py", "api/attr.py", "cli2.py",
                      "x/join.py", "x/table.py", "x/dyn.py", "trips/views.py", "api/mixed.py",
                      "x/sa_table.py", "x/sa_Table.py", "x/tables_get.py", "x/getattr_models.py",
                      "x/getattr_any.py", "x/import_module.py", "x/dunder_import.py", "x/in_list.py",
                      "access/grants.py", "x/gettext.py", "api/schema.py", "x/revisions.py", "x/odometer.py",
                      "x/rev_sql.py", "x/rev_table.py", "odometer/service.py"}
