"""Issue 16, classification that mostly does itself, over real HTTP: the driver's trip list
proposes a class with its reason (commute, a known place, working hours, weekend, holiday), the
driver confirms one or all in one POST through the revision path, each confirmation audited;
viewing proposes without writing; locked trips are not confirmable; the list shows from/to places
and can put the unclassified trips first."""
from __future__ import annotations

import re

import pytest

from backend.trips import proposals
from tests.backend.proposal_support import (BAKERY, confirmations, classifications, expected_class, row_counts,
                                            set_up_rules, upload_month)
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago


@pytest.fixture
def month(app, client, make_user, login, tmp_path):
    people, trips, first = upload_month(app, client, make_user, tmp_path)
    login("daan@example.nl")
    set_up_rules(client, next(t.id for t in trips if t.end == BAKERY))
    holidays = proposals.dutch_holidays(first.year)
    return people, trips, first, {t.id: expected_class(t, holidays) for t in trips}


def _row(html: str, trip_id: int) -> str:
    start = html.index(f'data-trip-id="{trip_id}"')
    return html[start:html.index("</tr>", start)]


def test_viewing_proposals_writes_nothing_and_names_each_reason_in_dutch(app, client, month):
    people, trips, first, expected = month
    before = row_counts(app)
    html = client.get(f"/me/trips?month={first:%Y-%m}").get_data(as_text=True)
    for trip in trips:
        client.get(f"/me/trips/{trip.id}")
    assert row_counts(app) == before  # a proposal is never a classification, nor anything else stored
    commute = next(t for t in trips if expected[t.id] == "commute")
    assert "Woon-werk: van Thuis naar Werk" in _row(html, commute.id)
    assert "Woon-werk (voorstel)" in _row(html, commute.id)
    bakery = next(t for t in trips if t.end == BAKERY)
    assert "Klant: Bakkerij Jansen" in _row(html, bakery.id) and "Zakelijk (voorstel)" in _row(html, bakery.id)
    weekday = next(t for t in trips if expected[t.id] == "business" and t.end != BAKERY)
    assert "Binnen je werktijden" in _row(html, weekday.id)
    weekend = next(t for t in trips if expected[t.id] == "private")
    assert re.search(r"Weekend|Feestdag: ", _row(html, weekend.id))
    evening = next(t for t in trips if expected[t.id] is None)
    assert "(voorstel)" not in _row(html, evening.id) and "Niet geclassificeerd" in _row(html, evening.id)
    # From and to: the driver's own places by name, else the looked-up town.
    assert re.search(r'data-testid="from">Thuis\b.*data-testid="to">Werk\b', _row(html, commute.id), re.S)
    assert re.search(r'data-testid="to">Bakkerij Jansen\b', _row(html, bakery.id))
    assert re.search(r'data-testid="from">[^<–]*Eindhoven', _row(html, weekday.id))


def test_confirm_all_classifies_the_month_in_one_post_each_audited(app, client, month):
    """Before issue 16 the driver classified a month trip by trip (or by class, picking trips)."""
    people, trips, first, expected = month
    html = client.get(f"/me/trips?month={first:%Y-%m}").get_data(as_text=True)
    form = {f"proposal-{trip_id}": value for trip_id, value in re.findall(
        r'name="proposal-(\d+)" value="(\w+)"', html)}
    assert len(form) == sum(1 for value in expected.values() if value)
    answer = client.post("/me/trips/confirm", data={**form, "all": "1", "month": f"{first:%Y-%m}"})
    assert answer.status_code == 302 and f"month={first:%Y-%m}" in answer.headers["Location"]
    proposed = {trip_id: value for trip_id, value in expected.items() if value}
    assert classifications(app) == proposed  # every proposed trip, as proposed; the others untouched
    audited = confirmations(app)
    assert sorted(event["trip_id"] for event in audited) == sorted(proposed)
    assert all(event["bulk"] is True and event["classification"] == proposed[event["trip_id"]] for event in audited)
    assert {event["rule"] for event in audited} >= {"commute", "customer", "working_hours", "weekend"}
    after = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"{len(proposed)} voorstel(len) bevestigd." in after
    assert 'data-testid="confirm-all"' not in after  # nothing left to confirm
    # A reload of the POST classifies nothing twice: the trips are classified, so no longer proposed.
    client.post("/me/trips/confirm", data={**form, "all": "1", "month": f"{first:%Y-%m}"})
    assert len(confirmations(app)) == len(proposed)


def test_one_confirm_is_audited_like_a_bulk_one_and_a_stale_proposal_writes_nothing(app, client, month):
    people, trips, first, expected = month
    commute = next(t for t in trips if expected[t.id] == "commute")
    evening = next(t for t in trips if expected[t.id] is None)
    # A class the page did not propose (a forged or stale form) writes nothing.
    client.post("/me/trips/confirm", data={f"proposal-{commute.id}": "private", "one": str(commute.id)})
    client.post("/me/trips/confirm", data={f"proposal-{evening.id}": "business", "one": str(evening.id)})
    assert classifications(app) == {} and confirmations(app) == []
    answer = client.post("/me/trips/confirm", data={f"proposal-{commute.id}": "commute", "one": str(commute.id),
                                                    "back": "trip"})
    assert answer.headers["Location"].endswith(f"/me/trips/{commute.id}")
    assert classifications(app) == {commute.id: "commute"}
    (event,) = confirmations(app)
    assert (event["trip_id"], event["rule"], event["bulk"]) == (commute.id, "commute", False)
    # Classified now: no proposal any more, so a second confirm (e.g. of "private") finds nothing.
    client.post("/me/trips/confirm", data={f"proposal-{commute.id}": "commute", "one": str(commute.id)})
    assert len(confirmations(app)) == 1


