"""Classification proposals: what a trip most likely was, with the reason, for the driver to
confirm in one click or in bulk. Only a proposal: nothing here reads or writes the database, and
a proposal becomes a classification only through backend.trips.revisions.revise (the correction
window, the lock, closed periods, the van's verklaring and the seal of a private trip stay there).

The rules, first match wins (docs/driver.md):
1. commute: from one of the driver's homes to one of their work places, or back
   (backend.trips.commute);
2. business: the trip ends at one of the driver's known places (a customer);
3. private: the trip starts on a Dutch public holiday (dutch_holidays);
4. private: the trip starts on a Saturday or Sunday that is not one of the driver's working days;
5. business: the trip starts and ends inside the driver's working hours on a working day.
Anything else gets no proposal: the driver decides.

Pure functions over plain values: the caller hands in local times, positions and the driver's
places and working hours.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from dateutil.easter import easter

from backend.trips import commute
from backend.trips.commute import LatLon, Zone

BUSINESS, COMMUTE, PRIVATE = "business", "commute", "private"
CUSTOMER = "customer"  # a driver's known place (backend.models.places.PlaceKind.CUSTOMER)

# The rules' names, as kept in the audit log of a confirmed proposal.
RULE_COMMUTE, RULE_CUSTOMER, RULE_HOLIDAY, RULE_WEEKEND, RULE_WORKING_HOURS = (
    "commute", "customer", "holiday", "weekend", "working_hours")

ISO_WEEKDAYS = range(1, 8)  # Monday 1 .. Sunday 7
SATURDAY, SUNDAY = 6, 7


def _l(msgid: str) -> str:
    """Marks a holiday name for extraction; the pages translate it."""
    return msgid


@dataclass(frozen=True)
class WorkingHours:
    """The driver's working days (ISO weekdays) and hours, the same every working day."""

    weekdays: frozenset[int]
    start: time
    end: time

    def covers(self, started: datetime, ended: datetime) -> bool:
        """The whole trip lies inside the hours of one working day."""
        return (started.isoweekday() in self.weekdays and started.date() == ended.date()
                and self.start <= started.time() and ended.time() <= self.end)


DEFAULT_WORKING_HOURS = WorkingHours(frozenset({1, 2, 3, 4, 5}), time(8, 0), time(18, 0))


@dataclass(frozen=True)
class DriverRules:
    """What the proposals know of a driver: their places and, when set, their working hours."""

    zones: tuple[Zone, ...] = ()
    working_hours: WorkingHours | None = None

    @property
    def working_days(self) -> frozenset[int]:
        return self.working_hours.weekdays if self.working_hours else DEFAULT_WORKING_HOURS.weekdays


@dataclass(frozen=True)
class Proposal:
    classification: str  # "business", "commute" or "private"
    rule: str  # one of the RULE_* names
    params: dict[str, str] = field(default_factory=dict)  # for the reason text (place or holiday names)


@dataclass(frozen=True)
class TripFacts:
    """What a proposal looks at: local start and end times, and the positions when visible."""

    started: datetime  # local time (Europe/Amsterdam)
    ended: datetime
    start: LatLon | None
    end: LatLon | None


def propose(trip: TripFacts, rules: DriverRules) -> Proposal | None:
    """The proposal for an unclassified trip (see the module doc), or None."""
    ends = commute.commute_ends(trip.start, trip.end, rules.zones)
    if ends is not None:
        return Proposal(COMMUTE, RULE_COMMUTE, {"start": ends[0].name, "end": ends[1].name})
    if trip.end is not None:
        customer = commute.first_containing(rules.zones, CUSTOMER, trip.end)
        if customer is not None:
            return Proposal(BUSINESS, RULE_CUSTOMER, {"name": customer.name})
    day = trip.started.date()
    holiday = dutch_holidays(day.year).get(day)
    if holiday is not None:
        return Proposal(PRIVATE, RULE_HOLIDAY, {"name": holiday})
    if day.isoweekday() in (SATURDAY, SUNDAY) and day.isoweekday() not in rules.working_days:
        return Proposal(PRIVATE, RULE_WEEKEND)
    if rules.working_hours is not None and rules.working_hours.covers(trip.started, trip.ended):
        return Proposal(BUSINESS, RULE_WORKING_HOURS)
    return None


def propose_unclassified(trip: TripFacts, rules: DriverRules, *, classified: bool,
                         flags: Iterable[str] = ()) -> Proposal | None:
    """No proposal for a trip a person (or the privacy switch) classified already, nor for one
    no car could have made (implausible motion): a person decides what it was."""
    if classified or "implausible_motion" in flags:
        return None
    return propose(trip, rules)


# --- Dutch public holidays ----------------------------------------------------------------------

@lru_cache(maxsize=64)
def dutch_holidays(year: int) -> dict[date, str]:
    """The general public holidays of the Netherlands (Algemene termijnenwet) with their names.

    Bevrijdingsdag (5 May) is a national holiday every year, but most employers and collective
    agreements give the day off only in lustrum years (2025, 2030, ...): it counts in those years
    only, so that a working 5 May is not proposed private. Goede Vrijdag is not a general day off
    and does not count. Koningsdag is 27 April, or 26 April when the 27th is a Sunday (from 2014;
    before that Koninginnedag, 30 April, or the 29th when the 30th was a Sunday)."""
    easter_sunday = easter(year)
    if year >= 2014:
        kings_day = date(year, 4, 27)
        kings_day -= timedelta(days=1) if kings_day.isoweekday() == SUNDAY else timedelta(0)
        kings_name = _l("King's Day")
    else:
        kings_day = date(year, 4, 30)
        kings_day -= timedelta(days=1) if kings_day.isoweekday() == SUNDAY else timedelta(0)
        kings_name = _l("Queen's Day")
    days = {
        date(year, 1, 1): _l("New Year's Day"),
        easter_sunday: _l("Easter Sunday"),
        easter_sunday + timedelta(days=1): _l("Easter Monday"),
        kings_day: kings_name,
        easter_sunday + timedelta(days=39): _l("Ascension Day"),
        easter_sunday + timedelta(days=49): _l("Whit Sunday"),
        easter_sunday + timedelta(days=50): _l("Whit Monday"),
        date(year, 12, 25): _l("Christmas Day"),
        date(year, 12, 26): _l("Boxing Day"),
    }
    if year % 5 == 0:
        days.setdefault(date(year, 5, 5), _l("Liberation Day"))
    return days
