"""Store and forward, end to end: real processes, real HTTP on loopback.

The backend is `flask --app backend run` in a subprocess on a SQLite file; the car, the
assignment and the device token come from the backend's CLI; the device is `ritbox` in
subprocesses (replay, enroll, sync, run). What the backend holds is read from its SQLite file.
Where a test needs the upload to stop at an exact point (a backend that dies, a device that is
killed in the middle of a sync), a small HTTP relay between device and backend holds one
request: the interruption then happens at the same place every run.
"""
from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from contextlib import closing
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RITBOX = BIN / "ritbox"
FLASK = BIN / "flask"
GARMIN = ROOT / "tests" / "data" / "nmea" / "dotmorten__NmeaSampleData.nmea"
PRIVATE = ("--private-from", "2005-09-26T00:30:00Z", "--private-until", "2005-09-26T01:00:00Z")
KENTEKEN = "GB-XJ-12"
DRIVER = "daan@example.nl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env() -> dict[str, str]:
    # The backend refuses unknown RITBOX_* settings: hand it only what this test sets.
    return {k: v for k, v in os.environ.items() if not k.startswith("RITBOX_")}


class Backend:
    """The backend as a separate process on a SQLite file, started and killed at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db_path = folder / "ritbox.sqlite"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**_clean_env(), "RITBOX_SECRET_KEY": "e2e-sync-secret",
                    "RITBOX_INSTANCE_PATH": str(folder), "RITBOX_DATABASE_URL": f"sqlite:///{self.db_path}"}
        self.process: subprocess.Popen | None = None
        self.log = folder / "server.log"

    def cli(self, *args: str) -> str:
        result = subprocess.run([str(FLASK), "--app", "backend", *args], env=self.env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, f"flask {' '.join(args)}: {result.stderr}"
        return result.stdout

    def enroll_token(self) -> str:
        out = self.cli("devices", "enroll", "--vehicle", KENTEKEN, "--url", self.url)
        match = re.search(r"^on the device: ritbox enroll \S+ (\S+)$", out, re.M)
        assert match, out
        return match.group(1)

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(FLASK), "--app", "backend", "run", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                requests.get(self.url + "/api/v1/openapi.json", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("the backend did not come up:\n" + self.log.read_text())

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def trips(self, device_id: str) -> list[tuple]:
        with closing(sqlite3.connect(self.db_path)) as db:
            return db.execute(
                "SELECT seq, device_trip_id, odometer_start_km, odometer_end_km, mode, record_hash "
                "FROM trips WHERE device_id = ? ORDER BY seq, id", (device_id,)).fetchall()

    def date_enrollment(self, device_id: str, day: str = "2005-09-01") -> None:
        """The Garmin drive is of September 2005: the device counts as enrolled before it (the
        backend refuses trips dated long before a device's enrollment, backend/api/bounds.py)."""
        with closing(sqlite3.connect(self.db_path, timeout=30)) as db:
            db.execute("UPDATE devices SET enrolled_at = ? WHERE id = ?", (f"{day} 00:00:00.000000", device_id))
            db.commit()

    def chain_events(self, device_id: str) -> list[tuple]:
        """Gaps and breaks in the device's chain (its own events are device_events)."""
        with closing(sqlite3.connect(self.db_path)) as db:
            return db.execute("SELECT kind, seq_from, seq_to FROM chain_events WHERE device_id = ? "
                              "AND kind != 'device_event' ORDER BY id", (device_id,)).fetchall()

    def device_events(self, device_id: str) -> list[tuple]:
        with closing(sqlite3.connect(self.db_path)) as db:
            return db.execute("SELECT device_event_id, event_kind FROM chain_events WHERE device_id = ? "
                              "AND kind = 'device_event' ORDER BY device_event_id", (device_id,)).fetchall()


@pytest.fixture(scope="module")
def backend_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per module, with a driver, a car and its assignment (through the CLI)."""
    folder = tmp_path_factory.mktemp("backend-template")
    backend = Backend(folder)
    backend.cli("db", "upgrade")
    backend.cli("users", "create", "--email", DRIVER, "--role", "driver", "--password", "correct horse battery")
    backend.cli("vehicles", "add", "--kenteken", KENTEKEN, "--make", "Volkswagen", "--model", "Golf")
    backend.cli("assignments", "add", "--driver", DRIVER, "--kenteken", KENTEKEN, "--from", "2005-01-01")
    # Closed explicitly: `with sqlite3.connect()` only commits, and a connection left to the garbage
    # collector deletes its -wal/-shm files whenever it happens to be collected, even mid-copytree.
    with closing(sqlite3.connect(backend.db_path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder


@pytest.fixture
def backend(backend_template: Path, tmp_path: Path) -> Iterator[Backend]:
    folder = tmp_path / "backend"
    shutil.copytree(backend_template, folder, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    server = Backend(folder)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def garmin_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The 3-hour Garmin drive replayed once (six trips, two private), copied per test."""
    folder = tmp_path_factory.mktemp("garmin")
    replay = ritbox("replay", str(GARMIN), "--fast", "--store", str(folder / "ritbox.db"), "--json", *PRIVATE)
    assert replay.returncode == 0, replay.stderr
    return folder / "ritbox.db", json.loads(replay.stdout)


def ritbox(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(RITBOX), *args], capture_output=True, text=True, timeout=timeout,
                          env={**_clean_env(), **(env or {})})


