"""Enrollment: one-time hashed tokens that expire, proof of key, the backend's sealing keys, and
the device side (device.enroll) over real HTTP."""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import stat
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from backend.db import db, utcnow
from backend.models.fleet import Device, EnrollmentToken
from backend.models.trips import DeviceChainHead
from tests.backend.fleet_helpers import public_b64


@pytest.fixture(autouse=True)
def sealing_key_file(app, tmp_path):
    path = tmp_path / "keys" / "sealing_keys.pem"
    app.config["SEALING_KEY_PATH"] = str(path)
    return path


def _slot(app, kenteken="GB-XJ-12"):
    from backend.fleet import service
    with app.app_context():
        if service.find_vehicle(kenteken) is None:
            service.create_vehicle(kenteken, "Volkswagen", "Golf")
        issued = service.create_device(kenteken)
        return issued.device.id, issued.token


def _request(token: str, key: Ed25519PrivateKey | None = None, proof_key: Ed25519PrivateKey | None = None) -> dict:
    key = key or Ed25519PrivateKey.generate()
    proof = (proof_key or key).sign(("ritbox-enroll-v1\n" + token).encode())
    return {"token": token, "public_key": public_b64(key), "proof": base64.b64encode(proof).decode()}


def test_a_token_buys_an_active_device_with_only_its_public_key(app, client, sealing_key_file):
    device_id, token = _slot(app)
    key = Ed25519PrivateKey.generate()
    response = client.post("/api/v1/enroll", json=_request(token, key))
    assert response.status_code == 201
    answer = response.get_json()
    assert answer["device_id"] == device_id
    assert answer["vehicle"] == {"kenteken": "GB-XJ-12"}
    assert answer["policy"] == {"private_positions": "sealed"}
    sealing_public = base64.b64decode(answer["sealing_key"]["public_key"])
    assert len(sealing_public) == 32
    assert answer["sealing_key"]["kid"] == hashlib.sha256(sealing_public).hexdigest()[:16]
    # The backend's private sealing key is a 0600 file outside the database.
    assert stat.S_IMODE(sealing_key_file.stat().st_mode) == 0o600
    with app.app_context():
        device = db.session.get(Device, device_id)
        assert device.status == "active" and device.public_key == public_b64(key)
        assert device.enrolled_at is not None
        assert db.session.get(DeviceChainHead, device_id).head_seq == 0
        assert db.session.scalars(select(EnrollmentToken.used_at)).one() is not None


def test_a_token_works_once(app, client):
    _, token = _slot(app)
    assert client.post("/api/v1/enroll", json=_request(token)).status_code == 201
    again = client.post("/api/v1/enroll", json=_request(token))
    assert again.status_code == 401 and again.get_json()["error"] == "invalid_token"


