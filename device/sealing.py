"""Anonymous sealed box: seal a small plaintext to the backend's X25519 public key.

The device can seal but never open (it has no private key), so a dump of its store shows no
private position. The format is specified in docs/sealed-box.md so that the backend can open
envelopes with its own implementation; `open_sealed` here is the reference used by the tests.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from typing import Any, Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from device.errors import RitboxError

VERSION = 1
ALG = "X25519-HKDF-SHA256-ChaCha20Poly1305"
# Binds the derived key to this format, the ephemeral key and the recipient key (HKDF info).
INFO_PREFIX = b"ritbox-sealed-box-v1"
NONCE_LEN = 12
KEY_LEN = 32

PrivateKeyLike = Union[X25519PrivateKey, bytes]


class SealingError(RitboxError):
    """A key or an envelope cannot be used (malformed, unknown key id, or failed authentication)."""


def generate_private_key() -> X25519PrivateKey:
    """A fresh X25519 private key (the backend's sealing key; tests use it too)."""
    return X25519PrivateKey.generate()


def private_key_raw(private_key: X25519PrivateKey) -> bytes:
    """The 32 raw bytes of a private key."""
    return private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def public_key_raw(private_key: X25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public key that belongs to `private_key`."""
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(value: bytes | str) -> bytes:
    """Accept a public key as 32 raw bytes or as standard base64 text; return the raw bytes."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SealingError("sealing public key is not valid base64") from exc
    else:
        raw = bytes(value)
    if len(raw) != KEY_LEN:
        raise SealingError(f"sealing public key must be {KEY_LEN} bytes, got {len(raw)}")
    return raw


def key_id(public_raw: bytes) -> str:
    """Key id: the first 16 hex digits of sha256 over the raw public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(envelope: Mapping[str, Any], name: str) -> bytes:
    value = envelope.get(name)
    if not isinstance(value, str):
        raise SealingError(f"sealed envelope field {name!r} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealingError(f"sealed envelope field {name!r} is not valid base64") from exc


def _derive_key(shared: bytes, epk: bytes, recipient_pk: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_LEN, salt=None, info=INFO_PREFIX + epk + recipient_pk
    ).derive(shared)


def seal(public_key: bytes | str, plaintext: bytes) -> dict[str, Any]:
    """Seal `plaintext` to the recipient's X25519 public key; return a JSON-able envelope."""
    recipient_pk = load_public_key(public_key)
    ephemeral = X25519PrivateKey.generate()
    epk = public_key_raw(ephemeral)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_pk))
    nonce = os.urandom(NONCE_LEN)
    ct = ChaCha20Poly1305(_derive_key(shared, epk, recipient_pk)).encrypt(nonce, plaintext, None)
    return {
        "v": VERSION,
        "alg": ALG,
        "kid": key_id(recipient_pk),
        "epk": _b64(epk),
        "nonce": _b64(nonce),
        "ct": _b64(ct),
    }


def _as_private_key(key: PrivateKeyLike) -> X25519PrivateKey:
    if isinstance(key, X25519PrivateKey):
        return key
    if len(key) != KEY_LEN:
        raise SealingError(f"sealing private key must be {KEY_LEN} bytes, got {len(key)}")
    return X25519PrivateKey.from_private_bytes(bytes(key))


def open_sealed(
    private_key: PrivateKeyLike | Mapping[str, PrivateKeyLike], envelope: Mapping[str, Any]
) -> bytes:
    """Open an envelope with the private key, or with a {kid: key} map when keys were rotated."""
    if not isinstance(envelope, Mapping):
        raise SealingError("sealed envelope must be a JSON object")
    version = envelope.get("v")
    if type(version) is not int or version != VERSION or envelope.get("alg") != ALG:
        raise SealingError("unsupported sealed envelope version or algorithm")
    kid = envelope.get("kid")
    if isinstance(private_key, Mapping):
        if kid not in private_key:
            raise SealingError(f"no private sealing key for key id {kid!r}")
        key = _as_private_key(private_key[kid])
    else:
        key = _as_private_key(private_key)
    recipient_pk = public_key_raw(key)
    if kid != key_id(recipient_pk):
        raise SealingError(f"envelope was sealed for key id {kid!r}, not this key")
    epk = _unb64(envelope, "epk")
    nonce = _unb64(envelope, "nonce")
    ct = _unb64(envelope, "ct")
    if len(epk) != KEY_LEN or len(nonce) != NONCE_LEN:
        raise SealingError("sealed envelope has a malformed ephemeral key or nonce")
    try:
        shared = key.exchange(X25519PublicKey.from_public_bytes(epk))
        return ChaCha20Poly1305(_derive_key(shared, epk, recipient_pk)).decrypt(nonce, ct, None)
    except (InvalidTag, ValueError) as exc:
        raise SealingError("sealed envelope failed authentication") from exc
