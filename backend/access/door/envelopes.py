"""The backend's side of the sealed-box envelope (docs/sealed-box.md): seal bytes to the current
sealing key, open an envelope with the key file. Only the door opens envelopes."""
from __future__ import annotations

import base64
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEAL_ALG = "X25519-HKDF-SHA256-ChaCha20Poly1305"
SEAL_INFO = b"ritbox-sealed-box-v1"


class SealError(Exception):
    """An envelope that cannot be opened (unknown key, tampered, malformed)."""


def _b64(value: str, length: int | None, name: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        raise SealError(f"envelope {name} is not base64") from None
    if length is not None and len(raw) != length:
        raise SealError(f"envelope {name} has {len(raw)} bytes, expected {length}")
    return raw


def seal(plaintext: bytes) -> dict:
    """Seal bytes to the backend's current sealing key, in the device's envelope format
    (docs/sealed-box.md): only the key file opens it, a database dump does not."""
    from backend import sealing_keys

    recipient = sealing_keys.current_key()
    esk = X25519PrivateKey.generate()
    epk = esk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=SEAL_INFO + epk + recipient.public_raw).derive(
        esk.exchange(X25519PublicKey.from_public_bytes(recipient.public_raw)))
    nonce = os.urandom(12)
    return {"v": 1, "alg": SEAL_ALG, "kid": recipient.kid, "epk": base64.b64encode(epk).decode("ascii"),
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "ct": base64.b64encode(ChaCha20Poly1305(key).encrypt(nonce, plaintext, None)).decode("ascii")}


def open_envelope(envelope: dict | str) -> bytes:
    """The plaintext of any envelope sealed to one of the backend's keys."""
    from backend import sealing_keys

    if isinstance(envelope, str):
        envelope = json.loads(envelope)
    if envelope.get("v") != 1 or envelope.get("alg") != SEAL_ALG:
        raise SealError("unknown envelope version or algorithm")
    try:
        private_key = sealing_keys.private_key(str(envelope.get("kid")))
    except sealing_keys.SealingKeyError as exc:
        raise SealError(str(exc)) from None
    epk = _b64(envelope.get("epk", ""), 32, "epk")
    nonce = _b64(envelope.get("nonce", ""), 12, "nonce")
    ct = _b64(envelope.get("ct", ""), None, "ct")
    recipient = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(epk))
    except ValueError:
        raise SealError("envelope epk is a low-order point") from None
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO + epk + recipient).derive(shared)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ct, None)
    except InvalidTag:
        raise SealError("envelope does not open: tampered or sealed to another key") from None
