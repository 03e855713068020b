"""Check an inspector package (docs/inspector-package.md) with nothing but the package itself.

Order of the checks, each naming the first problem it finds:
1. manifest.json: its Ed25519 signature over the canonical manifest, with the public key it carries;
2. members: exactly those the manifest lists, each with its sha256 (a flipped byte names the member);
3. checkpoint.json: signed by the same key;
4. device records: each body hashes to its record hash, each hash is signed by its device, each
   record links to the one before, and missing seqs are declared in chain-events.json;
5. odometer: each trip starts where the one before it ended, unless a gap or break is declared
   between them or a calibration was read between them;
6. revisions: each names the revision it supersedes, which is in the package, and starts from
   that one's value (the original stays).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ritbox_verify import records as word
from ritbox_verify.records import Problem

FORMAT = "ritbox-inspector-package-v1"
CHECKPOINT_FORMAT = "ritbox-checkpoint-v1"
MANIFEST = "manifest.json"
ODOMETER_TOLERANCE_KM = 0.0005  # bodies carry km with 3 decimals
SINGLE_VALUED = ("note",)  # notes add up; every other field has one current value


@dataclass
class Verdict:
    key_id: str | None = None
    subject: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    devices: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Stop(Exception):
    """A problem after which nothing else can be checked."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _key(public_b64: Any, where: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(str(public_b64), validate=True))
    except (ValueError, binascii.Error):
        raise _Stop(Problem(where, "the public key is not a base64 Ed25519 key",
                            "de publieke sleutel is geen base64 Ed25519-sleutel")) from None


def _signed(document: Any, body_name: str, where: str) -> tuple[Any, bytes]:
    """The signed body of {body_name, public_key, signature}, after checking the signature."""
    if not isinstance(document, dict) or body_name not in document:
        raise _Stop(Problem(where, "not a signed Ritbox document", "geen ondertekend Ritbox-document"))
    key = _key(document.get("public_key"), where)
    try:
        key.verify(base64.b64decode(str(document.get("signature")), validate=True), canonical(document[body_name]))
    except (InvalidSignature, ValueError, binascii.Error):
        raise _Stop(Problem(where, "the signature does not hold: the document was changed",
                            "de handtekening klopt niet: het document is gewijzigd")) from None
    return document[body_name], base64.b64decode(document["public_key"])


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise _Stop(Problem(where, "is not valid JSON", "is geen geldige JSON")) from None


def _members(archive: zipfile.ZipFile, verdict: Verdict) -> dict[str, bytes]:
    names = archive.namelist()
    if MANIFEST not in names:
        raise _Stop(Problem(MANIFEST, "is missing", "ontbreekt"))
    manifest, public = _signed(_json(archive.read(MANIFEST), MANIFEST), "manifest", MANIFEST)
    verdict.key_id = hashlib.sha256(public).hexdigest()[:16]
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _Stop(Problem(MANIFEST, f"is not {FORMAT}", f"is geen {FORMAT}"))
    verdict.subject = manifest.get("subject") or {}
    listed = manifest.get("members") or {}
    members: dict[str, bytes] = {}
    for name in sorted(set(names) - {MANIFEST} - set(listed)):
        raise _Stop(Problem(name, "is in the package but not in the signed manifest",
                            "zit in het pakket maar niet in het ondertekende manifest"))
    for name, expected in sorted(listed.items()):
        if name not in names:
            raise _Stop(Problem(name, "is listed in the manifest but missing", "staat in het manifest maar ontbreekt"))
        data = archive.read(name)
        if hashlib.sha256(data).hexdigest() != expected.get("sha256"):
            raise _Stop(Problem(name, "its sha256 is not the one the manifest signed: the file was changed",
                                "de sha256 is niet die uit het ondertekende manifest: het bestand is gewijzigd"))
        members[name] = data
    checkpoint = members.get("checkpoint.json")
    if checkpoint is not None:
        body, checkpoint_key = _signed(_json(checkpoint, "checkpoint.json"), "checkpoint", "checkpoint.json")
        if checkpoint_key != public or not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
            raise _Stop(Problem("checkpoint.json", "is not signed by the package's key",
                                "is niet ondertekend met de sleutel van het pakket"))
    return members


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _record_label(device: dict, record: dict) -> str:
    return f"record seq {record.get('seq')} of device {device.get('device_id')} (trip {record.get('trip')})"