def test_an_expired_token_is_refused_and_the_device_stays_pending(app, client):
    device_id, token = _slot(app)
    with app.app_context():
        db.session.execute(update(EnrollmentToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = client.post("/api/v1/enroll", json=_request(token))
    assert response.status_code == 401 and response.get_json()["error"] == "token_expired"
    with app.app_context():
        assert db.session.get(Device, device_id).status == "pending"
        assert db.session.get(Device, device_id).public_key is None


def test_token_lifetime_comes_from_the_setting(app, runner):
    app.config["ENROLL_TOKEN_HOURS"] = 2
    from backend.fleet import service
    with app.app_context():
        service.create_vehicle("GB-XJ-12", "VW", "Golf")
        issued = service.create_device("GB-XJ-12")
        row = db.session.scalars(select(EnrollmentToken)).one()
        assert (row.expires_at - row.created_at) == pytest.approx(timedelta(hours=2), abs=timedelta(seconds=5))
        assert issued.expires_at == row.expires_at


def test_a_proof_from_another_key_is_refused_and_does_not_use_up_the_token(app, client):
    _, token = _slot(app)
    wrong = client.post("/api/v1/enroll", json=_request(token, proof_key=Ed25519PrivateKey.generate()))
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_proof"
    assert client.post("/api/v1/enroll", json=_request(token)).status_code == 201


def test_unknown_token_and_retired_slot_are_refused(app, client):
    from backend.fleet import service
    assert client.post("/api/v1/enroll", json=_request("not-a-token")).get_json()["error"] == "invalid_token"
    device_id, token = _slot(app)
    with app.app_context():
        service.retire_device(device_id)
    response = client.post("/api/v1/enroll", json=_request(token))
    assert response.status_code == 401
    with app.app_context():
        assert db.session.get(Device, device_id).status == "retired"


@pytest.mark.parametrize("body, field", [
    ({"token": "t", "public_key": "AAAA"}, "$.proof"),
    ({"token": "t", "public_key": base64.b64encode(b"k" * 31).decode(), "proof": base64.b64encode(b"p" * 64).decode()},
     "public_key"),
    ({"token": 5, "public_key": "x", "proof": "y"}, "token"),
    ({"token": "t", "public_key": base64.b64encode(b"k" * 32).decode(), "proof": "!!", "extra": 1}, "$.extra"),
])
def test_a_malformed_enrollment_is_a_400_naming_the_field(app, client, body, field):
    response = client.post("/api/v1/enroll", json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_sealing_keys_rotate_and_old_keys_stay_openable(app, sealing_key_file):
    from backend import sealing_keys
    with app.app_context():
        first = sealing_keys.current_key()
        assert sealing_keys.current_key().kid == first.kid  # stable across calls: read from the file
        second = sealing_keys.rotate()
        assert second.kid != first.kid
        assert sealing_keys.current_key().kid == second.kid
        assert [k.kid for k in sealing_keys.all_keys()] == [first.kid, second.kid]
        assert sealing_keys.private_key(first.kid).public_key().public_bytes_raw() == first.public_raw
        with pytest.raises(sealing_keys.SealingKeyError):
            sealing_keys.private_key("0000000000000000")
    assert stat.S_IMODE(sealing_key_file.stat().st_mode) == 0o600


def test_a_sealed_position_from_the_device_opens_with_the_backends_key(app, client):
    """The key handed out at enrollment is the one whose private half the backend keeps."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from backend import sealing_keys
    from device import sealing

    _, token = _slot(app)
    answer = client.post("/api/v1/enroll", json=_request(token)).get_json()
    envelope = sealing.seal(answer["sealing_key"]["public_key"], b"[52.090712,5.121433]")
    with app.app_context():
        private = sealing_keys.private_key(envelope["kid"])
    epk = base64.b64decode(envelope["epk"])
    recipient = private.public_key().public_bytes_raw()
    okm = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ritbox-sealed-box-v1" + epk + recipient
               ).derive(private.exchange(X25519PublicKey.from_public_bytes(epk)))
    plain = ChaCha20Poly1305(okm).decrypt(base64.b64decode(envelope["nonce"]), base64.b64decode(envelope["ct"]), None)
    assert plain == b"[52.090712,5.121433]"


# ------------------------------------------------------------------ the device side, real HTTP

def test_device_enroll_over_http_keeps_its_key_private_and_stores_the_answer(app, live_server, tmp_path):
    from device import enroll as device_enroll
    from device import keys
    from device.store import Store

    device_id, token = _slot(app)
    state = tmp_path / "state"
    result = device_enroll.enroll(live_server, token, state)
    assert result.device_id == device_id and result.kenteken == "GB-XJ-12"
    key_file = state / "device_key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = keys.load_or_create_key(state)
    with app.app_context():
        device = db.session.get(Device, device_id)
        assert device.status == "active"
        assert device.public_key == keys.public_key_b64(key)  # only the public half went over the wire
    with Store(state / "ritbox.db") as store:
        assert store.device_id == device_id
        assert store.policy.value == "sealed"
        assert base64.b64encode(store.sealing_key).decode() == result.sealing_key
    saved = json.loads((state / "enrollment.json").read_text())
    assert saved["device_id"] == device_id and "PRIVATE" not in json.dumps(saved)

    with pytest.raises(device_enroll.EnrollError, match="401"):
        device_enroll.enroll(live_server, token, tmp_path / "other")


def test_root_enrolling_into_the_service_users_folder_leaves_files_the_service_can_read(app, live_server, tmp_path):
    """The guide runs as root; the daemon runs as `ritbox` and owns /var/lib/ritbox. The key, the
    store and enrollment.json written by root must belong to the folder's owner (key still 0600)."""
    import os
    import pwd

    from device import enroll as device_enroll

    if os.geteuid() != 0:
        pytest.skip("needs root to write as one user into another user's folder (CI runs as root)")
    service = pwd.getpwnam("nobody")
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, service.pw_uid, service.pw_gid)
    state.chmod(0o700)
    _, token = _slot(app)
    device_enroll.enroll(live_server, token, state)
    written = sorted(p.name for p in state.iterdir())
    assert {"device_key.pem", "enrollment.json", "ritbox.db"} <= set(written)
    for name in written:
        assert (state / name).stat().st_uid == service.pw_uid, name
    assert stat.S_IMODE((state / "device_key.pem").stat().st_mode) == 0o600


def test_device_enroll_refuses_a_key_file_others_can_read(tmp_path):
    from device import keys
    keys.load_or_create_key(tmp_path)
    (tmp_path / "device_key.pem").chmod(0o644)
    with pytest.raises(keys.DeviceKeyError, match="chmod 600"):
        keys.load_or_create_key(tmp_path)


def test_device_enroll_cli_is_pluggable_into_an_argparse_parser(tmp_path):
    from device import enroll as device_enroll
    parser = argparse.ArgumentParser()
    device_enroll.add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["enroll", "https://ritbox.example.nl", "TOKEN", "--state-dir", str(tmp_path)])
    assert (args.url, args.token, args.state_dir) == ("https://ritbox.example.nl", "TOKEN", str(tmp_path))
    assert args.func is device_enroll._cmd_enroll
