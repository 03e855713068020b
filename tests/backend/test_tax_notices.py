"""Notices before the year-end (issue #19): a private trip on a van under uitsluitend zakelijk
alerts the driver and finance at once (app and e-mail through a real SMTP sink); the driver is
offered withdrawing the verklaring instead of classifying private; the 80% / 100% warnings by
projection and as driven fire once, on the day the km that cross them are recorded."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from backend import jobs
from backend.db import db
from backend.models.regimes import TaxNotice, Verklaring
from tests.backend.smtp_sink import use_smtp as _use
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago

LOCAL = ZoneInfo("Europe/Amsterdam")



def _notices(user_id: int | None = None) -> list[TaxNotice]:
    statement = select(TaxNotice).order_by(TaxNotice.id)
    if user_id is not None:
        statement = statement.where(TaxNotice.user_id == user_id)
    return list(db.session.scalars(statement))


@pytest.fixture
def van(app, client, make_user, tmp_path):
    """Bram's van under uitsluitend zakelijk, with his verklaring; Fien is finance."""
    from backend.fleet import regimes

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "keys.pem")
    bram = make_user("bram@example.nl", "driver", name="Bram")
    fien = make_user("fien@example.nl", "finance", name="Fien")
    year = days_ago(0).year
    factory = TripFactory(app, client, driver_email="bram@example.nl", kenteken="VD-123-F",
                          assigned_from=f"{year - 1}-12-01")
    with app.app_context():
        regimes.set_regime("VD-123-F", "van", "van_business_only", date(year - 1, 12, 1))
        regimes.record_verklaring("bram@example.nl", "business_only_van", "UZB-BRAM", date(year - 1, 12, 1))
    return dict(bram=bram, fien=fien, factory=factory)


def test_a_private_trip_on_a_business_only_van_alerts_driver_and_finance_at_once(app, client, login, van, smtp):
    _use(app, smtp)
    factory = van["factory"]
    factory.upload(TripSpec(days_ago(3), km=30.0))
    with app.app_context():
        assert _notices() == []  # business km alert no one
    (private,) = factory.upload(TripSpec(days_ago(2), km=12.5, mode="private"))
    with app.app_context():
        notices = _notices()
        assert sorted((n.user_id, n.kind, n.reference) for n in notices) == sorted(
            [(van["bram"], "business_only_private", f"trip:{private}"),
             (van["fien"], "business_only_private", f"trip:{private}")])
        assert jobs.send_mail() == 2
    recipients = sorted(rcpt for _, rcpts, _ in smtp.inbox.messages for rcpt in rcpts)
    assert recipients == ["bram@example.nl", "fien@example.nl"]
    message = smtp.inbox.messages[0][2]
    assert message["Subject"] == "Ritbox: privé km van Bram"
    body = message.get_content()
    assert "12,5 km" in body and "VD-123-F" in body and "uitsluitend zakelijk gebruik" in body
    assert "in gevaar" in body
    # the same trip sent again raises nothing new
    factory.device.post(client, factory.sent[-1:])
    with app.app_context():
        assert len(_notices()) == 2
    login("bram@example.nl")
    page = client.get("/me/counter").get_data(as_text=True)
    assert "12,5 km privé of niet geregistreerd op VD-123-F" in page


