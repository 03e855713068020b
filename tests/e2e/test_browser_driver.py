"""A driver in a real browser: sees the month's trips, classifies a business trip as private
with the bulk form, opens the detail with the SVG track, and watches the 500 km counter move
past the 80% warning. Trips are ingested as signed uploads first."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.backend.access_support import make_people
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser


def _km(text: str) -> float:
    return float(text.strip().replace(".", "").replace(",", "."))


def test_a_driver_classifies_a_trip_and_watches_the_counter_move(app, client, live_server, page, make_user,
                                                                 tmp_path, artifacts_dir, database_url) -> None:
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    make_people(make_user)
    year = datetime.now(timezone.utc).year
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from=f"{year}-01-01")
    business, private = factory.upload(TripSpec(days_ago(2), km=120.0),
                                       TripSpec(days_ago(2, hour=15), km=300.0, mode="private"))
    first_day = days_ago(2)
    screenshots = database_url.startswith("sqlite")

    page.goto(f"{live_server}/login")
    page.get_by_label("E-mailadres").fill("daan@example.nl")
    page.get_by_label("Wachtwoord").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_test_id("navigation").wait_for()

    page.get_by_test_id("navigation").get_by_role("link", name="500 km-teller").click()
    assert _km(page.get_by_test_id("private-km").inner_text()) == 300.0
    # 300 private km and 120 km not yet classified: both count until the driver says (issue 13), 84%.
    warning = page.get_by_test_id("counter-warning")
    assert warning.get_attribute("data-level") == "warning" and re.search(r"\b84%", warning.inner_text())
    expect(warning).to_contain_text("420,0 van 500,0 km", use_inner_text=True)

    page.goto(f"{live_server}/me/trips?month={first_day.astimezone(ZoneInfo('Europe/Amsterdam')).strftime('%Y-%m')}")
    row = page.locator(f'tr[data-trip-id="{business}"]')
    # Unclassified; on a weekend or holiday with a proposal to confirm (backend/trips/proposals.py)
    assert row.get_by_test_id("class").inner_text().strip() in ("Niet geclassificeerd", "Privé (voorstel)")
    row.get_by_role("link").click()  # a business trip: its route is drawn, on a map (the SVG without script)
    page.get_by_test_id("route-map").locator("path.route-line").wait_for()
    track = page.get_by_test_id("track-svg")
    assert len(track.locator("polyline").get_attribute("points").split()) == 3
    page.go_back()
    row = page.locator(f'tr[data-trip-id="{business}"]')
    if screenshots:
        page.screenshot(path=str(artifacts_dir / "driver-trips.png"), full_page=True)
    row.get_by_role("checkbox").check()
    page.get_by_label("Merk de geselecteerde ritten aan als").select_option(label="Privé")
    page.get_by_role("button", name="Aanmerken").click()
    expect(page.get_by_role("status").first).to_contain_text("1 rit(ten) aangemerkt als Privé", use_inner_text=True)
    assert page.locator(f'tr[data-trip-id="{business}"]').get_by_test_id("class").inner_text().strip() == "Privé"

    page.locator(f'tr[data-trip-id="{business}"]').get_by_role("link").click()
    # Classified private: positions and route are sealed; the page says so and draws no route.
    expect(page.get_by_test_id("sealed-hint")).to_be_visible()
    assert page.get_by_test_id("track-svg").count() == 0
    history = page.get_by_test_id("history")
    assert "Privé" in history.inner_text() and "Daan de Vries" in history.inner_text()
    if screenshots:
        page.screenshot(path=str(artifacts_dir / "driver-trip-detail.png"), full_page=True)

    page.get_by_test_id("navigation").get_by_role("link", name="500 km-teller").click()
    assert _km(page.get_by_test_id("private-km").inner_text()) == 420.0
    warning = page.get_by_test_id("counter-warning")
    assert warning.get_attribute("data-level") == "warning" and re.search(r"\b84%", warning.inner_text())
    assert page.get_by_test_id("private-line").get_attribute("data-km") == "420.0"
    if screenshots:
        page.screenshot(path=str(artifacts_dir / "driver-counter.png"), full_page=True)