def _device_problems(devices: list[dict], events: list[dict], calibrations: list[dict],
                     verdict: Verdict) -> Iterator[Problem]:
    declared: dict[str, list[tuple[int, int]]] = {}
    for event in events:
        declared.setdefault(str(event.get("device_id")), []).append((int(event["seq_from"]), int(event["seq_to"])))
    readings = sorted(t for t in (_time(c.get("read_at")) for c in calibrations) if t is not None)
    for device in devices:
        verdict.devices += 1
        try:
            key = word.load_public_key(str(device.get("public_key")))
        except ValueError:
            key = None
        records = [word.Record(int(r["seq"]), str(r["trip_id"]), str(r["prev_hash"]), str(r["hash"]),
                               r.get("signature"), r.get("body"), _record_label(device, r))
                   for r in device.get("records", [])]
        verdict.records += len(records)
        gaps = declared.get(str(device.get("device_id")), [])
        yield from word.check_chain(records, key, declared=gaps,
                                    deleted_through=int(device.get("deleted_through") or 0), from_start=False)
        yield from _odometer(records, gaps, readings)


def _odometer(records: list[word.Record], gaps: list[tuple[int, int]], readings: list[datetime]) -> Iterator[Problem]:
    previous: tuple[int, dict] | None = None
    for record in records:
        body = json.loads(record.body) if record.body is not None else None
        if body is not None and previous is not None and previous[0] == record.seq - 1 \
                and not any(low <= record.seq <= high for low, high in gaps):
            before = previous[1]
            jump = float(body["odometer_start_km"]) - float(before["odometer_end_km"])
            ended, started = _time(before.get("ended_at")), _time(body.get("started_at"))
            corrected = any(ended <= at <= started for at in readings) if ended and started else False
            if abs(jump) > ODOMETER_TOLERANCE_KM and not corrected:
                yield Problem(record.label, f"its odometer starts at {body['odometer_start_km']} km, the trip before "
                              f"ended at {before['odometer_end_km']} km, and no correction is declared",
                              f"de kilometerstand begint op {body['odometer_start_km']} km, de rit ervoor eindigde "
                              f"op {before['odometer_end_km']} km, en er is geen correctie gemeld")
        previous = (record.seq, body) if body is not None else None


def _revision_problems(revisions: list[dict], trips: set[int]) -> Iterator[Problem]:
    by_id = {r.get("id"): r for r in revisions}
    firsts: dict[tuple[Any, Any], int] = {}
    for revision in sorted(revisions, key=lambda r: r.get("id") or 0):
        where = f"revision {revision.get('id')} (trip {revision.get('trip')}, {revision.get('field')})"
        if revision.get("trip") not in trips:
            yield Problem(where, "its trip is not among the device records", "de rit staat niet bij de kastjesrecords")
            continue
        superseded = revision.get("supersedes")
        if superseded is None:
            slot = (revision.get("trip"), revision.get("field"))
            if revision.get("field") not in SINGLE_VALUED and slot in firsts:
                yield Problem(where, f"replaces a value without naming revision {firsts[slot]}: the original is lost",
                              f"vervangt een waarde zonder revisie {firsts[slot]} te noemen: het origineel is weg")
            firsts.setdefault(slot, revision.get("id"))
            continue
        before = by_id.get(superseded)
        if before is None:
            yield Problem(where, f"the revision it replaces ({superseded}) is missing: the original is lost",
                          f"de revisie die het vervangt ({superseded}) ontbreekt: het origineel is weg")
        elif (before.get("trip"), before.get("field")) != (revision.get("trip"), revision.get("field")) \
                or before.get("new_value") != revision.get("old_value"):
            yield Problem(where, f"does not start from the value of revision {superseded}",
                          f"gaat niet uit van de waarde van revisie {superseded}")


def verify(data: bytes) -> Verdict:
    """Check a package's bytes; the verdict names every problem found, the first one first."""
    verdict = Verdict()
    try:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise _Stop(Problem("package", "is not a zip file", "is geen zip-bestand")) from None
        with archive:
            members = _members(archive, verdict)
        devices = _json(members.get("device-records.json", b"{}"), "device-records.json").get("devices", [])
        events = _json(members.get("chain-events.json", b"{}"), "chain-events.json").get("chain_events", [])
        calibrations = _json(members.get("calibrations.json", b"{}"), "calibrations.json").get("calibrations", [])
        revisions = _json(members.get("revisions.json", b"{}"), "revisions.json").get("revisions", [])
        verdict.problems.extend(_device_problems(devices, events, calibrations, verdict))
        trips = {r.get("trip") for d in devices for r in d.get("records", [])}
        verdict.problems.extend(_revision_problems(revisions, trips))
    except _Stop as stop:
        verdict.problems.append(stop.problem)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        verdict.problems.append(Problem("package", f"does not follow the format ({type(exc).__name__}: {exc})",
                                        f"volgt het formaat niet ({type(exc).__name__}: {exc})"))
    return verdict
