"""Maps in a real browser (Leaflet, vendored): a trip's route, the driver's places, a grant's
track. With the tile source off no request leaves for another host; with a tile server set,
tiles come from that host only (a tiny tile server on loopback, there is no internet)."""
from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.backend.access_support import make_people
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago
from tests.e2e.browser_support import log_in
from tests.http_stub import StubAnswer, StubRequest, StubServer

pytestmark = [pytest.mark.browser,
              # the pages on one database; what they read is tested on both in tests/backend
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
# A 1x1 transparent PNG: what every tile of the fake tile server looks like.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def _tile(request: StubRequest) -> StubAnswer:
    return StubAnswer(200, PNG, "image/png")


@pytest.fixture
def tile_server():
    # 127.0.0.2 (loopback too): another host than the live server's, as a tile server is.
    server = StubServer(_tile, host="127.0.0.2")
    yield server
    server.close()




def _record_requests(page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _business_trip(app, client, make_user, tmp_path) -> int:
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    make_people(make_user)
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from=f"{days_ago(2).year}-01-01")
    (trip_id,) = factory.upload(TripSpec(days_ago(2), km=120.0))
    return trip_id


def _assert_route_map(page) -> None:
    route_map = page.get_by_test_id("route-map")
    # attached: a straight north-south line has an empty bounding box, which Playwright calls hidden
    route_map.locator("path.route-line").wait_for(state="attached")
    assert route_map.is_visible() and "leaflet-container" in route_map.get_attribute("class")
    assert len(json.loads(route_map.get_attribute("data-points"))) == 3  # the page's three positions
    assert "L" in route_map.locator("path.route-line").get_attribute("d")  # drawn as a line (Leaflet merges collinear points)
    expect(page.locator("#track-fallback")).to_be_hidden()  # the SVG stays for a browser without script
    assert page.get_by_test_id("track-svg").count() == 1
    expect(page.get_by_role("button", name="Inzoomen")).to_be_visible()


def test_the_trip_route_is_a_map_and_no_request_leaves_without_tiles(app, client, live_server, page, make_user,
                                                                     tmp_path, axe, artifacts_dir,
                                                                     database_url) -> None:
    trip_id = _business_trip(app, client, make_user, tmp_path)
    urls = _record_requests(page)
    log_in(page, live_server, "daan@example.nl")
    for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(f"{live_server}/me/trips/{trip_id}")
        expect(page.get_by_role("heading", name="Rit van")).to_be_visible()
        _assert_route_map(page)
        assert page.locator(".leaflet-tile").count() == 0  # a plain background
        assert axe(page) == []
        if database_url.startswith("sqlite"):
            page.screenshot(path=str(artifacts_dir / f"maps-trip-route-no-tiles-{name}.png"), full_page=True)
    assert urls and {_origin(url) for url in urls} == {live_server}


def test_with_a_tile_server_tiles_come_from_that_host_only(app, client, live_server, page, make_user, tmp_path,
                                                           tile_server, axe, artifacts_dir, database_url) -> None:
    app.config["MAP_TILES"] = f"{tile_server.origin}/brt/{{z}}/{{x}}/{{y}}.png"
    app.config["MAP_TILES_ATTRIBUTION"] = "Kaartgegevens © Kadaster"
    trip_id = _business_trip(app, client, make_user, tmp_path)
    urls = _record_requests(page)
    log_in(page, live_server, "daan@example.nl")
    page.set_viewport_size(LAPTOP)
    response = page.goto(f"{live_server}/me/trips/{trip_id}")
    assert tile_server.origin in response.headers["content-security-policy"]
    _assert_route_map(page)
    page.locator("img.leaflet-tile-loaded").first.wait_for()
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("Kaartgegevens © Kadaster", use_inner_text=True)
    assert axe(page) == []
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / "maps-trip-route-tiles.png"), full_page=True)
    assert {_origin(url) for url in urls} == {live_server, tile_server.origin}
    tiles = [url for url in urls if url.startswith(tile_server.origin)]
    assert tiles and all(urlsplit(url).path.startswith("/brt/") for url in tiles)
    assert tile_server.requests  # the tiles were really fetched from it


def _one_address(request: StubRequest) -> StubAnswer:
    """PDOK's /free endpoint answering one address, in the shape its v3.1 gives."""
    body = {"response": {"numFound": 1, "start": 0, "maxScore": 17.2, "numFoundExact": True, "docs": [
        {"type": "adres", "weergavenaam": "Stationsplein 1, 3511ED Utrecht",
         "id": "adr-4f7e3c0b0e0b7e4e0b9d4e6a8a3f9c1d", "score": 17.2,
         "centroide_ll": "POINT(5.11006 52.08939)"}]}}
    return StubAnswer(200, json.dumps(body).encode(), "application/json")


def _stored_places(app) -> list[tuple[str, str, float, float, float]]:
    from shapely import wkt

    from backend.db import db
    from backend.models.places import Place

    with app.app_context():
        places = db.session.scalars(select(Place).order_by(Place.id)).all()
        result = []
        for place in places:
            point = wkt.loads(place.geometry_wkt)
            result.append((place.kind, place.name, point.y, point.x, place.radius_m))
        db.session.remove()
        return result


