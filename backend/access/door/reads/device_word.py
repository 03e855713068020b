"""`flask --app backend trips verify`: are the stored trips what the devices signed?

Each trip row keeps the canonical body the device hashed and the device's own signature of that
hash (docs/device-store.md, "Record signatures"). This recomputes every stored device chain from
those bodies (ritbox_verify.records, the rules the offline verifier uses too), checks each
signature with the device's public key, checks that the columns the reports read (times, km,
odometer, mode, flags, positions) are the ones in the body, and that the chain head agrees with
the last stored trip. The body of a trip a person classified private after it was recorded lives
sealed in trip_reseals.body_sealed; it is opened here (with the key file) and the opening is
audited. A row changed, deleted or inserted in SQL behind the triggers is named.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import groupby

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backend import audit
from backend.access.door.envelopes import SealError, open_envelope
from backend.access.door.reads.chain import chain_heads, declared_breaks, sealed_bodies, stored_records
from backend.db import db
from backend.models.fleet import Device
from backend.models.seals import SEALED_BODY
from ritbox_verify import records as word

# audit kind: a run of `trips verify` and what it found
TRIPS_VERIFIED = audit.kind("trips_verified", _l("Stored trips checked against the devices' signatures"))
PROBLEMS_KEPT = 50


@dataclass
class Verification:
    devices: int = 0
    trips: int = 0
    sealed_opened: list[int] = field(default_factory=list)
    problems: list[word.Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _label(row) -> str:
    return f"trip {row.id} (device {row.device_id}, seq {row.seq})"


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


def _same_time(column: datetime, text: str) -> bool:
    if column.tzinfo is None:  # SQLite hands back what it stored: UTC
        column = column.replace(tzinfo=timezone.utc)
    return column == _time(text)


def _differences(row, body: dict) -> list[str]:
    """The columns whose value is not the one in the signed body."""
    wrong = []
    if row.device_trip_id != body.get("trip_id"):
        wrong.append("trip_id")
    for name in ("started_at", "ended_at"):
        if not _same_time(getattr(row, name), body.get(name, "")):
            wrong.append(name)
    for name in ("odometer_start_km", "odometer_end_km", "distance_km"):
        if getattr(row, name) != float(body.get(name, "nan")):
            wrong.append(name)
    for name in ("mode", "flags", "gaps"):
        if getattr(row, name) != body.get(name):
            wrong.append(name)
    if row.mode == "business" and row.body != SEALED_BODY:
        for end in ("start", "end"):
            position = body.get(end) or [None, None]
            if (getattr(row, f"{end}_lat"), getattr(row, f"{end}_lon")) != tuple(position):
                wrong.append(f"{end} position")
    elif row.mode == "private":
        for end in ("start", "end"):
            if getattr(row, f"{end}_sealed") != body.get(f"{end}_sealed"):
                wrong.append(f"{end}_sealed")
    return wrong


def _records(rows: list, opened: dict[int, str], problems: list[word.Problem]) -> Iterator[word.Record]:
    for row in rows:
        body = opened.get(row.id, row.body)
        parsed = None
        if body is not None and body != SEALED_BODY:
            try:
                parsed = json.loads(body)
                wrong = _differences(row, parsed) if isinstance(parsed, dict) else ["body"]
            except (ValueError, TypeError, KeyError):
                wrong = ["body"]
            if wrong:
                problems.append(word.Problem(
                    _label(row), f"{', '.join(wrong)} differ from what the device signed",
                    f"{', '.join(wrong)} wijken af van wat het kastje ondertekende"))
        yield word.Record(row.seq, row.device_trip_id, row.prev_hash, row.record_hash, row.device_signature,
                          None if body == SEALED_BODY else body, _label(row),
                          parsed if isinstance(parsed, dict) else None)


def _open_sealed(rows: list, result: Verification) -> dict[int, str]:
    sealed = [row.id for row in rows if row.body == SEALED_BODY]
    if not sealed:
        return {}
    opened: dict[int, str] = {}
    envelopes = sealed_bodies(sealed)
    for trip_id in sealed:
        envelope = envelopes.get(trip_id)
        try:
            opened[trip_id] = open_envelope(envelope).decode("utf-8") if envelope else None
        except SealError:
            opened[trip_id] = None
        if opened[trip_id] is None:
            row = next(r for r in rows if r.id == trip_id)
            result.problems.append(word.Problem(_label(row), "its sealed body is missing or does not open",
                                                "de verzegelde inhoud ontbreekt of gaat niet open"))
        else:
            result.sealed_opened.append(trip_id)
    return opened


def verify_device_word(device_ids: list[str] | None = None) -> Verification:
    """Check every stored trip of these devices (default: all) against the device's word."""
    result = Verification()
    keys = {device_id: key for device_id, key in db.session.execute(select(Device.id, Device.public_key))}
    heads = chain_heads()
    declared = declared_breaks(device_ids)
    seen: set[str] = set()
    for device_id, group in groupby(stored_records(device_ids), key=lambda row: row.device_id):
        rows = list(group)
        seen.add(device_id)
        result.devices += 1
        result.trips += len(rows)
        try:
            key = word.load_public_key(keys.get(device_id) or "")
        except ValueError:
            key = None
        opened = _open_sealed(rows, result)
        deleted_through = heads.get(device_id, (0, "", 0))[2]
        for problem in word.check_chain(_records(rows, opened, result.problems), key,
                                        declared=declared.get(device_id, []), deleted_through=deleted_through):
            result.problems.append(problem)
            if len(result.problems) >= PROBLEMS_KEPT:
                break
        head = heads.get(device_id)
        last = rows[-1]
        if head is not None and (head[0], head[1]) != (last.seq, last.record_hash) and head[0] > last.seq:
            result.problems.append(word.Problem(
                f"device {device_id}", f"its chain head is seq {head[0]}, but the last stored trip is seq {last.seq}"
                f" ({_label(last)}): trips after it are missing",
                f"de kop van de keten is volgnummer {head[0]}, maar de laatste opgeslagen rit is volgnummer "
                f"{last.seq} ({_label(last)}): ritten daarna ontbreken"))
    for device_id, (head_seq, _, deleted_through) in heads.items():
        if device_id not in seen and head_seq > deleted_through and (device_ids is None or device_id in device_ids):
            result.problems.append(word.Problem(
                f"device {device_id}", f"its chain head is seq {head_seq}, but none of its trips is stored",
                f"de kop van de keten is volgnummer {head_seq}, maar er is geen rit van opgeslagen"))
    if result.sealed_opened:
        audit.record(audit.SEAL_OPENED, details={"what": "trips verify", "trip_ids": result.sealed_opened[:1000]},
                     commit=False)
    audit.record(TRIPS_VERIFIED, details={"devices": result.devices, "trips": result.trips,
                                          "problems": len(result.problems),
                                          "first": str(result.problems[0]) if result.problems else None})
    return result
