"""The fleet's lifecycle: ending, changing and deleting assignments, editing and retiring
vehicles; with trips ingested the real way, so attribution and its protection are checked."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from backend.db import db
from backend.models.audit import AuditEvent
from backend.models.fleet import Assignment, Device, Vehicle
from backend.models.trips import Trip
from tests.backend.fleet_helpers import enrolled_device, make_chain
from tests.backend.test_fleet import _fails, _ok
from tests.backend.trip_factory import TripFactory, TripSpec


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def _periods(app, kenteken: str = "GBXJ12") -> list[tuple[str, str, str | None]]:
    with app.app_context():
        rows = db.session.scalars(select(Assignment).join(Vehicle).where(Vehicle.kenteken == kenteken)
                                  .order_by(Assignment.available_from)).all()
        return [(a.driver.email, a.available_from.isoformat(),
                 a.available_until.isoformat() if a.available_until else None) for a in rows]


def _assignment_id(app, email: str, kenteken: str = "GBXJ12", available_from: str | None = None) -> int:
    with app.app_context():
        rows = db.session.scalars(select(Assignment).join(Vehicle).where(Vehicle.kenteken == kenteken)).all()
        ids = [a.id for a in rows if a.driver.email == email
               and (available_from is None or a.available_from.isoformat() == available_from)]
        assert len(ids) == 1, ids
        return ids[0]


def _events(app, event_type: str) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)
                                  .order_by(AuditEvent.seq)).all()
        return [{"actor_id": e.actor_id, "subject_user_id": e.subject_user_id,
                 "subject_vehicle_id": e.subject_vehicle_id, **json.loads(e.details)} for e in rows]


def _drivers_of_trips(app, ids: list[int]) -> list[str | None]:
    from backend.models.accounts import User

    with app.app_context():
        emails = dict(db.session.execute(select(User.id, User.email)).all())
        by_id = dict(db.session.execute(select(Trip.id, Trip.driver_id).where(Trip.id.in_(ids))).all())
        return [emails.get(by_id[i]) for i in ids]


# ---------------------------------------------------------------------------- CLI: assignments

def _two_drivers_in_turn(runner, make_user) -> None:
    """GB-XJ-12: a@x.nl from 2026-01-01 to 2026-03-31, then b@x.nl from 2026-04-01 on."""
    make_user("a@x.nl", "driver")
    make_user("b@x.nl", "driver")
    _ok(runner, "vehicles", "add", "--kenteken", "GB-XJ-12", "--make", "VW", "--model", "Golf")
    _ok(runner, "assignments", "add", "--driver", "a@x.nl", "--kenteken", "GB-XJ-12", "--from", "2026-01-01",
        "--until", "2026-03-31")
    _ok(runner, "assignments", "add", "--driver", "b@x.nl", "--kenteken", "GB-XJ-12", "--from", "2026-04-01")


def test_an_open_assignment_is_ended_and_the_car_goes_to_the_next_driver(app, runner, make_user):
    """The scenario from the demo: one open-ended assignment used to block the car for good."""
    make_user("a@x.nl", "driver")
    make_user("b@x.nl", "driver")
    _ok(runner, "vehicles", "add", "--kenteken", "GB-XJ-12", "--make", "VW", "--model", "Golf")
    _ok(runner, "assignments", "add", "--driver", "a@x.nl", "--kenteken", "GB-XJ-12", "--from", "2026-01-01")
    refused = _fails(runner, "assignments", "add", "--driver", "b@x.nl", "--kenteken", "GB-XJ-12",
                     "--from", "2026-06-01")
    assert "already assigned to a@x.nl from 2026-01-01 until -" in refused

    ended = _ok(runner, "assignments", "end", "--kenteken", "GB-XJ-12", "--driver", "a@x.nl", "--on", "2026-05-31")
    assert "ended assignment" in ended and "from 2026-01-01 to 2026-05-31" in ended
    _ok(runner, "assignments", "add", "--driver", "b@x.nl", "--kenteken", "GB-XJ-12", "--from", "2026-06-01")
    assert _periods(app) == [("a@x.nl", "2026-01-01", "2026-05-31"), ("b@x.nl", "2026-06-01", None)]
    first = _assignment_id(app, "a@x.nl")
    listing = _ok(runner, "assignments", "list").splitlines()
    assert listing[0] == f"GB-XJ-12\ta@x.nl\t2026-01-01\t2026-05-31\t{first}"
    assert listing[1].startswith("GB-XJ-12\tb@x.nl\t2026-06-01\t-\t")

    # The change is an audit event: who (the CLI: the system), which assignment, old and new period.
    with app.app_context():
        from backend.models.accounts import User
        a_id = db.session.scalar(select(User.id).where(User.email == "a@x.nl"))
        vehicle_id = db.session.scalar(select(Vehicle.id))
    assert _events(app, "assignment_changed") == [{
        "actor_id": None, "subject_user_id": a_id, "subject_vehicle_id": vehicle_id, "assignment_id": first,
        "old": {"from": "2026-01-01", "until": None}, "new": {"from": "2026-01-01", "until": "2026-05-31"},
        "via": "cli"}]
    assert "audit chain OK" in _ok(runner, "audit", "verify")


def test_period_rules_each_refused_with_its_reason(app, runner, make_user):
    _two_drivers_in_turn(runner, make_user)
    a, b = _assignment_id(app, "a@x.nl"), _assignment_id(app, "b@x.nl")

    assert "ends before it starts" in _fails(runner, "assignments", "end", "--id", str(a), "--on", "2025-12-31")
    # Moving the last day into the next driver's period, or opening it, overlaps.
    assert "already assigned to b@x.nl from 2026-04-01 until -" in _fails(
        runner, "assignments", "end", "--id", str(a), "--on", "2026-04-01")
    assert "already assigned to b@x.nl" in _fails(runner, "assignments", "change", "--id", str(a), "--open")
    assert "already assigned to a@x.nl from 2026-01-01 until 2026-03-31" in _fails(
        runner, "assignments", "change", "--id", str(b), "--from", "2026-03-31")
    assert "There is no assignment 999" in _fails(runner, "assignments", "end", "--id", "999", "--on", "2026-01-01")
    assert "no assignment of GB-XJ-12" in _fails(runner, "assignments", "end", "--kenteken", "GB-XJ-12",
                                                "--driver", "nobody@x.nl", "--on", "2026-01-01")
    assert "name the assignment" in _fails(runner, "assignments", "end", "--kenteken", "GB-XJ-12",
                                           "--on", "2026-01-01")
    assert "expected a date" in _fails(runner, "assignments", "end", "--id", str(a), "--on", "31-03-2026")
    assert _periods(app) == [("a@x.nl", "2026-01-01", "2026-03-31"), ("b@x.nl", "2026-04-01", None)]
    assert _events(app, "assignment_changed") == []

    # Allowed: the first driver's period gets shorter, the next one starts earlier into the gap.
    _ok(runner, "assignments", "end", "--id", str(a), "--on", "2026-02-28")
    _ok(runner, "assignments", "change", "--id", str(b), "--from", "2026-03-01", "--until", "2026-12-31")
    assert _periods(app) == [("a@x.nl", "2026-01-01", "2026-02-28"), ("b@x.nl", "2026-03-01", "2026-12-31")]
    assert [e["new"] for e in _events(app, "assignment_changed")] == [
        {"from": "2026-01-01", "until": "2026-02-28"}, {"from": "2026-03-01", "until": "2026-12-31"}]

    # A driver with two assignments of one car: --driver alone is ambiguous unless --on picks one.
    _ok(runner, "assignments", "add", "--driver", "a@x.nl", "--kenteken", "GB-XJ-12", "--from", "2027-01-01")
    assert "several assignments" in _fails(runner, "assignments", "end", "--kenteken", "GB-XJ-12",
                                           "--driver", "a@x.nl", "--on", "2026-12-31")
    _ok(runner, "assignments", "end", "--kenteken", "GB-XJ-12", "--driver", "a@x.nl", "--on", "2027-06-30")
    assert _periods(app)[-1] == ("a@x.nl", "2027-01-01", "2027-06-30")


def test_an_assignment_is_not_shortened_past_its_stored_trips_counted_by_local_day(app, client, runner, make_user):
    make_user("a@x.nl", "driver")
    factory = TripFactory(app, client, driver_email="a@x.nl", assigned_from="2026-03-01")
    # 23:30 UTC on 20 March is 00:30 on 21 March in Amsterdam: the trip's day is the 21st.
    ids = factory.upload(TripSpec(started=_utc(2026, 3, 10, 8, 0)), TripSpec(started=_utc(2026, 3, 12, 8, 0)),
                         TripSpec(started=_utc(2026, 3, 20, 23, 30)))
    assert _drivers_of_trips(app, ids) == ["a@x.nl"] * 3
    a = _assignment_id(app, "a@x.nl")

    refused = _fails(runner, "assignments", "end", "--id", str(a), "--on", "2026-03-20")
    assert "1 stored trip(s) of a@x.nl in GB-XJ-12 started after 2026-03-20" in refused
    assert "earliest allowed last day is 2026-03-21" in refused
    refused = _fails(runner, "assignments", "end", "--id", str(a), "--on", "2026-03-11")
    assert "2 stored trip(s)" in refused and "earliest allowed last day is 2026-03-21" in refused
    refused = _fails(runner, "assignments", "change", "--id", str(a), "--from", "2026-03-11")
    assert "1 stored trip(s) of a@x.nl in GB-XJ-12 started before 2026-03-11" in refused
    assert "latest allowed first day is 2026-03-10" in refused
    assert "can be ended, not deleted" in _fails(runner, "assignments", "delete", "--id", str(a))
    assert _periods(app) == [("a@x.nl", "2026-03-01", None)]

    _ok(runner, "assignments", "end", "--id", str(a), "--on", "2026-03-21")
    _ok(runner, "assignments", "change", "--id", str(a), "--from", "2026-03-10")
    assert _periods(app) == [("a@x.nl", "2026-03-10", "2026-03-21")]
    assert _drivers_of_trips(app, ids) == ["a@x.nl"] * 3  # the trips never change


def test_an_assignment_without_trips_is_deleted_and_that_is_audited(app, client, runner, make_user):
    make_user("a@x.nl", "driver")
    make_user("b@x.nl", "driver")
    factory = TripFactory(app, client, driver_email="a@x.nl", assigned_from="2026-01-01")
    factory.upload(TripSpec(started=_utc(2026, 2, 3, 8, 0)))
    a = _assignment_id(app, "a@x.nl")
    _ok(runner, "assignments", "end", "--id", str(a), "--on", "2026-02-28")
    # A typing mistake: b was meant for a different car. No trip of b in this car: deletable.
    _ok(runner, "assignments", "add", "--driver", "b@x.nl", "--kenteken", "GB-XJ-12", "--from", "2026-03-01")
    b = _assignment_id(app, "b@x.nl")
    assert f"deleted assignment {b}" in _ok(runner, "assignments", "delete", "--id", str(b))
    assert _periods(app) == [("a@x.nl", "2026-01-01", "2026-02-28")]
    assert "There is no assignment" in _fails(runner, "assignments", "delete", "--id", str(b))
    deleted = _events(app, "assignment_deleted")
    assert [(e["assignment_id"], e["old"], e["new"]) for e in deleted] == [
        (b, {"from": "2026-03-01", "until": None}, None)]


# -------------------------------------------------------------------- attribution in sequence

def test_one_driver_two_cars_in_sequence_and_one_car_two_drivers_in_sequence(app, client, runner, make_user):
    make_user("a@x.nl", "driver")
    make_user("b@x.nl", "driver")
    golf = TripFactory(app, client, driver_email="a@x.nl", kenteken="GB-XJ-12", assigned_from="2026-01-01")
    first = golf.upload(TripSpec(started=_utc(2026, 2, 10, 8, 0)), TripSpec(started=_utc(2026, 3, 31, 16, 0)))
    _ok(runner, "assignments", "end", "--kenteken", "GB-XJ-12", "--driver", "a@x.nl", "--on", "2026-03-31")
    # a moves on to a second car; b takes over the first one.
    niro = TripFactory(app, client, driver_email="a@x.nl", kenteken="12-ABC-3", assigned_from="2026-04-01")
    _ok(runner, "assignments", "add", "--driver", "b@x.nl", "--kenteken", "GB-XJ-12", "--from", "2026-04-01")
    golf_later = golf.upload(TripSpec(started=_utc(2026, 4, 1, 7, 0)), TripSpec(started=_utc(2026, 5, 5, 7, 0)))
    niro_trips = niro.upload(TripSpec(started=_utc(2026, 4, 2, 7, 0)))

    assert _drivers_of_trips(app, first) == ["a@x.nl", "a@x.nl"]
    assert _drivers_of_trips(app, golf_later) == ["b@x.nl", "b@x.nl"]
    assert _drivers_of_trips(app, niro_trips) == ["a@x.nl"]
    assert _periods(app, "GBXJ12") == [("a@x.nl", "2026-01-01", "2026-03-31"), ("b@x.nl", "2026-04-01", None)]
    assert _periods(app, "12ABC3") == [("a@x.nl", "2026-04-01", None)]

    # Each driver's trips hold their own assignment: neither can be cut across them.
    assert "earliest allowed last day is 2026-03-31" in _fails(
        runner, "assignments", "end", "--kenteken", "GB-XJ-12", "--driver", "a@x.nl", "--on", "2026-03-30")
    assert "latest allowed first day is 2026-04-01" in _fails(
        runner, "assignments", "change", "--id", str(_assignment_id(app, "b@x.nl")), "--from", "2026-04-02")
    assert "earliest allowed last day is 2026-05-05" in _fails(
        runner, "assignments", "end", "--kenteken", "GB-XJ-12", "--driver", "b@x.nl", "--on", "2026-05-04")


# ------------------------------------------------------------------------------ CLI: vehicles

def test_a_vehicles_make_and_model_are_edited_but_not_its_plate(app, runner):
    _ok(runner, "vehicles", "add", "--kenteken", "GB-XJ-12", "--make", "VW", "--model", "Golf")
    assert "is now Volkswagen Golf" in _ok(runner, "vehicles", "edit", "--kenteken", "gbxj12", "--make", "Volkswagen")
    assert "is now Volkswagen Golf Variant" in _ok(runner, "vehicles", "edit", "--kenteken", "GB-XJ-12",
                                                    "--model", " Golf Variant ")
    assert "Make and model are required" in _fails(runner, "vehicles", "edit", "--kenteken", "GB-XJ-12",
                                                   "--make", "  ")
    assert "give --make and/or --model" in _fails(runner, "vehicles", "edit", "--kenteken", "GB-XJ-12")
    assert "There is no vehicle 12-ABC-3" in _fails(runner, "vehicles", "edit", "--kenteken", "12-ABC-3",
                                                    "--make", "Kia")
    assert "No such option '--new-kenteken'" in runner.invoke(
        args=["vehicles", "edit", "--kenteken", "GB-XJ-12", "--new-kenteken", "12-ABC-3"]).output
    assert _ok(runner, "vehicles", "list").splitlines() == ["GB-XJ-12\tVolkswagen\tGolf Variant"]


def test_retiring_a_vehicle_ends_its_assignment_retires_its_devices_and_keeps_its_trips(app, client, runner,
                                                                                      make_user):
    make_user("a@x.nl", "driver")
    make_user("b@x.nl", "driver")
    factory = TripFactory(app, client, driver_email="a@x.nl", assigned_from="2026-01-01")
    ids = factory.upload(TripSpec(started=_utc(2026, 6, 10, 8, 0)), TripSpec(started=_utc(2026, 6, 20, 8, 0)))
    _ok(runner, "devices", "enroll", "--vehicle", "GB-XJ-12")  # a second, pending slot

    assert "is in the future" in _fails(runner, "vehicles", "retire", "--kenteken", "GB-XJ-12", "--on", "2999-01-01")
    refused = _fails(runner, "vehicles", "retire", "--kenteken", "GB-XJ-12", "--on", "2026-06-15")
    assert "1 stored trip(s) of a@x.nl in GB-XJ-12 started after 2026-06-15" in refused
    assert "earliest allowed last day is 2026-06-20" in refused
    with app.app_context():
        assert db.session.scalar(select(Vehicle.retired_on)) is None
        assert set(db.session.scalars(select(Device.status))) == {"active", "pending"}
    assert _periods(app) == [("a@x.nl", "2026-01-01", None)]

    assert "left the fleet on 2026-06-30" in _ok(runner, "vehicles", "retire", "--kenteken", "GB-XJ-12",
                                                 "--on", "2026-06-30")
    assert _periods(app) == [("a@x.nl", "2026-01-01", "2026-06-30")]
    with app.app_context():
        assert db.session.scalar(select(Vehicle.retired_on)) == date(2026, 6, 30)
        assert set(db.session.scalars(select(Device.status))) == {"retired"}
        assert db.session.scalar(select(Trip.id).where(Trip.id.in_(ids)).limit(1)) is not None
    assert _drivers_of_trips(app, ids) == ["a@x.nl", "a@x.nl"]
    assert _ok(runner, "vehicles", "list").splitlines() == ["GB-XJ-12\tVolkswagen\tGolf\tretired 2026-06-30"]

    # The retired car's device is refused; the car gets no new driver or device after that day.
    assert factory.device.post(client, make_chain(1, first_seq=3)).status_code in (401, 404)
    assert "left the fleet on 2026-06-30" in _fails(runner, "assignments", "add", "--driver", "b@x.nl",
                                                    "--kenteken", "GB-XJ-12", "--from", "2026-07-01")
    assert "left the fleet on 2026-06-30" in _fails(runner, "assignments", "change", "--id",
                                                    str(_assignment_id(app, "a@x.nl")), "--open")
    assert "gets no new devices" in _fails(runner, "devices", "enroll", "--vehicle", "GB-XJ-12")
    assert "already left the fleet on 2026-06-30" in _fails(runner, "vehicles", "retire", "--kenteken",
                                                            "GB-XJ-12", "--on", "2026-07-01")
    # Within its time in the fleet the history may still be put right.
    _ok(runner, "assignments", "end", "--id", str(_assignment_id(app, "a@x.nl")), "--on", "2026-06-25")

    retired = _events(app, "vehicle_retired")
    assert len(retired) == 1 and retired[0]["retired_on"] == "2026-06-30"
    assert retired[0]["assignments_ended"] == [_assignment_id(app, "a@x.nl")]
    assert retired[0]["devices_retired"] == 2
    assert [e["new"]["until"] for e in _events(app, "assignment_changed")] == ["2026-06-30", "2026-06-25"]
    assert "audit chain OK" in _ok(runner, "audit", "verify")


def test_retiring_refuses_while_a_later_assignment_waits(app, runner, make_user):
    _two_drivers_in_turn(runner, make_user)
    refused = _fails(runner, "vehicles", "retire", "--kenteken", "GB-XJ-12", "--on", "2026-03-31")
    assert "b@x.nl is assigned GB-XJ-12 from 2026-04-01, after 2026-03-31" in refused
    assert _periods(app) == [("a@x.nl", "2026-01-01", "2026-03-31"), ("b@x.nl", "2026-04-01", None)]
    _ok(runner, "assignments", "delete", "--id", str(_assignment_id(app, "b@x.nl")))
    _ok(runner, "vehicles", "retire", "--kenteken", "GB-XJ-12", "--on", "2026-03-31")
    # Nothing to end: a's period already stops on the last day.
    assert _periods(app) == [("a@x.nl", "2026-01-01", "2026-03-31")]
    assert _events(app, "vehicle_retired")[0]["assignments_ended"] == []


# -------------------------------------------------------------------------------------- pages

@pytest.fixture
def admin(make_user, login):
    make_user("admin@example.nl", "admin", name="Beheer")
    login("admin@example.nl")


def test_admin_ends_and_deletes_assignments_on_the_page_with_dutch_errors(app, client, runner, make_user, admin):
    make_user("daan@example.nl", "driver", name="Daan")
    make_user("eva@example.nl", "driver", name="Eva")
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from="2026-01-01")
    factory.upload(TripSpec(started=_utc(2026, 4, 14, 9, 0)))
    daan = _assignment_id(app, "daan@example.nl")

    page = client.get("/admin/fleet/assignments").get_data(as_text=True)
    assert f'action="/admin/fleet/assignments/{daan}/end"' in page
    assert "Laatste dag van GB-XJ-12 voor Daan" in page

    too_short = client.post(f"/admin/fleet/assignments/{daan}/end", data={"available_until": "2026-04-13"})
    text = too_short.get_data(as_text=True)
    assert too_short.status_code == 400
    assert "vroegst toegestane laatste dag is 2026-04-14" in text and 'role="alert"' in text
    assert 'value="2026-04-13"' in text  # what was typed stays in the row
    before = client.post(f"/admin/fleet/assignments/{daan}/end", data={"available_until": "2025-12-01"})
    assert before.status_code == 400 and "eindigt voordat" in before.get_data(as_text=True)
    undeletable = client.post(f"/admin/fleet/assignments/{daan}/delete")
    assert undeletable.status_code == 400 and "kan niet worden verwijderd" in undeletable.get_data(as_text=True)

    ended = client.post(f"/admin/fleet/assignments/{daan}/end", data={"available_until": "2026-04-30"},
                        follow_redirects=True)
    assert ended.status_code == 200 and "eindigt nu op 2026-04-30" in ended.get_data(as_text=True)
    added = client.post("/admin/fleet/assignments", data={
        "driver": "eva@example.nl", "vehicle": "GBXJ12", "available_from": "2026-05-01"}, follow_redirects=True)
    assert "toegewezen aan Eva" in added.get_data(as_text=True)
    assert _periods(app) == [("daan@example.nl", "2026-01-01", "2026-04-30"), ("eva@example.nl", "2026-05-01", None)]

    eva = _assignment_id(app, "eva@example.nl")
    overlap = client.post(f"/admin/fleet/assignments/{daan}/end", data={"available_until": ""})
    assert overlap.status_code == 400 and "is al toegewezen aan eva@example.nl" in overlap.get_data(as_text=True)
    deleted = client.post(f"/admin/fleet/assignments/{eva}/delete", follow_redirects=True)
    assert "Toewijzing verwijderd" in deleted.get_data(as_text=True)
    reopened = client.post(f"/admin/fleet/assignments/{daan}/end", data={"available_until": ""},
                           follow_redirects=True)
    assert "heeft nu geen einddatum" in reopened.get_data(as_text=True)
    assert _periods(app) == [("daan@example.nl", "2026-01-01", None)]

    with app.app_context():
        from backend.models.accounts import User
        admin_id = db.session.scalar(select(User.id).where(User.email == "admin@example.nl"))
    changes = _events(app, "assignment_changed")
    assert [(e["actor_id"], e["via"], e["old"]["until"], e["new"]["until"]) for e in changes] == [
        (admin_id, "web", None, "2026-04-30"), (admin_id, "web", "2026-04-30", None)]
    assert [e["actor_id"] for e in _events(app, "assignment_deleted")] == [admin_id]


def test_row_actions_need_the_admin_role(app, client, runner, make_user, login):
    make_user("daan@example.nl", "driver")
    _ok(runner, "vehicles", "add", "--kenteken", "GB-XJ-12", "--make", "VW", "--model", "Golf")
    _ok(runner, "assignments", "add", "--driver", "daan@example.nl", "--kenteken", "GB-XJ-12", "--from", "2026-01-01")
    daan = _assignment_id(app, "daan@example.nl")
    login("daan@example.nl")
    assert client.post(f"/admin/fleet/assignments/{daan}/end", data={"available_until": "2026-01-31"}).status_code == 403
    assert client.post(f"/admin/fleet/assignments/{daan}/delete").status_code == 403
    assert client.post("/admin/fleet/vehicles/GBXJ12", data={"make": "X", "model": "Y"}).status_code == 403
    assert client.post("/admin/fleet/vehicles/GBXJ12/retire", data={"retired_on": "2026-01-31"}).status_code == 403
    assert _periods(app) == [("daan@example.nl", "2026-01-01", None)]


def test_row_actions_without_a_csrf_token_change_nothing(app, client, runner, make_user, admin):
    make_user("daan@example.nl", "driver")
    _ok(runner, "vehicles", "add", "--kenteken", "GB-XJ-12", "--make", "VW", "--model", "Golf")
    _ok(runner, "assignments", "add", "--driver", "daan@example.nl", "--kenteken", "GB-XJ-12", "--from", "2026-01-01")
    daan = _assignment_id(app, "daan@example.nl")
    assert client.get("/admin/fleet/assignments").status_code == 200  # really logged in as the admin
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        no_token = client.post(f"/admin/fleet/assignments/{daan}/end", data={"available_until": "2026-01-31"})
        assert no_token.status_code == 400
        assert client.post(f"/admin/fleet/assignments/{daan}/delete").status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert _periods(app) == [("daan@example.nl", "2026-01-01", None)]
    assert client.get("/admin/fleet/vehicles/ZZ-99-ZZ").status_code == 404
    assert client.post("/admin/fleet/assignments/999/end", data={"available_until": ""}).status_code == 404
    assert client.post("/admin/fleet/assignments/999/delete").status_code == 404


def test_admin_edits_and_retires_a_vehicle_on_its_page(app, client, runner, make_user, admin):
    make_user("daan@example.nl", "driver")
    enrolled_device(app, client, driver_email="daan@example.nl", assigned_from="2026-01-01")
    listing = client.get("/admin/fleet/vehicles").get_data(as_text=True)
    assert 'href="/admin/fleet/vehicles/GBXJ12"' in listing and "in het wagenpark" in listing

    page = client.get("/admin/fleet/vehicles/GBXJ12").get_data(as_text=True)
    assert 'name="kenteken"' not in page  # the plate is the identity: no field for it
    assert 'value="Volkswagen"' in page
    empty = client.post("/admin/fleet/vehicles/GBXJ12", data={"make": "", "model": "Golf"})
    assert empty.status_code == 400
    saved = client.post("/admin/fleet/vehicles/GBXJ12", data={"make": "Volkswagen", "model": "ID.3"},
                        follow_redirects=True)
    assert "GB-XJ-12 opgeslagen" in saved.get_data(as_text=True) and "ID.3" in saved.get_data(as_text=True)

    unconfirmed = client.post("/admin/fleet/vehicles/GBXJ12/retire", data={"retired_on": "2026-05-31"})
    assert unconfirmed.status_code == 400 and "Vink het vakje aan" in unconfirmed.get_data(as_text=True)
    with app.app_context():
        assert "retired" not in set(db.session.scalars(select(Device.status)))
    future = client.post("/admin/fleet/vehicles/GBXJ12/retire", data={"retired_on": "2999-01-01", "confirm": "y"})
    assert future.status_code == 400 and "ligt in de toekomst" in future.get_data(as_text=True)
    retired = client.post("/admin/fleet/vehicles/GBXJ12/retire", data={"retired_on": "2026-05-31", "confirm": "y"},
                          follow_redirects=True)
    text = retired.get_data(as_text=True)
    assert "uit het wagenpark op 2026-05-31" in text
    assert _periods(app) == [("daan@example.nl", "2026-01-01", "2026-05-31")]
    with app.app_context():
        assert set(db.session.scalars(select(Device.status))) == {"retired"}
    # A retired car is no longer offered for a new assignment or device.
    assert 'value="GBXJ12"' not in client.get("/admin/fleet/assignments").get_data(as_text=True)
    assert 'value="GBXJ12"' not in client.get("/admin/fleet/devices").get_data(as_text=True)
    after = client.get("/admin/fleet/vehicles/GBXJ12").get_data(as_text=True)
    assert 'action="/admin/fleet/vehicles/GBXJ12/retire"' not in after and "2026-05-31" in after


# ------------------------------------------------------------------------- a real browser

@pytest.mark.browser
def test_admin_ends_an_assignment_and_adds_the_next_driver_in_the_browser(app, client, live_server, page, make_user,
                                                                          artifacts_dir, database_url):
    make_user("admin@example.nl", "admin")
    make_user("daan@example.nl", "driver", name="Daan")
    make_user("eva@example.nl", "driver", name="Eva")
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from="2026-01-01")
    factory.upload(TripSpec(started=_utc(2026, 5, 20, 7, 0)))

    page.goto(f"{live_server}/login")
    page.get_by_label("E-mailadres").fill("admin@example.nl")
    page.get_by_label("Wachtwoord").fill("correct horse battery")
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_role("link", name="Wagenpark").click()
    page.get_by_role("link", name="Toewijzingen").click()

    last_day = page.get_by_label("Laatste dag van GB-XJ-12 voor Daan")
    row = page.locator("tr", has=last_day)
    # Before the stored trip of 20 May: refused, and the page says which day is the earliest.
    last_day.fill("2026-05-19")
    row.get_by_role("button", name="Laatste dag opslaan").click()
    page.get_by_role("alert").filter(has_text="vroegst toegestane laatste dag is 2026-05-20").wait_for()
    assert _periods(app) == [("daan@example.nl", "2026-01-01", None)]

    page.get_by_label("Laatste dag van GB-XJ-12 voor Daan").fill("2026-05-31")
    page.locator("tr", has=page.get_by_label("Laatste dag van GB-XJ-12 voor Daan")) \
        .get_by_role("button", name="Laatste dag opslaan").click()
    page.get_by_text("De toewijzing van GB-XJ-12 aan Daan eindigt nu op 2026-05-31.").wait_for()

    page.get_by_label("Bestuurder").select_option("eva@example.nl")
    page.get_by_label("Auto").select_option("GBXJ12")
    page.get_by_label("Beschikbaar vanaf").fill("2026-06-01")
    page.get_by_role("button", name="Toewijzen").click()
    page.get_by_text("GB-XJ-12 toegewezen aan Eva.").wait_for()
    assert page.get_by_label("Laatste dag van GB-XJ-12 voor Eva").input_value() == ""
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / "fleet-assignments-handover.png"), full_page=True)
    assert _periods(app) == [("daan@example.nl", "2026-01-01", "2026-05-31"), ("eva@example.nl", "2026-06-01", None)]
