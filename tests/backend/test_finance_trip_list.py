"""Finance works on screen (issue 16, item 4), both databases: the trip list with its filters and
paging, the correction reached by clicks and returning to the list, closing a month and retiring
a device only after a confirmation, and a reload after starting a fleet export repeats nothing."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
from sqlalchemy import func, select

from backend.db import db
from tests.backend.trip_factory import TripFactory, TripSpec

FINANCE = "fatima@example.nl"
DRIVER = "daan@example.nl"


@pytest.fixture
def people(app, make_user):
    from tests.backend.access_support import make_people
    return make_people(make_user)


def _november(day: int, hour: int = 8) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=timezone.utc)


@pytest.fixture
def trips(app, client, people):
    """GB-XJ-12 driven by Daan in November 2026: three business trips (one with a device flag),
    one private trip, and one business trip classified as business by the driver."""
    factory = TripFactory(app, client, driver_email=DRIVER)
    ids = factory.upload(TripSpec(_november(2)), TripSpec(_november(3), flags=("end_of_input",)),
                         TripSpec(_november(4), mode="private"), TripSpec(_november(5)), TripSpec(_november(6)))
    from backend.trips import revisions
    from tests.backend.access_support import user
    with app.app_context():
        revisions.revise(user(people.driver), [ids[4]], {"classification": "business"}, now=_november(7))
    return ids


def _links(html: str, pattern: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html) if re.search(pattern, unescape(h))]


def _listed_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-trip-id="(\d+)"', html)]


def test_a_clerk_reaches_a_trips_correction_by_clicks_from_the_reports_page(app, client, login, trips):
    login(FINANCE)
    reports = client.get("/finance/reports").get_data(as_text=True)
    (to_list,) = set(_links(reports, r"^/finance/trips$"))  # the reports page and the menu
    listing = client.get(to_list)
    assert listing.status_code == 200 and "Ritten" in listing.get_data(as_text=True)
    # Filtered on what is unclassified: the driver's classified trip and the private one are not listed.
    form_url = to_list + ("&" if "?" in to_list else "?") + "unclassified=1&month=2026-11"
    listing = client.get(form_url).get_data(as_text=True)
    assert sorted(_listed_ids(listing)) == sorted([trips[0], trips[1], trips[3]])
    correct = [h for h in _links(listing, rf"/finance/periods/trips/{trips[0]}\b")]
    assert correct, "each row links to its correction"
    page = client.get(correct[0])
    assert page.status_code == 200 and 'name="reason"' in page.get_data(as_text=True)
    saved = client.post(correct[0], data={"classification": "business", "reason": "Klantbezoek volgens agenda"})
    assert saved.status_code in (302, 303)
    back = saved.headers["Location"]
    assert back.startswith("/finance/trips") and "unclassified=1" in back and "month=2026-11" in back
    after = client.get(back).get_data(as_text=True)
    assert trips[0] not in _listed_ids(after) and "Opgeslagen" in after


def test_the_filters_narrow_the_list(app, client, login, people, trips):
    login(FINANCE)

    def listed(query: str) -> list[int]:
        response = client.get(f"/finance/trips?{query}")
        assert response.status_code == 200, query
        return sorted(_listed_ids(response.get_data(as_text=True)))

    assert listed("month=2026-11") == sorted(trips)
    assert listed("month=2026-10") == []
    assert listed("flagged=1") == [trips[1]]
    assert listed("character=private") == [trips[2]]
    # The effective character, as the report counts it: a business-mode trip nobody classified is business.
    assert listed("character=business") == sorted([trips[0], trips[1], trips[3], trips[4]])
    assert listed("character=business&unclassified=1") == sorted([trips[0], trips[1], trips[3]])
    with app.app_context():
        from backend.fleet import service
        vehicle_id = service.find_vehicle("GB-XJ-12").id
        other = service.create_vehicle("12-ABC-3", "Volkswagen", "Polo").id
    assert listed(f"vehicle={vehicle_id}") == sorted(trips)
    assert listed(f"vehicle={other}") == []
    assert listed(f"driver={people.driver}") == sorted(trips)
    assert listed(f"driver={people.other_driver}") == []
    # No positions in the address cache: no trip has a street-level address yet.
    assert listed("incomplete=1") == sorted([trips[0], trips[1], trips[3], trips[4]])
    assert client.get("/finance/trips?month=nonsense").status_code == 400
    assert client.get("/finance/trips?vehicle=abc").status_code == 400


def test_a_private_trip_shows_no_more_than_the_report(app, client, login, trips):
    login(FINANCE)
    html = client.get("/finance/trips?character=private").get_data(as_text=True)
    row = re.search(rf'<tr[^>]*data-trip-id="{trips[2]}".*?</tr>', html, re.S).group(0)
    assert "Privé" in row
    # The report shows a private trip's date, times, odometer and km, never a place.
    assert "Amsterdam" not in row and "Utrecht" not in row and "52," not in row and "52." not in row
    business = client.get("/finance/trips?character=business").get_data(as_text=True)
    assert "Utrecht" in business or "52,09071" in business or "52.09071" in business


def test_pages_hold_every_trip_exactly_once(app, client, login, people, monkeypatch):
    from backend.finance import trip_list
    monkeypatch.setattr(trip_list, "PAGE_SIZE", 4)
    factory = TripFactory(app, client, driver_email=DRIVER)
    ids = factory.upload(*[TripSpec(_november(1) + timedelta(hours=3 * n)) for n in range(11)])
    login(FINANCE)
    seen, url, pages = [], "/finance/trips?month=2026-11", 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen.extend(_listed_ids(html))
        pages += 1
        more = _links(html, r"^/finance/trips\?.*after=")
        url = more[0] if more else None
        assert pages < 10
    assert pages == 3 and sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_the_list_reads_through_the_door_and_is_audited(app, client, login, people, trips):
    from backend.models.audit import AuditEvent
    login(FINANCE)
    client.get("/finance/trips?month=2026-11")
    with app.app_context():
        reads = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "read",
                                                            AuditEvent.actor_id == people.finance)).all()
    assert reads and any('"finance_trip_list"' in e.details for e in reads)
    client.post("/logout")
    login(DRIVER)
    assert client.get("/finance/trips").status_code == 403


# --- irreversible actions ask first ----------------------------------------------------------

def _closings(app) -> int:
    from backend.models.periods import PeriodClosing
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(PeriodClosing))


def test_closing_a_month_first_shows_what_is_unclassified_and_asks(app, client, login, trips):
    login(FINANCE)
    first = client.post("/finance/periods/", data={"month": "2026-11", "vehicle": ""}, follow_redirects=True)
    text = first.get_data(as_text=True)
    assert _closings(app) == 0
    assert first.status_code == 200 and 'data-testid="unclassified-count">3<' in text
    assert "/finance/trips" in text  # a link to the trips that need attention
    confirmed = client.post("/finance/periods/", data={"month": "2026-11", "vehicle": "", "confirm": "1"})
    assert confirmed.status_code in (302, 303) and _closings(app) == 1
    # A reload of the page after the redirect closes nothing more.
    client.get(confirmed.headers["Location"])
    assert _closings(app) == 1


def test_retiring_a_device_asks_first(app, client, login, people):
    from backend.models.fleet import Device
    from tests.backend.fleet_helpers import enrolled_device
    device = enrolled_device(app, client, kenteken="GB-XJ-12", driver_email=DRIVER)
    login("anna@example.nl")
    first = client.post(f"/admin/fleet/devices/{device.device_id}/retire", follow_redirects=True)
    with app.app_context():
        assert db.session.get(Device, device.device_id).status != "retired"
    assert 'name="confirm"' in first.get_data(as_text=True)
    done = client.post(f"/admin/fleet/devices/{device.device_id}/retire", data={"confirm": "1"},
                       follow_redirects=True)
    assert "buiten gebruik gesteld" in done.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Device, device.device_id).status == "retired"


def test_a_reload_after_starting_a_fleet_export_starts_nothing(app, client, login, people, trips):
    from backend.models.report_exports import ReportExport

    def jobs() -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(ReportExport))

    login(FINANCE)
    started = client.post("/finance/reports/fleet", data={"fleet-year": 2026, "fleet-format": "csv"})
    assert started.status_code == 303 and jobs() == 1
    page = client.get(started.headers["Location"])
    assert page.status_code == 200 and b"finance-export.js" in page.data
    client.get(started.headers["Location"])  # the reload
    assert jobs() == 1
