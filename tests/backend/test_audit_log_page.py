"""The audit log page (issue 16, item 6), both databases: labelled details instead of raw JSON,
keyset paging past 200 events with the filters kept, and a CSV download of the filtered log."""
from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from sqlalchemy import select

from backend import audit
from backend.db import db
from backend.models.audit import AuditEvent

OR_DELEGATE = "olga@example.nl"


@pytest.fixture
def people(app, make_user):
    from tests.backend.access_support import make_people
    return make_people(make_user)


def _seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'data-seq="(\d+)"', html)]


def _next_link(html: str) -> str | None:
    found = re.search(r'<a[^>]+href="([^"]+)"[^>]*data-testid="audit-next"', html) or \
        re.search(r'data-testid="audit-next"[^>]*href="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


def test_details_are_labelled_fields_not_raw_json(app, client, login, people):
    from backend.fleet import service
    from backend.periods.service import PERIOD_CLOSED
    with app.app_context():
        vehicle = service.create_vehicle("GB-XJ-12", "Volkswagen", "Golf")
        audit.record(PERIOD_CLOSED, actor=None, subject_vehicle_id=vehicle.id, purpose="tax",
                     details={"month": "2026-10", "scope": "vehicle", "via": "web"})
        audit.record(audit.READ, actor=people.finance, subject_user_id=people.driver, purpose="tax",
                     details={"what": "tax_report", "categories": ["trip_summaries"], "records": 3,
                              "trip_ids": [1, 2, 3], "period": ["2026-01-01", "2026-12-31"]})
    login(OR_DELEGATE)
    html = client.get("/audit/log").get_data(as_text=True)
    assert '{"' not in html and "&#34;" not in html and "&quot;" not in html.split("<table", 1)[1]
    table = html.split('data-testid="audit-events"', 1)[1]
    for text in ("Kenteken", "GB-XJ-12", "Maand", "2026-10", "Aantal ritten", "Ritoverzichten",
                 "01-01-2026", "31-12-2026"):
        assert text in table, text
    assert "trip_summaries" not in table and "tax_report" not in table


def test_a_kind_labels_its_own_detail_keys(app, client, login, people):
    """A kind may declare labels for detail keys only it writes (audit.kind(..., detail_labels=)):
    the page shows them in Dutch, never the raw key."""
    assert set(audit.KINDS[audit.RETENTION_DELETED].detail_labels) >= {"category", "rows"}
    with app.app_context():
        audit.record(audit.RETENTION_DELETED, details={"category": "business_tracks", "rows": 7})
    login(OR_DELEGATE)
    table = client.get("/audit/log").get_data(as_text=True).split('data-testid="audit-events"', 1)[1]
    assert "Gegevenscategorie" in table and "Verwijderde rijen" in table
    assert ">rows<" not in table and ">category<" not in table


def _fill(app, people, n: int) -> None:
    with app.app_context():
        for i in range(n):
            audit.record(audit.READ if i % 2 else audit.LOGIN, actor=people.finance,
                         subject_user_id=people.driver if i % 2 else None, purpose="tax" if i % 2 else None,
                         details={"records": i} if i % 2 else {}, commit=False)
        db.session.commit()


def test_paging_shows_every_event_exactly_once(app, client, login, people):
    _fill(app, people, 250)
    login(OR_DELEGATE)
    with app.app_context():
        every = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())))
    assert len(every) > 250
    seen, url, pages = [], "/audit/log", 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen.extend(_seqs(html))
        url, pages = _next_link(html), pages + 1
        assert pages < 10
    assert pages == 2 and seen == every


def test_paging_keeps_the_filters(app, client, login, people):
    _fill(app, people, 450)
    login(OR_DELEGATE)
    with app.app_context():
        reads = list(db.session.scalars(select(AuditEvent.seq).where(AuditEvent.event_type == "read")
                                        .order_by(AuditEvent.seq.desc())))
    assert len(reads) > 200
    seen, url = [], "/audit/log?event_type=read&subject=daan@example.nl"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen.extend(_seqs(html))
        url = _next_link(html)
        if url:
            assert "event_type=read" in url and "subject=daan" in url
    assert seen == reads
    assert client.get("/audit/log?before=abc").status_code == 400


def test_the_csv_download_is_the_filtered_log(app, client, login, people):
    _fill(app, people, 230)
    login(OR_DELEGATE)
    with app.app_context():
        reads = list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "read")
                                        .order_by(AuditEvent.seq.desc())))
        expected = [(str(e.seq), e.event_type) for e in reads]
    html = client.get("/audit/log?event_type=read").get_data(as_text=True)
    (link,) = re.findall(r'href="(/audit/log\.csv[^"]*)"', html)
    response = client.get(unescape(link))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True)), delimiter=";"))
    assert [(r["seq"], r["event_type"]) for r in rows] == expected
    assert all(r["details"].startswith("{") for r in rows)  # the exact canonical details, for checking


def test_other_roles_cannot_download_the_log(client, login, people):
    login("fatima@example.nl")
    assert client.get("/audit/log.csv").status_code == 403
