"""Reads for the tax report that the door's public API does not offer yet, built from the
door's own deciding, querying and audit internals (so the rules stay in one place).

- own_tax_report_rows: the driver's own export, WITH their private start/end positions. The
  seals are opened for the driver only (the door audits every opening as seal_opened) and the
  export itself is audited as own_export. Nobody else can get this: finance never holds the
  private_trip_details category under the tax purpose, and the driver only for their own id.
"""
from __future__ import annotations

from datetime import date

from backend import audit
from backend.access import door
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TAX
from backend.models.accounts import User

OWN_EXPORT = "own_export"


def own_tax_report_rows(actor: User, *, year: int) -> list[door.TripView]:
    """The actor's own trips of one calendar year, private positions opened (for them only)."""
    period = (date(year, 1, 1), date(year, 12, 31))
    access = door._decide(actor, TAX, PRIVATE_TRIP_DETAILS, driver_id=actor.id, period=period)
    if not access.own:  # e.g. someone holding both roles: the private view is the driver's alone
        door._deny(actor, TAX, actor.id, None, "only the driver may export their own private trips")
    # A report never carries tracks.
    access = door._Access(access.purpose, access.categories - {BUSINESS_TRACKS}, access.own, access.grant,
                          access.driver_id, access.vehicle_id, access.period)
    rows = door._query(access, driver_id=actor.id, period=period)
    views = door._views(actor, access, rows, what="own_tax_report")
    audit.record(OWN_EXPORT, actor=actor, subject_user_id=actor.id, purpose=TAX,
                 details={"year": year, "records": len(views)})
    return views
