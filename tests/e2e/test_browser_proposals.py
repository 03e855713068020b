"""Issue 16 in Chromium: a driver sets home, work, working hours and a known place through the
pages, sees a month of trips with proposals and their reasons, from/to places and the
unclassified first, and classifies the month with one "Alles bevestigen" click; trips without a
proposal stay unclassified. Screenshots at 1366x768 and 390x844, axe-core without violations."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from backend.trips import proposals
from tests.backend.proposal_support import (BAKERY, HOME, WORK, classifications, confirmations, expected_class,
                                            upload_month)
from tests.conftest import TEST_PASSWORD

pytestmark = [pytest.mark.browser,
              # the pages on one database; what they read is tested on both in tests/backend
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}


def _list_fits(page) -> bool:
    """The trip list and its controls fit the screen (the header is another helper's part)."""
    return page.evaluate("""() => ['trips', 'proposal-bar', 'order'].every(id => {
        const element = document.querySelector(`[data-testid="${id}"]`);
        return !element || (element.getBoundingClientRect().right <= window.innerWidth + 1
                            && element.scrollWidth <= element.clientWidth + 1); })""")


def test_a_driver_classifies_a_month_with_one_click(app, client, live_server, page, make_user, tmp_path,
                                                    artifacts_dir, database_url, axe) -> None:
    people, trips, first = upload_month(app, client, make_user, tmp_path)
    holidays = proposals.dutch_holidays(first.year)
    expected = {t.id: expected_class(t, holidays) for t in trips}
    shots = database_url.startswith("sqlite")
    page.set_viewport_size(DESKTOP)
    # The offline geocoder builds its index once per process, on first use (seconds on a busy
    # machine); the live server runs in this process, so build it before the pages time out.
    from backend.addresses import geonames
    assert geonames.nearest_place(*HOME) is not None

    page.goto(f"{live_server}/login")
    page.get_by_label("E-mailadres").fill("daan@example.nl")
    page.get_by_label("Wachtwoord").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.goto(f"{live_server}/me/places")
    page.get_by_role("button", name="Ik heb de privacyverklaring gelezen").click()

    # Home and work on the places page, working hours on their own page.
    for kind, name, (lat, lon) in (("home", "Thuis", HOME), ("work", "Werk", WORK)):
        page.goto(f"{live_server}/me/places")
        page.get_by_label("Soort").select_option(kind)
        page.get_by_label("Naam").fill(name)
        page.get_by_label("Breedtegraad").fill(str(lat))
        page.get_by_label("Lengtegraad").fill(str(lon))
        page.get_by_label("Straal (m)").fill("250")
        page.get_by_role("button", name="Plaats opslaan").click()
        page.get_by_role("status").first.wait_for()
    page.goto(f"{live_server}/me/trips?month={first:%Y-%m}")
    page.get_by_role("link", name="Mijn werktijden").click()
    expect(page.get_by_role("heading", name="Mijn werktijden")).to_be_visible()
    expect(page.get_by_test_id("current")).to_contain_text("Geen werktijden ingesteld", use_inner_text=True)
    page.get_by_label("Begin van de werkdag").fill("08:00")
    page.get_by_label("Einde van de werkdag").fill("18:00")
    page.get_by_role("button", name="Werktijden opslaan").click()
    assert "Nu: maandag, dinsdag, woensdag, donderdag, vrijdag, 08:00 tot 18:00." in \
        page.get_by_test_id("current").inner_text()
    assert axe(page) == []
    if shots:
        page.screenshot(path=str(artifacts_dir / "driver-working-hours.png"), full_page=True)

    # The bakery: one click on a trip's arrival.
    bakery = next(t for t in trips if t.end == BAKERY)
    page.goto(f"{live_server}/me/trips/{bakery.id}")
    page.get_by_label("Sla de aankomst op als bekende plaats").fill("Bakkerij Jansen")
    page.get_by_role("button", name="Opslaan als bekende plaats").click()
    expect(page.get_by_role("status").first).to_contain_text("Bekende plaats opgeslagen", use_inner_text=True)
    assert page.get_by_test_id("reason").inner_text() == "Klant: Bakkerij Jansen"
    assert axe(page) == []
    if shots:
        page.screenshot(path=str(artifacts_dir / "driver-trip-known-place-proposal.png"), full_page=True)

    # The month: proposals with reasons, places, unclassified first.
    page.goto(f"{live_server}/me/trips?month={first:%Y-%m}")
    commute = next(t for t in trips if expected[t.id] == "commute")
    row = page.locator(f'tr[data-trip-id="{commute.id}"]')
    assert row.get_by_test_id("reason").inner_text() == "Woon-werk: van Thuis naar Werk"
    assert row.get_by_test_id("from").inner_text().startswith("Thuis")
    assert row.get_by_test_id("to").inner_text().startswith("Werk")
    reasons = set(page.get_by_test_id("reason").all_inner_texts())
    assert {"Binnen je werktijden", "Klant: Bakkerij Jansen", "Woon-werk: van Thuis naar Werk"} <= reasons
    assert "Weekend" in reasons or any(r.startswith("Feestdag: ") for r in reasons)
    proposed = {trip_id: value for trip_id, value in expected.items() if value}
    assert page.get_by_test_id("proposal-bar").inner_text().startswith(
        f"{len(proposed)} rit(ten) hebben een voorstel")
    assert axe(page) == []
    if shots:
        page.screenshot(path=str(artifacts_dir / "driver-trips-proposals-1366.png"), full_page=True)

    # Select all, at phone size: every trip that can change is ticked.
    page.set_viewport_size(PHONE)
    page.get_by_label("Alle ritten selecteren").check()
    boxes = page.locator('input[name="trip"]:not([disabled])')
    assert boxes.count() == len(trips) and all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.get_by_label("Alle ritten selecteren").uncheck()
    assert axe(page) == []
    assert _list_fits(page)
    if shots:
        page.screenshot(path=str(artifacts_dir / "driver-trips-proposals-390.png"), full_page=True)
    page.get_by_role("link", name="Niet geclassificeerd eerst").click()
    expect(page).to_have_url(re.compile("order=unclassified"))
    page.set_viewport_size(DESKTOP)

    # One click classifies every proposed trip of the month.
    assert classifications(app) == {}
    page.get_by_role("button", name="Alles bevestigen").click()
    expect(page.get_by_role("status").first).to_contain_text(f"{len(proposed)} voorstel(len) bevestigd.", use_inner_text=True)
    assert classifications(app) == proposed
    assert sorted(e["trip_id"] for e in confirmations(app)) == sorted(proposed)
    unproposed = [t.id for t in trips if not expected[t.id]]
    assert unproposed  # the evening trips on weekdays: nothing proposed, nothing written
    listed = [int(i) for i in page.locator("tr[data-trip-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.tripId)")]
    assert listed[:len(unproposed)] == unproposed  # still sorted: the unclassified first
    for trip_id in unproposed:
        assert page.locator(f'tr[data-trip-id="{trip_id}"]').get_by_test_id("class").inner_text().strip() == \
            "Niet geclassificeerd"
    assert page.get_by_test_id("confirm-all").count() == 0
    assert re.search(rf"\b{len(unproposed)} niet geclassificeerd", page.get_by_test_id("order").inner_text())
    assert axe(page) == []
    if shots:
        page.screenshot(path=str(artifacts_dir / "driver-trips-after-confirm-all-1366.png"), full_page=True)
    page.set_viewport_size(PHONE)
    assert axe(page) == []
    if shots:
        page.screenshot(path=str(artifacts_dir / "driver-trips-after-confirm-all-390.png"), full_page=True)
