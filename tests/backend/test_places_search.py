"""The address search on the driver's places page: asked at PDOK's Locatieserver by the server
(only when RITBOX_PDOK_URL is set), its answers as links that fill in the new place; PDOK down or
a nonsense answer is a message on the page, never a 500."""
from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.http_stub import StubAnswer, StubRequest, StubServer

DOCS = [{"type": "adres", "weergavenaam": "Stationsplein 1, 3511ED Utrecht", "centroide_ll": "POINT(5.11006 52.08939)"},
        {"type": "adres", "weergavenaam": "Nergens 1", "centroide_ll": "POINT(999 52)"},  # not a position
        {"type": "adres", "weergavenaam": "Zonder punt 2"}]


@pytest.fixture
def locatieserver(app):
    state = {"status": 200, "body": {"response": {"numFound": 3, "docs": DOCS}}}

    def answer(request: StubRequest) -> StubAnswer:
        return StubAnswer(state["status"], json.dumps(state["body"]).encode() if state["status"] == 200 else b"down")

    stub = StubServer(answer)
    state["queries"] = stub.requests
    app.config["PDOK_URL"] = f"{stub.origin}/bzk/locatieserver/search/v3_1/reverse"
    yield state
    stub.close()


@pytest.fixture
def driver(make_user, login):
    make_user("daan@example.nl", "driver", name="Daan de Vries")
    login("daan@example.nl")


def test_a_search_lists_addresses_that_fill_in_the_new_place(client, driver, locatieserver) -> None:
    page = client.get("/me/places?q=Stationsplein+1+Utrecht").get_data(as_text=True)
    assert "Gebruik Stationsplein 1, 3511ED Utrecht" in page
    (link,) = [html.unescape(href) for href in re.findall(r'href="(/me/places\?[^"]*)"', page)]
    assert parse_qs(urlsplit(link).query) == {"lat": ["52.089390"], "lon": ["5.110060"],
                                              "name": ["Stationsplein 1, 3511ED Utrecht"]}
    assert "Nergens" not in page and "Zonder punt" not in page  # answers without a usable position
    ((path, query),) = [(q.path, q.query) for q in locatieserver["queries"]]
    assert path == "/bzk/locatieserver/search/v3_1/free"
    assert query == {"q": ["Stationsplein 1 Utrecht"], "fq": ["type:adres"], "rows": ["5"],
                     "fl": ["id type weergavenaam centroide_ll"]}
    # The link's values fill in the form.
    form = client.get("/me/places?lat=52.089390&lon=5.110060&name=Stationsplein+1").get_data(as_text=True)
    assert 'value="52.089390"' in form and 'value="5.110060"' in form and 'value="Stationsplein 1"' in form


@pytest.mark.parametrize("status, body", [(503, None), (200, {"no": "docs"}), (200, {"response": {"docs": []}})])
def test_pdok_down_or_empty_is_a_message_not_an_error(client, driver, locatieserver, status, body) -> None:
    locatieserver["status"] = status
    if body is not None:
        locatieserver["body"] = body
    response = client.get("/me/places?q=" + "x" * 500)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Het zoeken naar adressen werkt nu niet" in page or "Geen adres gevonden" in page
    assert locatieserver["queries"][0].query["q"] == ["x" * 200]  # a long text is cut, not sent whole


def test_without_pdok_there_is_no_search(client, driver) -> None:
    page = client.get("/me/places?q=Stationsplein").get_data(as_text=True)
    assert 'data-testid="address-search"' not in page and "Gebruik" not in page