def test_the_driver_is_offered_withdrawing_the_verklaring_instead_of_a_private_classification(
        app, client, login, van):
    factory = van["factory"]
    (trip_id,) = factory.upload(TripSpec(days_ago(1), km=20.0))
    login("bram@example.nl")
    refused = client.post(f"/me/trips/{trip_id}", data={"classification": "private"})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "privégebruik is niet toegestaan zolang zij geldt" in page
    assert 'data-testid="withdraw-offer"' in page
    with app.app_context():
        assert _notices() == []
        (verklaring,) = db.session.scalars(select(Verklaring)).all()
        verklaring_id = verklaring.id
    withdrawn = client.post(f"/me/verklaringen/{verklaring_id}/withdraw", data={"trip": trip_id})
    assert withdrawn.status_code == 302 and withdrawn.headers["Location"].endswith(f"/me/trips/{trip_id}")
    with app.app_context():
        assert db.session.get(Verklaring, verklaring_id).withdrawn_on is not None
    # withdrawn from today: the trip of yesterday still fell under it
    again = client.post(f"/me/trips/{trip_id}", data={"classification": "private"})
    assert again.status_code == 400
    # A trip of today in the Netherlands (the withdrawal counts from the local day): within the
    # last hour, but not before local midnight (UTC's day differs between 22:00 and 24:00 UTC).
    now = datetime.now(timezone.utc)
    local_midnight = datetime.combine(now.astimezone(LOCAL).date(), time(0, 1), LOCAL).astimezone(timezone.utc)
    (today_trip,) = factory.upload(TripSpec(max(now - timedelta(hours=1), local_midnight), km=9.0))
    allowed = client.post(f"/me/trips/{today_trip}", data={"classification": "private"})
    assert allowed.status_code == 302
    with app.app_context():
        assert _notices() == []  # private use after the withdrawal, as the rule asks


# --- 80% / 100% -------------------------------------------------------------------------------------

def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), LOCAL).astimezone(timezone.utc)


def _expected_warnings(plan: list[tuple[date, float]], periods: list[tuple[date, date]], year: int) -> dict:
    """Written here independently: for each day with private km, the cumulative km, the
    projection over the available days elapsed, and the first day each threshold is reached."""
    def available(until: date) -> int:
        days = set()
        for start, end in periods:
            d = start
            while d <= min(end, until):
                days.add(d)
                d = date.fromordinal(d.toordinal() + 1)
        return len(days)
    days_in_year = 365
    total_available = available(date(year, 12, 31))
    limit = 500 * total_available / days_in_year
    fired, total = {}, 0.0
    for day, km in plan:
        total += km
        elapsed = available(day)
        projected = total * total_available / elapsed if elapsed >= 28 else None
        for kind, value in (("warning_driven", total), ("warning_projected", projected)):
            for percent in (80, 100):
                if value is not None and value >= limit * percent / 100 and (kind, percent) not in fired:
                    fired[(kind, percent)] = day
    return fired


def test_the_warnings_fire_once_on_the_day_the_km_cross_them(app, client, make_user, tmp_path, monkeypatch):
    from backend.fleet import service, tax_notices

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "keys.pem")
    otto = make_user("otto@example.nl", "driver", name="Otto")
    carla = make_user("carla@example.nl", "driver", name="Carla")
    fien = make_user("fien@example.nl", "finance", name="Fien")
    # Otto starts on 1 October: 92 days, limit 126.0 km.
    otto_car = TripFactory(app, client, driver_email="otto@example.nl", kenteken="12-ABC-3", assigned_from="2025-10-01")
    otto_plan = [(date(2025, 10, 20), 30.0), (date(2025, 11, 3), 10.0), (date(2025, 11, 20), 20.0),
                 (date(2025, 12, 1), 50.0), (date(2025, 12, 15), 20.0)]
    # Carla changes car on 16 June: both cars' days count, together the whole year.
    carla_first = TripFactory(app, client, driver_email="carla@example.nl", kenteken="AB-12-34",
                              assigned_from="2025-01-01")
    with app.app_context():
        service.end_assignment(service.find_assignment("AB-12-34", "carla@example.nl").id, date(2025, 6, 15))
    carla_second = TripFactory(app, client, driver_email="carla@example.nl", kenteken="AB-12-CD",
                               assigned_from="2025-06-16")
    carla_plan = [(date(2025, 1, 20), 20.0), (date(2025, 3, 1), 100.0), (date(2025, 9, 1), 130.0),
                  (date(2025, 11, 1), 160.0), (date(2025, 12, 1), 100.0)]
    raised_on: dict[tuple[int, str, int, int], list[date]] = {}
    seen: set[int] = set()
    for factory, plan, driver in ((otto_car, otto_plan, otto), (None, carla_plan, carla)):
        for day, km in plan:
            car = factory or (carla_first if day <= date(2025, 6, 15) else carla_second)
            monkeypatch.setattr(tax_notices, "local_today", lambda day=day: day)
            car.upload(TripSpec(_at(day, 8), km=15.0), TripSpec(_at(day, 18), km=km, mode="private"))
            with app.app_context():
                for notice in _notices():
                    if notice.id in seen:
                        continue
                    seen.add(notice.id)
                    assert notice.day == day  # raised by this upload, dated today
                    key = (notice.user_id, notice.kind, int(notice.reference.split(":")[2]), notice.driver_id)
                    raised_on.setdefault(key, []).append(day)
    expected_otto = _expected_warnings(otto_plan, [(date(2025, 10, 1), date(2025, 12, 31))], 2025)
    assert expected_otto == {("warning_projected", 80): date(2025, 11, 3), ("warning_projected", 100): date(2025, 12, 1),
                             ("warning_driven", 80): date(2025, 12, 1), ("warning_driven", 100): date(2025, 12, 15)}
    expected_carla = _expected_warnings(carla_plan, [(date(2025, 1, 1), date(2025, 12, 31))], 2025)
    assert expected_carla == {("warning_projected", 80): date(2025, 3, 1), ("warning_projected", 100): date(2025, 3, 1),
                              ("warning_driven", 80): date(2025, 11, 1), ("warning_driven", 100): date(2025, 12, 1)}
    for driver, expected in ((otto, expected_otto), (carla, expected_carla)):
        for recipient in (driver, fien):
            got = {(kind, percent): days for (user, kind, percent, about), days in raised_on.items()
                   if user == recipient and about == driver}
            assert got == {key: [day] for key, day in expected.items()}, (driver, recipient)
    with app.app_context():
        # once each: 4 warnings x (driver + finance) x 2 drivers
        assert len(_notices()) == 16



