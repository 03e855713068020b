"""The whole purpose-change flow in a real browser, each person in their own browser context:
the privacy officer uploads the agreement, the OR delegate records consent, the manager files a
request (one outside the agreement is refused first), the OR delegate and the privacy officer
approve, the manager reads exactly the granted scope, the grant closes, nothing more can be
read, and the driver sees the access on "Wie zag mijn gegevens"."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from backend.governance.requests import local_today
from tests.backend.access_support import EXAMPLE, MOTIVATION, Fleet, make_people
from tests.e2e.browser_support import log_in

pytestmark = pytest.mark.browser




def _own_page(browser):
    context = browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def test_request_approve_read_and_the_driver_sees_it(app, live_server, page, browser, make_user, tmp_path,
                                                     artifacts_dir, database_url) -> None:
    from backend import jobs
    from backend.db import db

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    with app.app_context():
        fleet = Fleet(people.driver, people.other_driver)
        db.session.remove()
    screenshots = database_url.startswith("sqlite")
    contexts = []
    try:
        # The privacy officer uploads the agreement; the OR delegate records the consent.
        privacy_context, privacy = _own_page(browser)
        or_context, or_page = _own_page(browser)
        contexts += [privacy_context, or_context]
        log_in(privacy, live_server, "pieter@example.nl")
        privacy.goto(f"{live_server}/agreements/")
        privacy.get_by_label("Regelingsdocument (YAML of JSON)").set_input_files(str(EXAMPLE))
        privacy.get_by_role("button", name="Uploaden").click()
        assert privacy.get_by_test_id("agreement-status").inner_text() == "Wacht op instemming van de OR"
        agreement_url = privacy.url

        log_in(or_page, live_server, "olga@example.nl")
        or_page.goto(agreement_url)
        or_page.get_by_label("Datum van het OR-besluit").fill(local_today().isoformat())
        or_page.get_by_label("Kenmerk van het besluit").fill("OR-2026-003")
        or_page.get_by_role("button", name="Instemming vastleggen").click()
        assert or_page.get_by_test_id("agreement-status").inner_text() == "Van kracht"

        # The manager asks too much first: refused at once, naming the clause.
        log_in(page, live_server, "mark@example.nl")
        page.goto(f"{live_server}/access/requests/new")
        today = local_today()

        def fill(days_back: int) -> None:
            page.get_by_label("Doel (artikel van de regeling)").select_option("misuse_investigation")
            page.get_by_label("Werknemer").select_option(label="Daan de Vries <daan@example.nl>")
            page.get_by_label("Periode vanaf").fill((today - timedelta(days=days_back)).isoformat())
            page.get_by_label("Periode tot en met").fill((today - timedelta(days=1)).isoformat())
            page.get_by_label("Ritoverzichten (datum, tijden, kilometerstand, km, zakelijke adressen)").check()
            page.get_by_label("Duur van de toestemming (dagen)").fill("7")
            page.get_by_label("Grond").select_option("undeclared_private_use")
            page.get_by_label("Schriftelijke motivering").fill(MOTIVATION)
            page.get_by_role("button", name="Aanvraag indienen").click()

        fill(200)
        expect(page.get_by_test_id("refusal")).to_contain_text("max_period_days 90 exceeded (requested 200)", use_inner_text=True)
        fill(30)
        assert page.get_by_test_id("request-status").inner_text() == "In afwachting van besluit"
        request_url = page.url
        assert page.get_by_test_id("read-trips").count() == 0  # nothing to read yet

        # Two approvers, each in their own browser.
        for approver in (or_page, privacy):
            approver.goto(f"{live_server}/access/requests")
            approver.get_by_test_id("to-decide").get_by_role("link").first.click()
            approver.get_by_label("Besluit").select_option("approve")
            approver.get_by_label("Reden", exact=True).fill("Concreet vermoeden, beperkt tot ritoverzichten.")
            approver.get_by_role("button", name="Besluit vastleggen").click()
            approver.locator(".flash-success").wait_for()
        expect(privacy.locator(".flash-success")).to_contain_text("Tweede goedkeuring vastgelegd", use_inner_text=True)
        if screenshots:
            privacy.screenshot(path=str(artifacts_dir / "access-request-approved.png"), full_page=True)

        # The manager reads exactly the granted scope.
        page.goto(request_url)
        assert page.get_by_test_id("request-status").inner_text() == "Goedgekeurd"
        page.get_by_test_id("read-trips").click()
        rows = page.locator("[data-testid=grant-trips] tbody tr")
        shown = set(rows.evaluate_all("rows => rows.map(r => Number(r.dataset.trip))"))
        assert shown == {fleet.trips["business"], fleet.trips["private"]}  # not the old trip, not Eva's
        private_row = page.locator(f"tr[data-trip='{fleet.trips['private']}']")
        assert private_row.get_by_text("afgeschermd").count() == 2  # no private positions
        if screenshots:
            page.screenshot(path=str(artifacts_dir / "access-grant-trips.png"), full_page=True)
        grant_trips_url = page.url
        response = page.goto(f"{grant_trips_url}/{fleet.trips['business']}/track")
        assert response.status == 403  # routes were not granted
        expect(page.get_by_test_id("denied")).to_be_visible()

        # The manager closes the investigation; afterwards nothing can be read.
        page.goto(request_url)
        page.get_by_label("Reden").fill("Onderzoek afgerond.")
        page.get_by_label("Ik begrijp dat intrekken niet ongedaan kan worden").check()
        page.get_by_role("button", name="Toegang intrekken").click()
        expect(page.get_by_test_id("grant-state")).to_contain_text("Ingetrokken op", use_inner_text=True)
        assert page.goto(grant_trips_url).status == 403

        # The job tells the driver (misuse_investigation: at close); the driver sees who and why.
        with app.app_context():
            assert jobs.send_notifications() == 1
            db.session.remove()
        driver_context, driver = _own_page(browser)
        contexts.append(driver_context)
        log_in(driver, live_server, "daan@example.nl")
        driver.get_by_role("link", name="Wie zag mijn gegevens").click()
        # Before the first use the driver is shown the privacy notice and acknowledges it.
        expect(driver.get_by_test_id("notice-due")).to_be_visible()
        driver.get_by_role("button", name="Ik heb de privacyverklaring gelezen").click()
        message = driver.get_by_test_id("notifications").inner_text()
        assert "Mark Jansen had toegang tot je ritgegevens voor het doel Onderzoek naar misbruik van de auto van de zaak" in message
        reads = driver.locator("[data-testid=access-events] tr[data-event-type=read]")
        assert reads.count() == 1
        assert "Mark Jansen" in reads.first.inner_text() and "Gegevens ingezien" in reads.first.inner_text()
        if screenshots:
            driver.screenshot(path=str(artifacts_dir / "access-driver-log.png"), full_page=True)

        # The OR delegate finds the read and the refused track read in the audit log.
        or_page.goto(f"{live_server}/audit/log?subject=daan@example.nl")
        types = or_page.locator("[data-testid=audit-events] tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.eventType)")
        assert {"request_filed", "request_approved", "grant_issued", "read", "read_denied",
                "grant_revoked", "notification_sent"} <= set(types)
        or_page.get_by_role("button", name="Keten controleren").click()
        expect(or_page.locator(".flash-success")).to_contain_text("Auditketen intact", use_inner_text=True)
    finally:
        for context in contexts:
            context.close()
