"""Issue #13 item 2: unexplained and unclassified km count against the 500 km limit in the one
verdict until they are explained; the driver or finance explains a stretch with a reason (audited),
after which its km count as explained. The report's totals add up to the odometer."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lxml import etree, html

from tests.backend.fleet_helpers import enrolled_device, make_record

NS = {"r": "urn:ritbox:report:1"}
YEAR = 2026
REASON = "garage, proefrit monteur"


def _d(text: str) -> Decimal:
    return Decimal(text.replace(",", ".")) if text else Decimal(0)


@pytest.fixture
def car(app, client, make_user):
    """Business trips (classified), 450 km private, and two stretches the box did not record:
    80 km and 30 km. 450 km private alone is within the limit; with the 110 km it is over."""
    from backend.db import db
    from backend.models.accounts import User
    from backend.trips import revisions

    driver = make_user("jan@example.nl", "driver", name="Jan Jansen")
    finance = make_user("fenna@example.nl", "finance", name="Fenna de Boer")
    device = enrolled_device(app, client, kenteken="GB-XJ-12", driver_email="jan@example.nl",
                             assigned_from=f"{YEAR}-01-01")
    plan = [("business", 12.5, 0), ("private", 150, 0), ("private", 150, 0), ("business", 12.5, 80),
            ("private", 150, 0), ("business", 12.5, 30)]
    records, prev, odometer = [], "0" * 64, 1000.0
    start = datetime(YEAR, 3, 2, 7, 30, tzinfo=timezone.utc)
    for seq, (mode, km, jump) in enumerate(plan, 1):
        odometer += jump
        record = make_record(seq, prev, started=start + timedelta(days=seq), odometer=odometer, km=km, mode=mode)
        records.append(record)
        prev, odometer = record["hash"], record["odometer_end_km"]
    response = device.post(client, records)
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        from sqlalchemy import select

        from backend.models.trips import Trip
        business = list(db.session.scalars(select(Trip.id).where(Trip.mode == "business")))  # set-up only
        revisions.revise(db.session.get(User, finance), business, {"classification": "business"},
                         reason="klantbezoek")
    return driver, finance, records


def _counter(app, user_id: int):
    from backend.db import db
    from backend.models.accounts import User
    from backend.trips import counter

    with app.app_context():
        return counter.for_driver(db.session.get(User, user_id), YEAR)


def _export(app, user_id: int, fmt: str) -> bytes:
    from backend.db import db
    from backend.fleet import service
    from backend.models.accounts import User
    from backend.reports.export import export

    out = io.BytesIO()
    with app.app_context():
        export(db.session.get(User, user_id), out, fmt=fmt, year=YEAR,
               vehicle_id=service.find_vehicle("GB-XJ-12").id)
    return out.getvalue()


def _csv(app, finance: int) -> tuple[list[dict], dict[str, Decimal], str]:
    lines = list(csv.reader(io.StringIO(_export(app, finance, "csv").decode("utf-8-sig")), delimiter=";"))
    header = lines[0]
    rows = [dict(zip(header, line)) for line in lines[1:] if line and len(line) == len(header)]
    totals = {line[0]: _d(line[1]) for line in lines if len(line) >= 2 and line[0].startswith("Totaal")}
    (verdict,) = [line[1] for line in lines if line and line[0] == "500 km-toets"]
    return rows, totals, verdict


def _assert_totals_add_up(rows: list[dict], totals: dict[str, Decimal], records: list[dict]) -> None:
    trips = [r for r in rows if r["Soort"] == "rit"]
    odometer = _d(trips[-1]["Eindstand km"]) - _d(trips[0]["Beginstand km"])
    assert odometer == Decimal(str(records[-1]["odometer_end_km"] - records[0]["odometer_start_km"])).quantize(
        Decimal("0.1"))
    assert totals["Totaal km"] == odometer
    parts = [value for label, value in totals.items() if label != "Totaal km"]
    assert sum(parts, Decimal(0)) == odometer, totals


def test_unexplained_km_count_against_the_limit_until_explained_with_a_reason(app, client, login, car):
    from backend.governance.web import EVENT_LABELS
    from backend.trips.stretches import KM_EXPLAINED

    driver, finance, records = car
    # Before: 450 km private + 110 km unexplained = 560 km against 500: over, everywhere.
    before = _counter(app, driver)
    assert (before.private_km, before.unexplained_km, before.over) == (450.0, 110.0, True)
    rows, totals, verdict = _csv(app, finance)
    assert totals["Totaal onverklaard km"] == Decimal("110.0") and totals["Totaal privé km"] == Decimal("450.0")
    assert "BOVEN de grens" in verdict and "110,0 km onverklaard" in verdict
    _assert_totals_add_up(rows, totals, records)
    data = _export(app, finance, "xml")
    from backend.reports import xml as xml_renderer
    etree.XMLSchema(etree.parse(str(xml_renderer.SCHEMA_PATH))).assertValid(etree.fromstring(data))
    (v,) = etree.fromstring(data).findall("r:privateUseVerdicts/r:verdict", NS)
    assert v.findtext("r:unexplainedKm", namespaces=NS) == "110.0"
    assert v.findtext("r:withinLimit", namespaces=NS) == "false"

    login("jan@example.nl")
    page = html.fromstring(client.get(f"/me/counter?year={YEAR}").get_data(as_text=True))
    assert page.xpath('string(//*[@data-testid="unexplained-km"])').strip() == "110,0"
    stretches = page.xpath('//tr[@data-testid="stretch"]')
    assert len(stretches) == 2
    first = stretches[0]
    form = {"year": str(YEAR), "vehicle": first.xpath('string(.//input[@name="vehicle"]/@value)'),
            "from_m": first.get("data-from"), "to_m": first.get("data-to")}
    # No reason, or a stretch that does not exist: refused, nothing recorded.
    assert client.post("/me/counter/explain", data={**form, "reason": "  "}).status_code == 303
    assert client.post("/me/counter/explain", data={**form, "to_m": "1", "reason": REASON}).status_code == 303
    assert client.post("/me/counter/explain", data={**form, "from_m": "x", "reason": REASON}).status_code == 400
    assert _counter(app, driver).unexplained_km == 110.0
    assert client.post("/me/counter/explain", data={**form, "reason": REASON}).status_code == 303
    after = _counter(app, driver)
    assert (after.unexplained_km, after.counted_km, after.over) == (30.0, 480.0, False)  # within again
    client.post("/logout")

    # Finance explains the other one on its page.
    login("fenna@example.nl")
    page = html.fromstring(client.get(f"/finance/unexplained?year={YEAR}").get_data(as_text=True))
    (open_row,) = [row for row in page.xpath('//tr[@data-testid="stretch"]') if row.xpath('.//form')]
    assert client.post("/finance/unexplained/explain", data={
        "year": str(YEAR), "vehicle": open_row.xpath('string(.//input[@name="vehicle"]/@value)'),
        "from_m": open_row.get("data-from"), "to_m": open_row.get("data-to"),
        "reason": "vervangende auto, rit van collega"}).status_code == 303
    verdicts = html.fromstring(client.get(f"/finance/verdicts?year={YEAR}").get_data(as_text=True))
    (row,) = verdicts.xpath('//tr[@data-driver="jan@example.nl"]')
    assert row.xpath('string(td[@data-testid="unexplained-km"])').strip() == "0,0"
    assert row.xpath('string(td[@data-testid="outcome"]/@data-over)') == "false"

    final = _counter(app, driver)
    assert (final.unexplained_km, final.counted_km, final.over) == (0.0, 450.0, False)
    rows, totals, verdict = _csv(app, finance)
    assert totals["Totaal onverklaard km"] == 0 and totals["Totaal verklaard km (geen rit, met reden)"] == Decimal("110.0")
    assert "binnen de grens" in verdict
    gaps = [r for r in rows if r["Soort"] == "kilometerstandverschil"]
    assert any(REASON in r["Opmerking"] and "bestuurder" in r["Opmerking"] for r in gaps)
    _assert_totals_add_up(rows, totals, records)
    with app.app_context():
        from sqlalchemy import select

        from backend.db import db
        from backend.models.audit import AuditEvent
        kinds = list(db.session.scalars(select(AuditEvent.event_type).where(AuditEvent.event_type == KM_EXPLAINED)))
    assert len(kinds) == 2 and KM_EXPLAINED in EVENT_LABELS  # labelled for the audit page


def test_explanations_cannot_be_changed_or_deleted(app, client, login, car):
    from sqlalchemy import text

    from backend.db import db

    login("jan@example.nl")
    page = html.fromstring(client.get(f"/me/counter?year={YEAR}").get_data(as_text=True))
    first = page.xpath('//tr[@data-testid="stretch"]')[0]
    client.post("/me/counter/explain", data={
        "year": str(YEAR), "vehicle": first.xpath('string(.//input[@name="vehicle"]/@value)'),
        "from_m": first.get("data-from"), "to_m": first.get("data-to"), "reason": REASON})
    with app.app_context():
        for statement in ("UPDATE km_explanations SET reason = 'privé'", "DELETE FROM km_explanations"):
            with pytest.raises(Exception, match="immutable"):
                db.session.execute(text(statement))
            db.session.rollback()


def test_unclassified_km_count_against_the_limit():
    from datetime import date

    from backend.trips import counter

    trips = [counter.CountedTrip(date(YEAR, 3, 2), 450.0, "private"), counter.CountedTrip(date(YEAR, 3, 3), 60.0, None)]
    result = counter.compute(YEAR, trips, [(date(YEAR, 1, 1), None)])
    assert (result.private_km, result.unclassified_km, result.counted_km) == (450.0, 60.0, 510.0)
    assert result.over and result.level == counter.LIMIT
    assert not counter.compute(YEAR, trips[:1], [(date(YEAR, 1, 1), None)]).over
