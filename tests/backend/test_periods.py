"""Closing a month: finance on the web page or from the CLI; afterwards drivers only add notes."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from backend.db import db
from backend.models.audit import AuditEvent
from backend.models.periods import PeriodClosing


@pytest.fixture
def people(app, make_user):
    from tests.backend.access_support import make_people
    return make_people(make_user)


def _closings(app) -> list[tuple[date, int | None]]:
    with app.app_context():
        return [(c.month, c.vehicle_id) for c in db.session.scalars(select(PeriodClosing).order_by(PeriodClosing.id))]


def test_finance_closes_a_month_on_the_page(app, client, login, people):
    from backend.fleet import service
    with app.app_context():
        vehicle_id = service.create_vehicle("GB-XJ-12", "Volkswagen", "Golf").id
    login("fatima@example.nl")
    page = client.get("/finance/periods/")
    assert page.status_code == 200 and "Afgesloten perioden" in page.get_data(as_text=True)
    assert b'data-endpoint="periods.index"' in client.get("/").data  # in finance's menu
    assert client.post("/finance/periods/", data={"month": "2026-01", "vehicle": "", "confirm": "1"}).status_code == 303
    assert client.post("/finance/periods/", data={"month": "2026-02", "vehicle": str(vehicle_id),
                                                  "confirm": "1"}).status_code == 303
    again = client.post("/finance/periods/", data={"month": "2026-01", "vehicle": ""})
    assert again.status_code == 400 and "al afgesloten" in again.get_data(as_text=True)
    future = client.post("/finance/periods/", data={"month": "2999-01", "vehicle": ""})
    assert future.status_code == 400 and "nog niet voorbij" in future.get_data(as_text=True)
    assert client.post("/finance/periods/", data={"month": "jan", "vehicle": ""}).status_code == 400
    assert _closings(app) == [(date(2026, 1, 1), None), (date(2026, 2, 1), vehicle_id)]
    listing = client.get("/finance/periods/").get_data(as_text=True)
    assert "2026-02" in listing and "GB-XJ-12" in listing and "Fatima El Amrani" in listing
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "period_closed")).all()
        assert [e.actor_id for e in events] == [people.finance, people.finance]


@pytest.mark.parametrize("email", ["daan@example.nl", "mark@example.nl", "anna@example.nl"])
def test_only_finance_closes(app, client, login, people, email):
    login(email)
    assert client.post("/finance/periods/", data={"month": "2026-01", "vehicle": ""}).status_code == 403
    assert _closings(app) == []


def test_the_cli_closes_and_lists(app, runner, people):
    from backend.fleet import service
    with app.app_context():
        service.create_vehicle("GB-XJ-12", "Volkswagen", "Golf")
    result = runner.invoke(args=["periods", "close", "--month", "2026-10", "--vehicle", "gbxj12"])
    assert result.exit_code == 0, result.output
    assert "closed 2026-10" in result.output
    result = runner.invoke(args=["periods", "close", "--month", "2026-10", "--vehicle", "GB-XJ-12"])
    assert result.exit_code != 0 and "already closed" in result.output
    result = runner.invoke(args=["periods", "close", "--month", "2026-10", "--vehicle", "XX-99-XX"])
    assert result.exit_code != 0 and "Unknown vehicle" in result.output
    result = runner.invoke(args=["periods", "close", "--month", "october"])
    assert result.exit_code != 0 and "YYYY-MM" in result.output
    result = runner.invoke(args=["periods", "list"])
    assert "2026-10\tGB-XJ-12" in result.output or "2026-10\tGBXJ12" in result.output


def test_is_closed_knows_fleet_and_vehicle_closings(app, people):
    from backend.fleet import service
    from backend.periods import service as periods
    with app.app_context():
        car = service.create_vehicle("GB-XJ-12", "Volkswagen", "Golf").id
        other = service.create_vehicle("12-ABC-3", "Volkswagen", "Polo").id
        periods.close_month(date(2026, 3, 1), vehicle_id=car, via="cli")
        periods.close_month(date(2026, 4, 1), via="cli")
        assert periods.is_closed(car, date(2026, 3, 31)) and not periods.is_closed(other, date(2026, 3, 15))
        assert periods.is_closed(other, date(2026, 4, 1)) and periods.is_closed(car, date(2026, 4, 30))
        assert not periods.is_closed(car, date(2026, 5, 1))
        # A fleet-wide closing may follow a vehicle closing of the same month; a vehicle closing
        # after a fleet-wide one adds nothing and is refused.
        periods.close_month(date(2026, 3, 1), via="cli")
        with pytest.raises(periods.PeriodError):
            periods.close_month(date(2026, 4, 1), vehicle_id=car, via="cli")
        assert db.session.scalar(select(func.count()).select_from(PeriodClosing)) == 3


def test_finance_corrects_a_trip_in_a_closed_month_with_a_reason(app, client, login, people, tmp_path):
    from backend.access import door
    from backend.models.accounts import User
    from backend.periods import service as periods
    from tests.backend.trip_factory import TripFactory, TripSpec, days_ago

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "keys.pem")
    (trip_id,) = TripFactory(app, client, driver_email="daan@example.nl").upload(TripSpec(days_ago(40)))
    with app.app_context():
        (view,) = door.trip_summaries(db.session.get(User, people.finance), [trip_id])
        periods.close_month(view.local_date, via="cli")
    login("daan@example.nl")
    locked = client.post(f"/me/trips/{trip_id}", data={"classification": "private"})
    assert locked.status_code == 409 and "afgesloten periode" in locked.get_data(as_text=True)
    client.post("/logout")
    login("fatima@example.nl")
    page = client.get(f"/finance/periods/trips/{trip_id}")
    assert page.status_code == 200 and 'data-testid="period">afgesloten' in page.get_data(as_text=True)
    no_reason = client.post(f"/finance/periods/trips/{trip_id}", data={"classification": "private"})
    assert no_reason.status_code == 400 and "reden nodig" in no_reason.get_data(as_text=True)
    done = client.post(f"/finance/periods/trips/{trip_id}", data={"classification": "private",
                                                                  "reason": "Tankbon toont privérit"})
    assert done.status_code == 303
    history = client.get(f"/finance/periods/trips/{trip_id}").get_data(as_text=True)
    assert "Tankbon toont privérit" in history
    assert "Fatima El Amrani (financiën)" in history
    with app.app_context():
        reads = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "read",
                                                            AuditEvent.actor_id == people.finance)).all()
        assert reads  # finance's reads of the trip are audited by the door


def test_a_pages_closings_are_those_of_its_cars_and_months_not_the_fleets(app, people):
    """A month page used to read every closing of the fleet (12 a car a year: 36,060 rows
    doubled the page's time, issue 20); it reads those of its cars and months, fleet-wide ones
    included, and judges each trip as before."""
    from backend.fleet import service
    from backend.periods import service as periods
    with app.app_context():
        car = service.create_vehicle("GB-XJ-12", "Volkswagen", "Golf").id
        others = [service.create_vehicle(f"GB-XJ-{20 + n}", "Volkswagen", "Polo").id for n in range(5)]
        for month in (1, 2, 3, 4):
            periods.close_month(date(2026, month, 1), vehicle_id=car, via="cli")
            for other in others:
                periods.close_month(date(2026, month, 1), vehicle_id=other, via="cli")
        periods.close_month(date(2026, 5, 1), via="cli")  # fleet-wide

        days = [date(2026, 3, 14), date(2026, 5, 2), date(2026, 3, 31)]
        scoped = periods.closed_months({car}, days)
        assert scoped == {(car, date(2026, 3, 1)), (None, date(2026, 5, 1))} | (
            {(car, date(2026, 4, 1))})  # the months between the first and the last day
        assert periods.closed_in(scoped, car, date(2026, 3, 14)) and periods.closed_in(scoped, car, date(2026, 5, 2))
        assert periods.closed_months({car}, []) == set()
        assert len(periods.closed_months()) == 5 * 4 + 4 + 1  # unscoped: everything, for retention
