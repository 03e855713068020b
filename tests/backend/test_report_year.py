"""A year built from the real recordings (tests/backend/report_year.py), on both databases:
the report's totals equal the sum of its rows in every format that can be read back (CSV, XLSX,
XML), the km chain closes, the 500 km verdict matches a computation from the plan alone, and the
private positions are in none of the employer's files (while the driver's own export has them:
the check can fail)."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tests.backend import report_year as ry

NS = {"r": "urn:ritbox:report:1"}


@pytest.fixture(scope="session")
def replayed() -> ry.Replayed:
    """The recordings replayed once per test session (a second or so; the DB part is per test)."""
    replayed = ry.replay_recordings()
    assert len(replayed.business) >= 5 and len(replayed.private) == 1
    return replayed


@pytest.fixture
def year(app, client, make_user, tmp_path, replayed) -> ry.Year:
    return ry.build_year(app, client, make_user, tmp_path, replayed)


def _export(app, user_id: int, fmt: str, **kwargs) -> bytes:
    from backend.db import db
    from backend.models.accounts import User
    from backend.reports.export import export

    out = io.BytesIO()
    with app.app_context():
        export(db.session.get(User, user_id), out, fmt=fmt, year=ry.YEAR, **kwargs)
    return out.getvalue()


def _d(text: str | None) -> Decimal:
    return Decimal(text.replace(",", ".")) if text not in (None, "") else Decimal(0)


TOTAL_LABELS = {"business": "Totaal zakelijk km", "commute": "Totaal woon-werk km", "private": "Totaal privé km",
                "unclassified": "Totaal niet ingedeeld km", "unexplained": "Totaal onverklaard km",
                "total": "Totaal km"}


# The sums every format is held to: (kind, character, km, private detour, odometer start, end)
# per row in file order, and the printed totals.

def _check_rows_and_totals(rows: list[tuple], totals: dict[str, Decimal], year: ry.Year) -> None:
    trips = [r for r in rows if r[0] == "trip"]
    assert len(trips) == len(year.records)
    by_class = {c: sum((km - detour for kind, ch, km, detour, *_ in trips if ch == c), Decimal(0))
                for c in ("business", "commute", "private", "unclassified")}
    detours = sum((detour for *_, detour, _s, _e in trips), Decimal(0))
    assert detours == sum((p.detour for p in year.plan), Decimal(0)) > 0
    assert totals["business"] == by_class["business"] > 0
    assert totals["commute"] == by_class["commute"] > 0
    assert totals["private"] == by_class["private"] + detours > 0
    # Unclassified km are their own category, never business; km no trip explains (driven without
    # the device) are "onverklaard"; together the categories are every km the odometer ran.
    assert totals["unclassified"] == by_class["unclassified"] > 0
    assert totals["unexplained"] == sum((r[2] for r in rows if r[0] == "odometer_gap"), Decimal(0)) > 0
    assert totals["total"] == (totals["business"] + totals["commute"] + totals["private"] + totals["unclassified"]
                               + totals["unexplained"])
    # Every trip's km from the plan alone, in the same order.
    assert [km for _, _, km, *_ in trips] == [ry.row_km(record) for record in year.records]
    # The km chain closes: each row starts where the one before it ended, the odometer gap
    # (km driven without the device) is a row of its own, and the whole year telescopes.
    chained = [r for r in rows if r[0] in ("trip", "odometer_gap")]
    for before, after in zip(chained, chained[1:]):
        assert after[4] == before[5], (before, after)
    gaps = [r for r in chained if r[0] == "odometer_gap"]
    assert [g[2] for g in gaps] == [Decimal(str(ry.ODOMETER_JUMP_KM))]
    first, last = year.records[0], year.records[-1]
    odometer = ry._km(last["odometer_end_km"]) - ry._km(first["odometer_start_km"])
    assert sum((r[2] for r in chained), Decimal(0)) == odometer
    assert totals["total"] == odometer  # the report's totals add up to the odometer's end minus start


def _verdict(plan: list[ry.Planned], batch: list[dict]) -> tuple[Decimal, bool]:
    private = ry.expected_private_km(plan, batch)
    # Pro-rated: the limit shrinks to 500 * available days / days in the year.
    within = private * ry.days_in_year() <= 500 * ry.available_days()
    return private, within


def test_the_plan_puts_the_verdict_where_pro_rating_decides(replayed):
    """The plan is tuned so that the year's private km are under 500 but over the pro-rated
    limit: a report that forgot the pro-rating would say the opposite. (No database: the
    records are built with a throw-away sealing key.)"""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    public_raw = X25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                        serialization.PublicFormat.Raw)
    plan = ry.plan_year(replayed)
    private, within = _verdict(plan, ry.records(plan, public_raw))
    assert private < 500 and not within, private
    assert 200 < len(plan) < 260 and sum(p.mode == "private" for p in plan) >= 10


def _check_csv(data: bytes, year: ry.Year) -> None:
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    header = lines[0]
    kinds = {"rit": "trip", "kilometerstandverschil": "odometer_gap", "ketenonderbreking": "chain_gap",
             "correctierit": "odometer_correction"}
    characters = {"zakelijk": "business", "woon-werk": "commute", "privé": "private", "": None}
    body = [dict(zip(header, line)) for line in lines[1:] if line and line[0] in kinds]
    rows = [(kinds[r["Soort"]], "unclassified" if r["Bevestigd"] == "nee" else characters[r["Karakter"]],
             _d(r["Afstand km"]), _d(r["Privé-omrijkilometers"]),
             _d(r["Beginstand km"]), _d(r["Eindstand km"])) for r in body]
    labelled = {line[0]: line[1] for line in lines if len(line) >= 2 and line[0].startswith("Totaal")}
    totals = {name: _d(labelled[label]) for name, label in TOTAL_LABELS.items()}
    _check_rows_and_totals(rows, totals, year)
    assert sum(1 for r in rows if r[0] == "chain_gap") == 1  # the record that never arrived
    private, within = _verdict(year.plan, year.records)
    (verdict,) = [line[1] for line in lines if line and line[0] == "500 km-toets"]
    assert f"{private:.1f} km privé".replace(".", ",") in verdict
    assert ("binnen de grens" in verdict) == within and ("BOVEN de grens" in verdict) == (not within)


def _check_xlsx(data: bytes, year: ry.Year) -> None:
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["Ritten"]
    lines = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = lines[0]
    lines = [line + [None] * (len(header) - len(line)) for line in lines]  # read-only rows stop at their last value
    col = {name: header.index(name) for name in header}
    kinds = {"rit": "trip", "kilometerstandverschil": "odometer_gap", "ketenonderbreking": "chain_gap"}
    characters = {"zakelijk": "business", "woon-werk": "commute", "privé": "private", None: None, "": None}

    def dec(value) -> Decimal:
        # openpyxl hands back the stored float; the report writes km with one decimal
        return Decimal(str(value)).quantize(ry.KM) if value is not None else Decimal(0)

    rows = [(kinds[line[0]], "unclassified" if line[col["Bevestigd"]] == "nee" else characters[line[col["Karakter"]]],
             dec(line[col["Afstand km"]]),
             dec(line[col["Privé-omrijkilometers"]]), dec(line[col["Beginstand km"]]),
             dec(line[col["Eindstand km"]])) for line in lines[1:] if line and line[0] in kinds]
    labelled = {line[0]: dec(line[col["Afstand km"]]) for line in lines
                if line and isinstance(line[0], str) and line[0].startswith("Totaal")}
    totals = {name: labelled[label] for name, label in TOTAL_LABELS.items()}
    _check_rows_and_totals(rows, totals, year)


def _check_xml(data: bytes, year: ry.Year) -> None:
    from lxml import etree

    from backend.reports.xml import SCHEMA_PATH

    document = etree.fromstring(data)
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
    assert schema.validate(document), schema.error_log
    rows = []
    for entry in document.find("r:entries", NS):
        kind = etree.QName(entry).localname
        if kind == "trip":
            character = (entry.findtext("r:character", namespaces=NS) if entry.get("classified") == "true"
                         else "unclassified")
            rows.append(("trip", character, _d(entry.findtext("r:distance", namespaces=NS)),
                         _d(entry.findtext("r:privateDetour", namespaces=NS)),
                         _d(entry.findtext("r:odometerStart", namespaces=NS)),
                         _d(entry.findtext("r:odometerEnd", namespaces=NS))))
        elif kind == "odometerGap":
            rows.append(("odometer_gap", None, _d(entry.findtext("r:distance", namespaces=NS)), Decimal(0),
                         _d(entry.findtext("r:odometerStart", namespaces=NS)),
                         _d(entry.findtext("r:odometerEnd", namespaces=NS))))
    totals = {name: _d(document.findtext(f"r:totals/r:{tag}", namespaces=NS))
              for name, tag in (("business", "businessKm"), ("commute", "commuteKm"), ("private", "privateKm"),
                                ("unclassified", "unclassifiedKm"), ("unexplained", "unexplainedKm"),
                                ("total", "totalKm"))}
    _check_rows_and_totals(rows, totals, year)
    assert int(document.findtext("r:totals/r:trips", namespaces=NS)) == len(year.records)
    private, within = _verdict(year.plan, year.records)
    (verdict,) = document.findall("r:privateUseVerdicts/r:verdict", NS)
    assert _d(verdict.findtext("r:privateKm", namespaces=NS)) == private
    assert int(verdict.findtext("r:availableDays", namespaces=NS)) == ry.available_days()
    assert verdict.findtext("r:withinLimit", namespaces=NS) == ("true" if within else "false")
    # The corrections carry what finance changed, each with its reason.
    reasons = {c.findtext("r:reason", namespaces=NS) for c in document.findall("r:corrections/r:correction", NS)}
    assert {"rooster: maandag op kantoor", "opgave bestuurder: vrijdag privé", "opgave bestuurder"} <= reasons


def test_totals_equal_the_sum_of_the_rows_in_csv_xlsx_and_xml(app, year):
    """One year, three formats read back: each is held to the same sums, chain and verdict
    (one test, so the year is ingested once per database)."""
    _check_csv(_export(app, year.finance, "csv", vehicle_id=year.vehicle_id), year)
    _check_xlsx(_export(app, year.finance, "xlsx", vehicle_id=year.vehicle_id), year)
    _check_xml(_export(app, year.finance, "xml", vehicle_id=year.vehicle_id), year)
    # Per driver the same year gives the same totals (one car, one driver).
    _check_xml(_export(app, year.finance, "xml", driver_id=year.driver), year)


def _all_bytes(fmt: str, data: bytes) -> bytes:
    """The bytes a private position would have to hide in: XLSX members inflated, PDF text."""
    if fmt == "xlsx":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return b"".join(archive.read(name) for name in archive.namelist())
    if fmt == "pdf":
        from pypdf import PdfReader
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        return data + text.encode("utf-8")
    return data


def test_private_positions_are_in_no_employer_file_but_in_the_drivers_own(app, year, replayed):
    from backend.reports import model as m

    markers = ry.private_markers(replayed)
    assert markers
    exports = [(fmt, {"vehicle_id": year.vehicle_id}) for fmt in ("csv", "xlsx", "pdf", "xml")]
    exports += [(fmt, {"driver_id": year.driver}) for fmt in ("csv", "xml")]
    for fmt, subject in exports:
        data = _all_bytes(fmt, _export(app, year.finance, fmt, **subject))
        leaked = [marker for marker in markers if marker.encode() in data]
        assert not leaked, (fmt, subject, leaked)
    # The same check finds them in the driver's own export (opened for the driver only).
    own = _export(app, year.driver, "csv", driver_id=year.driver, view=m.DRIVER)
    start = replayed.private[0].start
    assert f"{start[0]:.5f}, {start[1]:.5f}".encode() in own


def _verdict_lines(fmt: str, data: bytes) -> list[str]:
    """The 500 km verdict as each format prints it (XML: its fields joined the same way)."""
    if fmt == "csv":
        return [line[1] for line in csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";")
                if line and line[0] == "500 km-toets"]
    if fmt == "xlsx":
        import openpyxl
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["Overzicht"]
        return [row[1] for row in sheet.iter_rows(values_only=True) if row and row[0] == "500 km-toets"]
    if fmt == "pdf":
        from pypdf import PdfReader
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        return re.findall(re.escape(ry.DRIVER_NAME) + r": [\d,]+ km privé.*?(?:binnen|BOVEN) de grens",
                          text.replace("\n", " "))
    from lxml import etree
    (verdict,) = etree.fromstring(data).findall("r:privateUseVerdicts/r:verdict", NS)
    within = verdict.findtext("r:withinLimit", namespaces=NS) == "true"
    return [f"{verdict.findtext('r:privateKm', namespaces=NS).replace('.', ',')} km privé - "
            + ("binnen de grens" if within else "BOVEN de grens")]


def test_the_counter_pages_fleet_export_and_every_format_give_one_verdict_over_calibrated_km(app, client, login,
                                                                                             year):
    """After a +2% calibration the driver's counter, finance's verdict page, the fleet export
    and all four formats show the same private km and the same outcome (the report once said
    501,0 km BOVEN while the counter said 499,3 van 500,0: calibrated against GPS km)."""
    from backend.db import db
    from backend.models.accounts import User
    from backend.reports.fleet import export_fleet
    from backend.trips import counter

    ry.calibrate(app, year, ry.two_percent_calibrations(year))
    with app.app_context():
        own = counter.for_driver(db.session.get(User, year.driver), ry.YEAR)
        fleet_zip = io.BytesIO()
        export_fleet(year.finance, fleet_zip, year=ry.YEAR, fmt="csv")
    private = Decimal(str(own.private_km)).quantize(ry.KM)
    outcome = "BOVEN de grens" if own.over else "binnen de grens"
    # The calibration changed the private km: GPS km alone would give another figure.
    assert private != ry.expected_private_km(year.plan, year.records)
    expected = f"{private:.1f} km privé".replace(".", ",")
    files = {fmt: _export(app, year.finance, fmt, vehicle_id=year.vehicle_id) for fmt in ("csv", "xlsx", "pdf", "xml")}
    files["driver-xml"] = _export(app, year.finance, "xml", driver_id=year.driver)
    with zipfile.ZipFile(io.BytesIO(fleet_zip.getvalue())) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".csv")]
        files["fleet-csv"] = archive.read(name)
    unclassified = f"{Decimal(str(own.unclassified_km)).quantize(ry.KM):.1f} km niet ingedeeld".replace(".", ",")
    for name, data in files.items():
        (line,) = _verdict_lines(name.split("-")[-1], data)
        assert expected in line and outcome in line, (name, line, expected, outcome)
        if name in ("csv", "xlsx", "fleet-csv"):  # the km not shown to be business, beside the verdict
            assert unclassified in line, (name, line, unclassified)
    # The driver's counter page and finance's verdict page print the same figure and outcome.
    from lxml import html
    login(ry.DRIVER_EMAIL)
    page = html.fromstring(client.get(f"/me/counter?year={ry.YEAR}").get_data(as_text=True))
    assert page.xpath('string(//*[@data-testid="private-km"])').strip() == f"{private:.1f}".replace(".", ",")
    client.post("/logout")
    login(ry.FINANCE_EMAIL)
    page = html.fromstring(client.get(f"/finance/verdicts?year={ry.YEAR}").get_data(as_text=True))
    (row,) = page.xpath(f'//tr[@data-driver="{ry.DRIVER_EMAIL}"]')
    assert row.xpath('string(td[@data-testid="private-km"])').strip() == f"{private:.1f}".replace(".", ",")
    assert row.xpath('string(td[@data-testid="outcome"]/@data-over)') == ("true" if own.over else "false")


def _csv_lines(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_calibration_rows_can_be_followed_and_no_total_counts_a_correction_twice(app, year):
    """The first reading is listed; a correctierit runs from the previous reading to this one
    (end minus start is its km, the GPS km beside it); the rule for trips before the first
    reading is printed; the totals do not add the correction next to trips that contain it."""
    readings = ry.two_percent_calibrations(year)
    ry.calibrate(app, year, readings)
    dashboards = [Decimal(str(round(ry.gps_odometer_at(year.records, at) + above, 1))) for at, above in readings]
    lines = _csv_lines(_export(app, year.finance, "csv", vehicle_id=year.vehicle_id))
    header = lines[0]
    body = [dict(zip(header, line)) for line in lines[1:] if line and line[0] in ("kalibratie", "correctierit")]
    assert [r["Soort"] for r in body] == ["kalibratie", "correctierit"]
    first, second = body
    assert _d(first["Eindstand km"]) == dashboards[0]
    assert _d(second["Beginstand km"]) == dashboards[0] and _d(second["Eindstand km"]) == dashboards[1]
    assert _d(second["Afstand km"]) == dashboards[1] - dashboards[0]
    gps = Decimal(str(ry.gps_odometer_at(year.records, readings[1][0]) - ry.gps_odometer_at(year.records, readings[0][0])))
    assert _d(second["GPS-km vóór kalibratie"]) == gps.quantize(ry.KM)
    labels = [line[0] for line in lines if line]
    assert "Correctieritten km" not in labels
    _assert_totals_add_up_to_the_odometer(lines)
    # The rule for the trips before the first reading is printed with the offset it applied.
    text = "\n".join(";".join(line) for line in lines)
    assert "vóór de eerste kalibratie" in text


def test_an_implausible_reading_is_refused_without_a_reason_and_flagged_in_the_report(app, year):
    from backend.odometer.service import CalibrationError

    readings = ry.two_percent_calibrations(year)
    ry.calibrate(app, year, readings)
    october = datetime(ry.YEAR, 10, 1, 18, 0, tzinfo=timezone.utc)
    offset = readings[-1][1]
    with pytest.raises(CalibrationError, match="reason"):
        ry.calibrate(app, year, [(october, offset + 300)])
    ry.calibrate(app, year, [(october, offset + 300)], reason="teller vervangen na schade")
    lines = _csv_lines(_export(app, year.finance, "csv", vehicle_id=year.vehicle_id))
    header = lines[0]
    rows = [dict(zip(header, line)) for line in lines[1:] if line and line[0] == "correctierit"]
    assert len(rows) == 2
    assert "ONGEBRUIKELIJK" not in rows[0]["Opmerking"]
    assert "ONGEBRUIKELIJK" in rows[1]["Opmerking"] and "teller vervangen na schade" in rows[1]["Opmerking"]
    _assert_totals_add_up_to_the_odometer(lines)


def _assert_totals_add_up_to_the_odometer(lines: list[list[str]]) -> None:
    """Totaal km = the last trip's printed (calibrated) end minus the first trip's start."""
    header = lines[0]
    trips = [dict(zip(header, line)) for line in lines[1:] if line and line[0] == "rit"]
    labelled = {line[0]: _d(line[1]) for line in lines if len(line) >= 2 and line[0].startswith("Totaal")}
    odometer = _d(trips[-1]["Eindstand km"]) - _d(trips[0]["Beginstand km"])
    assert labelled["Totaal km"] == odometer
    assert labelled["Totaal km"] == sum((labelled[label] for name, label in TOTAL_LABELS.items() if name != "total"),
                                        Decimal(0))
