"""The closed record's parts have one home: device/record.py (issue 11; a gap's JSON was
copied in device/cli.py and device/store.py, the body built inside the store)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Members that together make a dict one of the record's parts.
RECORD_PARTS = {
    "gap": {"started_at", "ended_at", "distance_km", "bridged"},
    "body": {"v", "trip_id", "seq", "prev_hash", "odometer_end_km", "track"},
}


def homes_of_record_parts(package: Path) -> dict[str, list[str]]:
    """For each part, the modules under `package` with a dict literal holding all its members."""
    homes: dict[str, list[str]] = {part: [] for part in RECORD_PARTS}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
                for part, members in RECORD_PARTS.items():
                    if members <= keys:
                        homes[part].append(path.relative_to(package.parent).as_posix())
    return homes


def test_the_record_body_and_the_gap_json_are_built_in_device_record_only() -> None:
    assert homes_of_record_parts(ROOT / "device") == {"gap": ["device/record.py"], "body": ["device/record.py"]}
