"""The tax report's reads, built from the door's deciding, querying and audit (so the rules
stay in one place).

- tax_report_rows: the same rows, decision and audit as tax_report_rows_with_gaps (reads/trips.py),
  read as plain columns instead of ORM objects (no record body, no seal contents: a seal's presence is
  all the employer's view needs). A year of a busy car is thousands of rows; loading, tracking
  and expiring them as ORM objects cost more than the whole rest of a CSV report. It leaves out
  the device's gap lists (TripView.gaps is empty: a report has no column for them) and decodes a
  trip's flag lists only when there are any (decoding them all cost a third of the query);
  tests/backend/test_report_reads.py holds it equal to tax_report_rows_with_gaps.
- own_tax_report_rows: the driver's own export, WITH their private start/end positions. The
  seals are opened for the driver only (the door audits every opening as seal_opened) and the
  export itself is audited as own_export. Nobody else can get this: finance never holds the
  private_trip_details category under the tax purpose, and the driver only for their own id.
"""
from __future__ import annotations

import json
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, and_, cast, select

from backend import audit
from backend.access.door.decide import Access, decide, deny, tax_report_access
from backend.access.door.query import narrow, query_trips, utc_period_bounds
from backend.access.door.views import (TripView, audit_openings, audit_read, positions_for, stored_positions,
                                       trip_views)
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TAX
from backend.db import db
from backend.models.accounts import User
from backend.models.trips import Trip

OWN_EXPORT = audit.kind("own_export", _l("Own trip report downloaded"))


def own_tax_report_rows(actor: User, *, year: int) -> list[TripView]:
    """The actor's own trips of one calendar year, private positions opened (for them only)."""
    period = (date(year, 1, 1), date(year, 12, 31))
    access = decide(actor, TAX, PRIVATE_TRIP_DETAILS, driver_id=actor.id, period=period)
    if not access.own:  # e.g. someone holding both roles: the private view is the driver's alone
        deny(actor, TAX, actor.id, None, "only the driver may export their own private trips")
    # A report never carries tracks.
    access = Access(access.purpose, access.categories - {BUSINESS_TRACKS}, access.own, access.grant,
                          access.driver_id, access.vehicle_id, access.period)
    rows = query_trips(access, driver_id=actor.id, period=period)
    views = trip_views(actor, access, rows, what="own_tax_report")
    audit.record(OWN_EXPORT, actor=actor, subject_user_id=actor.id, purpose=TAX,
                 details={"year": year, "records": len(views)})
    return views


_COLUMNS = (Trip.id, Trip.vehicle_id, Trip.driver_id, Trip.started_at, Trip.ended_at, Trip.odometer_start_km,
            Trip.odometer_end_km, Trip.distance_km, Trip.mode,
            cast(Trip.flags, Text).label("flags"), cast(Trip.ingest_flags, Text).label("ingest_flags"),
            Trip.start_lat, Trip.start_lon, Trip.end_lat, Trip.end_lon, Trip.start_sealed, Trip.end_sealed)
_EMPTY = (None, "", "[]", "null")


def _flags(text: str | None) -> tuple[str, ...]:
    return () if text in _EMPTY else tuple(json.loads(text))


def tax_report_rows(actor: User, *, year: int, driver_id: int | None = None,
                    vehicle_id: int | None = None, commit: bool = True) -> list[TripView]:
    """tax_report_rows_with_gaps as plain columns: the same access decision, the same rows, the same
    views (private positions never, whoever asks) but for the gap lists, and the same READ audit
    event. commit=False leaves the audit event in the caller's transaction (the caller commits
    it, also when it fails)."""
    access, period = tax_report_access(actor, year, driver_id, vehicle_id)
    conditions = []
    for column, values in ((Trip.driver_id, (driver_id, access.driver_id)),
                           (Trip.vehicle_id, (vehicle_id, access.vehicle_id))):
        conditions.extend(column == value for value in values if value is not None)
    bounds = utc_period_bounds(narrow(period, access.period))
    if bounds:
        conditions += [Trip.started_at >= bounds[0], Trip.started_at < bounds[1]]
    rows = db.session.execute(select(*_COLUMNS).where(and_(*conditions))
                              .order_by(Trip.started_at, Trip.id)).all()
    rows_by_id = {row.id: row for row in rows}
    # Which positions a reader sees is the door's rule (positions_for, by effective character);
    # seals are opened only for the few trips whose driver opened them for the tax report.
    stored = stored_positions(rows)
    views, opened = [], []
    empty, positions, categories = _EMPTY, positions_for, access.categories
    for (trip_id, trip_vehicle, trip_driver, started_at, ended_at, odo_start, odo_end, distance, mode, flags,
         ingest_flags, *_) in rows:
        trip = stored[trip_id]
        start, end, withheld, by_driver, envelopes = positions(trip, categories)
        if envelopes:
            opened.append((rows_by_id[trip_id], envelopes))
        views.append(TripView(
            id=trip_id, vehicle_id=trip_vehicle, driver_id=trip_driver, started_at=started_at, ended_at=ended_at,
            odometer_start_km=odo_start, odometer_end_km=odo_end, distance_km=distance, mode=mode,
            flags=() if flags in empty else _flags(flags),
            ingest_flags=() if ingest_flags in empty else _flags(ingest_flags), gaps=(),
            start=start, end=end, positions_withheld=withheld, character=trip.character,
            sealed=bool(trip.seals[0] or trip.seals[1]), withheld_by_driver=by_driver))
    audit_openings(actor, access, opened)
    if not access.own:
        audit_read(actor, access, views, what="tax_report", commit=False)
    if commit and (opened or not access.own):
        db.session.commit()
    return views


def trip_numbers(vehicle_ids: list[int], year: int) -> dict[int, int]:
    """trip id -> ritnummer: per car and calendar year (local start date), the order in which
    the trips reached the backend (their ids). A trip arriving late takes the next free number
    and no earlier number ever changes (docs/reports.md). Ids only: no trip contents are read."""
    bounds = utc_period_bounds((date(year, 1, 1), date(year, 12, 31)))
    numbers: dict[int, int] = {}
    counts: dict[int, int] = {}
    for trip_id, vehicle_id in db.session.execute(
            select(Trip.id, Trip.vehicle_id).where(Trip.vehicle_id.in_(vehicle_ids), Trip.started_at >= bounds[0],
                                                   Trip.started_at < bounds[1]).order_by(Trip.id)):
        counts[vehicle_id] = numbers[trip_id] = counts.get(vehicle_id, 0) + 1
    return numbers
