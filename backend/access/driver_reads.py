"""Reads for the driver's pages and the revision service that the door's public API does not
offer, built from the door's own deciding, querying and audit internals (the rules stay in one
place, backend/access/door.py).

Both functions return summaries WITHOUT opening any seal: listing, classifying or counting
trips never needs a private position, so none is decrypted (and no seal_opened event is
written for it). A driver who wants to see a private trip's positions opens the detail page,
which reads through door.trip (audited as seal_opened).
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from backend.access import door
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TAX, TRIP_SUMMARIES
from backend.db import db
from backend.models.accounts import User
from backend.models.trips import Trip


def _without_private_details(access: door._Access) -> door._Access:
    return door._Access(access.purpose, access.categories - {PRIVATE_TRIP_DETAILS, BUSINESS_TRACKS},
                        access.own, access.grant, access.driver_id, access.vehicle_id, access.period)


def own_trip_summaries(actor: User, period: door.Period | None = None) -> list[door.TripView]:
    """The actor's own trips (ordered by start), private positions left sealed."""
    access = door._decide(actor, TAX, TRIP_SUMMARIES, driver_id=actor.id, period=period)
    rows = door._query(_without_private_details(access), driver_id=actor.id, period=period)
    return door._views(actor, _without_private_details(access), rows, what="trips", open_seals=False)


def trip_summaries(actor: User, trip_ids: Iterable[int], purpose: str = TAX) -> list[door.TripView]:
    """Trips by id, in the order given, private positions left sealed. Each trip is decided on
    its own: one the actor may not read raises AccessDenied (audited), as does an unknown id."""
    ids = list(dict.fromkeys(int(i) for i in trip_ids))
    if not ids:
        return []
    rows = {row.id: row for row in db.session.scalars(select(Trip).where(Trip.id.in_(ids)))}
    views: dict[int, door.TripView] = {}
    for trip_id in ids:
        row = rows.get(trip_id)
        if row is None:
            door.deny(actor, purpose, None, None, "no such trip", trip_id=trip_id)
        access = door._decide(actor, purpose, TRIP_SUMMARIES, driver_id=row.driver_id,
                              vehicle_id=row.vehicle_id, period=(door._local_day(row.started_at),) * 2,
                              trip_id=trip_id)
        views[trip_id] = door._views(actor, _without_private_details(access), [row], what="trip",
                                     open_seals=False)[0]
    return [views[i] for i in ids]
