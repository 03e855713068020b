"""Helpers for the fleet/ingest tests: a vehicle with an enrolled device, signed uploads, records
built exactly as docs/device-store.md says (independently of device/)."""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

GENESIS = "0" * 64


def canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def chain_hash(prev_hash: str, body: dict) -> str:
    return hashlib.sha256((prev_hash + canonical(body)).encode("ascii")).hexdigest()


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_record(seq: int, prev_hash: str, *, started: datetime, odometer: float, km: float = 12.5,
                mode: str = "business", trip_id: str | None = None, track: bool = True) -> dict:
    ended = started + timedelta(minutes=20)
    business = mode == "business"
    body = {
        "v": 1, "trip_id": trip_id or str(uuid.uuid4()), "seq": seq, "prev_hash": prev_hash,
        "started_at": iso(started), "ended_at": iso(ended), "mode": mode,
        "start": [52.090712, 5.121433] if business else None,
        "end": [52.370216, 4.895168] if business else None,
        "start_sealed": None, "end_sealed": None,
        "distance_km": round(km, 3), "odometer_start_km": round(odometer, 3),
        "odometer_end_km": round(odometer + km, 3), "flags": [], "gaps": [],
        "track": ([[iso(started), 52.090712, 5.121433], [iso(started + timedelta(minutes=10)), 52.2, 5.0],
                   [iso(ended), 52.370216, 4.895168]] if business and track else []),
    }
    if not business:
        body["start_sealed"] = {"v": 1, "alg": "X25519-HKDF-SHA256-ChaCha20Poly1305", "kid": "ba8457b5ea360633",
                                "epk": base64.b64encode(b"e" * 32).decode(), "nonce": base64.b64encode(b"n" * 12).decode(),
                                "ct": base64.b64encode(b"c" * 40).decode()}
    return {**body, "hash": chain_hash(prev_hash, body)}


def make_chain(n: int, *, first_seq: int = 1, prev_hash: str = GENESIS, start: datetime | None = None,
               odometer: float = 1000.0) -> list[dict]:
    start = start or datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc)
    records = []
    for i in range(n):
        record = make_record(first_seq + i, prev_hash, started=start + timedelta(hours=i), odometer=odometer)
        odometer = record["odometer_end_km"]
        prev_hash = record["hash"]
        records.append(record)
    return records


class DeviceClient:
    """A fake device: its own key, signs like docs/api.md says."""

    def __init__(self, device_id: str, key: Ed25519PrivateKey) -> None:
        self.device_id, self.key = device_id, key

    def headers(self, body: bytes, *, path: str = "/api/v1/trips", timestamp: str | None = None,
                method: str = "POST") -> dict:
        timestamp = timestamp or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        message = f"{method}\n{path}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}".encode()
        return {"X-Ritbox-Device": self.device_id, "X-Ritbox-Timestamp": timestamp,
                "X-Ritbox-Signature": base64.b64encode(self.key.sign(message)).decode(),
                "Content-Type": "application/json"}

    def sign_record(self, record: dict) -> dict:
        """The record with its own `signature` (docs/device-store.md): over the `hash` it carries,
        as a device signs its stored hash, or else over the hash of its body."""
        body = {key: value for key, value in record.items() if key not in ("hash", "signature")}
        try:
            digest = record["hash"] if isinstance(record.get("hash"), str) else chain_hash(str(body["prev_hash"]), body)
        except (KeyError, TypeError, ValueError):
            return record  # a malformed record for a refusal test: nothing to sign
        signature = base64.b64encode(self.key.sign(f"ritbox-record-v1\n{digest}".encode("ascii"))).decode()
        return {**record, "signature": signature}

    def post(self, client, records: list[dict] | None = None, *, body: bytes | None = None,
             sign_records: bool = True, **kwargs):
        if body is None:
            if sign_records:
                records = [self.sign_record(r) if isinstance(r, dict) and "signature" not in r else r
                           for r in records]
            body = json.dumps({"trips": records}).encode()
        return client.post("/api/v1/trips", data=body, headers=self.headers(body, **kwargs))


def public_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)).decode()


def enrolled_device(app, client, *, kenteken: str = "GB-XJ-12", driver_email: str | None = None,
                    assigned_from: str = "2026-01-01", enrolled_on: str | None = None) -> DeviceClient:
    """A vehicle (optionally assigned to a driver) with a device enrolled through the API.

    The device counts as enrolled on `enrolled_on` (default: `assigned_from`), midnight UTC:
    the backend refuses trips dated long before a device's enrollment (backend/api/bounds.py),
    and these tests upload trips of past dates, as a device in service since then would."""
    from datetime import date

    from backend.db import db
    from backend.fleet import service
    from backend.models.fleet import Device

    with app.app_context():
        if service.find_vehicle(kenteken) is None:
            service.create_vehicle(kenteken, "Volkswagen", "Golf")
        if driver_email:
            service.create_assignment(driver_email, kenteken, date.fromisoformat(assigned_from))
        token = service.create_device(kenteken).token
    key = Ed25519PrivateKey.generate()
    proof = base64.b64encode(key.sign(("ritbox-enroll-v1\n" + token).encode())).decode()
    response = client.post("/api/v1/enroll", json={"token": token, "public_key": public_b64(key), "proof": proof})
    assert response.status_code == 201, response.get_json()
    device_id = response.get_json()["device_id"]
    with app.app_context():
        db.session.get(Device, device_id).enrolled_at = datetime.combine(
            date.fromisoformat(enrolled_on or assigned_from), datetime.min.time(), timezone.utc)
        db.session.commit()
    return DeviceClient(device_id, key)
