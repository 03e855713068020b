"""The inspector package: one signed zip per car or driver and tax year (docs/inspector-package.md).

It carries the tax report (XML with its checkpoint, and PDF), the device records as the devices
signed them (canonical body, hash, signature) with each device's public key, every revision and
calibration, the chain gaps and breaks, and a signed checkpoint; manifest.json lists the sha256 of
every member and is signed with the backend's checkpoint key (Ed25519). `ritbox-verify PACKAGE`
(ritbox_verify/) checks it offline.

What the package withholds keeps the door's rules: the body of a trip a person classified private
after recording (it holds the positions and route that were sealed) and, in a driver's package,
the bodies of other drivers' trips between theirs. Such a record shows its seq, hashes and the
device's signature only, so the chain still verifies. Revision values of address fields, and all
revision values of withheld trips, are given as their sha256.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, datetime, timezone
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backend import audit, checkpoints
from backend.access import door
from backend.access.purposes import TAX
from backend.db import db, utcnow
from backend.models.accounts import User
from backend.models.odometer import OdometerCalibration
from backend.reports import export as exports
from backend.reports import model as m
from backend.reports.build import build_report

FORMAT = "ritbox-inspector-package-v1"
# audit kind: finance downloaded an inspector package
INSPECTOR_PACKAGE = audit.kind("inspector_package", _l("Inspector package downloaded"))
MANIFEST = "manifest.json"
HASHED_FIELDS = ("start_address", "end_address")  # a revision value that may name a place


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sha(value: str | None) -> str | None:
    return None if value is None else "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _revisions(trip_ids: list[int], withheld: set[int]) -> list[dict]:
    out = []
    for row in sorted(door.revision_rows(trip_ids), key=lambda r: r.id):
        hashed = row.trip_id in withheld or row.field in HASHED_FIELDS
        out.append({"id": row.id, "trip": row.trip_id, "field": row.field,
                    "old_value": _sha(row.old_value) if hashed else row.old_value,
                    "new_value": _sha(row.new_value) if hashed else row.new_value,
                    "supersedes": row.supersedes_id, "author_role": row.author_role,
                    "reason": None if hashed else row.reason, "at": _iso(row.created_at)})
    return out


def _calibrations(vehicle_ids: list[int]) -> list[dict]:
    rows = db.session.scalars(select(OdometerCalibration).where(OdometerCalibration.vehicle_id.in_(vehicle_ids))
                              .order_by(OdometerCalibration.read_at, OdometerCalibration.id))
    return [{"id": r.id, "vehicle_id": r.vehicle_id, "previous": r.previous_id, "read_at": _iso(r.read_at),
             "dashboard_m": r.dashboard_m, "gps_odometer_m": r.gps_odometer_m, "offset_m": r.offset_m,
             "correction_m": r.correction_m, "recorded_at": _iso(r.recorded_at)} for r in rows]


def _chain_events(device_ids: list[str]) -> list[dict]:
    return [{**event, "detected_at": _iso(event["detected_at"])} for event in door.chain_events_of_devices(device_ids)]


def _simplified_registration(actor: User, vehicle_id: int, year: int) -> dict[str, bytes]:
    """A van that ran under the simplified registration in the year (backend.fleet.regimes):
    that registration too, as XML and PDF (docs/reports.md, "Regimes"); nothing for other cars."""
    from backend.fleet import regimes
    from backend.models.regimes import VAN_SIMPLIFIED
    from backend.reports import simplified

    history = regimes.regime_history(vehicle_id)
    first, last = date(year, 1, 1), date(year, 12, 31)
    spans = [(row, following.valid_from if following else None)
             for row, following in zip(history, [*history[1:], None])]
    if not any(row.regime == VAN_SIMPLIFIED and row.valid_from <= last and (until is None or until > first)
               for row, until in spans):
        return {}
    report = simplified.build(actor, vehicle_id=vehicle_id, year=year)
    members = {}
    for fmt, render in (("xml", simplified.render_xml), ("pdf", simplified.render_pdf)):
        out = io.BytesIO()
        render(report, out)
        members[f"simplified-registration.{fmt}"] = out.getvalue()
    return members


def sign_manifest(members: dict[str, bytes], subject: dict[str, Any], now: datetime) -> bytes:
    key = checkpoints.signing_key()
    public = checkpoints._public_raw(key)
    manifest = {"format": FORMAT, "created_at": _iso(now), "subject": subject,
                "members": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                            for name, data in sorted(members.items())}}
    import base64
    signed = {"manifest": manifest, "public_key": base64.b64encode(public).decode("ascii"),
              "key_id": checkpoints.key_id(public),
              "signature": base64.b64encode(key.sign(_canonical(manifest))).decode("ascii")}
    return json.dumps(signed, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"


def build(actor: User, *, year: int, vehicle_id: int | None = None, driver_id: int | None = None) -> tuple[bytes, str]:
    """The package as zip bytes and its file name. Raises ReportError (no trips, unknown subject)
    and door.AccessDenied like the report does."""
    report = build_report(actor, year=year, driver_id=driver_id, vehicle_id=vehicle_id, view=m.EMPLOYER)
    checkpoint = checkpoints.issue("inspector_package")
    members: dict[str, bytes] = {}
    for fmt in ("xml", "pdf"):
        out = io.BytesIO()
        exports.write(actor, report, fmt, out, driver_id=driver_id, vehicle_id=vehicle_id, checkpoint=checkpoint)
        members[f"report.{fmt}"] = out.getvalue()
    scope = door.inspector_scope(year, vehicle_id, driver_id)
    devices, withheld, device_ids = door.inspector_records(scope)
    trip_ids = [record["trip"] for device in devices for record in device["records"]]
    vehicle_ids = [vehicle_id] if vehicle_id else door.vehicles_of_trips([t for t, _, _ in scope])
    members["device-records.json"] = _canonical({"devices": devices})
    members["revisions.json"] = _canonical({"revisions": _revisions(trip_ids, set(withheld))})
    members["calibrations.json"] = _canonical({"calibrations": _calibrations(vehicle_ids)})
    members["chain-events.json"] = _canonical({"chain_events": _chain_events(device_ids)})
    members["checkpoint.json"] = checkpoints.dumps(checkpoint)
    if vehicle_id is not None:
        members.update(_simplified_registration(actor, vehicle_id, year))
    subject = {"year": year, "kind": "driver" if driver_id else "car", "title": report.title}
    now = utcnow()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr(MANIFEST, sign_manifest(members, subject, now))
    audit.record(INSPECTOR_PACKAGE, actor=actor, subject_user_id=driver_id, subject_vehicle_id=vehicle_id,
                 purpose=TAX, details={"year": year, "records": len(trip_ids), "withheld": len(withheld),
                                       "categories": ["trip_summaries", "business_tracks"]})
    name = exports.filename(report, "zip").replace("rittenregistratie-", "inspectiepakket-")
    return buffer.getvalue(), name
