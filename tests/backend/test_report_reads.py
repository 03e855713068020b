"""backend.access.door.tax_report_rows (plain columns, the reports' read) against
door.tax_report_rows_with_gaps (ORM objects) on both databases: the same views (but for the gap lists it
does not read), the same READ audit event, the same refusals. Trips with device flags and
ingest flags, from the real recordings."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timezone

import pytest
from sqlalchemy import select

from tests.backend import report_year as ry


@pytest.fixture(scope="session")
def replayed() -> ry.Replayed:
    return ry.replay_recordings()


@pytest.fixture
def trips(app, client, make_user, tmp_path, replayed):
    """A fortnight: the recording's trips (some flagged by the device), one private, and a hole
    in the device's chain (the backend flags the record after it)."""
    from backend import sealing_keys
    from tests.backend.fleet_helpers import enrolled_device

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    driver = make_user(ry.DRIVER_EMAIL, "driver", name=ry.DRIVER_NAME)
    finance = make_user(ry.FINANCE_EMAIL, "finance", name="Fenna de Boer")
    other = make_user("eva@example.nl", "driver", name="Eva Mulder")
    device = enrolled_device(app, client, kenteken=ry.KENTEKEN, driver_email=ry.DRIVER_EMAIL, assigned_from="2025-01-01")
    plan = []
    for n, day in enumerate(date(2025, 3, d) for d in range(3, 15)):
        trip = replayed.private[0] if day.weekday() == 5 else replayed.business[n % len(replayed.business)]
        plan.append(ry.Planned(trip, datetime.combine(day, time(8), ry.LOCAL).astimezone(timezone.utc),
                               "private" if day.weekday() == 5 else "business", skip_seq=n == 7))
    with app.app_context():
        public_raw = sealing_keys.current_key().public_raw
    response = device.post(client, ry.records(plan, public_raw))
    assert response.status_code == 200, response.get_json()
    return driver, finance, other


def _both(app, actor_id, **kwargs):
    from backend.access import door
    from backend.db import db
    from backend.models.accounts import User
    from backend.models.audit import AuditEvent

    out = []
    for read in (door.tax_report_rows_with_gaps, door.tax_report_rows):
        with app.app_context():
            views = read(db.session.get(User, actor_id), year=2025, **kwargs)
            db.session.commit()
            event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
            out.append((views, (event.event_type, event.actor_id, event.subject_user_id, event.subject_vehicle_id,
                                event.purpose, event.details)))
    return out


def test_the_same_views_and_the_same_audit_event_as_the_doors_read(app, trips):
    from backend.fleet import service

    driver, finance, _ = trips
    with app.app_context():
        vehicle_id = service.find_vehicle(ry.KENTEKEN).id
    for subject in ({"vehicle_id": vehicle_id}, {"driver_id": driver}):
        (plain, plain_event), (fast, fast_event) = _both(app, finance, **subject)
        assert len(plain) == len(fast) == 12
        assert [dataclasses.replace(v, gaps=()) for v in plain] == fast
        assert any(v.flags for v in fast) and any(v.ingest_flags for v in fast)  # decoding was exercised
        assert any(v.positions_withheld and v.start is None for v in fast)  # the private trip
        assert plain_event == fast_event and plain_event[0] == "read"
    # The driver's own read: the same views, and (own data) no READ event from either.
    (plain, _), (fast, _) = _both(app, driver, driver_id=driver)
    assert [dataclasses.replace(v, gaps=()) for v in plain] == fast


def test_the_same_refusal(app, trips):
    from backend.access import door
    from backend.access.door import AccessDenied
    from backend.db import db
    from backend.models.accounts import User

    driver, _, other = trips
    with app.app_context():
        with pytest.raises(AccessDenied):
            door.tax_report_rows(db.session.get(User, other), year=2025, driver_id=driver)
