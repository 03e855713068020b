"""The door: who reads which trip data for which purpose, what is audited, and that private
positions open only for the driver or under a grant allowing private details."""
from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from backend import audit
from backend.access import door
from backend.governance import grants
from backend.access.door import AccessDenied
from backend.access.purposes import TAX
from backend.governance.requests import local_today
from backend.db import db
from backend.models.access import Grant
from backend.models.audit import AuditEvent
from tests.backend.access_support import (PRIVATE_END, PRIVATE_START, Fleet, agreement_in_force, granted,
                                          make_people, user)

MISUSE = "misuse_investigation"


@pytest.fixture
def world(app, make_user, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    with app.app_context():
        agreement_in_force(people)
        fleet = Fleet(people.driver, people.other_driver)
    return people, fleet


def _events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)
                                   .order_by(AuditEvent.seq)))


def test_a_driver_reads_own_trips_with_own_private_positions(app, world) -> None:
    people, fleet = world
    with app.app_context():
        views = door.trips_for_driver(user(people.driver), people.driver)
        assert [v.id for v in views] == [fleet.trips["old"], fleet.trips["business"], fleet.trips["private"]]
        private = views[2]
        assert private.is_private and not private.positions_withheld
        assert (private.start.lat, private.start.lon) == PRIVATE_START
        assert (private.end.lat, private.end.lon) == PRIVATE_END
        assert len(door.track(user(people.driver), fleet.trips["business"])) == 3
        assert _events(audit.READ) == []  # a driver's own reads are not logged ...
        opened = _events(audit.SEAL_OPENED)  # ... but every seal opening is
        assert [(e.actor_id, e.subject_user_id) for e in opened] == [(people.driver, people.driver)]
        assert json.loads(opened[0].details)["trip_ids"] == [fleet.trips["private"]]


def test_a_driver_never_reads_another_drivers_trips(app, world) -> None:
    people, fleet = world
    with app.app_context():
        with pytest.raises(AccessDenied):
            door.trips_for_driver(user(people.driver), people.other_driver)
        with pytest.raises(AccessDenied):
            door.trip(user(people.driver), fleet.trips["other"])
        with pytest.raises(AccessDenied):
            door.trips_for_vehicle(user(people.driver), fleet.vehicle)
        denied = _events(audit.READ_DENIED)
        assert [e.subject_user_id for e in denied] == [people.other_driver, people.other_driver, None]
        assert all(e.actor_id == people.driver for e in denied)


def test_finance_reads_the_tax_data_without_private_positions_or_tracks(app, world) -> None:
    people, fleet = world
    with app.app_context():
        views = door.trips_for_vehicle(user(people.finance), fleet.vehicle)
        assert len(views) == 4
        private = next(v for v in views if v.is_private)
        assert (private.start, private.end, private.positions_withheld) == (None, None, True)
        assert private.distance_km == 20.0 and private.odometer_start_km == 1040.0
        business = next(v for v in views if v.id == fleet.trips["business"])
        assert business.start is not None  # the tax report needs business addresses
        with pytest.raises(AccessDenied) as denied:
            door.track(user(people.finance), fleet.trips["business"])
        assert "tracks" in denied.value.reason  # audited; the caller is told only door.TRIP_REFUSED
        assert _events(audit.SEAL_OPENED) == []
        reads = _events(audit.READ)
        assert {e.subject_user_id for e in reads} == {people.driver, people.other_driver}
        assert all(e.purpose == TAX and e.actor_id == people.finance for e in reads)


def test_tax_report_rows_never_carry_private_positions(app, world) -> None:
    people, fleet = world
    year = local_today().year
    with app.app_context():
        for reader in (people.driver, people.finance):
            rows = door.tax_report_rows_with_gaps(user(reader), driver_id=people.driver, year=year)
            private = [r for r in rows if r.is_private]
            assert private and all(r.start is None and r.positions_withheld for r in private)
        assert _events(audit.SEAL_OPENED) == []
        with pytest.raises(AccessDenied):
            door.tax_report_rows_with_gaps(user(people.manager), driver_id=people.driver, year=year)


