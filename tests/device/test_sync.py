"""device.sync against a scripted backend over real loopback HTTP, with injected clocks.

The store holds the six trips of the Garmin 3-hour drive (replayed once by `ritbox replay`).
The fake backend checks each request's signature with the device's public key, like the real
one, and answers what the test scripts; the end-to-end runs against the real backend are in
tests/e2e/test_sync.py.
"""
from __future__ import annotations

import http.server
import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device import keys, sync
from device.model import PrivatePositions
from device.store import Store
from tests.device.conftest import recording_path

RITBOX = Path(sys.executable).parent / "ritbox"
DEVICE_ID = "3f0f5f7e-8d0c-4b8e-9c55-0e6a8f1f2a10"
Answer = tuple[int, dict[str, Any]]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sync-store")
    result = subprocess.run([str(RITBOX), "replay", str(recording_path("dotmorten__NmeaSampleData")), "--fast",
                             "--store", str(folder / "ritbox.db"), "--private-from", "2005-09-26T00:30:00Z",
                             "--private-until", "2005-09-26T01:00:00Z"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return folder / "ritbox.db"


@pytest.fixture
def state(tmp_path: Path, replayed: Path) -> Path:
    """A device folder: the replayed store, a key and an id (as after enrollment)."""
    folder = tmp_path / "device"
    folder.mkdir()
    shutil.copy(replayed, folder / "ritbox.db")
    keys.load_or_create_key(folder)
    with Store(folder / "ritbox.db") as store:
        store.set_device_id(DEVICE_ID)
    return folder


@pytest.fixture
def store(state: Path) -> Iterator[Store]:
    with Store(state / "ritbox.db") as opened:
        yield opened


class FakeBackend:
    """Verifies signatures; `respond(seqs, request)` decides the answer (default: accept all)."""

    def __init__(self, public_key: str) -> None:
        self.public_key = public_key
        self.requests: list[dict[str, Any]] = []
        self.head = 0
        self.policy = "sealed"
        self.respond: Callable[[list[int], dict[str, Any]], Answer] = self.accept
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers[keys.HEADER_TIMESTAMP]
                from backend.api import signing

                verified = signing.verify(backend.public_key, signing.string_to_sign(
                    "POST", self.path, timestamp, body), self.headers[keys.HEADER_SIGNATURE])
                data = json.loads(body)
                request = {"seqs": [t["seq"] for t in data["trips"]], "timestamp": float(timestamp),
                           "verified": verified, "device": self.headers[keys.HEADER_DEVICE],
                           "events": data.get("events", [])}
                backend.requests.append(request)
                status, answer = backend.respond(request["seqs"], request)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accept(self, seqs: list[int], request: dict[str, Any]) -> Answer:
        new = [s for s in seqs if s > self.head]
        self.head = max(self.head, *seqs)
        return 200, {"stored": len(new), "duplicates": len(seqs) - len(new), "highest_seq": self.head,
                     "chain_events": 0, "policy": {"private_positions": self.policy},
                     "server_time": "", "server_time_unix": int(time.time())}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend(state: Path) -> Iterator[FakeBackend]:
    fake = FakeBackend(keys.public_key_b64(keys.load_or_create_key(state)))
    yield fake
    fake.close()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_syncer(store: Store, url: str, state: Path, **kwargs: Any) -> sync.Syncer:
    kwargs.setdefault("monotonic", Clock())
    kwargs.setdefault("rng", lambda: 0.5)
    return sync.Syncer(store, url, state, **kwargs)


def test_uploads_in_seq_order_in_signed_batches_and_prunes_only_what_was_acknowledged(store, state, backend):
    result = make_syncer(store, backend.url, state, batch_size=4).sync_once()
    assert [r["seqs"] for r in backend.requests] == [[1, 2, 3, 4], [5, 6]]
    assert all(r["verified"] and r["device"] == DEVICE_ID for r in backend.requests)
    assert (result.outcome, result.stored, result.acknowledged_seq, result.pending) == ("ok", 6, 6, 0)
    assert [t.seq for t in store.closed_trips()] == [6]  # the chain head stays
    assert store.verify_chain() is None


def test_the_devices_events_go_with_the_trips_once(store, state, backend):
    """The replay switched to private and back: those switches (no positions) are events, sent
    with the first upload and not again; a heartbeat carries a new one."""
    events = store.unsent_events()
    kinds = [e["kind"] for e in events]
    assert kinds.count("mode_switched") == 2 and {e["body"]["mode"] for e in events
                                                   if e["kind"] == "mode_switched"} == {"private", "business"}
    assert all("lat" not in e["body"] and "start" not in e["body"] for e in events)
    syncer = make_syncer(store, backend.url, state, batch_size=4)
    assert syncer.sync_once().outcome == "ok"
    sent = [r["events"] for r in backend.requests]
    assert [e["id"] for e in sent[0]] == [e["id"] for e in events] and sent[1] == []
    assert store.unsent_events() == []
    backend.requests.clear()
    store.record_event("resumed", None, {"pause_s": 4.0})
    store.flush()
    syncer.sync_once()  # nothing pending: the heartbeat takes the new event along
    assert [[e["kind"] for e in r["events"]] for r in backend.requests] == [["resumed"]]


def test_events_the_backend_refuses_never_hold_the_trips_back(store, state, backend, caplog):
    def refuse_events(seqs: list[int], request: dict[str, Any]) -> Answer:
        if request["events"]:
            return 400, {"error": "invalid_batch", "field": "events[0].kind", "reason": "expected an event kind"}
        return backend.accept(seqs, request)

    backend.respond = refuse_events
    with caplog.at_level(logging.WARNING, logger="device.sync"):
        result = make_syncer(store, backend.url, state, batch_size=10).sync_once()
    assert result.outcome == "ok" and result.pending == 0
    assert [bool(r["events"]) for r in backend.requests] == [True, False]
    assert store.unsent_events() == [] and "events[0].kind" in caplog.text


def test_never_acknowledges_beyond_the_backends_highest_seq(store, state, backend):
    def partial(seqs: list[int], request: dict[str, Any]) -> Answer:
        status, answer = backend.accept(seqs[:1], request)
        return status, answer  # holds only the first record of the batch

    backend.respond = partial
    result = make_syncer(store, backend.url, state, batch_size=4).sync_once()
    assert result.outcome == "server_error" and result.acknowledged_seq == 1
    assert [t.seq for t in store.pending()] == [2, 3, 4, 5, 6]
    assert len(backend.requests) == 1  # no progress: the pass stops instead of pushing on


def test_never_acknowledges_beyond_what_the_request_carried(store, state, backend):
    # A backend that claims more than it was sent (another store, a bug): only what went is pruned.
    backend.respond = lambda seqs, request: (200, {**backend.accept(seqs, request)[1], "highest_seq": 99})
    syncer = make_syncer(store, backend.url, state, batch_size=4)
    store_pending = []
    original = store.acknowledge

    def watch(up_to_seq: int) -> int:
        store_pending.append(up_to_seq)
        return original(up_to_seq)

    store.acknowledge = watch  # type: ignore[method-assign]
    result = syncer.sync_once()
    assert store_pending == [4, 6] and result.acknowledged_seq == 6 and result.pending == 0


def test_the_policy_in_the_answer_applies_to_the_next_trips(store, state, backend):
    assert store.policy is PrivatePositions.SEALED
    backend.policy = "none"
    result = make_syncer(store, backend.url, state).sync_once()
    assert result.policy == "none" and store.policy is PrivatePositions.NONE


def test_a_clock_at_1970_signs_again_with_the_servers_time(store, state, backend):
    def window(seqs: list[int], request: dict[str, Any]) -> Answer:
        if abs(request["timestamp"] - time.time()) > 300:
            return 401, {"error": "stale_timestamp", "message": "...", "server_time_unix": int(time.time())}
        return backend.accept(seqs, request)

    backend.respond = window
    boot = time.monotonic()
    pi_clock = lambda: 42.0 + time.monotonic() - boot  # noqa: E731 - the Pi believes it is 1970
    result = make_syncer(store, backend.url, state, batch_size=4, clock=pi_clock).sync_once()
    assert result.outcome == "ok" and result.pending == 0
    assert [r["seqs"] for r in backend.requests] == [[1, 2, 3, 4], [1, 2, 3, 4], [5, 6]]
    assert backend.requests[0]["timestamp"] < 100 and abs(backend.requests[1]["timestamp"] - time.time()) < 60
    # The offset is kept: the next process signs right the first time.
    assert float(store.get_meta(sync.META_OFFSET)) > 1.7e9
    backend.requests.clear()
    make_syncer(store, backend.url, state, clock=pi_clock).sync_once()
    assert len(backend.requests) == 1 and abs(backend.requests[0]["timestamp"] - time.time()) < 60


def test_a_second_stale_answer_is_an_error_not_a_loop(store, state, backend):
    backend.respond = lambda seqs, request: (401, {"error": "stale_timestamp", "message": "...",
                                                   "server_time_unix": 10})
    result = make_syncer(store, backend.url, state).sync_once()
    assert result.outcome == "clock" and len(backend.requests) == 2 and result.pending == 6


def test_a_refused_batch_is_kept_the_records_before_it_go_and_the_job_backs_off(store, state, backend, caplog):
    def refuse_seq_3(seqs: list[int], request: dict[str, Any]) -> Answer:
        if 3 in seqs:
            return 400, {"error": "invalid_batch", "message": "...", "field": f"trips[{seqs.index(3)}].gaps",
                         "reason": "expected a list of at most 1000 gaps"}
        return backend.accept(seqs, request)

    backend.respond = refuse_seq_3
    clock = Clock()
    syncer = make_syncer(store, backend.url, state, monotonic=clock)
    with caplog.at_level(logging.INFO, logger="ritbox.sync"):
        result = syncer.run_due()
        assert result is not None and result.outcome == "refused"
        assert [r["seqs"] for r in backend.requests] == [[1, 2, 3, 4, 5, 6], [1, 2]]
        assert [t.seq for t in store.pending()] == [3, 4, 5, 6]
        assert "trips[2].gaps: expected a list of at most 1000 gaps" in store.get_meta(sync.META_ERROR)
        # Every tick of the job for the next quarter of an hour: nothing is sent.
        for _ in range(100):
            clock.now += 8
            assert syncer.run_due() is None
        assert len(backend.requests) == 2
        clock.now += 100
        assert syncer.run_due().outcome == "refused"
    assert len(backend.requests) == 3  # the prefix is gone now: one request for the kept batch
    refusals = [r.getMessage() for r in caplog.records if "refused record" in r.getMessage()]
    assert refusals == ["the backend refused record seq 3 (trips[2].gaps: expected a list of at most 1000 gaps); "
                        "it and the records after it stay on the device"]  # once, though offered twice


def test_a_trip_id_conflict_is_kept_like_a_refusal_and_shown_in_status(store, state, backend):
    """409 trip_id_conflict: the backend holds this trip id with another body. Retrying will not
    heal it: the batch stays, the records before it go, and `ritbox status` says why."""
    def conflict_at_seq_3(seqs: list[int], request: dict[str, Any]) -> Answer:
        if 3 in seqs:
            return 409, {"error": "trip_id_conflict", "message": "...", "field": f"trips[{seqs.index(3)}].trip_id",
                         "reason": "this trip_id was received before with another body; the batch is refused"}
        return backend.accept(seqs, request)

    backend.respond = conflict_at_seq_3
    syncer = make_syncer(store, backend.url, state, monotonic=Clock())
    result = syncer.run_due()
    assert result is not None and result.outcome == "refused"
    assert [t.seq for t in store.pending()] == [3, 4, 5, 6]
    assert "trip_id was received before with another body" in sync.sync_status(store)["error"]
    assert syncer.next_attempt - syncer.monotonic() >= sync.REFUSED_BACKOFF_S


def test_an_unreachable_backend_backs_off_exponentially_with_jitter_and_keeps_everything(store, state):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        clock = Clock()
        syncer = make_syncer(store, dead, state, monotonic=clock, rng=lambda: 1.0)
        delays = []
        for _ in range(10):
            result = syncer.run_due()
            assert result is not None and result.outcome == "offline" and result.pending == 6
            delays.append(syncer.next_attempt - clock.now)
            clock.now = syncer.next_attempt - 1
            assert syncer.run_due() is None  # not yet
            clock.now += 1
    assert delays == [min(sync.BACKOFF_CAP_S, sync.BACKOFF_BASE_S * 2 ** n) for n in range(10)]
    assert [t.seq for t in store.pending()] == [1, 2, 3, 4, 5, 6]
    low = make_syncer(store, dead, state, rng=lambda: 0.0)
    assert [low.backoff_delay(n, refused=False) for n in (1, 2, 20)] == [15.0, 30.0, sync.BACKOFF_CAP_S / 2]
    assert low.backoff_delay(1, refused=True) == sync.REFUSED_BACKOFF_S


def test_a_server_error_then_recovery_uploads_each_record_once(store, state, backend):
    answers = iter([(503, {"error": "http_error", "message": "down"})])
    backend.respond = lambda seqs, request: next(answers, None) or backend.accept(seqs, request)
    clock = Clock()
    syncer = make_syncer(store, backend.url, state, monotonic=clock, batch_size=4)
    assert syncer.run_due().outcome == "server_error"
    clock.now = syncer.next_attempt
    result = syncer.run_due()
    assert (result.outcome, result.stored, result.duplicates, result.pending) == ("ok", 6, 0, 0)
    assert syncer.failures == 0 and syncer.next_attempt is None


def test_an_unknown_device_is_a_persistent_error_until_a_pass_succeeds(store, state, backend):
    backend.respond = lambda seqs, request: (401, {"error": "unknown_device", "message": "no active device"})
    result = make_syncer(store, backend.url, state).sync_once()
    assert result.outcome == "unauthorized" and result.pending == 6
    assert "unknown_device" in sync.sync_status(store)["error"]
    backend.respond = backend.accept
    assert make_syncer(store, backend.url, state).sync_once().ok
    status = sync.sync_status(store)
    assert status["error"] is None and status["last_success"] is not None


def test_a_batch_too_large_is_halved_within_the_pass(store, state, backend):
    backend.respond = lambda seqs, request: ((413, {"error": "too_large", "message": "..."}) if len(seqs) > 2
                                             else backend.accept(seqs, request))
    result = make_syncer(store, backend.url, state, batch_size=6).sync_once()
    assert result.outcome == "ok" and result.pending == 0 and result.stored == 6
    assert [r["seqs"] for r in backend.requests if len(r["seqs"]) <= 2] == [[1], [2], [3], [4], [5], [6]]


def test_nothing_pending_re_sends_the_chain_head_as_a_heartbeat(store, state, backend):
    make_syncer(store, backend.url, state).sync_once()
    backend.requests.clear()
    backend.policy = "none"
    result = make_syncer(store, backend.url, state).sync_once(heartbeat=True)
    assert (result.outcome, result.duplicates, result.policy) == ("nothing_to_do", 1, "none")
    assert [r["seqs"] for r in backend.requests] == [[6]]
    make_syncer(store, backend.url, state).sync_once(heartbeat=False)
    assert len(backend.requests) == 1


def test_a_nearly_full_outbox_is_warned_about_once(state, backend, caplog):
    with Store(state / "ritbox.db", max_pending=6) as small:
        backend.respond = lambda seqs, request: (503, {"error": "http_error", "message": "down"})
        syncer = make_syncer(small, backend.url, state)
        with caplog.at_level(logging.WARNING, logger="ritbox.sync"):
            first = syncer.sync_once()
            syncer.sync_once()
    assert first.nearly_full
    assert sum("nearly full" in r.getMessage() for r in caplog.records) == 1


def test_without_enrollment_nothing_is_sent(tmp_path, replayed, backend):
    shutil.copy(replayed, tmp_path / "ritbox.db")
    with Store(tmp_path / "ritbox.db") as plain:
        result = make_syncer(plain, backend.url, tmp_path).sync_once()
    assert result.outcome == "not_enrolled" and "ritbox enroll" in result.error
    assert backend.requests == [] and not (tmp_path / keys.KEY_FILE_NAME).exists()


def test_enroll_takes_a_token_that_starts_with_a_dash(tmp_path):
    """URL-safe base64 tokens start with '-' one time in 64; the printed command must still work."""
    seen: list[dict[str, Any]] = []

    class Enroll(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            raw = json.dumps({"error": "invalid_token", "message": "unknown or used token"}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Enroll)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = subprocess.run([str(RITBOX), "enroll", f"http://127.0.0.1:{server.server_address[1]}",
                                 "-gTJ9i1o4wgT5fAdXxeqiBD", "--store", str(tmp_path / "ritbox.db")],
                                capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1 and "enrollment refused (401): unknown or used token" in result.stderr
    assert [body["token"] for body in seen] == ["-gTJ9i1o4wgT5fAdXxeqiBD"]


def test_weeks_offline_the_device_keeps_retrying_at_the_cap_and_then_uploads_everything_once(store, state, backend):
    """A car parked for six weeks where there is no network (or a backend gone that long): the
    device tries about once an hour, never faster, never gives up and never loses a record; when
    the backend is back, one pass uploads every trip exactly once. (Past ~1,000 failures the
    exponential delay used to overflow a float: the job then raised instead of backing off.)"""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        clock = Clock()
        syncer = make_syncer(store, dead, state, monotonic=clock, rng=lambda: 0.0, batch_size=4)
        six_weeks = clock.now + 42 * 24 * 3600
        attempts = 0
        while clock.now < six_weeks:
            result = syncer.run_due()
            assert result is not None and result.outcome == "offline" and result.pending == 6
            attempts += 1
            assert syncer.next_attempt - clock.now >= (sync.BACKOFF_BASE_S / 2 if attempts == 1 else 15.0)
            clock.now = syncer.next_attempt
    # Half the capped delay at least (equal jitter, rng 0): 42 days at 30 min a try, plus the
    # few short tries before the cap.
    assert 42 * 48 <= attempts <= 42 * 48 + 10 and syncer.failures == attempts > 1024
    assert syncer.backoff_delay(syncer.failures, refused=False) == sync.BACKOFF_CAP_S / 2
    assert backend.requests == []
    syncer.url = backend.url  # the network is back
    result = syncer.run_due()
    assert (result.outcome, result.stored, result.duplicates, result.pending) == ("ok", 6, 0, 0)
    assert sorted(seq for request in backend.requests for seq in request["seqs"]) == [1, 2, 3, 4, 5, 6]
    assert syncer.failures == 0 and syncer.next_attempt is None