class Device:
    """A device's state folder: store, key, enrollment."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = folder / "ritbox.db"

    def enroll(self, backend: Backend) -> str:
        result = ritbox("enroll", backend.url, backend.enroll_token(), "--store", str(self.store))
        assert result.returncode == 0, result.stderr
        device_id = json.loads((self.folder / "enrollment.json").read_text())["device_id"]
        backend.date_enrollment(device_id)
        return device_id

    def replay(self, *extra: str) -> dict:
        result = ritbox("replay", str(GARMIN), "--fast", "--store", str(self.store), "--json", *extra)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def sync(self, *extra: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
        result = ritbox("sync", "--store", str(self.store), "--json", *extra, env=env)
        return result.returncode, json.loads(result.stdout), result.stderr

    def local(self) -> list[tuple]:
        with closing(sqlite3.connect(self.store)) as db:
            return db.execute("SELECT seq, trip_id, body, hash, acked FROM trips ORDER BY seq").fetchall()

    def pending(self) -> list[int]:
        return [row[0] for row in self.local() if not row[4]]

    def events(self) -> list[tuple]:
        with closing(sqlite3.connect(self.store)) as db:
            return db.execute("SELECT id, kind FROM events ORDER BY id").fetchall()


def _local_summary(device: Device) -> list[tuple]:
    out = []
    for seq, trip_id, body, digest, _ in device.local():
        data = json.loads(body)
        out.append((seq, trip_id, data["odometer_start_km"], data["odometer_end_km"], data["mode"], digest))
    return out


@pytest.fixture
def device(tmp_path: Path) -> Device:
    return Device(tmp_path / "device")


def assert_exactly_once(backend: Backend, device_id: str, expected: list[tuple]) -> None:
    held = backend.trips(device_id)
    assert [row[1] for row in held] == [row[1] for row in expected], "each trip exactly once, in seq order"
    assert held == expected
    assert backend.chain_events(device_id) == []


def assert_events_arrived(backend: Backend, device_id: str, device: "Device") -> None:
    """The device's own events reached the backend once, as device events (issue #13 item 6)."""
    assert backend.device_events(device_id) == device.events()


# ------------------------------------------------------------------------------ relay


