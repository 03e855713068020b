"""Nothing a person sees in the Dutch interface is a code or English: every page each role reaches
(from its navigation and the links on its pages, over trips, a grant, a request and audit events),
its error pages and a form's field errors."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from tests.backend.crawl_support import (ROLE_EMAILS, clause_ids, build_scene, english_catalogue_sentences, follow, known_codes,
                                         offences, page_text)
from tests.conftest import TEST_PASSWORD


@pytest.fixture
def scene(app, client, make_user, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    return build_scene(app, client, make_user)


def _crawl(app, client, role: str) -> dict[str, tuple[str, str]]:
    """Log in as the role (Dutch is the default) and read every page it reaches: url -> text."""
    response = client.post("/login", data={"email": ROLE_EMAILS[role], "password": TEST_PASSWORD})
    assert response.status_code == 302
    texts: dict[str, str] = {}

    def links_of(url: str):
        response = client.get(url)
        if response.status_code in (301, 302, 303):
            return [response.headers["Location"]]
        if response.mimetype != "text/html":
            return None
        text, consented, links = page_text(response.get_data(as_text=True))
        texts[f"{url} ({response.status_code})"] = (text, consented)
        return links

    # Besides the links: a page that does not exist, a trip that does not exist (the door refuses
    # it), another role's page, a grant that does not exist.
    follow(app, ["/", "/no-such-page", "/me/trips/999999", "/admin/users", "/audit/log", "/access/grants/999/trips"],
           links_of)
    return texts


@pytest.mark.parametrize("role", list(ROLE_EMAILS))
def test_no_page_shows_a_code_or_english(app, client, scene, role) -> None:
    codes = known_codes(app)
    sentences = english_catalogue_sentences()
    texts = _crawl(app, client, role)
    assert len(texts) >= 3, texts.keys()
    print("crawled:", *texts, sep="\n  ")
    found = {}
    for url, (text, consented) in texts.items():
        bad = offences(text, codes) | {f"English {s!r}" for s in sentences if s in text}
        bad |= offences(consented, codes - clause_ids())
        if bad:
            found[url] = sorted(bad)
    assert not found, "pages with codes or English:\n" + "\n".join(f"{url}: {', '.join(bad)}" for url, bad in found.items())


def test_field_errors_say_what_to_type(app, client, make_user) -> None:
    """WTForms' generic "Veld moet tussen 10 en 1024 karakters lang zijn" named neither the field
    nor what to type; each message now names both, in Dutch."""
    make_user("anna@example.nl", "admin", name="Anna Visser")
    client.post("/login", data={"email": "anna@example.nl", "password": TEST_PASSWORD})
    response = client.post("/admin/users/new", data={"email": "geen adres", "name": "", "password": "kort"})
    assert response.status_code == 400
    text, _, _ = page_text(response.get_data(as_text=True))
    assert "Vul naam in." in text
    assert "Vul bij eerste wachtwoord 10 tot 1024 tekens in." in text
    assert "Vul een e-mailadres in, bijvoorbeeld naam@voorbeeld.nl." in text
    assert "Kies rollen." in text
    assert "karakters" not in text and "Dit veld is verplicht" not in text


def test_error_pages_speak_dutch_and_the_api_keeps_json(app, client, make_user) -> None:
    make_user("daan@example.nl", "driver", name="Daan")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "Pagina niet gevonden" in missing.get_data(as_text=True)
    client.post("/login", data={"email": "daan@example.nl", "password": TEST_PASSWORD})
    forbidden = client.get("/admin/users")
    assert forbidden.status_code == 403 and "Uw rol geeft geen toegang" in forbidden.get_data(as_text=True)
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404 and api.get_json()["error"] == "not_found"


@given(metres=st.integers(min_value=-10**9, max_value=10**10), signed=st.booleans())
def test_the_calibration_page_prints_km_as_the_report_does(metres: int, signed: bool) -> None:
    """The calibrations page printed 48.400,123 where the report said 48400,1: one format now."""
    from backend.odometer.web import km_text
    from backend.reports.build import _metres_km, t_nl
    assert km_text(metres, signed=signed) == t_nl(_metres_km(metres), signed=signed)
