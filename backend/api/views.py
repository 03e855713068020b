"""The device API under /api/v1: enrollment and trip upload (docs/api.md).

Every refusal is JSON `{"error": code, "message": ...}` with the right status and stores nothing.
"""
from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from backend import audit, sealing_keys
from backend.api import bounds, schema, signing
from backend.api.openapi import openapi_document
from backend.db import db, utcnow
from backend.fleet import service as fleet
from backend.fleet import tax_notices
from backend.models.fleet import ApiRequestSeen, Device, DeviceStatus
from backend.models.trips import DeviceChainHead
from backend.ingest import chain
from backend.ingest.chain import GENESIS_HASH
from backend.odometer import obd
from backend.ingest.records import TRIP_ID_CONFLICT, TripIdConflict, ingest

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ENROLL_MAX_BODY = 4096
_DEVICE_ID = re.compile(r"[0-9a-fA-F-]{1,36}")
REPLAY_PURGE_ONE_IN = 50  # purge expired replay rows on ~2% of uploads: cheap, and bounded


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _server_time() -> dict[str, Any]:
    now = utcnow()
    return {"server_time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "server_time_unix": int(now.timestamp())}


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    db.session.rollback()
    body = {"error": exc.code, "message": exc.message, **exc.extra}
    return jsonify(body), exc.status


def json_http_error(exc: HTTPException):
    """Any HTTP error under /api/ as JSON (also those raised before a route matched: 404, 405)."""
    db.session.rollback()
    status = exc.code or 500
    if status >= 500:
        # The cause stays in the log; the caller learns only that it was not its fault.
        return jsonify({"error": "internal_error", "message": "the server failed; try again later"}), status
    code = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    response = jsonify({"error": code, "message": exc.description})
    if status == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response, status


def _read_body(limit: int) -> bytes:
    too_large = ApiError(413, "too_large", f"the body is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    # A chunked body has no length: read one byte past the limit to tell "exactly the limit" from
    # "more" (Werkzeug cuts a stream off at max_content_length without an error).
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large from None
    if len(data) > limit:
        raise too_large
    return data


def _policy() -> dict[str, str]:
    return {"private_positions": fleet.private_positions_policy()}


# ------------------------------------------------------------------------------ enrollment

@bp.post("/enroll")
def enroll():
    """Trade a one-time token and the device's public key for its identity and the policy."""
    data = _read_body(ENROLL_MAX_BODY)
    try:
        body = schema.validate_enroll(schema.parse_json(data))
    except schema.SchemaError as exc:
        raise ApiError(400, "invalid_request", exc.reason, field=exc.field) from None
    proof_ok = signing.verify(body["public_key"], (signing.ENROLL_PROOF_PREFIX + body["token"]).encode("utf-8"),
                              body["proof"])
    if not proof_ok:
        raise ApiError(401, "invalid_proof", "proof is not the token signed with the key sent")
    try:
        device = fleet.redeem_token(body["token"], body["public_key"])
    except fleet.EnrollmentError as exc:
        raise ApiError(401, exc.code, str(exc)) from None
    if db.session.get(DeviceChainHead, device.id) is None:
        db.session.add(DeviceChainHead(device_id=device.id, head_seq=0, head_hash=GENESIS_HASH))
        db.session.commit()
    key = sealing_keys.current_key()
    return jsonify({
        "device_id": device.id,
        "vehicle": {"kenteken": device.vehicle.display_kenteken},
        "sealing_key": {"public_key": key.public_b64, "kid": key.kid, "alg": "X25519"},
        "policy": _policy(),
        **_server_time(),
    }), 201


# ---------------------------------------------------------------------------------- upload

def authenticate(body: bytes) -> tuple[Device, str]:
    """The device that signed this request, or ApiError(401). Returns (device, timestamp text)."""
    device_id = request.headers.get(signing.HEADER_DEVICE, "").strip()
    timestamp = request.headers.get(signing.HEADER_TIMESTAMP, "").strip()
    signature = request.headers.get(signing.HEADER_SIGNATURE, "").strip()
    if not device_id or not timestamp or not signature:
        raise ApiError(401, "unauthenticated", f"{signing.HEADER_DEVICE}, {signing.HEADER_TIMESTAMP} and "
                       f"{signing.HEADER_SIGNATURE} are required")
    # The timestamp is read first: whatever its shape, it costs no database work.
    when = signing.parse_timestamp(timestamp)
    if when is None:
        raise ApiError(401, "bad_timestamp", f"{signing.HEADER_TIMESTAMP} must be RFC 3339 or Unix seconds "
                       "within years 1 to 9999", **_server_time())
    # Device ids are UUIDs: anything else (a NUL, which PostgreSQL refuses) is no device.
    device = db.session.get(Device, device_id) if _DEVICE_ID.fullmatch(device_id) else None
    if device is None or device.status != DeviceStatus.ACTIVE.value or not device.public_key:
        # Unknown, not yet enrolled and retired devices get the same answer: nothing to learn.
        raise ApiError(401, "unknown_device", "no active device with this id")
    message = signing.string_to_sign(request.method, request.path, timestamp, body)
    if not signing.verify(device.public_key, message, signature):
        raise ApiError(401, "bad_signature", "the signature does not verify with this device's key")
    window = current_app.config.get("API_TIMESTAMP_WINDOW_SECONDS", 300)
    skew = (when - utcnow()).total_seconds()
    if abs(skew) > window:
        # The Pi has no real-time clock: after a boot without GPS time it may think it is 1970.
        # The server time lets it compute an offset and sign again (docs/api.md).
        raise ApiError(401, "stale_timestamp", f"the timestamp is {skew:+.0f} s from the server's clock; "
                       f"at most {window} s is accepted", **_server_time())
    return device, timestamp


def _remember_request(device: Device, timestamp: str, body: bytes) -> None:
    """Refuse the exact same signed request twice within the window (a replay)."""
    window = current_app.config.get("API_TIMESTAMP_WINDOW_SECONDS", 300)
    if random.randrange(REPLAY_PURGE_ONE_IN) == 0:
        db.session.execute(delete(ApiRequestSeen).where(
            ApiRequestSeen.seen_at < utcnow() - timedelta(seconds=2 * window)))
    db.session.add(ApiRequestSeen(device_id=device.id, timestamp=timestamp[:40],
                                  body_sha256=signing.body_digest(body)))
    try:
        db.session.flush()
    except IntegrityError:
        raise ApiError(401, "replayed_request", "this exact signed request was received before") from None


def _check_record_signatures(device: Device, records: list[dict[str, Any]]) -> None:
    """A record's own signature must be the device's over the record's hash: it is kept with the
    trip (`trips verify`, the inspector package), so a wrong one is refused, never stored."""
    for index, record in enumerate(records):
        if "signature" not in record:
            continue
        digest = chain.record_hash(record["prev_hash"], chain.canonical_json(chain.body_of(record)))
        if record.get("hash") not in (None, digest):
            # The device's hash is not its body's: stored flagged hash_mismatch, as without a
            # signature; the signature must then be over the hash the device sent.
            digest = record["hash"]
        if not signing.verify(device.public_key, signing.record_message(digest), record["signature"]):
            reason = "the record's signature does not verify with this device's key over the record's hash"
            raise ApiError(400, "invalid_batch", f"trips[{index}].signature: {reason}",
                           field=f"trips[{index}].signature", reason=reason)


@bp.post("/trips")
def upload_trips():
    """A batch of closed trip records from one device."""
    limit = current_app.config.get("INGEST_MAX_BODY_BYTES", 16 * 1024 * 1024)
    data = _read_body(limit)
    device, timestamp = authenticate(data)
    window = bounds.time_bounds(device.enrolled_at or device.created_at, utcnow(),
                                current_app.config.get("API_TIMESTAMP_WINDOW_SECONDS", 300))
    try:
        body = schema.parse_json(data)
        records = schema.validate_batch(body, current_app.config.get("INGEST_MAX_BATCH_TRIPS", 500), window)
        events = schema.validate_events(body["events"], window) if "events" in body else []
    except schema.SchemaError as exc:
        raise ApiError(400, "invalid_batch", f"{exc.field}: {exc.reason}", field=exc.field, reason=exc.reason) from None
    except schema.BatchTooLarge as exc:
        raise ApiError(413, "batch_too_large", str(exc)) from None
    _check_record_signatures(device, records)
    _remember_request(device, timestamp, data)
    try:
        result = ingest(device, records, events)
        # Private km on a van under uitsluitend zakelijk, and the 80%/100% warnings, at once.
        tax_notices.after_trips(list(result.not_business), tax_notices.local_today())
        db.session.commit()
    except TripIdConflict as conflict:
        db.session.rollback()  # nothing of the batch, not even the seen request
        audit.record(TRIP_ID_CONFLICT, subject_vehicle_id=device.vehicle_id,
                     details={"device_id": device.id, "trip_id": conflict.trip_id, "seq": conflict.seq})
        reason = "this trip_id was received before with another body; the batch is refused"
        raise ApiError(409, "trip_id_conflict", f"trips[{conflict.index}]: {reason}",
                       field=f"trips[{conflict.index}].trip_id", reason=reason) from None
    except IntegrityError as exc:
        current_app.logger.warning("ingest conflict: %s", exc.orig)
        # A concurrent upload of the same trips won the race; the device retries and gets
        # them counted as duplicates.
        db.session.rollback()
        raise ApiError(409, "conflict", "a concurrent upload stored some of these trips; retry") from None
    if result.stored:
        # After the batch is committed: a reading never holds up, or undoes, stored trips.
        obd.book_car_reading(device, records)
    return jsonify({
        "stored": result.stored, "duplicates": result.duplicates, "highest_seq": result.highest_seq,
        "chain_events": result.chain_events, "device_events": result.device_events, "policy": _policy(),
        **_server_time(),
    })


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())