def test_a_driver_chooses_home_by_clicking_the_map(app, live_server, page, make_user, axe, artifacts_dir,
                                                   database_url) -> None:
    make_user("daan@example.nl", "driver", name="Daan de Vries")
    urls = _record_requests(page)
    log_in(page, live_server, "daan@example.nl")
    page.set_viewport_size(LAPTOP)
    page.goto(f"{live_server}/me/places")
    picker = page.get_by_test_id("place-map")
    picker.locator(".leaflet-control-zoom").wait_for()
    expect(page.locator("#map-help")).to_contain_text("Klik op de kaart om het middelpunt te kiezen", use_inner_text=True)
    assert page.get_by_test_id("address-search").count() == 0  # PDOK is not configured: no search
    assert axe(page) == []

    box = picker.bounding_box()
    picker.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    lat, lon = float(page.get_by_label("Breedtegraad").input_value()), float(page.get_by_label("Lengtegraad").input_value())
    assert 51.5 < lat < 53 and 4.5 < lon < 6  # the middle of the Netherlands, where the map opened
    picker.locator("path.chosen-place").wait_for()
    # A point 40 px further east lies further east.
    picker.click(position={"x": box["width"] / 2 + 40, "y": box["height"] / 2})
    east = float(page.get_by_label("Lengtegraad").input_value())
    assert east > lon and float(page.get_by_label("Breedtegraad").input_value()) == pytest.approx(lat, abs=1e-5)
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / "maps-places-clicked-laptop.png"), full_page=True)
    page.get_by_label("Soort").select_option(label="Woning")
    page.get_by_label("Naam", exact=True).fill("Thuis")
    page.get_by_role("button", name="Plaats opslaan").click()
    expect(page.get_by_role("status").first).to_contain_text("Plaats opgeslagen", use_inner_text=True)
    assert _stored_places(app) == [("home", "Thuis", pytest.approx(lat, abs=1e-6), pytest.approx(east, abs=1e-6),
                                    200.0)]

    page.set_viewport_size(PHONE)
    page.reload()
    picker.locator("path.leaflet-interactive, path").first.wait_for()  # the saved place is drawn
    assert axe(page) == []
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / "maps-places-saved-phone.png"), full_page=True)
    assert {_origin(url) for url in urls} == {live_server}


def test_a_driver_finds_work_by_address_search(app, live_server, page, make_user, axe, artifacts_dir,
                                               database_url) -> None:
    search = StubServer(_one_address)
    try:
        app.config["PDOK_URL"] = f"{search.origin}/bzk/locatieserver/search/v3_1/reverse"
        make_user("daan@example.nl", "driver", name="Daan de Vries")
        urls = _record_requests(page)
        log_in(page, live_server, "daan@example.nl")
        page.set_viewport_size(LAPTOP)
        page.goto(f"{live_server}/me/places")
        page.get_by_label("Zoek een adres").fill("Stationsplein 1 Utrecht")
        page.get_by_role("button", name="Zoeken").click()
        page.get_by_role("link", name="Gebruik Stationsplein 1, 3511ED Utrecht").click()
        expect(page.get_by_label("Breedtegraad")).to_have_value("52.089390")
        expect(page.get_by_label("Lengtegraad")).to_have_value("5.110060")
        page.get_by_test_id("place-map").locator("path.chosen-place").wait_for()
        assert axe(page) == []
        if database_url.startswith("sqlite"):
            page.screenshot(path=str(artifacts_dir / "maps-places-address-search-laptop.png"), full_page=True)
        page.get_by_label("Soort").select_option(label="Werk")
        page.get_by_role("button", name="Plaats opslaan").click()
        expect(page.get_by_role("status").first).to_contain_text("Plaats opgeslagen", use_inner_text=True)
        assert _stored_places(app) == [("work", "Stationsplein 1, 3511ED Utrecht", 52.08939, 5.11006, 200.0)]
        # The search went from the server, to the free endpoint; the browser spoke to Ritbox only.
        assert [(q.path, q.query["q"], q.query["fq"]) for q in search.requests] == \
            [("/bzk/locatieserver/search/v3_1/free", ["Stationsplein 1 Utrecht"], ["type:adres"])]
        assert {_origin(url) for url in urls} == {live_server}
    finally:
        search.close()


def test_a_grant_track_is_a_map_with_the_table_behind_a_link(app, live_server, page, make_user, tmp_path, axe,
                                                             artifacts_dir, database_url) -> None:
    from backend.db import db
    from tests.backend.access_support import Fleet, granted, people_under_agreement

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = people_under_agreement(app, make_user)
    with app.app_context():
        fleet = Fleet(people.driver, people.other_driver)
        grant_id = granted(people, categories=("trip_summaries", "business_tracks")).id
        db.session.remove()
    urls = _record_requests(page)
    log_in(page, live_server, "mark@example.nl")
    track_url = f"{live_server}/access/grants/{grant_id}/trips/{fleet.trips['business']}/track"
    for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(track_url)
        expect(page.get_by_role("heading", name=f"Route van rit {fleet.trips['business']}")).to_be_visible()
        _assert_route_map(page)
        assert page.get_by_test_id("track").count() == 0  # the table is behind the link
        assert axe(page) == []
        if database_url.startswith("sqlite"):
            page.screenshot(path=str(artifacts_dir / f"maps-grant-track-{name}.png"), full_page=True)
        page.get_by_role("link", name="Toon als tabel").click()
        rows = page.get_by_test_id("track").locator("tbody tr")
        expect(rows).to_have_count(3)
        assert rows.first.locator("td").nth(1).inner_text() == "52.10000, 5.10000"
        assert axe(page) == []
        if database_url.startswith("sqlite"):
            page.screenshot(path=str(artifacts_dir / f"maps-grant-track-table-{name}.png"), full_page=True)
        page.get_by_role("link", name="Toon als kaart").click()
        page.get_by_test_id("route-map").locator("path.route-line").wait_for(state="attached")
    assert {_origin(url) for url in urls} == {live_server}