@pytest.mark.parametrize("role", ["manager", "or_delegate", "privacy", "admin"])
def test_other_roles_read_nothing_under_the_tax_purpose(app, world, role) -> None:
    people, fleet = world
    with app.app_context():
        actor = user(getattr(people, role))
        for call in (lambda: door.trips_for_driver(actor, people.driver),
                     lambda: door.trips_for_vehicle(actor, fleet.vehicle),
                     lambda: door.trip(actor, fleet.trips["business"]),
                     lambda: door.track(actor, fleet.trips["business"])):
            with pytest.raises(AccessDenied):
                call()
        assert len(_events(audit.READ_DENIED)) == 4
        assert _events(audit.READ) == []


def test_a_grant_opens_exactly_its_scope(app, world) -> None:
    people, fleet = world
    with app.app_context():
        grant = granted(people, days_back=30)  # misuse_investigation, driver, trip_summaries only
        manager = user(people.manager)
        views = door.trips_for_driver(manager, people.driver, purpose=MISUSE)
        # the 200-day-old trip lies outside the granted period; the other driver is not included
        assert [v.id for v in views] == [fleet.trips["business"], fleet.trips["private"]]
        assert views[1].positions_withheld and views[1].start is None
        read = _events(audit.READ)[-1]
        assert (read.actor_id, read.subject_user_id, read.grant_id, read.purpose) == \
            (people.manager, people.driver, grant.id, MISUSE)
        details = json.loads(read.details)
        assert details["records"] == 2 and details["trip_ids"] == [fleet.trips["business"], fleet.trips["private"]]
        assert details["categories"] == ["trip_summaries"]

        refusals = [
            (lambda: door.trip(manager, fleet.trips["old"], MISUSE), "period is outside the grant"),
            (lambda: door.trip(manager, fleet.trips["other"], MISUSE), "employee is outside the grant"),
            (lambda: door.track(manager, fleet.trips["business"], MISUSE), "business_tracks not granted"),
            (lambda: door.trips_for_vehicle(manager, fleet.vehicle, purpose=MISUSE), "employee is outside the grant"),
            (lambda: door.trips_for_driver(manager, people.driver, purpose="hours_verification"), "no grant"),
            (lambda: door.trips_for_driver(manager, people.driver), "tax purpose"),
        ]
        for call, message in refusals:
            with pytest.raises(AccessDenied) as denied:
                call()
            assert message in denied.value.reason
        assert len(_events(audit.READ_DENIED)) == len(refusals)
        # Another manager holds no grant, even for the same purpose.
        with pytest.raises(AccessDenied, match="no grant"):
            door.trips_for_driver(user(people.other_manager), people.driver, purpose=MISUSE)


def test_private_details_open_only_under_a_grant_allowing_them(app, world) -> None:
    people, fleet = world
    with app.app_context():
        grant = granted(people, categories=("trip_summaries", "private_trip_details", "business_tracks"))
        view = door.trip(user(people.manager), fleet.trips["private"], MISUSE)
        assert (view.start.lat, view.start.lon) == PRIVATE_START
        opened = _events(audit.SEAL_OPENED)
        assert [(e.actor_id, e.subject_user_id, e.grant_id) for e in opened] == \
            [(people.manager, people.driver, grant.id)]
        assert len(door.track(user(people.manager), fleet.trips["business"], MISUSE)) == 3


def test_expiry_is_enforced_at_the_read_without_the_job(app, world) -> None:
    people, fleet = world
    with app.app_context():
        # A grant whose whole life lies in the past (decided a month ago; its dates cannot be
        # moved afterwards, migration 0017); the expiry job has not run.
        from backend.governance import approvals, requests
        from backend.db import utcnow
        from tests.backend.access_support import request_input
        request = requests.file_request(user(people.manager), request_input(people.driver))
        past = utcnow() - timedelta(days=30)
        approvals.decide(request, user(people.or_delegate), "approve", "Concrete aanwijzing, beperkt.", now=past)
        grant = approvals.decide(request, user(people.privacy), "approve", "Akkoord binnen de regeling.", now=past)
        assert db.session.get(Grant, grant.id).expired_marked_at is None
        with pytest.raises(AccessDenied, match=f"grant {grant.id}: expired"):
            door.trips_for_driver(user(people.manager), people.driver, purpose=MISUSE)
        assert _events(audit.READ_DENIED)[-1].grant_id == grant.id


