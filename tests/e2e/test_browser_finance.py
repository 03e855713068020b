"""A real Chromium: finance downloads the tax report of a car in every format, sees a clear
message for a year without trips, and runs the fleet export whose status the page polls
(static/finance-export.js, no inline script) until the zip can be downloaded."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.backend import report_fixtures as rf
from tests.e2e.browser_support import log_in

pytestmark = pytest.mark.browser

MAGIC = {"csv": b"\xef\xbb\xbfSoort;", "xlsx": b"PK", "pdf": b"%PDF", "xml": b"<?xml"}




@pytest.fixture
def fleet(app, client, make_user, tmp_path):
    return rf.fleet(app, client, make_user, tmp_path)


def test_finance_downloads_each_format_and_the_fleet_zip(live_server, page, fleet, tmp_path, artifacts_dir,
                                                         database_url):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in(page, live_server, rf.FINANCE_EMAIL)
    page.get_by_role("link", name="Belastingrapporten").click()
    page.get_by_role("heading", name="Belastingrapporten").wait_for()
    form = page.get_by_test_id("report-form")
    form.get_by_label("Bestuurder of auto").select_option(label=f"{rf.KENTEKEN} (Volkswagen Golf)")
    form.get_by_label("Jaar").fill(str(fleet.year))
    for fmt, magic in MAGIC.items():
        form.get_by_label("Formaat").select_option(fmt)
        with page.expect_download() as info:
            form.get_by_role("button", name="Rapport downloaden").click()
        download = info.value
        assert download.suggested_filename == f"rittenregistratie-{fleet.year}-auto-GB-XJ-12.{fmt}"
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        data = path.read_bytes()
        assert data.startswith(magic), fmt
        assert not any(marker.encode() in data for marker in rf.PRIVATE_MARKERS)

    # A year without trips: a message on the page, no file.
    form.get_by_label("Bestuurder of auto").select_option(label=f"{rf.DRIVER_NAME} <{rf.DRIVER_EMAIL}>")
    form.get_by_label("Jaar").fill("2019")
    form.get_by_role("button", name="Rapport downloaden").click()
    expect(page.get_by_test_id("report-error")).to_contain_text("geen ritten in dat jaar", use_inner_text=True)

    # The fleet export: started, polled by the page's script, downloaded.
    fleet_form = page.get_by_test_id("fleet-form")
    fleet_form.get_by_label("Jaar").fill(str(fleet.year))
    fleet_form.get_by_label("Formaat").select_option("pdf")
    fleet_form.get_by_role("button", name="Export wagenpark starten").click()
    row = page.locator("tr.export-job").first
    page.locator("tr.export-job[data-state=done]").first.wait_for(timeout=30_000)  # set by the script
    expect(row.locator(".job-status")).to_contain_text("Klaar: 1 rapport(en)", use_inner_text=True)
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / "finance-reports.png"), full_page=True)
    with page.expect_download() as info:
        row.get_by_role("link", name="Zip downloaden").click()
    zipped = Path(info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        assert f"rittenregistratie-{fleet.year}-auto-GB-XJ-12.pdf" in archive.namelist()
    assert not [e for e in errors if "Content Security Policy" in e]
