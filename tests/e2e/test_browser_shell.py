"""A real Chromium logs in as each role and sees that role's navigation, in Dutch."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.browser_support import log_in

ROLES = ["driver", "finance", "manager", "or_delegate", "privacy_officer", "admin"]
# Navigation every logged-in user has, and what only some roles get.
COMMON = {"web.home", "web.account"}
ONLY = {"admin.users": {"admin"}}

pytestmark = pytest.mark.browser




@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_its_navigation(live_server, page, make_user, role, artifacts_dir, database_url, axe) -> None:
    make_user(f"{role}@example.nl", role, name=f"Test {role}")
    log_in(page, live_server, f"{role}@example.nl")
    page.get_by_role("heading", name=f"Welkom, Test {role}").wait_for()
    endpoints = set(page.locator("[data-testid=navigation] a").evaluate_all(
        "links => links.map(a => a.dataset.endpoint)"))
    assert COMMON <= endpoints
    for endpoint, roles in ONLY.items():
        assert (endpoint in endpoints) == (role in roles)
    expect(page.locator(f"[data-testid=role-{role}]")).to_be_visible()
    assert axe(page) == []
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / f"home-{role}.png"), full_page=True)


def test_wrong_password_shows_the_generic_message(live_server, page, make_user) -> None:
    make_user("driver@example.nl", "driver")
    log_in(page, live_server, "driver@example.nl", "not the password", wait=False)
    assert page.get_by_test_id("login-error").inner_text() == "E-mailadres of wachtwoord is onjuist."


def test_switch_to_english_and_log_out(live_server, page, make_user) -> None:
    make_user("driver@example.nl", "driver", name="Daan")
    log_in(page, live_server, "driver@example.nl")
    page.get_by_label("Taal").select_option("en")
    page.get_by_role("button", name="Taal wijzigen").click()
    page.get_by_role("heading", name="Welcome, Daan").wait_for()
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()
    assert page.url.endswith("/login")
