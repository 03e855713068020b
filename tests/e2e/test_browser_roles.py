"""Four eyes on a role in a real browser: the administrator proposes an OR delegate, the privacy
officer confirms it on "Te bevestigen rollen", and the audit log shows both steps in Dutch."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.browser_support import log_in
from tests.e2e.test_browser_access import _own_page

pytestmark = pytest.mark.browser


def test_admin_proposes_an_or_delegate_and_the_privacy_officer_confirms(
        app, live_server, page, browser, make_user, artifacts_dir, database_url) -> None:
    make_user("anna@example.nl", "admin", name="Anna Visser")
    make_user("pieter@example.nl", "privacy_officer", name="Pieter Smit")
    make_user("eva@example.nl", "driver", name="Eva Mulder")

    log_in(page, live_server, "anna@example.nl")
    page.get_by_test_id("navigation").get_by_role("link", name="Gebruikers").click()
    page.get_by_role("link", name="Eva Mulder").click()
    page.get_by_label("Rol", exact=True).select_option(label="OR-lid")
    page.get_by_role("button", name="Rol voorstellen").click()
    assert "geeft niets totdat een OR-lid of privacyfunctionaris" in page.inner_text("main")
    row = page.get_by_test_id("user-roles").locator("tr[data-role='or_delegate']")
    expect(row).to_contain_text("Wacht op bevestiging", use_inner_text=True)

    context, privacy = _own_page(browser)
    try:
        log_in(privacy, live_server, "pieter@example.nl")
        privacy.get_by_test_id("navigation").get_by_role("link", name="Te bevestigen rollen").click()
        pending = privacy.get_by_test_id("pending-roles").locator("tr[data-email='eva@example.nl']")
        assert "OR-lid" in pending.inner_text() and "anna@example.nl" in pending.inner_text()
        pending.get_by_role("button", name="Bevestigen").click()
        assert "Rol OR-lid van eva@example.nl bevestigd." in privacy.inner_text("main")
        privacy.get_by_test_id("navigation").get_by_role("link", name="Auditlog").click()
        events = privacy.get_by_test_id("audit-events")
        proposed = events.locator("tr[data-event-type='role_proposed']")
        confirmed = events.locator("tr[data-event-type='role_confirmed']")
        expect(proposed).to_contain_text("Rol voorgesteld (wacht op bevestiging)", use_inner_text=True)
        assert "anna@example.nl" in proposed.inner_text() and "eva@example.nl" in proposed.inner_text()
        expect(confirmed).to_contain_text("Rol bevestigd door een tweede persoon", use_inner_text=True)
        assert "pieter@example.nl" in confirmed.inner_text() and "OR-lid" in confirmed.inner_text()
        if database_url.startswith("sqlite"):
            privacy.screenshot(path=str(artifacts_dir / "roles-four-eyes-audit-log.png"), full_page=True)
    finally:
        context.close()

    # Eva now holds the role: the audit log opens for her.
    eva_context, eva = _own_page(browser)
    try:
        log_in(eva, live_server, "eva@example.nl")
        eva.get_by_test_id("navigation").get_by_role("link", name="Auditlog").click()
        expect(eva.get_by_test_id("audit-events")).to_be_visible()
    finally:
        eva_context.close()
