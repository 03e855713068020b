"""The 500 km counter: private trips + private detour km (commute is not private), pro-rated
for partial availability, warnings at 80% and 100%."""
from __future__ import annotations

from datetime import date

import pytest

from backend.trips import counter
from backend.trips.counter import CountedTrip

YEAR = [(date(2026, 1, 1), None)]


def test_private_km_are_private_trips_plus_private_detours_and_never_commute():
    trips = [CountedTrip(date(2026, 3, 1), 100.0, "private"),
             CountedTrip(date(2026, 3, 2), 40.0, "commute"),
             CountedTrip(date(2026, 3, 3), 60.0, "business", private_detour_km=7.5),
             CountedTrip(date(2026, 3, 4), 30.0, "private", private_detour_km=5.0),  # not counted twice
             CountedTrip(date(2026, 3, 5), 25.0, None)]
    result = counter.compute(2026, trips, YEAR)
    assert (result.private_trip_km, result.private_detour_km, result.private_km) == (130.0, 7.5, 137.5)
    assert (result.unclassified_km, result.unclassified_trips) == (25.0, 1)
    assert result.limit_km == 500.0 and result.level == "ok"
    assert result.points == ((date(2026, 3, 1), 100.0), (date(2026, 3, 3), 107.5), (date(2026, 3, 4), 137.5))


@pytest.mark.parametrize("km, level, over", [(399.0, "ok", False), (400.0, "warning", False),
                                              (499.0, "warning", False), (500.0, "limit", False),
                                              (501.0, "limit", True)])
def test_the_warnings_at_80_and_100_percent(km, level, over):
    result = counter.compute(2026, [CountedTrip(date(2026, 6, 1), km, "private")], YEAR)
    assert (result.level, result.over) == (level, over)


def test_three_months_with_200_km_is_over_the_pro_rated_limit():
    # The tax rule's own example: 3 months with 200 km private -> about 800 km/year -> over the limit.
    periods = [(date(2026, 10, 1), None)]
    result = counter.compute(2026, [CountedTrip(date(2026, 11, 1), 200.0, "private")], periods)
    assert result.available_days == 92
    assert result.limit_km == pytest.approx(500 * 92 / 365, abs=0.001)
    assert result.projected_km == pytest.approx(200 * 365 / 92)
    assert result.over and result.level == "limit"


def test_availability_is_the_union_of_periods_clipped_to_the_year():
    periods = [(date(2025, 12, 1), date(2026, 1, 31)),  # 31 days in 2026
               (date(2026, 1, 15), date(2026, 2, 10)),  # overlaps: +10 days
               (date(2026, 12, 1), None)]  # 31 days
    assert counter.available_days(periods, 2026) == 72
    assert counter.available_days([], 2026) == 0
    assert counter.available_days([(date(2028, 2, 1), date(2028, 2, 29))], 2028) == 29
    assert counter.days_in_year(2028) == 366


def test_no_availability_makes_any_private_km_over():
    result = counter.compute(2026, [CountedTrip(date(2026, 6, 1), 1.0, "private")], [])
    assert result.limit_km == 0 and result.over and result.projected_km is None
    assert counter.compute(2026, [], []).level == "ok"


def test_other_years_do_not_count():
    result = counter.compute(2026, [CountedTrip(date(2025, 12, 31), 300.0, "private")], YEAR)
    assert result.private_km == 0


def test_the_counter_of_a_driver_follows_their_classifications(app, client, make_user, tmp_path):
    from datetime import datetime, timezone

    from backend.db import db
    from backend.models.accounts import User
    from backend.trips import revisions
    from tests.backend.trip_factory import TripFactory, TripSpec, days_ago

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "keys.pem")
    driver_id = make_user("daan@example.nl", "driver", name="Daan")
    year = datetime.now(timezone.utc).year
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from=f"{year}-01-01")
    started = [days_ago(3), days_ago(2), days_ago(1)]
    business, private, commute_trip = factory.upload(TripSpec(started[0], km=30.0),
                                                      TripSpec(started[1], km=12.0, mode="private"),
                                                      TripSpec(started[2], km=20.0))
    with app.app_context():
        driver = db.session.get(User, driver_id)
        before = counter.for_driver(driver, year)
        assert (before.private_km, before.unclassified_km) == (12.0, 50.0)
        revisions.revise(driver, [business], {"classification": "private"})
        revisions.revise(driver, [commute_trip], {"classification": "commute", "private_detour_km": "2.5"})
        after = counter.for_driver(driver, year)
        assert (after.private_trip_km, after.private_detour_km, after.unclassified_km) == (42.0, 2.5, 0.0)
