"""The inspector package (issue #14, item 5; docs/inspector-package.md) and its offline verifier.

The package is made by the real backend from trips uploaded the real way (both databases); the
verifier runs as its own process (`python -m ritbox_verify`), with no database and no server.
A flipped byte in any member, a dropped trip, a changed odometer, a lost original revision: each
makes it fail and name what is wrong, also when the forger re-signs the manifest with the
backend's own key.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.backend import report_fixtures as rf

REPO = Path(__file__).resolve().parents[2]


def _plan(year: int, *, jump: bool = False) -> list[rf.Planned]:
    plan = rf.standard_plan(year)  # a private trip every third, a declared chain gap at plan[9]
    if not jump:
        plan[4] = rf.Planned(plan[4].day, plan[4].km)  # no km driven without the device
    return plan


@pytest.fixture
def fleet(app, client, make_user, tmp_path):
    made = rf.fleet(app, client, make_user, tmp_path, plan=_plan(2025))
    from backend.models.accounts import User
    from backend.trips import revisions
    with app.app_context():
        from backend.db import db
        finance = db.session.get(User, made.finance)
        trip_ids = _trip_ids(app)
        revisions.revise(finance, [trip_ids[0]], {"classification": "commute"}, reason="woon-werk volgens rooster")
        revisions.revise(finance, [trip_ids[0]], {"classification": "business"}, reason="toch klantbezoek")
    return made


def _trip_ids(app) -> list[int]:
    from backend.access import door
    return [row.id for row in door.stored_records()]


def _package(app, runner, tmp_path, **subject) -> Path:
    out = tmp_path / "package.zip"
    args = ["inspector-package", "--year", "2025", "--out", str(out), "--as", rf.FINANCE_EMAIL]
    args += ["--vehicle", subject.get("vehicle", rf.KENTEKEN)] if "driver" not in subject else ["--driver",
                                                                                                 subject["driver"]]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return out


def _verify(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ritbox_verify", str(path)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _resign(app, path: Path, change) -> Path:
    """A forger with the backend's own key: change members, then sign a fresh manifest."""
    from backend.access.inspector_package import MANIFEST, sign_manifest
    from backend.db import utcnow

    members = _members(path)
    subject = json.loads(members.pop(MANIFEST))["manifest"]["subject"]
    change(members)
    with app.app_context():
        members[MANIFEST] = sign_manifest(members, subject, utcnow())
    return _write(path.with_name("forged.zip"), members)


def _records(members: dict[str, bytes]) -> dict:
    return json.loads(members["device-records.json"])


