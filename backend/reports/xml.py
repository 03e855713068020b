"""XML after the idea of the Auditfile RitRegistratieSystemen, valid against the published
schema backend/reports/ritbox-report.xsd (namespace urn:ritbox:report:1). Written as a stream
(xml.sax XMLGenerator): no document tree in memory, whatever the number of trips."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import XMLGenerator

from backend.reports import model as m
from backend.reports import texts as t

CONTENT_TYPE = "application/xml"
EXTENSION = "xml"
NAMESPACE = "urn:ritbox:report:1"
SCHEMA_PATH = Path(__file__).with_name("ritbox-report.xsd")
SOFTWARE_VERSION = "0.1.0"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.1f}"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    # XML 1.0 cannot carry most control characters; they have no place in a report anyway.
    return "".join(ch for ch in str(value) if ch in "\t\n\r" or ord(ch) >= 32)


class _Writer:
    def __init__(self, out: BinaryIO):
        self.g = XMLGenerator(out, encoding="utf-8", short_empty_elements=True)

    def start(self, name: str, attrs: dict | None = None) -> None:
        self.g.startElement(name, {k: _text(v) for k, v in (attrs or {}).items()})

    def end(self, name: str) -> None:
        self.g.endElement(name)

    def leaf(self, name: str, value: object, attrs: dict | None = None, *, optional: bool = False) -> None:
        if optional and (value is None or value == ""):
            return
        self.start(name, attrs)
        self.g.characters(_text(value))
        self.end(name)


def _address(w: _Writer, name: str, address: m.Address | None) -> None:
    if address is None:
        return
    w.start(name, {"streetLevel": address.street_level, "source": address.source})
    w.leaf("text", address.text)
    w.leaf("street", address.street, optional=True)
    w.leaf("number", address.number, optional=True)
    w.leaf("postcode", address.postcode, optional=True)
    w.leaf("place", address.place, optional=True)
    w.end(name)


def _entry(w: _Writer, row: m.Row) -> None:
    if row.kind == m.TRIP:
        withheld = row.character == m.PRIVATE and row.departure is None and row.arrival is None
        attributes = {"classified": row.classified, "addressesWithheld": withheld or row.addresses_withheld_by_driver}
        if row.addresses_withheld_by_driver:
            attributes["addressesWithheldBy"] = "driver"
        w.start("trip", attributes)
        w.leaf("tripNumber", row.trip_number)
        w.leaf("licensePlate", row.kenteken)
        w.leaf("date", row.day)
        w.leaf("startTime", row.started_at)
        w.leaf("endTime", row.ended_at)
        w.leaf("driverName", row.driver_name, optional=True)
        w.leaf("odometerStart", row.odometer_start)
        w.leaf("odometerEnd", row.odometer_end)
        w.leaf("distance", row.distance)
        if row.original_distance is not None:
            w.start("gpsOriginal")
            w.leaf("odometerStart", row.gps_odometer_start)
            w.leaf("odometerEnd", row.gps_odometer_end)
            w.leaf("distance", row.original_distance)
            w.end("gpsOriginal")
        _address(w, "departure", row.departure)
        _address(w, "arrival", row.arrival)
        w.leaf("character", row.character)
        w.leaf("routeDeviation", row.route_deviation, optional=True)
        w.leaf("deviationReason", row.deviation_reason, optional=True)
        w.leaf("privateDetour", row.private_detour)
        w.leaf("note", row.note, optional=True)
        for flag in row.flags:
            w.leaf("flag", flag)
        w.end("trip")
    elif row.kind == m.ODOMETER_GAP:
        w.start("odometerGap")
        w.leaf("licensePlate", row.kenteken)
        w.leaf("date", row.day)
        w.leaf("detectedBefore", row.started_at)
        w.leaf("odometerStart", row.odometer_start)
        w.leaf("odometerEnd", row.odometer_end)
        w.leaf("distance", row.distance)
        w.end("odometerGap")
    elif row.kind == m.CHAIN_GAP:
        w.start("chainGap")
        w.leaf("licensePlate", row.kenteken)
        w.leaf("date", row.day)
        w.leaf("detectedAt", row.detected_at or row.started_at)
        w.leaf("description", row.note)
        w.end("chainGap")
    elif row.kind == m.DEVICE_EVENT:
        w.start("deviceEvent")
        w.leaf("licensePlate", row.kenteken)
        w.leaf("date", row.day)
        w.leaf("occurredAt", row.started_at, optional=True)
        w.leaf("receivedAt", row.detected_at)
        w.leaf("description", row.note)
        w.end("deviceEvent")
    elif row.kind in (m.ODOMETER_CORRECTION, m.ODOMETER_READING):
        w.start("odometerCorrection")
        w.leaf("licensePlate", row.kenteken)
        w.leaf("date", row.day)
        w.leaf("distance", row.distance)
        w.leaf("originalDistance", row.original_distance, optional=True)
        w.leaf("note", row.note, optional=True)
        w.leaf("firstReading", row.kind == m.ODOMETER_READING)
        w.leaf("previousReading", row.odometer_start, optional=True)
        w.leaf("reading", row.odometer_end)
        w.leaf("correction", row.correction, optional=True)
        w.end("odometerCorrection")


def render(report: m.Report, out: BinaryIO, checkpoint: dict | None = None) -> None:
    """checkpoint: a signed checkpoint (backend/checkpoints.py), written as its canonical JSON in
    <checkpoint>, so the receiver can check it with the signature and public key it carries."""
    w = _Writer(out)
    w.g.startDocument()
    w.start("ritboxReport", {"xmlns": NAMESPACE, "version": "1.0"})
    w.start("header")
    w.leaf("fiscalYear", report.year)
    w.leaf("startDate", report.period[0])
    w.leaf("endDate", report.period[1])
    w.leaf("dateCreated", report.generated_at.replace(microsecond=0))
    w.leaf("createdBy", report.generated_by)
    w.leaf("softwareDesc", "Ritbox")
    w.leaf("softwareVersion", SOFTWARE_VERSION)
    w.leaf("subject", report.title, {"type": report.subject})
    w.leaf("view", report.view)
    w.end("header")
    w.start("vehicles")
    for car in report.cars:
        w.start("vehicle")
        w.leaf("licensePlate", car.kenteken)
        w.leaf("make", car.make)
        w.leaf("model", car.model)
        for a in car.availability:
            w.start("availability")
            w.leaf("driverName", a.driver_name)
            w.leaf("availableFrom", a.available_from)
            w.leaf("availableUntil", a.available_until, optional=True)
            w.end("availability")
        for since, kind, regime in car.regimes:
            w.leaf("regime", regime, {"kind": kind, "since": since})
        w.end("vehicle")
    w.end("vehicles")
    w.start("entries")
    for row in report.rows:
        _entry(w, row)
    w.end("entries")
    w.start("corrections")
    for c in report.corrections:
        w.start("correction")
        w.leaf("licensePlate", c.kenteken)
        w.leaf("tripNumber", c.trip_number, optional=True)
        w.leaf("field", c.field)
        w.leaf("originalValue", c.original)
        w.leaf("correctedValue", c.corrected)
        w.leaf("author", c.author)
        w.leaf("time", c.at)
        w.leaf("reason", c.reason)
        w.end("correction")
    w.end("corrections")
    totals = report.totals
    w.start("totals")
    for name, value in (("businessKm", totals.business), ("commuteKm", totals.commute),
                        ("privateKm", totals.private), ("totalKm", totals.total),
                        ("correctionKm", totals.correction_km), ("trips", totals.trips),
                        ("unclassifiedTrips", totals.unclassified), ("gaps", totals.gaps),
                        ("unclassifiedKm", totals.unclassified_km), ("unexplainedKm", totals.unexplained_km),
                        ("explainedKm", totals.explained_km)):
        w.leaf(name, value)
    w.end("totals")
    w.start("privateUseVerdicts")
    for v in report.verdicts:
        w.start("verdict")
        w.leaf("driverName", v.driver_name)
        w.leaf("privateKm", v.private_km)
        w.leaf("availableDays", v.available_days)
        w.leaf("daysInYear", v.days_in_year)
        w.leaf("projectedKm", v.projected_km)
        w.leaf("limitKm", v.limit_km)
        w.leaf("withinLimit", v.within_limit)
        w.leaf("unclassifiedKm", v.unclassified_km)
        w.leaf("unexplainedKm", v.unexplained_km)
        w.leaf("proRatedLimitKm", v.pro_rated_limit_km)
        for k in v.verklaringen:
            w.start("verklaring", {"kind": k.kind})
            w.leaf("number", k.number)
            w.leaf("issued", k.issued_on)
            if k.withdrawn_on:
                w.leaf("withdrawn", k.withdrawn_on)
            w.end("verklaring")
        w.leaf("burdenOfProofOnEmployee", v.burden_of_proof)
        w.leaf("kmAboveLimit", v.km_above_limit)
        w.leaf("businessOnlyKm", v.business_only_km)
        w.leaf("businessOnlyVerklaringAtRisk", v.business_only_at_risk)
        w.end("verdict")
    w.end("privateUseVerdicts")
    if report.notes:
        w.start("notes")
        for note in report.notes:
            w.leaf("note", t.NOTES.get(note, note), {"code": note})
        w.end("notes")
    if checkpoint is not None:
        from backend.checkpoints import dumps
        w.leaf("checkpoint", dumps(checkpoint).decode("utf-8").strip(), {"format": checkpoint["checkpoint"]["format"]})
    w.end("ritboxReport")
    w.g.endDocument()
