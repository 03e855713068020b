"""The fleet: licence plates, vehicles, assignments, devices; CLI and admin pages."""
from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from backend.db import db
from backend.fleet import kenteken
from backend.models.fleet import Assignment, Device, EnrollmentToken, Vehicle


# ------------------------------------------------------------------------------ kenteken

@pytest.mark.parametrize("typed, stored, shown, code", [
    ("AB-12-34", "AB1234", "AB-12-34", 1),
    ("12-34-ab", "1234AB", "12-34-AB", 2),
    ("12AB34", "12AB34", "12-AB-34", 3),
    ("AB-12-CD", "AB12CD", "AB-12-CD", 4),
    ("AB-CD-12", "ABCD12", "AB-CD-12", 5),
    ("12-AB-CD", "12ABCD", "12-AB-CD", 6),
    ("12-ABC-3", "12ABC3", "12-ABC-3", 7),
    ("1-ABC-23", "1ABC23", "1-ABC-23", 8),
    ("AB-123-C", "AB123C", "AB-123-C", 9),
    ("a-123-bc", "A123BC", "A-123-BC", 10),
    ("ABC-12-D", "ABC12D", "ABC-12-D", 11),
    ("A-12-BCD", "A12BCD", "A-12-BCD", 12),
    ("1-AB-234", "1AB234", "1-AB-234", 13),
    ("123-AB-4", "123AB4", "123-AB-4", 14),
    (" gb xj 12 ", "GBXJ12", "GB-XJ-12", 5),
])
def test_every_sidecode_is_recognised_normalised_and_shown_with_its_dashes(typed, stored, shown, code):
    assert kenteken.normalise(typed) == stored
    assert kenteken.display(stored) == shown
    assert kenteken.sidecode(typed) == code


@pytest.mark.parametrize("bad", ["", "AB-12-3", "AB-12-345", "ABCDEF", "123456", "A1B2C3", "AB-12-C!", "ÄB-12-34",
                                 "1-2-ABC3"])
def test_plates_outside_the_sidecodes_are_refused(bad):
    with pytest.raises(kenteken.KentekenError):
        kenteken.normalise(bad)


# ------------------------------------------------------------------------------------ CLI

def _ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _fails(runner, *args) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_vehicles_cli_adds_lists_and_refuses_bad_or_duplicate_plates(app, runner):
    assert "added vehicle GB-XJ-12 (Volkswagen Golf)" in _ok(
        runner, "vehicles", "add", "--kenteken", "gbxj12", "--make", "Volkswagen", "--model", "Golf")
    _ok(runner, "vehicles", "add", "--kenteken", "12-ABC-3", "--make", "Kia", "--model", "Niro")
    assert "already exists" in _fails(runner, "vehicles", "add", "--kenteken", "GB-XJ-12", "--make", "X",
                                      "--model", "Y")
    assert "not a Dutch licence plate" in _fails(runner, "vehicles", "add", "--kenteken", "ABCDEF",
                                                 "--make", "X", "--model", "Y")
    listing = _ok(runner, "vehicles", "list").splitlines()
    assert listing == ["12-ABC-3\tKia\tNiro", "GB-XJ-12\tVolkswagen\tGolf"]
    with app.app_context():
        assert db.session.scalars(select(Vehicle.kenteken).order_by(Vehicle.kenteken)).all() == ["12ABC3", "GBXJ12"]


