"""The address resolver: named places first, then the offline GeoNames extract (real shipped data),
then PDOK when configured (tested against a local fake Locatieserver over real HTTP); the cache;
private positions never cached nor sent; no network when PDOK is off."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.db import db
from tests.http_stub import StubAnswer, StubRequest, StubServer

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "pdok" / "reverse_stationsplein_utrecht.json"
UTRECHT_CENTRAAL = (52.0894, 5.1100)
AMSTERDAM_DAM = (52.3731, 4.8926)
ROTTERDAM_CENTRAAL = (51.9244, 4.4690)


class FakeLocatieserver:
    """A Locatieserver reverse endpoint on 127.0.0.1 answering from the recorded fixture."""

    def __init__(self) -> None:
        self.mode = "ok"  # "ok", "empty", "error", "far"
        self.stub = StubServer(self._answer)
        self.requests = self.stub.requests
        self.url = f"{self.stub.origin}/bzk/locatieserver/search/v3_1/reverse"

    def _answer(self, request: StubRequest) -> StubAnswer:
        if self.mode == "error":
            return StubAnswer(503)
        body = json.loads(FIXTURE.read_text(encoding="utf-8"))
        if self.mode == "empty":
            body["response"].update(numFound=0, docs=[])
        elif self.mode == "far":
            body["response"]["docs"][0]["afstand"] = 812.4
        return StubAnswer(200, json.dumps(body).encode(), "application/json")

    def close(self) -> None:
        self.stub.close()


@pytest.fixture
def pdok(app):
    fake = FakeLocatieserver()
    app.config["PDOK_URL"] = fake.url
    yield fake
    fake.close()


@pytest.fixture
def no_network(monkeypatch):
    """Any outgoing connection fails the test (the resolver must work offline)."""
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise AssertionError(f"network access to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def _resolve(app, lat, lon, **kwargs):
    from backend.addresses import resolve
    with app.app_context():
        address = resolve(lat, lon, **kwargs)
        db.session.commit()
        return address


def _cache_rows(app):
    from backend.models.org_places import AddressCacheEntry
    with app.app_context():
        return [(e.lat_e5, e.lon_e5, e.provider, e.level, e.place, e.street)
                for e in db.session.scalars(select(AddressCacheEntry).order_by(AddressCacheEntry.id))]


# --------------------------------------------------------------------- offline geocoder

def test_pdok_is_off_by_default(app):
    assert app.config.get("PDOK_URL") is None


def test_the_offline_geocoder_gives_real_dutch_places_without_network(app, no_network):
    utrecht = _resolve(app, *UTRECHT_CENTRAAL)
    assert (utrecht.place, utrecht.country, utrecht.level, utrecht.source) == ("Utrecht", "NL", "place", "geonames")
    assert utrecht.street is None and not utrecht.street_level
    amsterdam = _resolve(app, *AMSTERDAM_DAM)
    assert (amsterdam.place, amsterdam.country) == ("Amsterdam", "NL")
    rotterdam = _resolve(app, *ROTTERDAM_CENTRAAL)
    assert rotterdam.place == "Rotterdam"
    assert no_network == []


def test_a_position_far_from_any_place_is_unknown_not_a_guess(app):
    address = _resolve(app, 53.9, 3.2)  # the North Sea
    assert address.place is None and address.source == "none" and not address.street_level


def test_results_are_cached_by_rounded_position(app, monkeypatch):
    from backend.addresses import geonames

    calls = []
    real = geonames.nearest_place
    monkeypatch.setattr(geonames, "nearest_place", lambda lat, lon: calls.append((lat, lon)) or real(lat, lon))
    first = _resolve(app, 52.089401, 5.110002)
    again = _resolve(app, 52.089404, 5.109998)  # the same position at 5 decimals
    assert first == again and len(calls) == 1
    assert _cache_rows(app) == [(5208940, 511000, "geonames", "place", "Utrecht", None)]
    _resolve(app, 52.08950, 5.11000)  # another position: asked again
    assert len(calls) == 2


def test_private_positions_are_never_cached(app):
    address = _resolve(app, *AMSTERDAM_DAM, private=True)
    assert address.place == "Amsterdam"
    assert _cache_rows(app) == []


# --------------------------------------------------------------------- named places

def test_a_named_place_wins_over_the_geocoders(app, runner, pdok):
    result = runner.invoke(args=["places", "add", "--name", "Kantoor Utrecht", "--lat", "52.0894", "--lon", "5.1100",
                                 "--radius-m", "150", "--street", "Croeselaan", "--number", "1",
                                 "--postcode", "3521 BJ", "--city", "Utrecht"])
    assert result.exit_code == 0, result.output
    inside = _resolve(app, 52.0900, 5.1110)  # about 95 m away
    assert (inside.level, inside.source, inside.name) == ("named_place", "org_place", "Kantoor Utrecht")
    assert (inside.street, inside.number, inside.postcode, inside.place) == ("Croeselaan", "1", "3521BJ", "Utrecht")
    assert inside.street_level and inside.text == "Kantoor Utrecht (Croeselaan 1, 3521 BJ Utrecht)"
    assert pdok.requests == []  # never asked
    outside = _resolve(app, 52.0910, 5.1130)  # about 270 m away
    assert outside.level != "named_place"
    listed = runner.invoke(args=["places", "list"])
    assert "Kantoor Utrecht" in listed.output and "150 m" in listed.output
    duplicate = runner.invoke(args=["places", "add", "--name", "Kantoor Utrecht", "--lat", "52", "--lon", "5"])
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output


def test_the_smallest_named_place_wins_and_a_drivers_own_places_only_for_that_driver(app, make_user):
    from backend.addresses import resolve
    from backend.models.org_places import OrgPlace
    from backend.models.places import Place

    driver = make_user("daan@example.nl", "driver")
    other = make_user("eva@example.nl", "driver")
    with app.app_context():
        db.session.add(OrgPlace(name="Campus", lat=52.0850, lon=5.1700, radius_m=2000, street="Heidelberglaan",
                                number="8", postcode="3584CS", city="Utrecht"))
        db.session.add(Place(driver_id=driver, kind="home", name="Thuis",
                             geometry_wkt="POINT (5.17 52.085)", radius_m=50.0))
        db.session.commit()
        own = resolve(52.0851, 5.1701, driver_id=driver, private=True)
        assert (own.level, own.source, own.name) == ("named_place", "driver_place", "Thuis")
        # The place's address comes from the geocoder: GeoNames' nearest point here is the
        # Uithof district (place level, not street level).
        assert (own.place, own.street_level) == ("De Uithof", False)
        not_theirs = resolve(52.0851, 5.1701, driver_id=other)
        assert (not_theirs.source, not_theirs.name, not_theirs.street) == ("org_place", "Campus", "Heidelberglaan")


def test_a_polygon_place_is_matched_by_its_shape(app):
    from backend.addresses import resolve
    from backend.models.org_places import OrgPlace

    with app.app_context():
        db.session.add(OrgPlace(name="Klant Haven", lat=51.90, lon=4.40, radius_m=1, kind="customer",
                                polygon_wkt="POLYGON ((4.39 51.89, 4.41 51.89, 4.41 51.91, 4.39 51.91, 4.39 51.89))"))
        db.session.commit()
        assert resolve(51.905, 4.405).name == "Klant Haven"
        assert resolve(51.915, 4.405).source == "geonames"


# --------------------------------------------------------------------- PDOK

def test_pdok_gives_a_street_level_address_and_is_cached(app, pdok):
    address = _resolve(app, *UTRECHT_CENTRAAL)
    assert (address.street, address.number, address.postcode, address.place) == ("Stationsplein", "1", "3511ED", "Utrecht")
    assert address.level == "street" and address.source == "pdok" and address.street_level
    assert address.text == "Stationsplein 1, 3511 ED Utrecht"
    (request,) = pdok.requests
    assert request.path == "/bzk/locatieserver/search/v3_1/reverse"
    assert request.query["lat"] == ["52.089400"] and request.query["lon"] == ["5.110000"]
    assert request.query["type"] == ["adres"] and request.query["rows"] == ["1"]
    assert _resolve(app, *UTRECHT_CENTRAAL) == address
    assert len(pdok.requests) == 1  # from the cache
    assert {row[2] for row in _cache_rows(app)} == {"geonames", "pdok"}


@pytest.mark.parametrize("mode", ["error", "empty", "far"])
def test_when_pdok_fails_or_finds_nothing_close_the_offline_place_stands(app, pdok, mode):
    pdok.mode = mode
    address = _resolve(app, *UTRECHT_CENTRAAL)
    assert (address.place, address.level, address.source) == ("Utrecht", "place", "geonames")
    assert len(pdok.requests) == 1
    _resolve(app, *UTRECHT_CENTRAAL)
    # A failure is not cached (asked again); an answer without an address close by is.
    assert len(pdok.requests) == (2 if mode == "error" else 1)


def test_a_private_position_is_never_sent_to_pdok(app, pdok):
    address = _resolve(app, *UTRECHT_CENTRAAL, private=True)
    assert address.source == "geonames" and pdok.requests == []


def test_an_unreachable_pdok_falls_back_quickly(app):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.config["PDOK_URL"] = f"http://127.0.0.1:{port}/reverse"
    address = _resolve(app, *AMSTERDAM_DAM)
    assert (address.place, address.source) == ("Amsterdam", "geonames")


def test_the_pdok_setting_must_be_an_http_url(tmp_path):
    from backend.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="RITBOX_PDOK_URL"):
        load_settings({"RITBOX_PDOK_URL": "api.pdok.nl/reverse"}, tmp_path)
    assert load_settings({"RITBOX_PDOK_URL": "https://api.pdok.nl/bzk/locatieserver/search/v3_1/reverse"},
                         tmp_path)["PDOK_URL"].startswith("https://")


def test_the_cli_resolves_a_position(runner):
    result = runner.invoke(args=["places", "resolve", "--lat", "52.3731", "--lon", "4.8926"])
    assert result.exit_code == 0
    assert result.output.startswith("Amsterdam\tlevel=place\tsource=geonames") and "not street level" in result.output


def test_resolve_many_reads_and_writes_the_cache_in_bulk_and_answers_like_resolve(app, runner, monkeypatch):
    from backend.addresses import geonames
    from backend.addresses.resolver import Resolver

    runner.invoke(args=["places", "add", "--name", "Kantoor", "--lat", "52.0894", "--lon", "5.1100",
                        "--street", "Croeselaan", "--number", "1", "--postcode", "3521BJ", "--city", "Utrecht"])
    positions = [UTRECHT_CENTRAAL, AMSTERDAM_DAM, ROTTERDAM_CENTRAAL, AMSTERDAM_DAM, (52.0, 5.0)]
    with app.app_context():
        one_by_one = [Resolver().resolve(lat, lon) for lat, lon in positions]
        db.session.rollback()  # nothing cached by these
        many = Resolver().resolve_many(positions)
        db.session.commit()
        assert many == one_by_one and many[0].source == "org_place"
    # Named places are never cached; each distinct geocoded position once.
    assert sorted(row[:3] for row in _cache_rows(app)) == sorted(
        {(round(lat * 1e5), round(lon * 1e5), "geonames") for lat, lon in positions[1:]})
    calls = []
    monkeypatch.setattr(geonames, "nearest_place", lambda lat, lon: calls.append(1))
    with app.app_context():
        assert Resolver().resolve_many(positions) == many and calls == []
