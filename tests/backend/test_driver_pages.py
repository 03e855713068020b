"""The driver's pages over HTTP: my trips by month with filters, classify alone and in bulk,
the detail with the SVG track, the counter, places; someone else's trip is a 403, and logged."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from backend import audit
from backend.db import db
from backend.models.audit import AuditEvent
from backend.models.revisions import TripRevision
from tests.backend.access_support import PRIVATE_END, PRIVATE_START, make_people
from tests.backend.trip_factory import AMSTERDAM, UTRECHT, TripFactory, TripSpec, days_ago


@pytest.fixture
def world(app, client, make_user, login, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    factory = TripFactory(app, client, driver_email="daan@example.nl")
    trips = dict(zip(("business", "private", "old"), factory.upload(
        TripSpec(days_ago(2), km=30.0), TripSpec(days_ago(2, hour=14), km=12.0, mode="private",
                                                 start=PRIVATE_START, end=PRIVATE_END),
        TripSpec(days_ago(20), km=8.0))))
    (trips["other"],) = TripFactory(app, client, driver_email="eva@example.nl", kenteken="12-ABC-3").upload(
        TripSpec(days_ago(2)))
    login("daan@example.nl")
    return people, trips


def _month(app, trip_id: int) -> str:
    from backend.access import door
    from backend.models.accounts import User
    with app.app_context():
        driver = db.session.scalar(select(User).where(User.email == "daan@example.nl"))
        (view,) = door.trip_summaries(driver, [trip_id])
        return view.local_date.strftime("%Y-%m")


def _listed(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-trip-id="(\d+)"', html)}


def _count(app, model=TripRevision, **where) -> int:
    with app.app_context():
        statement = select(func.count()).select_from(model)
        for key, value in where.items():
            statement = statement.where(getattr(model, key) == value)
        return db.session.scalar(statement)


def test_my_trips_lists_only_my_trips_of_the_month_with_filters(app, client, world):
    people, trips = world
    month = _month(app, trips["business"])
    page = client.get(f"/me/trips?month={month}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    expected = {trips["business"], trips["private"]} | ({trips["old"]} if _month(app, trips["old"]) == month else set())
    assert _listed(html) == expected
    assert "Privé" in html and "Niet geclassificeerd" in html  # Dutch first
    assert _listed(client.get(f"/me/trips?month={month}&class=private").get_data(as_text=True)) == {trips["private"]}
    assert trips["private"] not in _listed(client.get(f"/me/trips?month={month}&class=unclassified").get_data(as_text=True))
    assert _listed(client.get(f"/me/trips?month={month}&mode=private").get_data(as_text=True)) == {trips["private"]}
    assert client.get("/me/trips?class=holiday").status_code == 400
    assert client.get("/me/trips?month=2026-13").status_code == 400
    # Listing opens no seal: private positions are not even decrypted for the list.
    assert _count(app, AuditEvent, event_type=audit.SEAL_OPENED) == 0


def test_bulk_classify_and_the_lock_all_or_nothing(app, client, world):
    people, trips = world
    month = _month(app, trips["business"])
    answer = client.post("/me/trips/bulk", data={"trip": [trips["business"], trips["private"]],
                                                 "classification": "business", "month": month})
    assert answer.status_code == 302
    assert _count(app) == 2
    html = client.get(f"/me/trips?month={month}&class=business").get_data(as_text=True)
    assert {trips["business"], trips["private"]} <= _listed(html)
    refused = client.post("/me/trips/bulk", data={"trip": [trips["business"], trips["old"]],
                                                  "classification": "private", "month": month},
                          follow_redirects=True)
    assert "alleen een notitie" in refused.get_data(as_text=True)
    assert _count(app) == 2


def test_the_detail_draws_the_business_track_as_svg(app, client, world):
    people, trips = world
    page = client.get(f"/me/trips/{trips['business']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    svg = re.search(r'<svg[^>]*data-testid="track-svg".*?</svg>', html, re.S).group(0)
    points = re.search(r'<polyline points="([^"]+)"', svg).group(1).split()
    assert len(points) == 3  # the three track points
    (x0, y0), (x2, y2) = (map(float, points[0].split(",")), map(float, points[-1].split(",")))
    assert x2 < x0 and y2 < y0  # Utrecht -> Amsterdam: north-west, so left and up on screen
    assert f"{UTRECHT[0]:.5f}, {UTRECHT[1]:.5f}" in html and f"{AMSTERDAM[0]:.5f}" in html
    # The map (Leaflet) enhances the SVG: scripts are our static files only, never inline.
    sources = re.findall(r'<script src="([^"]+)" defer></script>', html)
    assert html.count("<script") == len(sources) and sources == [
        "/static/tables.js", "/static/vendor/leaflet/leaflet.js", "/static/maps.js"]


def test_my_private_trip_shows_my_positions_but_no_track_and_the_opening_is_audited(app, client, world):
    people, trips = world
    html = client.get(f"/me/trips/{trips['private']}").get_data(as_text=True)
    assert "track-svg" not in html
    assert f"{PRIVATE_START[0]:.5f}, {PRIVATE_START[1]:.5f}" in html
    assert _count(app, AuditEvent, event_type=audit.SEAL_OPENED) == 1


def test_another_drivers_trip_is_403_and_the_attempt_is_logged(app, client, world):
    people, trips = world
    assert client.get(f"/me/trips/{trips['other']}").status_code == 403
    answer = client.post(f"/me/trips/{trips['other']}", data={"classification": "private"})
    assert answer.status_code == 403
    bulk = client.post("/me/trips/bulk", data={"trip": [trips["business"], trips["other"]],
                                               "classification": "private"})
    assert bulk.status_code == 403
    assert _count(app) == 0
    assert _count(app, AuditEvent, event_type="revision_refused") == 2
    with app.app_context():
        refused = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "revision_refused")).all()
        assert {e.actor_id for e in refused} == {people.driver}


def test_classify_annotate_and_see_the_history(app, client, world):
    people, trips = world
    url = f"/me/trips/{trips['business']}"
    assert client.post(url, data={"classification": "private"}).status_code == 302
    answer = client.post(url, data={"classification": "business", "business_relation": "Bakkerij Jansen",
                                    "detour": "Wegwerkzaamheden A2", "private_detour_km": "2,5",
                                    "note": "Klantbezoek", "reason": "Verkeerd geklikt"})
    assert answer.status_code == 302
    html = client.get(url).get_data(as_text=True)
    history = re.search(r'data-testid="history".*?</table>', html, re.S).group(0)
    assert history.count("<tr>") == 1 + 6  # header + private, business, relation, detour, km, note
    assert "Verkeerd geklikt" in history and "Privé" in history and "Zakelijk" in history
    assert "None" not in history  # an unset original shows empty
    assert 'value="Bakkerij Jansen"' in html


def test_a_locked_trip_takes_only_notes(app, client, world):
    people, trips = world
    url = f"/me/trips/{trips['old']}"
    page = client.get(url).get_data(as_text=True)
    assert 'name="classification"' not in page and "vergrendeld" in page
    refused = client.post(url, data={"classification": "private"})
    assert refused.status_code == 409 and "alleen een notitie" in refused.get_data(as_text=True)
    assert client.post(url, data={"note": "Was zakelijk"}).status_code == 302
    assert _count(app) == 1


def test_the_counter_moves_when_a_trip_becomes_private(app, client, world):
    people, trips = world
    before = client.get("/me/counter").get_data(as_text=True)
    assert re.search(r'data-testid="private-km">12,0<', before)
    client.post(f"/me/trips/{trips['business']}", data={"classification": "private"})
    after = client.get("/me/counter").get_data(as_text=True)
    assert re.search(r'data-testid="private-km">42,0<', after)
    assert re.search(r'data-testid="private-line" data-km="42.0"', after)
    assert re.search(r'data-testid="limit-line" data-km="500.0"', after)


def test_places_make_commute_proposals(app, client, world):
    people, trips = world
    for kind, (lat, lon) in (("home", UTRECHT), ("work", AMSTERDAM)):
        answer = client.post("/me/places", data={"kind": kind, "name": kind, "lat": str(lat).replace(".", ","),
                                                 "lon": str(lon), "radius_m": "250"})
        assert answer.status_code == 302
    html = client.get(f"/me/trips/{trips['business']}").get_data(as_text=True)
    assert "Woon-werk (voorstel)" in html
    # The driver's own places name the trip's ends (the address resolver's first choice).
    assert re.search(r'data-testid="start-address">home\b', html) and re.search(r'data-testid="end-address">work\b', html)
    assert client.post("/me/places", data={"kind": "home", "name": "x", "lat": "52", "lon": "5",
                                           "radius_m": "1"}).status_code == 400
    month = _month(app, trips["business"])
    listed = client.get(f"/me/trips?month={month}").get_data(as_text=True)
    assert "Woon-werk (voorstel)" in listed
    assert _count(app) == 0  # a proposal writes nothing until the driver confirms
    client.post(f"/me/trips/{trips['business']}", data={"classification": "commute"})
    assert _count(app, field="classification") == 1


def test_places_are_the_drivers_own(app, client, world, login):
    people, trips = world
    client.post("/me/places", data={"kind": "home", "name": "Thuis", "lat": "52.1", "lon": "5.1", "radius_m": "200"})
    from backend.models.places import Place
    with app.app_context():
        place_id = db.session.scalar(select(Place.id))
    client.post("/logout")
    login("eva@example.nl")
    assert "Thuis" not in client.get("/me/places").get_data(as_text=True)
    assert client.post(f"/me/places/{place_id}/delete").status_code == 404
    assert _count(app, Place) == 1


@pytest.mark.parametrize("path", ["/me/trips", "/me/counter", "/me/places"])
def test_the_driver_pages_are_for_drivers(app, client, world, login, path):
    client.post("/logout")
    login("fatima@example.nl")  # finance
    assert client.get(path).status_code == 403


def test_a_trip_no_car_could_make_is_labelled_in_dutch_and_never_proposed(app, client, world):
    """Issue 15: an aircraft log became an unflagged business trip. The device flags it
    (implausible_motion); the driver sees why in Dutch, and no class is proposed for it."""
    people, trips = world
    factory = TripFactory(app, client, driver_email="daan@example.nl", kenteken="99-ZZZ-9")
    (flown,) = factory.upload(TripSpec(days_ago(3), km=13.9, flags=("implausible_motion",)))
    for kind, (lat, lon) in (("home", UTRECHT), ("work", AMSTERDAM)):
        assert client.post("/me/places", data={"kind": kind, "name": kind, "lat": str(lat), "lon": str(lon),
                                               "radius_m": "250"}).status_code == 302
    html = client.get(f"/me/trips/{flown}").get_data(as_text=True)
    assert "Beweging die geen auto kan maken" in html and "implausible_motion" not in html
    assert "(voorstel)" not in html  # home to work, but no commute proposal for it
    assert "(voorstel)" in client.get(f"/me/trips/{trips['business']}").get_data(as_text=True)
    listed = client.get(f"/me/trips?month={_month(app, flown)}").get_data(as_text=True)
    row = listed[listed.index(f'data-trip-id="{flown}"'):]
    assert "(voorstel)" not in row[:row.find("</tr>")]