def test_assignments_refuse_two_drivers_on_one_car_on_the_same_day(app, runner, make_user):
    make_user("daan@example.nl", "driver")
    make_user("eva@example.nl", "driver")
    make_user("fin@example.nl", "finance")
    _ok(runner, "vehicles", "add", "--kenteken", "GB-XJ-12", "--make", "VW", "--model", "Golf")
    _ok(runner, "assignments", "add", "--driver", "daan@example.nl", "--kenteken", "GB-XJ-12",
        "--from", "2026-01-01", "--until", "2026-06-30")
    # The last day of the first period is shared: refused.
    assert "already assigned to daan@example.nl" in _fails(
        runner, "assignments", "add", "--driver", "eva@example.nl", "--kenteken", "GBXJ12", "--from", "2026-06-30")
    # An open-ended earlier period overlapping everything after it: refused.
    assert "already assigned" in _fails(
        runner, "assignments", "add", "--driver", "eva@example.nl", "--kenteken", "GBXJ12", "--from", "2025-01-01")
    _ok(runner, "assignments", "add", "--driver", "eva@example.nl", "--kenteken", "GBXJ12", "--from", "2026-07-01")
    assert "driver role" in _fails(runner, "assignments", "add", "--driver", "fin@example.nl", "--kenteken",
                                   "GBXJ12", "--from", "2030-01-01")
    assert "ends before it starts" in _fails(runner, "assignments", "add", "--driver", "daan@example.nl",
                                             "--kenteken", "GBXJ12", "--from", "2031-02-01", "--until", "2031-01-01")
    assert "expected a date" in _fails(runner, "assignments", "add", "--driver", "daan@example.nl",
                                       "--kenteken", "GBXJ12", "--from", "1-1-2031")
    assert "There is no user" in _fails(runner, "assignments", "add", "--driver", "nobody@example.nl",
                                        "--kenteken", "GBXJ12", "--from", "2031-01-01")
    with app.app_context():
        rows = db.session.scalars(select(Assignment).order_by(Assignment.available_from)).all()
        assert [(a.driver.email, str(a.available_from), a.available_until) for a in rows] == [
            ("daan@example.nl", "2026-01-01", __import__("datetime").date(2026, 6, 30)),
            ("eva@example.nl", "2026-07-01", None)]


