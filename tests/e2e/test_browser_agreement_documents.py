"""In a real browser: the OR delegate reads the generated regeling and its hash and consents; a
setting that changes what the system does (PDOK switched on) marks the consent as no longer
matching on the privacy officer's start page; a driver is shown the privacy notice before their
first use and acknowledges it. Screenshots go to test-artifacts/."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from backend.governance import agreements
from backend.governance.requests import local_today
from backend.db import db
from tests.backend.access_support import example_text, make_people, user
from tests.e2e.browser_support import log_in

pytestmark = pytest.mark.browser


def test_consent_to_the_text_mismatch_after_a_setting_and_the_drivers_notice(app, live_server, page, make_user,
                                                                          database_url, artifacts_dir):
    people = make_people(make_user)
    with app.app_context():
        version_id = agreements.upload(example_text(), user(people.privacy)).id
        db.session.remove()
    shots = database_url.startswith("sqlite")

    log_in(page, live_server, "olga@example.nl")
    page.goto(f"{live_server}/agreements/{version_id}")
    shown_hash = page.get_by_test_id("regeling-sha256").inner_text()
    expect(page.get_by_test_id("regeling-text")).to_contain_text("geen positie verlaat de server", use_inner_text=True)
    page.get_by_label("Datum van het OR-besluit").fill(local_today().isoformat())
    page.get_by_label("Kenmerk van het besluit").fill("OR-2026-003")
    if shots:
        page.screenshot(path=str(artifacts_dir / "agreement-consent-to-the-text.png"), full_page=True)
    page.get_by_role("button", name="Instemming vastleggen").click()
    assert page.get_by_test_id("agreement-status").inner_text() == "Van kracht"
    expect(page.get_by_test_id("consent-match")).to_contain_text(shown_hash, use_inner_text=True)

    app.config["PDOK_URL"] = "https://api.pdok.nl/bzk/locatieserver/search/v3_1/reverse"
    privacy_context = page.context.browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    privacy = privacy_context.new_page()
    try:
        log_in(privacy, live_server, "pieter@example.nl")
        warning = privacy.get_by_test_id("consent-mismatch")
        expect(warning).to_contain_text("2026-1 komt niet meer overeen met de instemming", use_inner_text=True)
        if shots:
            privacy.screenshot(path=str(artifacts_dir / "agreement-consent-mismatch-home.png"), full_page=True)
        privacy.get_by_role("link", name="Details").click()
        expect(privacy.get_by_test_id("consent-mismatch")).to_contain_text(shown_hash, use_inner_text=True)
        privacy.get_by_role("link", name="Regeling", exact=True).click()
        expect(privacy.get_by_test_id("generated-document")).to_contain_text("api.pdok.nl", use_inner_text=True)
    finally:
        privacy_context.close()

    driver_context = page.context.browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    driver = driver_context.new_page()
    try:
        log_in(driver, live_server, "daan@example.nl")
        driver.goto(f"{live_server}/me/trips")
        expect(driver.get_by_test_id("notice-due")).to_be_visible()
        expect(driver.get_by_test_id("generated-document")).to_contain_text("OR-2026-003", use_inner_text=True)
        if shots:
            driver.screenshot(path=str(artifacts_dir / "privacy-notice-before-first-use.png"), full_page=True)
        driver.get_by_role("button", name="Ik heb de privacyverklaring gelezen").click()
        expect(driver).to_have_url(re.compile("/me/trips$"))
        driver.goto(f"{live_server}/privacy-notice")
        expect(driver.get_by_test_id("notice-acknowledged")).to_contain_text("versie 2026-1", use_inner_text=True)
        if shots:
            driver.screenshot(path=str(artifacts_dir / "privacy-notice-acknowledged.png"), full_page=True)
    finally:
        driver_context.close()
