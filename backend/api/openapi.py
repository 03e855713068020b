"""The OpenAPI 3.1 document of the device API, served at /api/v1/openapi.json."""
from __future__ import annotations

from typing import Any

from backend.api.bounds import MAX_ODOMETER_KM, MAX_TRIP_KM
from backend.api.schema import ENVELOPE_ALG, MAX_SEQ

TIME = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3})?Z$",
        "description": "UTC, YYYY-MM-DDTHH:MM:SSZ, or .mmmZ when the milliseconds are not zero; not before "
                       "the device's enrollment minus 30 days, not after the server's clock plus the "
                       "timestamp window (docs/api.md, Bounds)"}
KM = {"type": "number", "minimum": 0, "maximum": MAX_TRIP_KM}
ODOMETER_KM = {"type": "number", "minimum": 0, "maximum": MAX_ODOMETER_KM}
POSITION = {"oneOf": [{"type": "null"}, {"type": "array", "prefixItems": [
    {"type": "number", "minimum": -90, "maximum": 90}, {"type": "number", "minimum": -180, "maximum": 180}],
    "minItems": 2, "maxItems": 2}], "description": "[lat, lon], WGS84, 6 decimals"}
HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object", "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "machine-readable code, e.g. bad_signature, "
                          "stale_timestamp, unknown_device, replayed_request, invalid_batch, too_large, "
                          "batch_too_large, trip_id_conflict, conflict, invalid_token, token_expired, "
                          "invalid_proof, not_found, method_not_allowed, internal_error"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "400, 409 trip_id_conflict: path of the offending "
                          "field, e.g. trips[2].seq"},
                "reason": {"type": "string", "description": "400, 409 trip_id_conflict: why the field was refused"},
                "server_time": {"type": "string", "format": "date-time",
                                "description": "401 stale_timestamp / bad_timestamp: the server's clock"},
                "server_time_unix": {"type": "integer"},
            },
        },
        "Envelope": {
            "type": "object", "additionalProperties": False,
            "required": ["v", "alg", "kid", "epk", "nonce", "ct"],
            "description": "A sealed position (docs/sealed-box.md)",
            "properties": {
                "v": {"const": 1}, "alg": {"const": ENVELOPE_ALG},
                "kid": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
                "epk": {"type": "string", "contentEncoding": "base64"},
                "nonce": {"type": "string", "contentEncoding": "base64"},
                "ct": {"type": "string", "contentEncoding": "base64"},
            },
        },
        "Gap": {
            "type": "object", "additionalProperties": False,
            "required": ["started_at", "ended_at", "distance_km", "bridged"],
            "properties": {"started_at": TIME, "ended_at": TIME, "distance_km": KM, "bridged": {"type": "boolean"}},
        },
        "TripRecord": {
            "type": "object", "additionalProperties": False,
            "description": "A closed trip record (docs/device-store.md) plus its hash. Private trips have "
                           "null start/end and an empty track; business trips have null seals.",
            "required": ["v", "trip_id", "seq", "prev_hash", "started_at", "ended_at", "mode", "start", "end",
                         "start_sealed", "end_sealed", "distance_km", "odometer_start_km", "odometer_end_km",
                         "flags", "gaps", "track"],
            "properties": {
                "v": {"const": 1},
                "trip_id": {"type": "string", "format": "uuid"},
                "seq": {"type": "integer", "minimum": 1, "maximum": MAX_SEQ},
                "prev_hash": HEX64,
                "hash": {**HEX64, "description": "optional; SHA-256 hex of prev_hash + canonical body"},
                "odometer_source": {"const": "obd", "description": "optional; the odometer figures are the "
                                    "car's own (OBD-II PID A6), distance_km the GPS km; absent: GPS odometer"},
                "signature": {"type": "string", "contentEncoding": "base64",
                              "description": "optional; the device's Ed25519 signature of "
                                             "'ritbox-record-v1\\n' + hash (docs/device-store.md)"},
                "started_at": TIME, "ended_at": TIME,
                "mode": {"enum": ["business", "private"]},
                "start": POSITION, "end": POSITION,
                "start_sealed": {"oneOf": [{"type": "null"}, _ref("Envelope")]},
                "end_sealed": {"oneOf": [{"type": "null"}, _ref("Envelope")]},
                "distance_km": KM, "odometer_start_km": ODOMETER_KM, "odometer_end_km": ODOMETER_KM,
                "flags": {"type": "array", "uniqueItems": True,
                          "items": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$"}},
                "gaps": {"type": "array", "items": _ref("Gap")},
                "track": {"type": "array", "items": {"type": "array", "minItems": 3, "maxItems": 3,
                                                     "prefixItems": [TIME, {"type": "number"}, {"type": "number"}]}},
            },
        },
        "TripBatch": {
            "type": "object", "additionalProperties": False, "required": ["trips"],
            "properties": {"trips": {"type": "array", "minItems": 1, "items": _ref("TripRecord")}},
        },
        "Policy": {
            "type": "object", "required": ["private_positions"],
            "properties": {"private_positions": {"enum": ["sealed", "none"]}},
        },
        "BatchResult": {
            "type": "object", "required": ["stored", "duplicates", "highest_seq", "policy", "server_time"],
            "properties": {
                "stored": {"type": "integer", "description": "new trips stored"},
                "duplicates": {"type": "integer", "description": "trips the backend held already"},
                "highest_seq": {"type": "integer", "description": "every seq up to this one is stored or "
                                "recorded as a chain_gap event: the device may prune up to it"},
                "chain_events": {"type": "integer", "description": "chain_gap/chain_break events recorded"},
                "policy": _ref("Policy"),
                "server_time": {"type": "string", "format": "date-time"},
                "server_time_unix": {"type": "integer"},
            },
        },
        "EnrollRequest": {
            "type": "object", "additionalProperties": False, "required": ["token", "public_key", "proof"],
            "properties": {
                "token": {"type": "string", "description": "the one-time enrollment token"},
                "public_key": {"type": "string", "contentEncoding": "base64",
                               "description": "the device's raw 32-byte Ed25519 public key"},
                "proof": {"type": "string", "contentEncoding": "base64",
                          "description": "Ed25519 signature of 'ritbox-enroll-v1\\n' + token"},
            },
        },
        "EnrollResponse": {
            "type": "object", "required": ["device_id", "vehicle", "sealing_key", "policy", "server_time"],
            "properties": {
                "device_id": {"type": "string", "format": "uuid"},
                "vehicle": {"type": "object", "properties": {"kenteken": {"type": "string"}}},
                "sealing_key": {"type": "object", "required": ["public_key", "kid", "alg"], "properties": {
                    "public_key": {"type": "string", "contentEncoding": "base64",
                                   "description": "the backend's X25519 public key (32 bytes)"},
                    "kid": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
                    "alg": {"const": "X25519"}}},
                "policy": _ref("Policy"),
                "server_time": {"type": "string", "format": "date-time"},
                "server_time_unix": {"type": "integer"},
            },
        },
    }
    signed = [{"RitboxDevice": [], "RitboxTimestamp": [], "RitboxSignature": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ritbox device API", "version": "1",
                 "description": "Enrollment and trip upload for Ritbox devices. See docs/api.md."},
        "paths": {
            "/api/v1/enroll": {"post": {
                "operationId": "enroll", "summary": "Trade a one-time token and a public key for a device id",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("EnrollRequest")}}},
                "responses": {
                    "201": {"description": "enrolled", "content": {"application/json": {"schema": _ref("EnrollResponse")}}},
                    "400": _error_response("malformed request (field names the member)"),
                    "401": _error_response("unknown, used or expired token (invalid_token, token_expired), "
                                           "or a proof that does not verify"),
                    "413": _error_response("body too large"),
                }}},
            "/api/v1/trips": {"post": {
                "operationId": "uploadTrips", "summary": "Upload a batch of closed trip records",
                "security": signed,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("TripBatch")}}},
                "responses": {
                    "200": {"description": "stored (idempotent: known trips count as duplicates)",
                            "content": {"application/json": {"schema": _ref("BatchResult")}}},
                    "400": _error_response("the batch does not fit the schema or its bounds; nothing stored"),
                    "401": _error_response("unauthenticated, unknown_device, bad_timestamp, bad_signature, "
                                           "stale_timestamp (with server_time) or replayed_request"),
                    "409": _error_response("trip_id_conflict: a trip_id received before with another body "
                                           "(field names it; audited); or conflict: a concurrent upload "
                                           "stored some of these trips, retry"),
                    "413": _error_response("body or batch too large (too_large, batch_too_large)"),
                }}},
            "/api/v1/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "RitboxDevice": {"type": "apiKey", "in": "header", "name": "X-Ritbox-Device",
                                 "description": "the device id from enrollment"},
                "RitboxTimestamp": {"type": "apiKey", "in": "header", "name": "X-Ritbox-Timestamp",
                                    "description": "RFC 3339 or Unix seconds; within the window of the "
                                                   "server's clock (default 300 s)"},
                "RitboxSignature": {"type": "apiKey", "in": "header", "name": "X-Ritbox-Signature",
                                    "description": "base64 Ed25519 signature of METHOD\\nPATH\\nTIMESTAMP\\n"
                                                   "hex SHA-256 of the body"},
            },
        },
    }
