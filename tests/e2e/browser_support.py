"""What the browser tests share: logging in through the real login form."""
from __future__ import annotations

from tests.conftest import TEST_PASSWORD


def log_in(page, base_url: str, email: str, password: str = TEST_PASSWORD, *, wait: bool = True) -> None:
    """Log in through the Dutch login form; with `wait`, until the logged-in navigation shows
    (without: a test that expects the login to fail looks at the form itself)."""
    page.goto(f"{base_url}/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(password)
    page.get_by_role("button", name="Inloggen").click()
    if wait:
        page.get_by_test_id("navigation").wait_for(state="attached")  # hidden in the menu on a phone
