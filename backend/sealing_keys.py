"""The backend's X25519 sealing key pairs (docs/sealed-box.md): devices seal private positions
to the public key; only the backend holds the private keys.

All key pairs live in one PEM file (PKCS#8 blocks, mode 0600) in the instance folder or at
RITBOX_SEALING_KEY_PATH, never in the database, so a database dump or backup opens no seal.
The last block is the current key, the one handed to devices at enrollment. Older blocks stay
after a rotation: envelopes already stored keep their old key id and must stay openable.

This module only manages keys. Opening an envelope for a person is the access layer's job
(backend/access/door/), which audits every opening; it gets the private key from `private_key(kid)`.
"""
from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from flask import current_app

_PEM_END = b"-----END PRIVATE KEY-----"
_lock = threading.Lock()


class SealingKeyError(Exception):
    """The key file cannot be read or written, or a key id is unknown."""


@dataclass(frozen=True)
class SealingKey:
    kid: str
    private_key: X25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)

    @property
    def public_b64(self) -> str:
        """What the device receives: standard base64 with padding."""
        return base64.b64encode(self.public_raw).decode("ascii")


def key_id(public_raw: bytes) -> str:
    """First 16 lowercase hex digits of SHA-256 of the raw public key (docs/sealed-box.md)."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def key_path() -> Path:
    configured = current_app.config.get("SEALING_KEY_PATH")
    return Path(configured) if configured else Path(current_app.instance_path) / "sealing_keys.pem"


def _pem(private_key: X25519PrivateKey) -> bytes:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def _parse(data: bytes, path: Path) -> list[SealingKey]:
    keys = []
    for block in data.split(_PEM_END):
        if not block.strip():
            continue
        try:
            private_key = serialization.load_pem_private_key(block + _PEM_END, password=None)
        except ValueError as exc:
            raise SealingKeyError(f"{path}: not a PEM private key: {exc}") from None
        if not isinstance(private_key, X25519PrivateKey):
            raise SealingKeyError(f"{path}: holds a key that is not X25519")
        public_raw = private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw)
        keys.append(SealingKey(key_id(public_raw), private_key))
    return keys


def _write_new(path: Path, data: bytes, *, replace: bool) -> None:
    """Write atomically with mode 0600; without `replace`, never overwrite a file another worker
    created first (link() fails if the name exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sealing-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another worker won the race; its key is the key
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def all_keys() -> list[SealingKey]:
    """Every key pair, oldest first; creates the first one on first use."""
    path = key_path()
    with _lock:
        if not path.exists():
            _write_new(path, _pem(X25519PrivateKey.generate()), replace=False)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SealingKeyError(f"cannot read the sealing key file {path}: {exc}") from None
    keys = _parse(data, path)
    if not keys:
        raise SealingKeyError(f"{path}: holds no key")
    return keys


def current_key() -> SealingKey:
    """The key devices seal to from now on."""
    return all_keys()[-1]


def private_key(kid: str) -> X25519PrivateKey:
    """The private key for an envelope's `kid`, current or rotated out."""
    for key in all_keys():
        if key.kid == kid:
            return key.private_key
    raise SealingKeyError(f"no sealing key with id {kid!r}")


def rotate() -> SealingKey:
    """Add a new current key pair; the older ones stay, so stored envelopes remain openable."""
    path = key_path()
    existing = all_keys()
    new_key = X25519PrivateKey.generate()
    with _lock:
        data = b"".join(_pem(key.private_key) for key in existing) + _pem(new_key)
        _write_new(path, data, replace=True)
    return _parse(_pem(new_key), path)[0]
