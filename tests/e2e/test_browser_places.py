"""A driver in a real browser adds their work place as an area: first with crossing edges
(refused, with where they cross), then corrected, and sees it listed as an area with its
corners, size and centre."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from shapely import wkt

from backend.db import db
from backend.models.places import Place
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser

# An office block in Amsterdam, typed latitude first with decimal commas.
CROSSED = "52,3680; 4,8920\n52,3720; 4,8980\n52,3680; 4,8980\n52,3720; 4,8920"
CORRECT = "52,3680; 4,8920\n52,3680; 4,8980\n52,3720; 4,8980\n52,3720; 4,8920"


def test_a_driver_adds_a_work_area_and_sees_it_listed(app, live_server, page, make_user, artifacts_dir,
                                                      database_url) -> None:
    make_user("daan@example.nl", "driver", name="Daan de Vries")
    page.goto(f"{live_server}/login")
    page.get_by_label("E-mailadres").fill("daan@example.nl")
    page.get_by_label("Wachtwoord").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_test_id("navigation").wait_for()

    page.goto(f"{live_server}/me/trips")
    page.get_by_role("link", name="Mijn thuis- en werkplaatsen").click()
    expect(page.get_by_role("heading", name="Mijn plaatsen")).to_be_visible()
    page.get_by_label("Soort").select_option(label="Werk")
    page.get_by_label("Naam").fill("Kantoor Zuidas")
    corners = page.get_by_label("Hoeken van het gebied")
    expect(page.locator("#corners-help")).to_contain_text("decimale komma", use_inner_text=True)  # the field says what it takes
    corners.fill(CROSSED)
    page.get_by_role("button", name="Plaats opslaan").click()

    error = page.get_by_test_id("error")
    expect(error).to_contain_text("randen kruisen elkaar bij 52.37000, 4.89500", use_inner_text=True)
    assert page.get_by_label("Hoeken van het gebied").input_value() == CROSSED  # kept, to correct
    assert page.get_by_test_id("place").count() == 0  # nothing stored

    page.get_by_label("Hoeken van het gebied").fill(CORRECT)
    page.get_by_role("button", name="Plaats opslaan").click()
    expect(page.get_by_role("status").first).to_contain_text("Plaats opgeslagen", use_inner_text=True)
    row = page.get_by_test_id("place")
    assert row.count() == 1
    text = row.inner_text()
    assert "Werk" in text and "Kantoor Zuidas" in text
    size = re.search(r"gebied, 4 hoeken, ca\. (\d+),(\d) ha", row.get_by_test_id("shape").inner_text())
    assert size and 17 <= int(size.group(1)) <= 18  # ~445 m x ~405 m
    assert row.get_by_test_id("centre").inner_text().strip() == "52.37000, 4.89500"
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / "driver-places-area.png"), full_page=True)

    with app.app_context():
        (place,) = db.session.scalars(select(Place))
        assert place.kind == "work" and place.radius_m is None
        assert wkt.loads(place.geometry_wkt).covers(wkt.loads("POINT (4.895 52.37)"))
