"""Reads for the driver's pages and the revision service, built from the door's deciding,
querying and audit (the rules stay in one place).

Both functions return summaries WITHOUT opening any seal: listing, classifying or counting
trips never needs a private position, so none is decrypted (and no seal_opened event is
written for it). A driver who wants to see a private trip's positions opens the detail page,
which reads through the door's trip() (audited as seal_opened).
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from backend.access.door.decide import Access, Period, decide, deny
from backend.access.door.query import local_day, query_trips
from backend.access.door.views import TripView, trip_views
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TAX, TRIP_SUMMARIES
from backend.db import db
from backend.models.accounts import User
from backend.models.trips import Trip


def _without_private_details(access: Access) -> Access:
    return Access(access.purpose, access.categories - {PRIVATE_TRIP_DETAILS, BUSINESS_TRACKS},
                        access.own, access.grant, access.driver_id, access.vehicle_id, access.period)


def own_trip_summaries(actor: User, period: Period | None = None) -> list[TripView]:
    """The actor's own trips (ordered by start), private positions left sealed."""
    access = decide(actor, TAX, TRIP_SUMMARIES, driver_id=actor.id, period=period)
    rows = query_trips(_without_private_details(access), driver_id=actor.id, period=period)
    return trip_views(actor, _without_private_details(access), rows, what="trips", open_seals=False)


def trip_summaries(actor: User, trip_ids: Iterable[int], purpose: str = TAX) -> list[TripView]:
    """Trips by id, in the order given, private positions left sealed. Each trip is decided on
    its own: one the actor may not read raises AccessDenied (audited), as does an unknown id."""
    ids = list(dict.fromkeys(int(i) for i in trip_ids))
    if not ids:
        return []
    rows = {row.id: row for row in db.session.scalars(select(Trip).where(Trip.id.in_(ids)))}
    views: dict[int, TripView] = {}
    for trip_id in ids:
        row = rows.get(trip_id)
        if row is None:
            deny(actor, purpose, None, None, "no such trip", trip_id=trip_id)
        access = decide(actor, purpose, TRIP_SUMMARIES, driver_id=row.driver_id,
                              vehicle_id=row.vehicle_id, period=(local_day(row.started_at),) * 2,
                              trip_id=trip_id)
        views[trip_id] = trip_views(actor, _without_private_details(access), [row], what="trip",
                                     open_seals=False)[0]
    return [views[i] for i in ids]
