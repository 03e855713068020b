"""The driver's classification proposals on the pages: the driver's rules (places and working
hours), the proposal of each trip, its reason in the reader's language, and confirming
proposals one by one or in bulk.

Confirming writes through backend.trips.revisions.revise, the one path that enforces the
correction window, closed periods, the van's verklaring and the seal of a private trip; the
proposal is computed again from the stored trip and the driver's current rules, so a stale page
cannot confirm something that is no longer proposed. Each confirmed trip also gets one audit
event (PROPOSAL_CONFIRMED) naming the rule, whether it was confirmed alone or in bulk.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import time

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backend import audit
from backend.access import door
from backend.access.door import TripView
from backend.local_time import LOCAL
from backend.db import db
from backend.driver import places as place_service
from backend.models.accounts import User
from backend.models.places import DriverWorkingHours
from backend.trips import proposals, revisions
from backend.trips.proposals import DriverRules, Proposal, TripFacts, WorkingHours
from backend.trips.revisions import RevisionError

# audit kind: the driver confirmed a proposal (one trip)
PROPOSAL_CONFIRMED = audit.kind("proposal_confirmed", _l("Driver confirmed a classification proposal"))
_CLOCK = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")


class SettingError(ValueError):
    pass


def _l(msgid: str) -> str:
    """Marks a message for extraction; the view translates it."""
    return msgid


# --- the driver's rules ---------------------------------------------------------------------

def working_hours_of(driver_id: int) -> WorkingHours | None:
    row = db.session.get(DriverWorkingHours, driver_id)
    if row is None:
        return None
    return WorkingHours(frozenset(int(d) for d in row.weekdays), _time(row.start_minute), _time(row.end_minute))


def _time(minute: int) -> time:
    return time(23, 59) if minute >= 1440 else time(minute // 60, minute % 60)


def _minute(text: str) -> int:
    found = _CLOCK.match((text or "").strip())
    if found is None:
        raise SettingError(_("Give the times as hours and minutes, e.g. 08:30."))
    return int(found.group(1)) * 60 + int(found.group(2))


def set_working_hours(driver_id: int, weekdays: Iterable[str], start: str, end: str) -> None:
    """Store the driver's working days (ISO weekday numbers) and hours; SettingError names what
    is wrong and nothing is stored."""
    days = sorted({int(d) for d in weekdays if str(d) in {"1", "2", "3", "4", "5", "6", "7"}})
    if not days:
        raise SettingError(_("Tick at least one working day."))
    start_minute, end_minute = _minute(start), _minute(end)
    if start_minute >= end_minute:
        raise SettingError(_("The working day ends after it starts, e.g. from 08:30 to 17:30."))
    row = db.session.get(DriverWorkingHours, driver_id) or DriverWorkingHours(driver_id=driver_id)
    row.weekdays = "".join(str(d) for d in days)
    row.start_minute, row.end_minute = start_minute, end_minute
    db.session.add(row)
    db.session.commit()


def clear_working_hours(driver_id: int) -> None:
    row = db.session.get(DriverWorkingHours, driver_id)
    if row is not None:
        db.session.delete(row)
        db.session.commit()


def rules_for(driver_id: int) -> DriverRules:
    return DriverRules(tuple(place_service.zones_for(driver_id)), working_hours_of(driver_id))


# --- proposals for trips --------------------------------------------------------------------

def facts_of(view: TripView) -> TripFacts:
    position = (lambda p: (p.lat, p.lon) if p is not None else None)
    return TripFacts(view.started_at.astimezone(LOCAL), view.ended_at.astimezone(LOCAL),
                     position(view.start), position(view.end))


def proposal_for(view: TripView, trip_class: str | None, rules: DriverRules) -> Proposal | None:
    return proposals.propose_unclassified(facts_of(view), rules, classified=bool(trip_class), flags=view.flags)


def reason_text(proposal: Proposal) -> str:
    """The proposal's reason for the driver, e.g. "Woon-werk: van Thuis naar Werk"."""
    if proposal.rule == proposals.RULE_COMMUTE:
        return _("Commute: from %(start)s to %(end)s", start=proposal.params["start"], end=proposal.params["end"])
    if proposal.rule == proposals.RULE_CUSTOMER:
        return _("Customer: %(name)s", name=proposal.params["name"])
    if proposal.rule == proposals.RULE_HOLIDAY:
        return _("Public holiday: %(name)s", name=_(proposal.params["name"]))
    if proposal.rule == proposals.RULE_WEEKEND:
        return _("Weekend")
    return _("Within your working hours")


# --- confirming -----------------------------------------------------------------------------

@dataclass
class Outcome:
    confirmed: list[int] = field(default_factory=list)
    locked: list[int] = field(default_factory=list)  # not editable any more: nothing written
    stale: list[int] = field(default_factory=list)  # classified meanwhile, or no longer this proposal
    errors: list[str] = field(default_factory=list)  # refused by the revision path (translated)


def confirm(actor: User, choices: Sequence[tuple[int, str]], *, bulk: bool) -> Outcome:
    """Confirm the proposals the driver saw: (trip id, proposed class) pairs. A trip is
    classified only when it is the driver's own, still unclassified, still proposed that class and
    still editable; each class is written in one revise() call (all-or-nothing per class)."""
    outcome = Outcome()
    wanted = dict(choices)
    if not wanted:
        return outcome
    views = door.trip_summaries(actor, wanted)  # AccessDenied (audited) for a trip not theirs to read
    views = [v for v in views if v.driver_id == actor.id]
    annotations = revisions.current_annotations(views, for_driver=True)
    states = revisions.lock_states(views)
    rules = rules_for(actor.id)
    by_class: dict[str, list[tuple[TripView, Proposal]]] = {}
    for view in views:
        proposal = proposal_for(view, annotations[view.id].effective_class(view), rules)
        if proposal is None or proposal.classification != wanted[view.id]:
            outcome.stale.append(view.id)
        elif not states[view.id].editable:
            outcome.locked.append(view.id)
        else:
            by_class.setdefault(proposal.classification, []).append((view, proposal))
    outcome.stale += [trip_id for trip_id in wanted if trip_id not in {v.id for v in views}]
    for trip_class, chosen in by_class.items():
        try:
            written = revisions.revise(actor, [view.id for view, _p in chosen], {revisions.CLASSIFICATION: trip_class})
        except RevisionError as exc:
            outcome.errors.append(exc.translated())
            continue
        revision_of = {row.trip_id: row.id for row in written}
        for view, proposal in chosen:
            audit.record(PROPOSAL_CONFIRMED, actor=actor, subject_user_id=actor.id, purpose="tax", commit=False,
                         details={"trip_id": view.id, "classification": trip_class, "rule": proposal.rule,
                                  "bulk": bulk, "revision_id": revision_of.get(view.id)})
            outcome.confirmed.append(view.id)
        db.session.commit()
    return outcome


def known_place_from_trip(actor: User, view: TripView, name: str, radius_m: float):
    """Save the trip's arrival as the driver's known place (a customer): the point where the trip
    ended, with a radius. Only for a trip whose arrival the driver sees (not a private one)."""
    if view.end is None or view.is_private or view.sealed:
        raise place_service.PlaceError(_l("This trip has no arrival position to save."))
    return place_service.add_place(actor.id, proposals.CUSTOMER, name, view.end.lat, view.end.lon, radius_m)

