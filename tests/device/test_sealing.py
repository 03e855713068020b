"""The sealed box: round trips, failure modes, and the wire format as docs/sealed-box.md states it."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from device import sealing
from device.errors import RitboxError


@pytest.fixture(scope="module")
def key() -> X25519PrivateKey:
    return sealing.generate_private_key()


def _doc_open(private_raw: bytes, envelope: dict) -> bytes:
    """An opener written from docs/sealed-box.md alone, to pin the format independently."""
    assert envelope["v"] == 1
    assert envelope["alg"] == "X25519-HKDF-SHA256-ChaCha20Poly1305"
    private = X25519PrivateKey.from_private_bytes(private_raw)
    from cryptography.hazmat.primitives import serialization

    pk = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert envelope["kid"] == hashlib.sha256(pk).hexdigest()[:16]
    epk = base64.b64decode(envelope["epk"])
    shared = private.exchange(X25519PublicKey.from_public_bytes(epk))
    okm = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ritbox-sealed-box-v1" + epk + pk).derive(shared)
    return ChaCha20Poly1305(okm).decrypt(base64.b64decode(envelope["nonce"]), base64.b64decode(envelope["ct"]), None)


def test_round_trip_and_envelope_shape(key: X25519PrivateKey) -> None:
    pub = sealing.public_key_raw(key)
    envelope = sealing.seal(pub, b"[52.090712,5.121433]")
    assert set(envelope) == {"v", "alg", "kid", "epk", "nonce", "ct"}
    assert envelope["kid"] == hashlib.sha256(pub).hexdigest()[:16] == sealing.key_id(pub)
    assert len(base64.b64decode(envelope["epk"])) == 32
    assert len(base64.b64decode(envelope["nonce"])) == 12
    assert len(base64.b64decode(envelope["ct"])) == len(b"[52.090712,5.121433]") + 16
    json.dumps(envelope)  # JSON-able as it is
    assert sealing.open_sealed(key, envelope) == b"[52.090712,5.121433]"
    assert sealing.open_sealed(sealing.private_key_raw(key), envelope) == b"[52.090712,5.121433]"


def test_format_matches_the_documented_construction(key: X25519PrivateKey) -> None:
    envelope = sealing.seal(sealing.public_key_raw(key), b"private destination")
    assert _doc_open(sealing.private_key_raw(key), envelope) == b"private destination"


def test_each_seal_is_fresh(key: X25519PrivateKey) -> None:
    pub = sealing.public_key_raw(key)
    a, b = sealing.seal(pub, b"same"), sealing.seal(pub, b"same")
    assert a["epk"] != b["epk"] and a["ct"] != b["ct"]


def test_base64_public_key_is_accepted(key: X25519PrivateKey) -> None:
    text = base64.b64encode(sealing.public_key_raw(key)).decode()
    assert sealing.open_sealed(key, sealing.seal(text, b"x")) == b"x"


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_bad_public_key_is_a_ritbox_error(bad: str) -> None:
    with pytest.raises(sealing.SealingError):
        sealing.seal(bad, b"x")


def test_wrong_key_is_refused(key: X25519PrivateKey) -> None:
    envelope = sealing.seal(sealing.public_key_raw(key), b"x")
    with pytest.raises(sealing.SealingError, match="key id"):
        sealing.open_sealed(sealing.generate_private_key(), envelope)


@pytest.mark.parametrize("field", ["ct", "nonce", "epk"])
def test_tampering_fails_authentication(key: X25519PrivateKey, field: str) -> None:
    envelope = sealing.seal(sealing.public_key_raw(key), b"[52.090712,5.121433]")
    raw = bytearray(base64.b64decode(envelope[field]))
    raw[0] ^= 0x01
    tampered = dict(envelope, **{field: base64.b64encode(bytes(raw)).decode()})
    with pytest.raises(sealing.SealingError):
        sealing.open_sealed(key, tampered)


def test_rotation_picks_the_key_by_kid(key: X25519PrivateKey) -> None:
    old, new = key, sealing.generate_private_key()
    keys = {sealing.key_id(sealing.public_key_raw(k)): k for k in (old, new)}
    for k, text in ((old, b"old"), (new, b"new")):
        assert sealing.open_sealed(keys, sealing.seal(sealing.public_key_raw(k), text)) == text
    stranger = sealing.seal(sealing.public_key_raw(sealing.generate_private_key()), b"x")
    with pytest.raises(sealing.SealingError, match="no private sealing key"):
        sealing.open_sealed(keys, stranger)


_FUZZ_KEY = sealing.generate_private_key()
_FUZZ_ENVELOPE = sealing.seal(sealing.public_key_raw(_FUZZ_KEY), b"[52.090712,5.121433]")
_junk = st.one_of(st.none(), st.integers(), st.text(max_size=60),
                  st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode()))


@settings(max_examples=250, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(_FUZZ_ENVELOPE)), _junk, min_size=1),
       st.sets(st.sampled_from(sorted(_FUZZ_ENVELOPE))))
def test_malformed_envelopes_only_raise_ritbox_errors(overrides: dict, dropped: set) -> None:
    envelope = {k: v for k, v in {**_FUZZ_ENVELOPE, **overrides}.items() if k not in dropped}
    if envelope == _FUZZ_ENVELOPE:
        return
    with pytest.raises(RitboxError):
        sealing.open_sealed(_FUZZ_KEY, envelope)
