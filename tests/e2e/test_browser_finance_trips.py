"""Finance finds and corrects a trip by clicks only, closes a month after its confirmation, and
the works council reads the audit log: a real Chromium at 1366x768 and 390x844, axe-core on
every page, screenshots saved (issue 16, items 4 and 6)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from tests.backend.trip_factory import TripFactory, TripSpec
from tests.e2e.browser_support import log_in

pytestmark = [pytest.mark.browser,
              # the pages on one database; what they read is tested on both in tests/backend
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}




def _no_sideways_scroll(page) -> None:
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), wide


@pytest.fixture
def finance_fleet(app, client, make_user):
    make_user("fatima@example.nl", "finance", name="Fatima El Amrani")
    make_user("daan@example.nl", "driver", name="Daan de Vries")
    factory = TripFactory(app, client, driver_email="daan@example.nl")
    november = [datetime(2026, 11, day, 8, tzinfo=timezone.utc) for day in (2, 3, 4, 5)]
    return factory.upload(TripSpec(november[0]), TripSpec(november[1], flags=("end_of_input",)),
                          TripSpec(november[2], mode="private"), TripSpec(november[3]))


@pytest.mark.parametrize("size", SIZES)
def test_finance_finds_and_corrects_a_trip_by_clicks(live_server, page, finance_fleet, size, axe,
                                                      artifacts_dir, database_url) -> None:
    page.set_viewport_size(SIZES[size])
    log_in(page, live_server, "fatima@example.nl")
    page.goto(f"{live_server}/finance/reports")
    page.get_by_role("link", name="Ritten zoeken en corrigeren").click()
    page.get_by_role("heading", name="Ritten", exact=True).wait_for()
    page.get_by_label("niet geclassificeerd").check()
    page.get_by_label("Maand").fill("2026-11")
    page.get_by_role("button", name="Ritten tonen").click()
    rows = page.locator("[data-testid=finance-trips] tbody tr[data-trip-id]")
    expect(rows).to_have_count(3)  # the private trip is classified by its mode
    expect(page.locator("[data-testid=finance-trips]")).to_contain_text("Niet geclassificeerd", use_inner_text=True)
    assert axe(page) == []
    _no_sideways_scroll(page)
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / f"finance-trip-list-unclassified-{size}.png"), full_page=True)

    rows.first.get_by_role("link", name="Corrigeren").click()
    page.get_by_role("heading", name="Corrigeer de rit van", exact=False).wait_for()
    assert axe(page) == []
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / f"finance-correct-trip-{size}.png"), full_page=True)
    page.get_by_label("Zakelijk", exact=True).check()
    page.get_by_label("Reden (verplicht)").fill("Klantbezoek volgens agenda")
    page.get_by_role("button", name="Correctie opslaan").click()
    page.get_by_role("heading", name="Ritten", exact=True).wait_for()
    assert "unclassified=1" in page.url and "month=2026-11" in page.url
    assert "Opgeslagen" in page.content()
    assert page.locator("[data-testid=finance-trips] tbody tr[data-trip-id]").count() == 2


@pytest.mark.parametrize("size", SIZES)
def test_closing_a_month_shows_what_is_open_first(live_server, page, finance_fleet, size, axe,
                                                  artifacts_dir, database_url) -> None:
    page.set_viewport_size(SIZES[size])
    log_in(page, live_server, "fatima@example.nl")
    page.goto(f"{live_server}/finance/periods/")
    page.get_by_label("Maand (JJJJ-MM)").fill("2026-11")
    page.get_by_role("button", name="Maand afsluiten").click()
    page.get_by_role("heading", name="2026-11 afsluiten?").wait_for()
    assert page.get_by_test_id("unclassified-count").inner_text() == "3"
    assert axe(page) == []
    _no_sideways_scroll(page)
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / f"finance-close-month-confirm-{size}.png"), full_page=True)
    page.get_by_role("button", name="2026-11 definitief afsluiten").click()
    page.get_by_text("2026-11 is afgesloten").wait_for()


@pytest.mark.parametrize("size", SIZES)
def test_the_audit_log_reads_as_labelled_fields(live_server, page, finance_fleet, make_user, app, size, axe,
                                                artifacts_dir, database_url) -> None:
    from backend import audit
    make_user("olga@example.nl", "or_delegate", name="Olga Bakker")
    with app.app_context():
        for n in range(205):
            audit.record(audit.LOGIN_FAILED, details={}, commit=False)
        audit.record(audit.READ, actor=None, purpose="tax", details={
            "what": "tax_report", "categories": ["trip_summaries"], "records": 3, "trip_ids": [1, 2, 3],
            "period": ["2026-01-01", "2026-12-31"]})
    page.set_viewport_size(SIZES[size])
    log_in(page, live_server, "olga@example.nl")
    page.goto(f"{live_server}/audit/log")
    table = page.get_by_test_id("audit-events")
    text = table.inner_text()
    assert "Aantal ritten" in text and "fiscale rapportage" in text and '{"' not in text
    assert axe(page) == []
    _no_sideways_scroll(page)
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(artifacts_dir / f"audit-log-labelled-{size}.png"), full_page=False)
    page.get_by_test_id("audit-next").click()
    page.get_by_role("link", name="Nieuwste gebeurtenissen").wait_for()
    assert page.locator("[data-testid=audit-events] tbody tr[data-seq]").count() >= 6
    assert axe(page) == []