def test_an_upload_for_a_former_driver_never_fails_on_the_warnings(app, client, van):
    from backend.models.accounts import User

    with app.app_context():
        db.session.get(User, van["bram"]).active = False
        db.session.commit()
    # 600 km private would warn an active driver; the upload still succeeds (TripFactory checks 200)
    (trip_id,) = van["factory"].upload(TripSpec(days_ago(1), km=600.0, mode="private"))
    with app.app_context():
        assert {n.kind for n in _notices()} == {"business_only_private"}  # the van's alert still goes out


def test_unrecorded_km_count_in_the_warnings_as_in_the_verdict(app, client, make_user, tmp_path, monkeypatch):
    """The verdict counts km the device did not record (unexplained) against the driver; so must
    the warnings, or a driver at 84% of the limit hears nothing. Unclassified km are not in the
    warnings: the driver can still classify them (the reminder before they lock says so)."""
    from backend.fleet import tax_notices

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "keys.pem")
    make_user("fien@example.nl", "finance", name="Fien")
    wim = make_user("wim@example.nl", "driver", name="Wim")
    car = TripFactory(app, client, driver_email="wim@example.nl", kenteken="WI-12-MM", assigned_from="2025-01-01")
    day = date(2025, 12, 1)  # 335 days elapsed of 365 available
    monkeypatch.setattr(tax_notices, "local_today", lambda: day)
    car.upload(TripSpec(_at(day, 8), km=300.0, mode="private"),
               TripSpec(_at(day, 14), km=10.0, km_unrecorded_before=120.0),
               TripSpec(_at(day, 18), km=200.0))  # unclassified business-mode km: not in the warnings
    with app.app_context():
        raised = {(n.kind, n.reference.split(":")[2]) for n in _notices(wim)}
    # 300 + 120 = 420 km driven (84%); projected 420 * 365 / 335 = 457.6 km (91.5%)
    assert raised == {("warning_driven", "80"), ("warning_projected", "80")}


def test_a_deactivated_finance_account_is_not_told(app, client, make_user, van):
    """Finance is found by its role, among the accounts that can still log in."""
    from backend.models.accounts import User

    gone = make_user("gone@example.nl", "finance", name="Gerrit")
    with app.app_context():
        db.session.get(User, gone).active = False
        db.session.commit()
    (private,) = van["factory"].upload(TripSpec(days_ago(2), km=12.5, mode="private"))
    with app.app_context():
        assert sorted(n.user_id for n in _notices()) == sorted([van["bram"], van["fien"]])