def test_a_selection_confirms_only_the_selected_trips(app, client, month):
    people, trips, first, expected = month
    chosen = [t.id for t in trips if expected[t.id]][:3]
    skipped = [t.id for t in trips if expected[t.id]][3]
    form = {f"proposal-{trip_id}": expected[trip_id] for trip_id in [*chosen, skipped]}
    client.post("/me/trips/confirm", data={**form, "trip": [str(i) for i in chosen]})
    assert classifications(app) == {trip_id: expected[trip_id] for trip_id in chosen}


def test_the_unclassified_come_first_on_request(app, client, month):
    people, trips, first, expected = month
    commute = next(t for t in trips if expected[t.id] == "commute")
    client.post("/me/trips/confirm", data={f"proposal-{commute.id}": "commute", "one": str(commute.id)})
    by_time = [int(i) for i in re.findall(r'data-trip-id="(\d+)"', client.get(
        f"/me/trips?month={first:%Y-%m}").get_data(as_text=True))]
    html = client.get(f"/me/trips?month={first:%Y-%m}&order=unclassified").get_data(as_text=True)
    first_unclassified = [int(i) for i in re.findall(r'data-trip-id="(\d+)"', html)]
    assert first_unclassified == [i for i in by_time if i != commute.id] + [commute.id]
    assert f"{len(trips) - 1} niet geclassificeerd" in html
    assert client.get(f"/me/trips?month={first:%Y-%m}&order=sideways").status_code == 400


def test_locked_trips_are_proposed_but_not_confirmable(app, client, make_user, login, tmp_path):
    from tests.backend.access_support import make_people
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    make_people(make_user)
    factory = TripFactory(app, client, driver_email="daan@example.nl")
    # Past the default 7-day window; on a Sunday, so the weekend rule proposes it private.
    sunday = days_ago(20 + (days_ago(20).isoweekday() % 7), hour=11)
    (old,) = factory.upload(TripSpec(sunday, km=8.0))
    login("daan@example.nl")
    html = client.get(f"/me/trips?month={sunday:%Y-%m}").get_data(as_text=True)
    row = _row(html, old)
    assert re.search(r"Weekend|Feestdag", row) and "Privé (voorstel)" in row
    assert f'name="proposal-{old}"' not in row and 'data-testid="confirm-one"' not in row
    answer = client.post("/me/trips/confirm", data={f"proposal-{old}": "private", "one": str(old)})
    assert answer.status_code == 302
    assert classifications(app) == {} and confirmations(app) == []
    assert "1 rit(ten) zijn vergrendeld en niet aangemerkt." in client.get(answer.headers["Location"]).get_data(
        as_text=True)


def test_someone_elses_trip_cannot_be_confirmed(app, client, make_user, login, tmp_path):
    from tests.backend.access_support import make_people
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    make_people(make_user)
    (theirs,) = TripFactory(app, client, driver_email="eva@example.nl", kenteken="12-ABC-3").upload(
        TripSpec(days_ago(1)))
    login("daan@example.nl")
    answer = client.post("/me/trips/confirm", data={f"proposal-{theirs}": "private", "one": str(theirs)})
    assert answer.status_code == 403
    assert classifications(app) == {}
    assert client.post(f"/me/trips/{theirs}/known-place", data={"name": "X"}).status_code in (403, 404)


def test_working_hours_are_checked_and_known_places_need_a_visible_arrival(app, client, make_user, login,
                                                                             tmp_path):
    from tests.backend.access_support import PRIVATE_END, PRIVATE_START, make_people
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    make_people(make_user)
    (private,) = TripFactory(app, client, driver_email="daan@example.nl").upload(
        TripSpec(days_ago(1), mode="private", start=PRIVATE_START, end=PRIVATE_END))
    login("daan@example.nl")
    for form, message in (({"start": "08:00", "end": "17:00"}, "Vink minstens één werkdag aan."),
                          ({"weekday": "1", "start": "18:00", "end": "08:00"}, "De werkdag eindigt na het begin"),
                          ({"weekday": "1", "start": "acht uur", "end": "17:00"}, "Geef de tijden in uren en minuten")):
        answer = client.post("/me/working-hours", data=form)
        assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    assert "Geen werktijden ingesteld" in client.get("/me/working-hours").get_data(as_text=True)
    assert client.post("/me/working-hours", data={"weekday": ["1", "3"], "start": "7:30",
                                                  "end": "16:00"}).status_code == 302
    assert "Nu: maandag, woensdag, 07:30 tot 16:00." in client.get("/me/working-hours").get_data(as_text=True)
    detail = client.get(f"/me/trips/{private}").get_data(as_text=True)
    assert 'data-testid="known-place-form"' not in detail  # the arrival of a private trip is not shown
    answer = client.post(f"/me/trips/{private}/known-place", data={"name": "Ergens", "radius_m": "150"})
    assert answer.status_code == 400 and "geen aankomstpositie" in answer.get_data(as_text=True)
