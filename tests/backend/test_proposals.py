"""Classification proposals (backend/trips/proposals.py): a pure function of the trip and the
driver's places and working hours. The page and bulk tests live in test_driver_proposals.py."""
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.trips import commute, proposals
from backend.trips.proposals import DriverRules, TripFacts, WorkingHours

HOME = (52.0907, 5.1214)  # Utrecht
WORK = (52.3731, 4.8922)  # Amsterdam
BAKERY = (51.9225, 4.4792)  # Rotterdam
ELSEWHERE = (51.4416, 5.4697)  # Eindhoven
OFFICE_HOURS = WorkingHours(frozenset({1, 2, 3, 4, 5}), time(8, 0), time(18, 0))
ZONES = (commute.Zone("home", commute.Point(HOME[1], HOME[0]), 200, "Thuis"),
         commute.Zone("work", commute.Point(WORK[1], WORK[0]), 300, "Werk"),
         commute.Zone("customer", commute.Point(BAKERY[1], BAKERY[0]), 150, "Bakkerij Jansen"))
RULES = DriverRules(ZONES, OFFICE_HOURS)


def trip(start_at: datetime, minutes: int = 30, start=ELSEWHERE, end=ELSEWHERE) -> TripFacts:
    return TripFacts(start_at, start_at + timedelta(minutes=minutes), start, end)


def test_dutch_holidays_2025():
    days = proposals.dutch_holidays(2025)
    assert days[date(2025, 4, 26)] == "King's Day"  # 27 April 2025 is a Sunday
    assert date(2025, 4, 27) not in days
    assert days[date(2025, 5, 5)] == "Liberation Day"  # a lustrum year
    assert days[date(2025, 4, 20)] == "Easter Sunday" and days[date(2025, 4, 21)] == "Easter Monday"
    assert days[date(2025, 5, 29)] == "Ascension Day"
    assert days[date(2025, 6, 8)] == "Whit Sunday" and days[date(2025, 6, 9)] == "Whit Monday"
    assert days[date(2025, 12, 25)] == "Christmas Day" and days[date(2025, 12, 26)] == "Boxing Day"
    assert days[date(2025, 1, 1)] == "New Year's Day"
    assert len(days) == 10


def test_liberation_day_only_in_lustrum_years_and_kings_day_on_the_27th():
    days = proposals.dutch_holidays(2026)
    assert date(2026, 5, 5) not in days
    assert days[date(2026, 4, 27)] == "King's Day"  # a Monday
    assert days[date(2026, 4, 5)] == "Easter Sunday"


@given(st.integers(min_value=2014, max_value=2100))
def test_kings_day_is_never_a_sunday(year):
    kings = [day for day, name in proposals.dutch_holidays(year).items() if name == "King's Day"]
    assert len(kings) == 1 and kings[0].isoweekday() != 7 and kings[0] in (date(year, 4, 26), date(year, 4, 27))


def test_a_holiday_on_a_weekday_inside_working_hours_proposes_private_with_its_name():
    proposal = proposals.propose(trip(datetime(2025, 4, 21, 10, 0)), RULES)  # Easter Monday
    assert (proposal.classification, proposal.rule, proposal.params) == ("private", "holiday",
                                                                          {"name": "Easter Monday"})


def test_koningsdag_on_a_saturday_in_2025_is_a_holiday():
    proposal = proposals.propose(trip(datetime(2025, 4, 26, 11, 0)), RULES)
    assert proposal.rule == "holiday" and proposal.params == {"name": "King's Day"}


weekdays_2026 = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31))
hours_inside = st.times(min_value=time(8, 0), max_value=time(17, 0))


@given(weekdays_2026.filter(lambda d: d.isoweekday() >= 6), hours_inside)
def test_a_weekend_trip_inside_working_hours_proposes_private(day, at):
    proposal = proposals.propose(trip(datetime.combine(day, at)), RULES)
    assert proposal.classification == "private"
    assert proposal.rule in ("weekend", "holiday")  # Easter and Whit Sunday are both


@given(weekdays_2026.filter(lambda d: d.isoweekday() <= 5 and d not in proposals.dutch_holidays(2026)),
       hours_inside)
def test_a_weekday_trip_inside_working_hours_proposes_business(day, at):
    proposal = proposals.propose(trip(datetime.combine(day, at), minutes=59), RULES)
    assert (proposal.classification, proposal.rule) == ("business", "working_hours")


@given(weekdays_2026.filter(lambda d: d.isoweekday() <= 5 and d not in proposals.dutch_holidays(2026)),
       st.times(min_value=time(18, 1), max_value=time(23, 0)))
def test_a_weekday_evening_trip_gets_no_proposal(day, at):
    assert proposals.propose(trip(datetime.combine(day, at), minutes=5), RULES) is None


def test_a_trip_running_past_the_end_of_the_working_day_gets_no_proposal():
    assert proposals.propose(trip(datetime(2026, 3, 4, 17, 30), minutes=45), RULES) is None


def test_without_working_hours_a_weekday_trip_gets_no_proposal_but_the_weekend_is_private():
    rules = DriverRules(ZONES, None)
    assert proposals.propose(trip(datetime(2026, 3, 4, 10, 0)), rules) is None
    assert proposals.propose(trip(datetime(2026, 3, 7, 10, 0)), rules).rule == "weekend"


def test_a_saturday_the_driver_works_is_no_weekend():
    rules = DriverRules(ZONES, WorkingHours(frozenset({1, 2, 3, 4, 5, 6}), time(7, 0), time(16, 0)))
    assert proposals.propose(trip(datetime(2026, 3, 7, 10, 0)), rules).rule == "working_hours"
    assert proposals.propose(trip(datetime(2026, 3, 8, 10, 0)), rules).rule == "weekend"


@given(weekdays_2026.filter(lambda d: d.isoweekday() <= 5 and d not in proposals.dutch_holidays(2026)),
       st.times())
def test_a_known_place_trip_on_a_weekday_proposes_business_with_the_name(day, at):
    proposal = proposals.propose(trip(datetime.combine(day, at), minutes=1, end=BAKERY), RULES)
    assert (proposal.classification, proposal.rule, proposal.params) == (
        "business", "customer", {"name": "Bakkerij Jansen"})


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)), st.times())
def test_home_to_work_is_commute_with_the_place_names_any_day(day, at):
    started = datetime.combine(day, at)
    there = proposals.propose(trip(started, start=HOME, end=WORK), RULES)
    back = proposals.propose(trip(started, start=WORK, end=HOME), RULES)
    assert (there.classification, there.params) == ("commute", {"start": "Thuis", "end": "Werk"})
    assert (back.classification, back.params) == ("commute", {"start": "Werk", "end": "Thuis"})


def test_no_proposal_for_a_classified_or_implausible_trip():
    weekend = trip(datetime(2026, 3, 7, 10, 0))
    assert proposals.propose_unclassified(weekend, RULES, classified=True) is None
    assert proposals.propose_unclassified(weekend, RULES, classified=False, flags=("implausible_motion",)) is None
    assert proposals.propose_unclassified(weekend, RULES, classified=False).classification == "private"


@pytest.mark.parametrize("start,end", [(None, WORK), (HOME, None), (None, None)])
def test_missing_positions_fall_back_to_the_time_rules(start, end):
    proposal = proposals.propose(trip(datetime(2026, 3, 4, 10, 0), start=start, end=end), RULES)
    assert proposal.rule == "working_hours"
