"""Each role's home page says what to do next, from counts the door gives (one query each):
trips to classify and when they lock, private km against the limit, drivers behind, months to
close, silent devices, cars without driver or device, decisions and grants."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select

from backend.access import door
from backend.access.door import AccessDenied
from backend.local_time import LOCAL
from backend.db import db
from backend.fleet import service as fleet
from backend.home import service as home
from backend.models.accounts import User
from backend.periods import service as periods
from backend.trips import revisions
from tests.backend.access_support import make_people, user
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago

WINDOW = revisions.DEFAULT_CORRECTION_WINDOW_DAYS


@pytest.fixture
def trips(app, client, make_user, tmp_path):
    """Daan: two open unclassified trips (2 and 1 day ago), one he classified, one recorded
    private, one past the correction window; Eva (another driver) one open unclassified trip."""
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    year = datetime.now(timezone.utc).year
    daan = TripFactory(app, client, driver_email="daan@example.nl", assigned_from=f"{year - 1}-01-01")
    ids = dict(zip(("open_old", "open_new", "classified", "private", "locked"), daan.upload(
        TripSpec(days_ago(2), km=30.0), TripSpec(days_ago(1), km=20.0), TripSpec(days_ago(1, hour=12), km=5.0),
        TripSpec(days_ago(1, hour=15), km=7.0, mode="private"), TripSpec(days_ago(20), km=8.0))))
    (ids["eva"],) = TripFactory(app, client, driver_email="eva@example.nl", kenteken="12-ABC-3",
                                assigned_from=f"{year - 1}-01-01").upload(TripSpec(days_ago(1)))
    with app.app_context():
        revisions.revise(user(people.driver), [ids["classified"]], {"classification": "business"})
    return people, ids


def _now() -> datetime:
    return datetime.now(timezone.utc)


def test_the_driver_counts_only_their_own_open_unclassified_trips(app, trips) -> None:
    people, ids = trips
    with app.app_context():
        found = door.open_to_classify(user(people.driver), WINDOW, _now(), driver_id=people.driver)
        assert set(found) == {people.driver}  # Eva's trip is not Daan's
        mine = found[people.driver]
        # classified, recorded private and past the window do not count
        assert mine.count == 2
        ended_first = days_ago(2) + timedelta(minutes=20)
        assert mine.locks_at[0] == ended_first + timedelta(days=WINDOW)
        assert mine.first_day == days_ago(2).astimezone(LOCAL).date()
        everyone = door.open_to_classify(None, WINDOW, _now())
        assert {d: o.count for d, o in everyone.items()} == {people.driver: 2, people.other_driver: 1}
        # a driver may not count another driver's trips
        with pytest.raises(AccessDenied):
            door.open_to_classify(user(people.driver), WINDOW, _now(), driver_id=people.other_driver)


def test_a_cleared_classification_makes_a_trip_wait_again(app, trips) -> None:
    people, ids = trips
    with app.app_context():
        revisions.revise(user(people.driver), [ids["classified"]], {"classification": None})
        found = door.open_to_classify(user(people.driver), WINDOW, _now(), driver_id=people.driver)
        assert found[people.driver].count == 3


def test_a_trip_in_a_closed_month_no_longer_counts(app, trips) -> None:
    people, ids = trips
    with app.app_context():
        day = days_ago(1).astimezone(LOCAL).date()
        following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        vehicle = fleet.find_vehicle("GB-XJ-12")
        periods.close_month(day, vehicle_id=vehicle.id, today=following)
        found = door.open_to_classify(None, WINDOW, _now())
        closed_both = days_ago(2).astimezone(LOCAL).date().replace(day=1) == day.replace(day=1)
        assert found.get(people.driver) is None if closed_both else found[people.driver].count == 1
        assert found[people.other_driver].count == 1  # another car's month is still open


def test_each_count_is_one_query_whatever_the_number_of_drivers(app, trips) -> None:
    people, _ = trips
    statements = []
    with app.app_context():
        finance = user(people.finance)
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            door.behind_on_classifying(finance, _now().year, WINDOW, _now())
            assert len(statements) == 1
            statements.clear()
            door.month_counts(finance, [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)])
            assert len(statements) == 1
            statements.clear()
            door.open_to_classify(None, WINDOW, _now())
            assert len(statements) == 2  # the trips, and the closings of their months
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)


def test_finance_sees_drivers_behind_and_what_is_past_the_window(app, trips) -> None:
    people, ids = trips
    with app.app_context():
        now = _now()
        behind = {b.driver_id: b for b in door.behind_on_classifying(user(people.finance), now.year, WINDOW, now)}
        if days_ago(20).year == now.year:
            assert (behind[people.driver].unclassified, behind[people.driver].past_window) == (3, 1)
        assert (behind[people.other_driver].unclassified, behind[people.other_driver].past_window) == (1, 0)
        with pytest.raises(AccessDenied):  # a driver does not see the fleet
            door.behind_on_classifying(user(people.driver), now.year, WINDOW, now)


def test_month_counts_count_trips_and_unclassified_per_local_month(app, trips) -> None:
    people, ids = trips
    with app.app_context():
        months = sorted({days_ago(d).astimezone(LOCAL).date().replace(day=1) for d in (1, 2, 20)})
        counted = door.month_counts(user(people.finance), months)
        assert sum(m.trips for m in counted) == 6
        assert sum(m.unclassified for m in counted) == 4  # 3 of Daan's (one past the window), 1 of Eva's


def test_months_ready_to_close_are_past_the_window_and_not_closed(app) -> None:
    with app.app_context():
        today = date(2026, 12, 8)  # a trip that ended late on 30 November locked at the end of 7 December
        months = home.open_months(today, 7)
        assert months[-1] == date(2026, 11, 1) and months[0] == date(2025, 12, 1)
        assert home.open_months(date(2026, 12, 7), 7)[-1] == date(2026, 10, 1)  # November still open for drivers
        periods.close_month(date(2026, 11, 1), today=today)
        assert date(2026, 11, 1) not in home.open_months(today, 7)


def test_silent_devices_and_cars_without_driver_or_device(app, trips) -> None:
    people, _ = trips
    with app.app_context():
        assert home.silent_devices(_now(), 7) == []  # both uploaded just now
        silent = home.silent_devices(_now() + timedelta(days=8), 7)
        assert sorted(d.kenteken for d in silent) == ["12-ABC-3", "GB-XJ-12"]
        fleet.create_vehicle("ZZ-999-Z", "Volkswagen", "Polo")
        admin = home.admin_home(user(people.admin))
        assert [v.kenteken for v in admin.without_driver] == ["ZZ999Z"]
        assert [v.kenteken for v in admin.without_device] == ["ZZ999Z"]


def test_finance_sees_drivers_near_the_limit_from_the_warnings_raised(app, client, make_user, tmp_path) -> None:
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    year = days_ago(1).astimezone(LOCAL).year
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from=f"{year - 1}-01-01")
    factory.upload(TripSpec(days_ago(1), km=450.0, mode="private"))
    with app.app_context():
        found = home.near_limit(year)
        assert [(n.driver.id, n.percent) for n in found] == [(people.driver, 80)]
        assert home.near_limit(year - 1) == []


def test_the_home_page_of_each_role_links_its_next_step(app, client, trips, login) -> None:
    people, ids = trips
    login("daan@example.nl")
    html = client.get("/").get_data(as_text=True)
    assert "2 ritten te classificeren" in html
    assert 'href="/me/trips?month=' in html and "class=unclassified" in html
    assert "/my/report" in html  # the driver's own export is linked
    client.post("/logout")
    login("fatima@example.nl")
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="home-behind"' in html and "Daan de Vries" in html
    client.post("/logout")
    login("anna@example.nl")
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="home-without-driver"' in html
    for email in ("mark@example.nl", "olga@example.nl", "pieter@example.nl"):
        client.post("/logout")
        login(email)
        assert client.get("/").status_code == 200