def test_devices_enroll_prints_a_token_once_and_stores_only_its_digest(app, runner):
    _ok(runner, "vehicles", "add", "--kenteken", "GB-XJ-12", "--make", "VW", "--model", "Golf")
    output = _ok(runner, "devices", "enroll", "--vehicle", "gb-xj-12", "--url", "https://ritbox.example.nl")
    token = re.search(r"ritbox enroll https://ritbox.example.nl (\S+)", output).group(1)
    device_id = re.search(r"device (\S+) for GB-XJ-12 \(pending\)", output).group(1)
    with app.app_context():
        row = db.session.scalars(select(EnrollmentToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.device_id == device_id
        assert (row.expires_at - row.created_at).total_seconds() == pytest.approx(24 * 3600, abs=5)
    assert f"{device_id}\tGB-XJ-12\tpending" in _ok(runner, "devices", "list")
    assert token not in _ok(runner, "devices", "list")
    assert "There is no vehicle" in _fails(runner, "devices", "enroll", "--vehicle", "12-ABC-3")
    assert f"retired device {device_id}" in _ok(runner, "devices", "retire", device_id)
    assert "already retired" in _fails(runner, "devices", "retire", device_id)
    assert "There is no device" in _fails(runner, "devices", "retire", "no-such-device")
    assert "not pending" in _fails(runner, "devices", "token", device_id)


# ---------------------------------------------------------------------------------- pages

def test_fleet_pages_are_for_admins_only(app, client, make_user, login):
    make_user("daan@example.nl", "driver")
    login("daan@example.nl")
    for path in ("/admin/fleet/vehicles", "/admin/fleet/assignments", "/admin/fleet/devices"):
        assert client.get(path).status_code == 403
    assert client.post("/admin/fleet/vehicles", data={"kenteken": "GBXJ12", "make": "a", "model": "b"}).status_code == 403
    with app.app_context():
        assert db.session.scalars(select(Vehicle)).all() == []


def test_admin_adds_a_vehicle_assigns_it_and_enrolls_a_device_in_dutch(app, client, make_user, login):
    make_user("admin@example.nl", "admin")
    make_user("daan@example.nl", "driver", name="Daan")
    login("admin@example.nl")
    home = client.get("/").get_data(as_text=True)
    assert "/admin/fleet/vehicles" in home and "Wagenpark" in home

    bad = client.post("/admin/fleet/vehicles", data={"kenteken": "ABCDEF", "make": "VW", "model": "Golf"})
    assert bad.status_code == 400 and "is geen Nederlands kenteken" in bad.get_data(as_text=True)
    ok = client.post("/admin/fleet/vehicles", data={"kenteken": "gbxj12", "make": "VW", "model": "Golf"},
                     follow_redirects=True)
    assert ok.status_code == 200 and "GB-XJ-12" in ok.get_data(as_text=True)

    assigned = client.post("/admin/fleet/assignments", data={
        "driver": "daan@example.nl", "vehicle": "GBXJ12", "available_from": "2026-01-01"}, follow_redirects=True)
    assert "toegewezen aan Daan" in assigned.get_data(as_text=True)
    overlap = client.post("/admin/fleet/assignments", data={
        "driver": "daan@example.nl", "vehicle": "GBXJ12", "available_from": "2026-03-01"})
    assert overlap.status_code == 400 and "is al toegewezen" in overlap.get_data(as_text=True)

    enrolled = client.post("/admin/fleet/devices", data={"vehicle": "GBXJ12"})
    assert enrolled.headers["Cache-Control"] == "no-store"
    page = enrolled.get_data(as_text=True)
    token = re.search(r'data-testid="enroll-token">([^<]+)<', page).group(1)
    assert f"ritbox enroll http://localhost {token}" in page
    with app.app_context():
        assert db.session.scalars(select(EnrollmentToken.token_hash)).one() == hashlib.sha256(token.encode()).hexdigest()
        device = db.session.scalars(select(Device)).one()
    # Shown once: the list page afterwards does not repeat it.
    assert token not in client.get("/admin/fleet/devices").get_data(as_text=True)

    retired = client.post(f"/admin/fleet/devices/{device.id}/retire", data={"confirm": "1"}, follow_redirects=True)
    assert "buiten gebruik gesteld" in retired.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Device, device.id).status == "retired"


# ------------------------------------------------------------------------- a real browser

@pytest.mark.browser
def test_admin_enrolls_a_device_in_the_browser_and_the_token_works_once(app, live_server, page, make_user, tmp_path,
                                                                        artifacts_dir, database_url):
    from device import enroll as device_enroll

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    make_user("admin@example.nl", "admin")
    page.goto(f"{live_server}/login")
    page.get_by_label("E-mailadres").fill("admin@example.nl")
    page.get_by_label("Wachtwoord").fill("correct horse battery")
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_role("link", name="Wagenpark").click()
    page.get_by_label("Kenteken").fill("gb-xj-12")
    page.get_by_label("Merk").fill("Volkswagen")
    page.get_by_label("Type").fill("Golf")
    page.get_by_role("button", name="Auto toevoegen").click()
    page.get_by_role("cell", name="GB-XJ-12", exact=True).wait_for()

    page.get_by_role("link", name="Kastjes").click()
    page.get_by_label("Auto").select_option("GBXJ12")
    page.get_by_role("button", name="Kastje aanmelden").click()
    token = page.get_by_test_id("enroll-token").inner_text().strip()
    assert page.get_by_test_id("enroll-command").inner_text() == f"ritbox enroll {live_server} {token}"
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / "fleet-devices-token.png"), full_page=True)
    page.goto(f"{live_server}/admin/fleet/devices")
    assert token not in page.content()
    assert page.get_by_role("cell", name="wacht op aanmelding").is_visible()

    result = device_enroll.enroll(live_server, token, tmp_path / "state")
    page.reload()
    page.get_by_role("cell", name="actief").wait_for()
    # The row's action sits inside its cell: the cell is as high as its row's other cells.
    cells = page.locator(f'tr[data-device="{result.device_id}"] td')
    heights = {round(cells.nth(i).bounding_box()["height"]) for i in range(cells.count())}
    assert len(heights) == 1, heights
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / "fleet-devices-list.png"), full_page=True)
    with pytest.raises(device_enroll.EnrollError):
        device_enroll.enroll(live_server, token, tmp_path / "state2")
    with app.app_context():
        assert db.session.get(Device, result.device_id).status == "active"
