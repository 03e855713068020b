"""A real Chromium: finance records two dashboard readings for a car whose trips were uploaded
by its device, and sees the correction spread, the GPS originals and the photo link."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.backend.odometer_fixtures import T0, car, hourly
from tests.e2e.browser_support import log_in

pytestmark = pytest.mark.browser
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 32




def test_finance_records_readings_and_sees_the_correction(app, client, live_server, page, make_user, tmp_path,
                                                          artifacts_dir, database_url) -> None:
    make_user("fatima@example.nl", "finance", name="Fatima")
    make_user("daan@example.nl", "driver", name="Daan")
    golf = car(app, client, driver_email="daan@example.nl")
    golf.drive(*hourly(T0, [10.0]))
    golf.drive(*hourly(T0 + timedelta(days=1), [30.0, 70.0]))
    photo = tmp_path / "dashboard.png"
    photo.write_bytes(PNG)

    log_in(page, live_server, "fatima@example.nl")
    page.get_by_role("link", name="Kilometerstanden").click()
    page.get_by_role("heading", name="Kilometerstanden").wait_for()
    row = page.locator("tr[data-vehicle=GBXJ12]")
    expect(row).to_contain_text("Nooit gekalibreerd", use_inner_text=True)

    page.get_by_label("Auto").select_option("GBXJ12")
    page.get_by_label("Kilometerstand op het dashboard (km)").fill("30.000")
    page.get_by_label("Datum en tijd van de aflezing").fill("2026-03-02T12:00")
    page.get_by_role("button", name="Aflezing vastleggen").click()
    page.get_by_text("Eerste aflezing van GB-XJ-12 vastgelegd").wait_for()

    page.get_by_label("Kilometerstand op het dashboard (km)").fill("30.102,5")
    page.get_by_label("Datum en tijd van de aflezing").fill("2026-03-05T12:00")
    page.get_by_label("Foto van het dashboard").set_input_files(str(photo))
    page.get_by_role("button", name="Aflezing vastleggen").click()
    page.get_by_text("+2,5 km correctie verdeeld over 2 rit(ten)").wait_for()

    history = page.locator("table.calibration-history tbody tr")
    assert history.count() == 2
    newest = history.nth(0).inner_text()
    assert "30102,5" in newest and "20110,0" in newest  # as the report prints them (backend.numbers)
    assert "+2,5" in newest and "Fatima" in newest
    expect(history.nth(1)).to_contain_text("Eerste aflezing", use_inner_text=True)
    status = page.locator("tr[data-vehicle=GBXJ12]").inner_text()
    assert "05-05-2026" in status and "Te laat" in status  # two months after 5 March, long past
    with page.expect_response(lambda r: "/photo" in r.url) as photo_response:
        page.get_by_role("link", name="Foto").first.click()
    assert photo_response.value.status == 200 and photo_response.value.body() == PNG
    page.go_back()

    # A reading below the previous one is refused with the reason, in Dutch.
    page.get_by_label("Kilometerstand op het dashboard (km)").fill("100")
    page.get_by_label("Datum en tijd van de aflezing").fill("2026-03-06T12:00")
    page.get_by_role("button", name="Aflezing vastleggen").click()
    page.get_by_text("lager dan de vorige aflezing").wait_for()
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / "calibrations-finance.png"), full_page=True)
