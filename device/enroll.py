"""`ritbox enroll URL TOKEN`: give this device an identity at the backend.

Generates (or reuses) the device's Ed25519 key in the state folder, sends the one-time token and
the PUBLIC key (with a signature proving possession), and keeps what the backend answers: the
device id, the backend's public sealing key and the private-positions policy. They go into the
trip store's meta (device_id, sealing_key, policy) and, for people, into enrollment.json beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from device import keys
from device.errors import RitboxError
from device.model import PrivatePositions

ENROLL_PATH = "/api/v1/enroll"
ENROLLMENT_FILE = "enrollment.json"
DEFAULT_STORE_NAME = "ritbox.db"


class EnrollError(RitboxError):
    """Enrollment failed; the message says why (one line)."""


@dataclass(frozen=True)
class EnrollResult:
    device_id: str
    kenteken: str
    sealing_key: str  # base64 X25519 public key of the backend
    sealing_kid: str
    private_positions: str  # sealed | none
    backend_url: str
    public_key: str  # this device's Ed25519 public key (base64)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".enroll-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def enroll(url: str, token: str, state_dir: str | os.PathLike[str], *,
           store_path: str | os.PathLike[str] | None = None, timeout: float = 30.0) -> EnrollResult:
    """Enroll at the backend at `url` with a one-time `token`; returns what was stored."""
    base = url.rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise EnrollError(f"{url!r} is not an http(s) URL")
    key = keys.load_or_create_key(state_dir)
    public_key = keys.public_key_b64(key)
    payload = {"token": token.strip(), "public_key": public_key, "proof": keys.enroll_proof(key, token.strip())}
    try:
        response = requests.post(base + ENROLL_PATH, json=payload, timeout=timeout)
    except requests.RequestException as exc:
        raise EnrollError(f"cannot reach {base}: {type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 201 or not isinstance(answer, dict):
        reason = answer.get("message") if isinstance(answer, dict) else response.reason
        raise EnrollError(f"enrollment refused ({response.status_code}): {reason}")
    try:
        result = EnrollResult(
            device_id=str(answer["device_id"]), kenteken=str(answer["vehicle"]["kenteken"]),
            sealing_key=str(answer["sealing_key"]["public_key"]), sealing_kid=str(answer["sealing_key"]["kid"]),
            private_positions=PrivatePositions(answer["policy"]["private_positions"]).value,
            backend_url=base, public_key=public_key)
    except (KeyError, TypeError, ValueError) as exc:
        raise EnrollError(f"the backend's answer is incomplete: {exc}") from None

    from device.store import Store  # the store is where the pipeline and sync read them from

    path = Path(store_path) if store_path is not None else Path(state_dir) / DEFAULT_STORE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with Store(path) as store:
        store.set_device_id(result.device_id)
        store.set_sealing_key(result.sealing_key)
        store.set_policy(PrivatePositions(result.private_positions))
        store.set_meta("backend_url", result.backend_url)
    _write_json(Path(state_dir) / ENROLLMENT_FILE, asdict(result))
    for written in (keys.key_path(state_dir), Path(state_dir) / ENROLLMENT_FILE,
                    *(path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm"))):
        _give_to_folder_owner(written)
    return result


def _give_to_folder_owner(path: Path) -> None:
    """Root enrolls (the guide runs as root) into the service user's state folder: hand each file
    written there to the folder's owner, or the `ritbox` service could not read its own key."""
    if os.geteuid() != 0 or not path.exists():
        return
    folder = path.parent.stat()
    if folder.st_uid != 0:
        os.chown(path, folder.st_uid, folder.st_gid)


def _cmd_enroll(args: argparse.Namespace, config: Any) -> int:
    store_path = Path(args.store or config.store.path)
    state_dir = Path(args.state_dir) if args.state_dir else store_path.parent
    result = enroll(args.url, args.token, state_dir, store_path=store_path)
    print(f"enrolled as device {result.device_id} for {result.kenteken}; "
          f"private positions: {result.private_positions}; sealing key {result.sealing_kid}")
    return 0


def add_cli(subparsers: Any) -> None:
    """Add `ritbox enroll URL TOKEN` to the device CLI (func(args, config) -> exit status)."""
    parser = subparsers.add_parser("enroll", help="enroll this device at the backend with a one-time token")
    parser.add_argument("url", help="the backend's address, e.g. https://ritbox.example.nl")
    parser.add_argument("token", help="the one-time token from `flask devices enroll` or the admin page")
    parser.add_argument("--state-dir", help="folder for the device key (default: the store's folder)")
    parser.add_argument("--store", help="store path (default from config)")
    parser.set_defaults(func=_cmd_enroll)
