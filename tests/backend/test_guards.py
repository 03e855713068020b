"""What the verdict depends on is guarded like the trips (issue #14, item 3; docs/access.md).

Assignments, grants, calibrations, period closings and agreement versions: tampering in SQL is
refused by the database (SQLite through a plain sqlite3 connection, foreign keys off;
PostgreSQL as the app's role), while the changes the app makes, each with its audit event,
still go through. A grant changed with its triggers switched off (SQLite DROP TRIGGER,
PostgreSQL as the owner) no longer matches its grant_issued event: reads through it are
refused and the mismatch is an audit event.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from backend import audit
from backend.db import db
from backend.models.audit import AuditEvent
from tests.backend.access_support import agreement_in_force, granted, make_people, user
from tests.backend.tamper_support import tamper
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago
from tests.conftest import POSTGRES_OWNER_ROLE

UTC = timezone.utc


@pytest.fixture
def world(app, client, make_user):
    from backend.fleet import service as fleet
    from backend.odometer import service as odometer
    from backend.periods import service as periods

    people = make_people(make_user)
    with app.app_context():
        agreement_in_force(people)
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from="2026-01-01")
    factory.upload(TripSpec(days_ago(40)))
    with app.app_context():
        fleet.create_vehicle("12-ABC-3", "Volkswagen", "Polo")
        spare = fleet.create_assignment("eva@example.nl", "12-ABC-3", date(2026, 1, 1)).id
        odometer.record(fleet.get_vehicle("GB-XJ-12"), "10020", days_ago(30), None, via_cli=True)
        periods.close_month(periods.parse_month("2026-01"), via="cli")
        grant = granted(people).id
    return dict(people=people, spare_assignment=spare, grant=grant)


TAMPERINGS = {
    # 3 months became a full year: the 500 km verdict flips.
    "assignment_longer": "UPDATE assignments SET available_until = '2026-12-31'",
    "assignment_other_driver": "UPDATE assignments SET driver_id = driver_id + 1",
    "assignment_deleted": "DELETE FROM assignments",
    "grant_widened": "UPDATE access_grants SET categories = categories || ',private_trip_details', "
                     "expires_at = '2030-01-01 00:00:00+00:00'",
    "grant_deleted": "DELETE FROM access_grants",
    "grant_unrevoked": "UPDATE access_grants SET revoked_at = NULL",
    "calibration_changed": "UPDATE odometer_calibrations SET dashboard_m = dashboard_m + 1000000",
    "calibration_deleted": "DELETE FROM odometer_calibrations",
    "closing_changed": "UPDATE period_closings SET month = '2025-01-01'",
    "closing_deleted": "DELETE FROM period_closings",
    "agreement_consent_moved": "UPDATE agreement_versions SET consent_date = '2020-01-01'",
    "agreement_relabelled": "UPDATE agreement_versions SET label = 'other'",
    "agreement_deleted": "DELETE FROM agreement_versions",
}


def _snapshot(app) -> dict[str, list]:
    tables = ("assignments", "access_grants", "odometer_calibrations", "period_closings", "agreement_versions")
    with app.app_context():
        snapshot = {t: [tuple(r) for r in db.session.execute(text(f"SELECT * FROM {t} ORDER BY id"))] for t in tables}
        db.session.rollback()
        return snapshot


def test_tampering_in_sql_is_refused(app, world, database_url):
    from backend.governance import grants
    from backend.models.access import Grant

    went_through = []
    for name, statement in sorted(TAMPERINGS.items()):
        if name == "grant_unrevoked":
            with app.app_context():
                grants.revoke(db.session.get(Grant, world["grant"]), user(world["people"].privacy), "Klaar")
        before = _snapshot(app)
        try:
            tamper(database_url, statement)
            went_through.append(name)
        except (sqlite3.DatabaseError, DBAPIError):
            pass
        assert _snapshot(app) == before or name in went_through
    assert went_through == []


def _events(app, event_type: str) -> list[dict]:
    with app.app_context():
        return [json.loads(d) for d in db.session.scalars(
            select(AuditEvent.details).where(AuditEvent.event_type == event_type).order_by(AuditEvent.seq))]


def test_the_apps_own_changes_go_through_with_their_audit_events(app, world):
    from backend.governance import grants
    from backend.fleet import service as fleet
    from backend.models.access import Grant

    with app.app_context():
        fleet.change_assignment(world["spare_assignment"], available_until=date(2026, 3, 31), actor=None)
        fleet.change_assignment(world["spare_assignment"], open_end=True, actor=None)
        fleet.delete_assignment(world["spare_assignment"], actor=None)
        grant = db.session.get(Grant, world["grant"])
        grants.revoke(grant, user(world["people"].privacy), "Onderzoek afgerond")
        assert audit.verify().ok
    changed = _events(app, "assignment_changed")
    assert [e["new"]["until"] for e in changed] == ["2026-03-31", None]
    assert [e["assignment_id"] for e in _events(app, "assignment_deleted")] == [world["spare_assignment"]]
    assert len(_events(app, "grant_revoked")) == 1


def test_an_expired_grant_is_marked_with_its_event(app, world):
    from backend.governance import grants
    with app.app_context():
        assert grants.mark_expired(datetime(2099, 1, 1, tzinfo=UTC)) == 1
    assert len(_events(app, "grant_expired")) == 1


def _switch_off_grant_triggers_and_widen(database_url: str) -> None:
    widen = ("UPDATE access_grants SET categories = categories || ',private_trip_details', "
             "expires_at = '2030-01-01 00:00:00.000000{zone}'")
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(make_url(database_url).database)
        names = [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'access_grants'")]
        connection.close()
        assert names, "access_grants has no trigger to drop"
        tamper(database_url, *[f"DROP TRIGGER {n}" for n in names], widen.format(zone=""))
    else:  # only the owner can do this
        tamper(database_url, "ALTER TABLE access_grants DISABLE TRIGGER USER", widen.format(zone="+00"),
               "ALTER TABLE access_grants ENABLE TRIGGER USER", role=POSTGRES_OWNER_ROLE)


def test_a_grant_changed_behind_the_triggers_is_refused_and_reported(app, world, database_url):
    from backend.access import door
    from backend.access.door import AccessDenied

    people = world["people"]
    with app.app_context():
        door.trips_for_driver(user(people.manager), people.driver, purpose="misuse_investigation")  # reads fine
    _switch_off_grant_triggers_and_widen(database_url)
    with app.app_context():
        with pytest.raises(AccessDenied, match="differs from its grant_issued event"):
            door.trips_for_driver(user(people.manager), people.driver, purpose="misuse_investigation")
    (reported,) = _events(app, "grant_tampered")
    assert reported["fields"] == ["categories", "expires_at"]
    denied = _events(app, "read_denied")
    assert "differs from its grant_issued event" in denied[-1]["reason"]
