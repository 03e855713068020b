"""A month of a driver's trips for the proposal tests (HTTP and browser): every day of last month
one trip at 10:00 and, on some days, an evening trip at 21:00; every fifth day home to work
(commute), and days 2, 9, 16, 23, 30 to the bakery that becomes a known place. Ingested as
signed uploads (tests/backend/trip_factory.py), with an agreement whose correction window keeps
the whole month editable."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from backend.db import db
from tests.backend.access_support import consent_day, example_text, make_people, shown, user
from tests.backend.trip_factory import AMSTERDAM, UTRECHT, TripFactory, TripSpec

LOCAL = ZoneInfo("Europe/Amsterdam")
HOME, WORK = UTRECHT, AMSTERDAM
BAKERY = (51.92250, 4.47917)  # Rotterdam
EINDHOVEN, DEN_BOSCH = (51.4416, 5.4697), (51.6978, 5.3037)
WINDOW_DAYS = 70  # last month, whole, stays inside the correction window


@dataclass
class MonthTrip:
    id: int
    day: date
    at: time
    start: tuple[float, float]
    end: tuple[float, float]


def last_month() -> date:
    return (datetime.now(LOCAL).date().replace(day=1) - timedelta(days=1)).replace(day=1)


def month_specs(first: date) -> list[tuple[date, time, tuple, tuple]]:
    specs = []
    day = first
    while day.month == first.month:
        if day.day % 5 == 0:
            start, end = HOME, WORK
        elif day.day % 7 == 2:
            start, end = EINDHOVEN, BAKERY
        else:
            start, end = EINDHOVEN, DEN_BOSCH
        specs.append((day, time(10, 0), start, end))
        if day.day % 3 == 0:
            specs.append((day, time(21, 0), DEN_BOSCH, EINDHOVEN))
        day += timedelta(days=1)
    return specs


def long_window(app, people) -> None:
    from backend.governance import agreements
    with app.app_context():
        version = agreements.upload(example_text().replace("correction_window_days: 7",
                                                           f"correction_window_days: {WINDOW_DAYS}"),
                                    user(people.privacy))
        agreements.record_consent(version, user(people.or_delegate), consent_day(), "OR-2026-016",
                                  text_sha256=shown(version))


def upload_month(app, client, make_user, tmp_path) -> tuple[object, list[MonthTrip], date]:
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    long_window(app, people)
    first = last_month()
    factory = TripFactory(app, client, driver_email="daan@example.nl",
                          assigned_from=first.replace(day=1).isoformat())
    specs = month_specs(first)
    ids = factory.upload(*(TripSpec(datetime.combine(day, at, LOCAL), km=18.0, start=start, end=end, minutes=25)
                           for day, at, start, end in specs))
    return people, [MonthTrip(i, *spec) for i, spec in zip(ids, specs)], first


def expected_class(trip: MonthTrip, holidays: dict[date, str]) -> str | None:
    """What the rules propose, written out for the month (working hours Monday-Friday 8-18)."""
    if (trip.start, trip.end) == (HOME, WORK):
        return "commute"
    if trip.end == BAKERY:
        return "business"
    if trip.day in holidays or trip.day.isoweekday() >= 6:
        return "private"
    return "business" if trip.at == time(10, 0) else None


def acknowledge_notice(client) -> None:
    """The driver reads the privacy notice of the agreement in force (asked before first use)."""
    import re
    page = client.get("/privacy-notice").get_data(as_text=True)
    key = re.search(r'name="notice_sha256" type="hidden" value="([0-9a-f]{64})"', page).group(1)
    assert client.post("/privacy-notice", data={"notice_sha256": key}).status_code == 303


def set_up_rules(client, bakery_trip_id: int) -> None:
    """The driver's rules, each through its own page: home and work, working hours, and the
    bakery saved from a trip's arrival with one click."""
    acknowledge_notice(client)
    for kind, (lat, lon) in (("home", HOME), ("work", WORK)):
        name = "Thuis" if kind == "home" else "Werk"
        assert client.post("/me/places", data={"kind": kind, "name": name, "lat": str(lat), "lon": str(lon),
                                               "radius_m": "250"}).status_code == 302
    assert client.post("/me/working-hours", data={"weekday": ["1", "2", "3", "4", "5"], "start": "08:00",
                                                  "end": "18:00"}).status_code == 302
    assert client.post(f"/me/trips/{bakery_trip_id}/known-place",
                       data={"name": "Bakkerij Jansen", "radius_m": "150"}).status_code == 302


def classifications(app) -> dict[int, str]:
    from backend.models.revisions import TripRevision
    with app.app_context():
        rows = db.session.execute(select(TripRevision.trip_id, TripRevision.new_value)
                                  .where(TripRevision.field == "classification").order_by(TripRevision.id)).all()
    return dict(rows)


def confirmations(app) -> list[dict]:
    from backend.models.audit import AuditEvent
    with app.app_context():
        return [json.loads(d) if isinstance(d, str) else d for d in db.session.scalars(
            select(AuditEvent.details).where(AuditEvent.event_type == "proposal_confirmed").order_by(AuditEvent.seq))]


def row_counts(app, *, except_tables=("address_cache",)) -> dict[str, int]:
    """Rows per table: a page view that only proposes leaves every count as it was (the
    geocoder's cache excepted)."""
    with app.app_context():
        return {table.name: db.session.scalar(select(func.count()).select_from(table))
                for table in db.metadata.sorted_tables if table.name not in except_tables}
