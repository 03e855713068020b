"""The device's own Ed25519 identity key and the request signatures made with it.

The private key is generated on the device, kept in its state folder with mode 0600 and never
sent anywhere; the backend only ever learns the public key (docs/api.md, "Authentication").
"""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.errors import RitboxError

KEY_FILE_NAME = "device_key.pem"
HEADER_DEVICE = "X-Ritbox-Device"
HEADER_TIMESTAMP = "X-Ritbox-Timestamp"
HEADER_SIGNATURE = "X-Ritbox-Signature"
ENROLL_PROOF_PREFIX = "ritbox-enroll-v1\n"


class DeviceKeyError(RitboxError):
    """The device key cannot be created or read."""


def key_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / KEY_FILE_NAME


def load_or_create_key(state_dir: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The device's private key; generated on first use (file mode 0600, created exclusively)."""
    path = key_path(state_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # created concurrently: use that one
        except OSError as exc:
            raise DeviceKeyError(f"cannot create the device key {path}: {exc.strerror or exc}") from None
        else:
            try:
                os.write(fd, pem)
                os.fsync(fd)
            finally:
                os.close(fd)
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise DeviceKeyError(f"the device key {path} is readable by others (mode {mode:o}); chmod 600 it")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise DeviceKeyError(f"cannot read the device key {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DeviceKeyError(f"the device key {path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DeviceKeyError(f"the device key {path} is not an Ed25519 key")
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def string_to_sign(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    """METHOD, path, timestamp text and hex SHA-256 of the body, one per line (docs/api.md)."""
    return f"{method.upper()}\n{path}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}".encode("utf-8")


def sign_request(method: str, path: str, body: bytes, key: Ed25519PrivateKey, timestamp: str) -> str:
    """The X-Ritbox-Signature value: base64 Ed25519 signature of string_to_sign(...)."""
    return base64.b64encode(key.sign(string_to_sign(method, path, timestamp, body))).decode("ascii")


def signed_headers(device_id: str, method: str, path: str, body: bytes, key: Ed25519PrivateKey,
                   timestamp: str) -> dict[str, str]:
    """All three authentication headers for one request."""
    return {HEADER_DEVICE: device_id, HEADER_TIMESTAMP: timestamp,
            HEADER_SIGNATURE: sign_request(method, path, body, key, timestamp),
            "Content-Type": "application/json"}


RECORD_SIGNATURE_PREFIX = "ritbox-record-v1\n"


def record_message(record_hash: str) -> bytes:
    """What a record signature covers: a fixed prefix and the record's chain hash (which covers
    prev_hash and the canonical body), so the backend can keep the device's word per record."""
    return (RECORD_SIGNATURE_PREFIX + record_hash).encode("ascii")


def sign_record(key: Ed25519PrivateKey, record_hash: str) -> str:
    """The record's `signature` member: base64 Ed25519 signature of record_message(hash)."""
    return base64.b64encode(key.sign(record_message(record_hash))).decode("ascii")


def enroll_proof(key: Ed25519PrivateKey, token: str) -> str:
    """Proof that the enrolling party holds the private key of the public key it sends."""
    return base64.b64encode(key.sign((ENROLL_PROOF_PREFIX + token).encode("utf-8"))).decode("ascii")