class Relay:
    """An HTTP relay device -> backend that counts requests and can hold the n-th one.

    `hold_at = n`: the n-th upload is passed to the backend (which stores it), but its answer is
    held until `release` is set; then the connection is closed without an answer (the answer is
    lost, as when the backend dies after its commit or the device dies while waiting)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.count = 0
        self.hold_at: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                relay.count += 1
                number = relay.count
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items() if k.lower().startswith(("x-ritbox", "content-type"))}
                try:
                    answer = requests.post(relay.target + self.path, data=body, headers=headers, timeout=30)
                except requests.RequestException:
                    self.send_error(502)
                    return
                if number == relay.hold_at:
                    relay.held.set()
                    relay.release.wait(60)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def relay_to(request):
    relays: list[Relay] = []

    def make(target: str) -> Relay:
        relay = Relay(target)
        relays.append(relay)
        return relay

    yield make
    for relay in relays:
        relay.close()


# ------------------------------------------------------------------------------ tests


def test_replay_and_sync_the_backend_has_exactly_the_trips_the_device_closed(backend, device):
    backend.start()
    device_id = device.enroll(backend)
    replay = device.replay(*PRIVATE)
    assert len(replay["trips"]) == 6
    expected = _local_summary(device)
    assert [row[0] for row in expected] == list(range(1, 7))

    status, result, _ = device.sync("--batch", "4")
    assert status == 0 and result["outcome"] == "ok"
    assert (result["stored"], result["duplicates"], result["acknowledged_seq"], result["pending"]) == (6, 0, 6, 0)
    assert result["requests"] == 2  # 4 + 2
    assert_exactly_once(backend, device_id, expected)
    # The private switch on and off went along (no positions), once.
    assert [kind for _id, kind in device.events()].count("mode_switched") == 2
    assert_events_arrived(backend, device_id, device)
    # The device pruned what the backend acknowledged but kept the chain head.
    assert [row[0] for row in device.local()] == [6]
    # Odometer and mode as the replay reported them.
    held = backend.trips(device_id)
    assert [(r[2], r[3], r[4]) for r in held] == [
        (t["odometer_start_km"], t["odometer_end_km"], t["mode"]) for t in replay["trips"]]

    # A second pass has nothing new: it re-sends the chain head, which the backend counts as a duplicate.
    status, again, _ = device.sync()
    assert status == 0 and (again["outcome"], again["stored"], again["duplicates"]) == ("nothing_to_do", 0, 1)
    assert_exactly_once(backend, device_id, expected)
    assert_events_arrived(backend, device_id, device)
    shown = ritbox("status", "--store", str(device.store), "--socket", str(device.folder / "none.sock"))
    assert shown.returncode == 0, shown.stderr
    assert "last success:  20" in shown.stdout and "SYNC ERROR" not in shown.stdout


def test_backend_down_the_device_keeps_everything_and_later_uploads_each_trip_once(backend, device, tmp_path):
    backend.start()
    device_id = device.enroll(backend)
    backend.kill()
    device.replay(*PRIVATE)
    expected = _local_summary(device)

    status, result, _ = device.sync()
    assert status == 1 and result["outcome"] == "offline"
    assert (result["stored"], result["pending"], result["acknowledged_seq"]) == (0, 6, None)
    assert device.pending() == [1, 2, 3, 4, 5, 6]

    # The daemon with a backend that is down: the first attempt fails, then it backs off
    # (15-30 s) instead of trying at every 0.2 s tick.
    relay_count = _daemon_attempts_against_dead_backend(device, tmp_path, backend.url)
    assert relay_count == 1

    backend.start()
    status, result, _ = device.sync("--batch", "2")
    assert status == 0 and (result["stored"], result["duplicates"], result["pending"]) == (6, 0, 0)
    assert_exactly_once(backend, device_id, expected)


def _daemon_for_three_seconds(device: Device, tmp_path: Path, url: str, started: Callable[[], bool]) -> str:
    """Run `ritbox run` (a replay source that is soon done) syncing every 0.2 s to url: until
    started() says the backend was reached (at most 30 s), then 3 s more (15 ticks of the sync
    job). Stops it with SIGTERM; returns its stderr after checking it exited cleanly."""
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nkind = "replay"\nreplay_file = "{ROOT / "tests/data/nmea/gpsd__bt451.nmea"}"\n'
        f'replay_realtime = false\n[store]\npath = "{device.store}"\n'
        f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[backend]\nurl = "{url}"\n')
    daemon = subprocess.Popen([str(RITBOX), "--config", str(config), "run", "--sync-interval", "0.2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_clean_env())
    try:
        deadline = time.monotonic() + 30
        while not started() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(3)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    return err


def _daemon_attempts_against_dead_backend(device: Device, tmp_path: Path, dead_url: str) -> int:
    """Run `ritbox run` (replay source that is already done) with a 0.2 s sync interval against a
    relay whose backend is down; count the relay's requests over 3 s."""
    relay = Relay(dead_url)
    try:
        err = _daemon_for_three_seconds(device, tmp_path, relay.url, lambda: relay.count > 0)
        assert "sync: server_error: the backend answered 502" in err and "next attempt in" in err
        return relay.count
    finally:
        relay.close()