def test_a_package_verifies_offline(app, runner, fleet, tmp_path):
    path = _package(app, runner, tmp_path)
    members = _members(path)
    assert set(members) == {"manifest.json", "report.xml", "report.pdf", "device-records.json", "revisions.json",
                            "calibrations.json", "chain-events.json", "checkpoint.json"}
    assert not any(marker.encode() in data for marker in rf.PRIVATE_MARKERS for data in members.values())
    (device,) = _records(members)["devices"]
    assert len(device["records"]) == 36 and all(r["signature"] for r in device["records"])
    assert json.loads(members["chain-events.json"])["chain_events"][0]["kind"] == "chain_gap"
    assert len(json.loads(members["revisions.json"])["revisions"]) == 2
    result = _verify(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NL: GOED" in result.stdout and "EN: OK" in result.stdout and "36 trip records of 1 device" in result.stdout


@pytest.mark.parametrize("member", ["manifest.json", "report.xml", "report.pdf", "device-records.json",
                                    "revisions.json", "calibrations.json", "chain-events.json", "checkpoint.json"])
def test_one_flipped_byte_in_any_member_is_named(app, runner, fleet, tmp_path, member):
    path = _package(app, runner, tmp_path)
    members = _members(path)
    data = bytearray(members[member])
    middle = len(data) // 2
    data[middle] ^= 0x01
    members[member] = bytes(data)
    result = _verify(_write(tmp_path / "flipped.zip", members))
    assert result.returncode == 1, result.stdout
    assert f"EN: FAILED - {member}:" in result.stdout
    assert "NL: AFGEKEURD" in result.stdout


def test_a_dropped_trip_is_named_even_when_re_signed(app, runner, fleet, tmp_path):
    path = _package(app, runner, tmp_path)

    def drop(members):
        records = _records(members)
        del records["devices"][0]["records"][5]  # seq 6
        members["device-records.json"] = json.dumps(records).encode()

    result = _verify(_resign(app, path, drop))
    assert result.returncode == 1
    assert "EN: FAILED - record seq 7 of device" in result.stdout
    assert "the trips before it (seq 6) are missing and no gap is declared" in result.stdout


def test_a_changed_odometer_is_named_even_when_re_signed(app, runner, fleet, tmp_path):
    path = _package(app, runner, tmp_path)

    def change(members):
        records = _records(members)
        record = records["devices"][0]["records"][3]
        body = json.loads(record["body"])
        body["odometer_end_km"] = round(body["odometer_end_km"] - 10, 3)
        record["body"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
        members["device-records.json"] = json.dumps(records).encode()

    result = _verify(_resign(app, path, change))
    assert result.returncode == 1
    assert "EN: FAILED - record seq 4 of device" in result.stdout
    assert "the body is not what the device hashed" in result.stdout


def test_km_driven_without_the_device_needs_a_declared_correction(app, client, make_user, runner, tmp_path):
    rf.fleet(app, client, make_user, tmp_path, plan=_plan(2025, jump=True))
    result = _verify(_package(app, runner, tmp_path))
    assert result.returncode == 1
    assert "EN: FAILED - record seq 5 of device" in result.stdout
    assert "no correction is declared" in result.stdout


def test_a_revision_whose_original_is_gone_is_named(app, runner, fleet, tmp_path):
    path = _package(app, runner, tmp_path)

    def lose(members):
        revisions = json.loads(members["revisions.json"])
        first = revisions["revisions"].pop(0)
        members["revisions.json"] = json.dumps(revisions).encode()
        lose.first = first["id"]

    result = _verify(_resign(app, path, lose))
    assert result.returncode == 1
    assert f"the revision it replaces ({lose.first}) is missing: the original is lost" in result.stdout


def test_finance_downloads_the_package_from_the_reports_page(app, client, login, fleet, tmp_path):
    from backend.fleet import service
    with app.app_context():
        vehicle_id = service.find_vehicle(rf.KENTEKEN).id
    login(rf.FINANCE_EMAIL)
    page = client.get("/finance/reports")
    assert b'data-testid="inspector-package"' in page.data
    response = client.post("/finance/reports", data={"subject": f"vehicle:{vehicle_id}", "year": 2025,
                                                     "format": "pdf", "package": "1"})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == "attachment; filename=inspectiepakket-2025-auto-GB-XJ-12.zip"
    result = _verify(_write(tmp_path / "download.zip", _members_of(response.data)))
    assert result.returncode == 0, result.stdout


def _members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_drivers_package_withholds_other_drivers_trips_and_verifies(app, client, make_user, runner, tmp_path):
    """Two drivers share the car in turns: the driver's package shows only seq, hashes and the
    device's signature of the other's trip between theirs, and the chain still verifies."""
    from datetime import date

    from backend.fleet import service

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    rf.people(make_user)
    device = rf.enrolled_device(app, client, kenteken=rf.KENTEKEN, driver_email=rf.DRIVER_EMAIL,
                                assigned_from="2025-01-01")
    with app.app_context():
        (first,) = service.list_assignments()
        service.change_assignment(first.id, available_until=date(2025, 2, 28))
        service.create_assignment("eva@example.nl", rf.KENTEKEN, date(2025, 3, 1), date(2025, 3, 31))
        service.create_assignment(rf.DRIVER_EMAIL, rf.KENTEKEN, date(2025, 4, 1))
    plan = _plan(2025)[:6] + [rf.Planned(date(2025, 3, 5), 5.0), rf.Planned(date(2025, 4, 7), 9.0)]
    rf.upload(app, client, device, plan)
    path = _package(app, runner, tmp_path, driver=rf.DRIVER_EMAIL)
    members = _members(path)
    (records,) = [d["records"] for d in _records(members)["devices"]]
    assert [r["withheld"] for r in records] == [None] * 6 + ["other_driver", None]
    assert records[6]["body"] is None and records[6]["signature"]
    result = _verify(path)
    assert result.returncode == 0, result.stdout
    assert "8 trip records of 1 device" in result.stdout


def test_the_verifier_needs_nothing_of_the_backend():
    code = ("import sys, ritbox_verify.package, ritbox_verify.__main__; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'backend', 'device'));"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