def test_a_revoked_grant_opens_nothing(app, world) -> None:
    people, fleet = world
    with app.app_context():
        grant = granted(people)
        grants.revoke(grant, user(people.privacy), "Onderzoek gestopt.")
        with pytest.raises(AccessDenied) as denied:
            door.trip(user(people.manager), fleet.trips["business"], MISUSE)
        assert denied.value.reason.endswith("revoked")


def test_a_vehicle_grant_reads_every_driver_of_the_car_and_logs_each(app, world) -> None:
    from backend.governance import approvals, requests
    from tests.backend.access_support import request_input
    people, fleet = world
    with app.app_context():
        request = requests.file_request(user(people.manager), request_input(None, vehicle_id=fleet.vehicle))
        approvals.decide(request, user(people.or_delegate), "approve", "akkoord")
        grant = approvals.decide(request, user(people.privacy), "approve", "akkoord")
        views = door.trips_for_vehicle(user(people.manager), fleet.vehicle, purpose=MISUSE)
        assert {v.driver_id for v in views} == {people.driver, people.other_driver}
        reads = [e for e in _events(audit.READ) if e.grant_id == grant.id]
        assert {e.subject_user_id for e in reads} == {people.driver, people.other_driver}
        with pytest.raises(AccessDenied):
            door.trips_for_driver(user(people.manager), people.driver, purpose=MISUSE)
        # Closing the grant tells both drivers whose data was read.
        grants.revoke(grant, user(people.manager), "Klaar.")
        grants.send_due_notifications()
        assert grants.notifications_for(people.other_driver)[0].grant_id == grant.id


def test_a_database_dump_reveals_no_private_position(app, world) -> None:
    people, fleet = world
    with app.app_context():
        door.trips_for_driver(user(people.driver), people.driver)  # opened once, audited
        dump = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(text(f'SELECT * FROM "{table.name}"')):
                dump.append(repr(tuple(row)))
        dumped = "\n".join(dump)
        assert "52.090712" in dumped  # business positions are plain: the dump works
        for number in (*PRIVATE_START, *PRIVATE_END):
            assert str(number) not in dumped


def test_seals_open_after_key_rotation_and_never_without_the_key_file(app, world, tmp_path) -> None:
    from backend import sealing_keys
    people, fleet = world
    with app.app_context():
        sealing_keys.rotate()
        view = door.trip(user(people.driver), fleet.trips["private"])
        assert (view.start.lat, view.start.lon) == PRIVATE_START
        app.config["SEALING_KEY_PATH"] = str(tmp_path / "another-instance.pem")  # a restored backup elsewhere
        with pytest.raises(door.SealError, match="no sealing key"):
            door.trip(user(people.driver), fleet.trips["private"])


def test_a_tampered_envelope_is_refused(app, world) -> None:
    people, fleet = world
    with app.app_context():
        from backend.models.trips import Trip
        envelope = dict(db.session.get(Trip, fleet.trips["private"]).start_sealed)
        raw = bytearray(base64.b64decode(envelope["ct"]))
        raw[0] ^= 1
        envelope["ct"] = base64.b64encode(bytes(raw)).decode()
        with pytest.raises(door.SealError, match="tampered"):
            door.open_position(envelope)


def test_a_made_up_purpose_is_refused_and_audited(app, world) -> None:
    people, fleet = world
    with app.app_context():
        with pytest.raises(AccessDenied, match="no grant"):
            door.trips_for_driver(user(people.manager), people.driver, purpose="Just Curious; DROP")
        event = _events(audit.READ_DENIED)[-1]
        assert event.purpose is None
        assert json.loads(event.details)["purpose_given"] == "Just Curious; DROP"