def test_backend_restarts_in_the_middle_of_a_batch(backend, device, relay_to):
    backend.start()
    device_id = device.enroll(backend)
    device.replay(*PRIVATE)
    expected = _local_summary(device)

    relay = relay_to(backend.url)
    relay.hold_at = 2  # the backend stores batch 2 (seq 3-4), then dies before answering
    sync = subprocess.Popen([str(RITBOX), "sync", "--store", str(device.store), "--json", "--batch", "2",
                             "--url", relay.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_clean_env())
    assert relay.held.wait(60)
    backend.kill()
    relay.release.set()
    out, err = sync.communicate(timeout=60)
    result = json.loads(out)
    assert sync.returncode == 1 and result["outcome"] == "offline", err
    assert result["acknowledged_seq"] == 2
    assert device.pending() == [3, 4, 5, 6]  # nothing pruned that the backend did not acknowledge
    assert [row[0] for row in backend.trips(device_id)] == [1, 2, 3, 4]  # batch 2 was committed

    backend.start()
    status, result, _ = device.sync("--batch", "2")
    assert status == 0 and (result["stored"], result["duplicates"], result["pending"]) == (2, 2, 0)
    assert_exactly_once(backend, device_id, expected)


def test_device_killed_in_the_middle_of_a_sync(backend, device, relay_to):
    backend.start()
    device_id = device.enroll(backend)
    device.replay(*PRIVATE)
    expected = _local_summary(device)

    relay = relay_to(backend.url)
    relay.hold_at = 3  # seq 5 is stored by the backend, the device dies waiting for the answer
    sync = subprocess.Popen([str(RITBOX), "sync", "--store", str(device.store), "--batch", "2",
                             "--url", relay.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_clean_env())
    assert relay.held.wait(60)
    sync.send_signal(signal.SIGKILL)
    sync.wait(timeout=30)
    relay.release.set()
    assert device.pending() == [5, 6]  # acknowledged up to 4: what the backend had answered
    assert [row[0] for row in backend.trips(device_id)] == [1, 2, 3, 4, 5, 6]

    status, result, _ = device.sync("--batch", "2")
    assert status == 0 and (result["stored"], result["duplicates"], result["pending"]) == (0, 2, 0)
    assert_exactly_once(backend, device_id, expected)


def test_a_record_edited_in_the_device_store_is_a_chain_break_at_the_backend(backend, device):
    backend.start()
    device_id = device.enroll(backend)
    device.replay(*PRIVATE)
    # Someone with the SD card makes trip 4 shorter, in the body only (the hash column is left).
    with closing(sqlite3.connect(device.store)) as db:
        body = db.execute("SELECT body FROM trips WHERE seq = 4").fetchone()[0]
        data = json.loads(body)
        data["distance_km"] = round(data["distance_km"] - 1.0, 3)
        edited = json.dumps(data, sort_keys=True, separators=(",", ":"))
        assert edited != body
        db.execute("UPDATE trips SET body = ? WHERE seq = 4", (edited,))
        db.commit()

    status, result, _ = device.sync()
    assert status == 0 and result["stored"] == 6 and result["chain_events"] >= 1
    events = backend.chain_events(device_id)
    assert ("chain_break", 4, 4) in events
    assert all(seq_from >= 4 for _, seq_from, _ in events)


def test_a_refused_batch_is_kept_and_the_daemon_does_not_loop(device, tmp_path, garmin_store):
    """A backend that answers 400 to everything: the device keeps the records, says why once
    and waits (>= 15 min) instead of re-sending every tick."""
    device.folder.mkdir()
    shutil.copy(garmin_store[0], device.store)
    _fake_enrollment(device)
    hits: list[dict] = []

    class Refusing(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            hits.append(body)
            answer = json.dumps({"error": "invalid_batch", "message": "trips[0].v: expected 1",
                                 "field": "trips[0].v", "reason": "expected 1"}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        err = _daemon_for_three_seconds(device, tmp_path, url, lambda: bool(hits))
    finally:
        server.shutdown()
        server.server_close()
    assert len(hits) == 1
    assert [t["seq"] for t in hits[0]["trips"]] == [1, 2, 3, 4, 5, 6]
    assert err.count("refused record seq 1 (trips[0].v: expected 1)") == 1
    assert device.pending() == [1, 2, 3, 4, 5, 6]
    shown = ritbox("status", "--store", str(device.store), "--socket", str(tmp_path / "none.sock"))
    assert "SYNC ERROR:    trips[0].v: expected 1 (batch from seq 1 kept)" in shown.stdout

    # By hand, a second refusal of the same batch is not logged again.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, result, err = device.sync("--url", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert status == 1 and result["outcome"] == "refused" and result["pending"] == 6
    assert "refused record" not in err


def _fake_enrollment(device: Device) -> None:
    """A device key and id without a backend (for the fake servers)."""
    from device import keys
    from device.store import Store

    keys.load_or_create_key(device.folder)
    with Store(device.store) as store:
        store.set_device_id("3f0f5f7e-8d0c-4b8e-9c55-0e6a8f1f2a10")


def test_a_pi_clock_at_1970_still_syncs_through_the_server_time(backend, device):
    backend.start()
    device_id = device.enroll(backend)
    device.replay(*PRIVATE)
    expected = _local_summary(device)

    env = {"RITBOX_DEVICE_CLOCK": "1970-01-01T00:00:42Z"}
    status, result, err = device.sync("--batch", "3", env=env)
    assert status == 0, err
    assert (result["stored"], result["pending"]) == (6, 0)
    assert result["requests"] == 3  # one refused as stale, its retry, and the second batch
    assert "the clock is" in err
    assert_exactly_once(backend, device_id, expected)
    with closing(sqlite3.connect(device.store)) as db:
        offset = float(db.execute("SELECT value FROM meta WHERE key = 'clock_offset_s'").fetchone()[0])
    assert offset > 50 * 365 * 86400


def test_a_retired_device_shows_a_clear_error_in_status(backend, device):
    backend.start()
    device_id = device.enroll(backend)
    device.replay()
    backend.cli("devices", "retire", device_id)

    status, result, _ = device.sync()
    assert status == 1 and result["outcome"] == "unauthorized" and result["pending"] == 6
    shown = ritbox("status", "--store", str(device.store), "--socket", str(device.folder / "none.sock"))
    assert "SYNC ERROR:    the backend does not know this device" in shown.stdout



def test_a_wrong_device_key_shows_a_clear_error_in_status_and_keeps_every_trip(backend, device):
    """The state folder holds another key than the one enrolled (a restored SD card, a copied
    folder): the backend refuses the signature, nothing is pruned, and `ritbox status` says what
    is wrong and what to do."""
    from device import keys

    backend.start()
    device_id = device.enroll(backend)
    device.replay()
    key_file = keys.key_path(device.folder)
    enrolled = key_file.read_bytes()
    key_file.unlink()
    keys.load_or_create_key(device.folder)  # a new key pair: not the enrolled one
    assert key_file.read_bytes() != enrolled

    status, result, _ = device.sync()
    assert status == 1 and result["outcome"] == "unauthorized" and result["pending"] == 6
    shown = ritbox("status", "--store", str(device.store), "--socket", str(device.folder / "none.sock"))
    assert "SYNC ERROR:    the backend does not accept this device's key (bad_signature)" in shown.stdout
    assert backend.trips(device_id) == [] and len(device.pending()) == 6

def test_the_daemon_uploads_what_it_closes(backend, device, tmp_path):
    """`ritbox run` with a replay source: the APScheduler job uploads each trip as it closes."""
    backend.start()
    device_id = device.enroll(backend)
    socket_path = tmp_path / "control.sock"
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nkind = "replay"\nreplay_file = "{GARMIN}"\nreplay_realtime = false\n'
        f'[store]\npath = "{device.store}"\n[control]\nsocket = "{socket_path}"\n'
        f'[odometer]\ninitial_km = 48210.0\n')  # no [backend] url: the enrolled address is used
    daemon = subprocess.Popen([str(RITBOX), "--config", str(config), "run", "--sync-interval", "0.5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_clean_env())
    try:
        deadline = time.monotonic() + 120
        status: dict = {}
        while time.monotonic() < deadline:
            shown = ritbox("--config", str(config), "status", "--json")
            if shown.returncode == 0:
                status = json.loads(shown.stdout)
                pipe = status.get("pipeline") or {}
                if pipe.get("source_ended") and status["store"]["pending"] == 0 and status["store"]["chain_head"]["seq"]:
                    break
            time.sleep(0.5)
        human = ritbox("--config", str(config), "status")
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    assert status.get("daemon") == "running" and status["store"]["pending"] == 0, status
    assert status["sync"]["last_success"] and status["sync"]["error"] is None
    assert "last success:  20" in human.stdout
    head = status["store"]["chain_head"]["seq"]
    assert head >= 4  # the drive's last trip stays open when the replay ends
    held = backend.trips(device_id)
    assert [row[0] for row in held] == list(range(1, head + 1))
    assert held[0][2] == 48210.0
    assert backend.chain_events(device_id) == []


def test_a_daemon_started_before_enrollment_uploads_once_enrolled(backend, device, tmp_path):
    """The install guide's order: the service runs first, the box is enrolled later. The running
    daemon must pick the enrollment up by itself (no restart) and upload what it closed."""
    backend.start()
    # Driven last week (the demo's way of moving the recording): the backend takes it from a
    # device enrolled today without any back-dating, so the first pass after enrollment succeeds.
    drive = tmp_path / "last-week.nmea"
    shifted = subprocess.run([sys.executable, str(ROOT / "scripts" / "nmea_shift_dates.py"), str(GARMIN), str(drive),
                              "--to", (date.today() - timedelta(days=7)).isoformat()], capture_output=True, text=True)
    assert shifted.returncode == 0, shifted.stderr
    socket_path = tmp_path / "control.sock"
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nkind = "replay"\nreplay_file = "{drive}"\nreplay_realtime = false\n'
        f'[store]\npath = "{device.store}"\n[control]\nsocket = "{socket_path}"\n'
        f'[odometer]\ninitial_km = 48210.0\n')
    daemon = subprocess.Popen([str(RITBOX), "--config", str(config), "run", "--sync-interval", "0.5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_clean_env())
    try:
        status: dict = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the replay ends with closed trips waiting, unenrolled
            shown = ritbox("--config", str(config), "status", "--json")
            if shown.returncode == 0:
                status = json.loads(shown.stdout)
                if (status.get("pipeline") or {}).get("source_ended"):
                    break
            time.sleep(0.3)
        assert status["store"]["pending"] >= 4, status
        enrolled = ritbox("--config", str(config), "enroll", backend.url, backend.enroll_token())
        assert enrolled.returncode == 0, enrolled.stderr
        device_id = json.loads((device.folder / "enrollment.json").read_text())["device_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = json.loads(ritbox("--config", str(config), "status", "--json").stdout)
            if status["store"]["pending"] == 0:
                break
            time.sleep(0.3)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    assert status["store"]["pending"] == 0, status
    head = status["store"]["chain_head"]["seq"]
    assert [row[0] for row in backend.trips(device_id)] == list(range(1, head + 1))
    assert backend.chain_events(device_id) == []
