"""The reminder to classify trips before they lock and finance's weekly digest, received by a real
SMTP server (aiosmtpd, as in test_mail): in the recipient's language, counts and dates only,
and never sent twice."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend import jobs
from backend.local_time import LOCAL
from backend.db import db
from backend.models.accounts import User
from backend.models.reminders import ClassifyReminder
from backend.trips import revisions
from tests.backend.access_support import make_people, user
from tests.backend.smtp_sink import use_smtp as _use
from tests.backend.trip_factory import AMSTERDAM, TripFactory, TripSpec, days_ago



@pytest.fixture
def fleet(app, client, make_user, tmp_path):
    """Daan: a trip that locks in two days and one that locks in six. Eva: a trip that locks in
    two days, which she classified, and one recorded private. Neither of Eva's waits."""
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    year = days_ago(5).year
    daan = TripFactory(app, client, driver_email="daan@example.nl", assigned_from=f"{year - 1}-01-01")
    soon, later = daan.upload(TripSpec(days_ago(5), km=31.0), TripSpec(days_ago(1), km=12.0))
    eva = TripFactory(app, client, driver_email="eva@example.nl", kenteken="12-ABC-3", assigned_from=f"{year - 1}-01-01")
    classified, _ = eva.upload(TripSpec(days_ago(5)), TripSpec(days_ago(5, hour=15), mode="private"))
    with app.app_context():
        revisions.revise(user(people.other_driver), [classified], {"classification": "business"})
    return people, soon


def _lock_day(started) -> str:
    ended = started + timedelta(minutes=20)
    return (ended + timedelta(days=revisions.DEFAULT_CORRECTION_WINDOW_DAYS)).astimezone(LOCAL).strftime("%d-%m-%Y")


def test_a_driver_is_reminded_once_in_dutch_before_trips_lock(app, fleet, smtp, runner) -> None:
    people, _ = fleet
    _use(app, smtp)
    with app.app_context():
        assert jobs.classify_reminders() == 1  # Daan only: Eva's trips have a class
        assert jobs.send_mail() == 1
        assert jobs.classify_reminders() == 0  # the same lock day is not reminded again
        assert jobs.send_mail() == 0
        assert db.session.scalar(select(func.count()).select_from(ClassifyReminder)) == 1
    result = runner.invoke(args=["reminders", "classify"])
    assert result.exit_code == 0 and "0 driver(s) reminded" in result.output
    [(_, recipients, message)] = smtp.inbox.messages
    assert recipients == ["daan@example.nl"]
    assert message["Subject"] == "Ritbox: classificeer je ritten voordat ze vergrendeld worden"
    body = message.get_content()
    assert "2 ritten wachten tot je ze classificeert." in body
    assert f"1 rit wordt vergrendeld op {_lock_day(days_ago(5))}." in body
    assert "https://ritbox.example.nl/me/trips?class=unclassified" in body
    # counts and dates only: no km, no place, no time of a trip
    assert "km" not in body and "Amsterdam" not in body and f"{AMSTERDAM[0]}" not in body
    assert days_ago(5).astimezone(LOCAL).strftime("%H:%M") not in body


def test_the_reminder_speaks_the_drivers_language(app, fleet, smtp) -> None:
    people, _ = fleet
    _use(app, smtp)
    with app.app_context():
        user(people.driver).locale = "en"
        db.session.commit()
        assert jobs.classify_reminders() == 1
        assert jobs.send_mail() == 1
    [(_, _, message)] = smtp.inbox.messages
    assert message["Subject"] == "Ritbox: classify your trips before they lock"
    assert f"1 trip locks on {_lock_day(days_ago(5))}." in message.get_content()


def test_the_reminder_shows_on_the_home_page_without_mail(app, fleet, client, login) -> None:
    login("daan@example.nl")
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="home-classify-reminder"' in html
    assert "1 rit wordt binnen 3 dagen vergrendeld" in html
    with app.app_context():
        assert jobs.classify_reminders() == 1  # recorded even when e-mail is off
        assert jobs.classify_reminders() == 0


def test_finance_gets_a_weekly_digest_once(app, fleet, smtp, runner) -> None:
    people, _ = fleet
    _use(app, smtp)
    with app.app_context():
        assert jobs.finance_digest() == 1  # Fatima, the one finance user
        assert jobs.finance_digest() == 0  # once a week
        assert jobs.send_mail() == 1
    result = runner.invoke(args=["reminders", "digest"])
    assert result.exit_code == 0 and "0 digest(s) queued" in result.output
    [(_, recipients, message)] = smtp.inbox.messages
    assert recipients == ["fatima@example.nl"]
    assert message["Subject"] == "Ritbox: het overzicht van deze week voor de financiële administratie"
    body = message.get_content()
    assert "Bestuurders met ritten te classificeren: 1 (ritten: 2)." in body
    assert "Daan" not in body and "km" not in body.replace("privékilometers", "")
