"""Unexplained km: stretches of a car's odometer that no trip covers, and their explanations.

Between two consecutive trips of a car the device odometer should not move; when the next trip
starts at another odometer value, the km between are *onverklaard* (the box was off or unplugged,
the car was driven without it). They count against the 500 km limit (backend.trips.counter) until
the driver (of the trips on both sides) or finance explains them with a reason; the explanation is
an append-only record (backend.models.explanations), audited as KM_EXPLAINED, and the km then
count as explained. The report (backend.reports.build) and the counter find the same stretches
here; trips come through the door, read by the caller.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backend import audit
from backend.db import db
from backend.errors import N_, UserError
from backend.models.accounts import Role, User
from backend.models.explanations import KmExplanation

# audit kind: a stretch of unexplained km was explained with a reason
KM_EXPLAINED = audit.kind("km_explained", _l("Unexplained km explained with a reason"))
MAX_REASON = 500


class ExplanationError(UserError):
    """An explanation that cannot be recorded: a message for people (English msgid)."""


@dataclass(frozen=True)
class Stretch:
    vehicle_id: int
    day: date  # local day of the trip after the stretch
    before: datetime  # start of the trip after it (UTC)
    driver_id: int | None  # the driver of the trips on both sides; None when they differ
    from_m: int  # device odometer (metres) at the end of the trip before it
    to_m: int  # ... and at the start of the trip after it
    km: Decimal  # printed (calibrated) start of the trip after it minus the printed end before it
    reason: str | None = None  # the newest explanation, if any
    explained_by: str | None = None  # "driver" or "finance"
    explained_at: datetime | None = None

    @property
    def explained(self) -> bool:
        return self.reason is not None


def key(end_km: float, start_km: float) -> tuple[int, int]:
    """A stretch's ends in whole metres of the device odometer (as the trips were uploaded)."""
    return round(end_km * 1000), round(start_km * 1000)


def is_gap(previous_end_km: float, start_km: float) -> bool:
    """The rule the report and the counter share: the odometer moved between two trips."""
    return round(start_km - previous_end_km, 3) != 0


def explanations(vehicle_ids: Iterable[int]) -> dict[tuple[int, int, int], KmExplanation]:
    """(vehicle, from_m, to_m) -> the newest explanation of that stretch."""
    ids = sorted(set(vehicle_ids))
    if not ids:
        return {}
    found: dict[tuple[int, int, int], KmExplanation] = {}
    for row in db.session.scalars(select(KmExplanation).where(KmExplanation.vehicle_id.in_(ids))
                                  .order_by(KmExplanation.id)):
        found[(row.vehicle_id, row.from_odometer_m, row.to_odometer_m)] = row
    return found


def find(trips: list, calibrated: dict, known: dict, printed) -> list[Stretch]:
    """The stretches between consecutive `trips` of one car (door views in start order);
    `printed` is backend.odometer.service.printed_odometer, `known` is explanations()."""
    out: list[Stretch] = []
    previous = None
    for trip in trips:
        if previous is not None and is_gap(previous.odometer_end_km, trip.odometer_start_km):
            from_m, to_m = key(previous.odometer_end_km, trip.odometer_start_km)
            explanation = known.get((trip.vehicle_id, from_m, to_m))
            out.append(Stretch(
                vehicle_id=trip.vehicle_id, day=trip.local_date, before=trip.started_at,
                driver_id=trip.driver_id if trip.driver_id == previous.driver_id else None,
                from_m=from_m, to_m=to_m,
                km=printed(trip, calibrated)[0] - printed(previous, calibrated)[1],
                reason=explanation.reason if explanation else None,
                explained_by=explanation.author_role if explanation else None,
                explained_at=explanation.created_at if explanation else None))
        previous = trip
    return out


def for_trips(trips: list) -> list[Stretch]:
    """Every stretch between the given trips (door views), car by car, with its explanation."""
    from collections import defaultdict

    from backend.odometer import service as odometer

    by_vehicle: dict[int, list] = defaultdict(list)
    for trip in sorted(trips, key=lambda t: (t.started_at, t.id)):
        by_vehicle[trip.vehicle_id].append(trip)
    known = explanations(by_vehicle)
    out: list[Stretch] = []
    for vehicle_id, vehicle_trips in by_vehicle.items():
        calibrated = odometer.calibrated_odometers(vehicle_id, vehicle_trips)
        out.extend(find(vehicle_trips, calibrated, known, odometer.printed_odometer))
    return out


def explain(actor: User, candidates: list[Stretch], vehicle_id: int, from_m: int, to_m: int, reason: str,
            *, as_finance: bool) -> KmExplanation:
    """Record why a stretch was driven. `candidates` are the stretches the actor may explain (the
    caller read them through the door: a driver's own, or finance's for a car)."""
    reason = (reason or "").strip()
    if not reason:
        raise ExplanationError(N_("Give a reason, for example: garage, test drive by the mechanic."))
    if len(reason) > MAX_REASON:
        raise ExplanationError(N_("The reason is too long (at most 500 characters)."))
    stretch = next((s for s in candidates if (s.vehicle_id, s.from_m, s.to_m) == (vehicle_id, from_m, to_m)), None)
    if stretch is None:
        raise ExplanationError(N_("There is no such stretch of unexplained km that you may explain."))
    if as_finance and not actor.has_role(Role.FINANCE):
        raise ExplanationError(N_("There is no such stretch of unexplained km that you may explain."))
    row = KmExplanation(vehicle_id=vehicle_id, from_odometer_m=from_m, to_odometer_m=to_m, reason=reason,
                        author_id=actor.id, author_role="finance" if as_finance else "driver")
    db.session.add(row)
    db.session.flush()
    audit.record(KM_EXPLAINED, actor=actor, subject_user_id=stretch.driver_id, subject_vehicle_id=vehicle_id,
                 purpose="tax", details={"from_odometer_m": from_m, "to_odometer_m": to_m, "km": str(stretch.km),
                                         "reason": reason, "explanation_id": row.id}, commit=False)
    db.session.commit()
    return row
