"""ritbox_verify.records on its own: chains built here with a fresh device key, no backend."""
from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ritbox_verify import records as word


def _chain(count: int, key: Ed25519PrivateKey) -> list[word.Record]:
    out, prev = [], word.GENESIS_HASH
    for seq in range(1, count + 1):
        body = word.canonical_json({"seq": seq, "trip_id": f"t{seq}", "prev_hash": prev, "odometer_end_km": seq})
        digest = word.record_hash(prev, body)
        signature = base64.b64encode(key.sign(word.record_message(digest))).decode()
        out.append(word.Record(seq, f"t{seq}", prev, digest, signature, body, f"seq {seq}"))
        prev = digest
    return out


def _problems(records, key, **kwargs) -> list[str]:
    return [f"{p.where}: {p.en}" for p in word.check_chain(records, key.public_key(), **kwargs)]


def test_a_whole_chain_holds():
    key = Ed25519PrivateKey.generate()
    assert _problems(_chain(5, key), key) == []


def test_a_missing_record_needs_a_declared_gap():
    key = Ed25519PrivateKey.generate()
    chain = _chain(5, key)
    del chain[2]
    assert _problems(chain, key) == ["seq 4: the trips before it (seq 3) are missing and no gap is declared"]
    assert _problems(chain, key, declared=[(3, 3)]) == []


def test_another_key_or_a_changed_body_is_named():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    chain = _chain(3, key)
    assert _problems(chain, other)[0] == "seq 1: the device's signature does not hold"
    chain[1].body = chain[1].body.replace('"odometer_end_km":2', '"odometer_end_km":3')
    assert _problems(chain, key) == ["seq 2: the body is not what the device hashed"]


def test_a_withheld_body_still_links_by_hash_and_signature():
    key = Ed25519PrivateKey.generate()
    chain = _chain(3, key)
    chain[1].body = None
    assert _problems(chain, key) == []
    chain[1].signature = None
    assert _problems(chain, key) == ["seq 2: the device's signature is missing"]
