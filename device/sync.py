"""Store and forward: upload closed trips to the backend, prune only what it acknowledged.

One `Syncer` per store. `sync_once()` is one pass (what `ritbox sync` does by hand); `run_due()`
is what the daemon's APScheduler job calls every interval: it only makes a real attempt when the
backoff after the last failure has run out, so a dead backend or a refused batch never makes the
device loop hot.

The rules (docs/device.md, "Sync"; the protocol is docs/api.md):

- Pending records go in `seq` order, in batches, each request signed with the device key.
- On 200 the store acknowledges up to min(highest_seq, last seq sent): never beyond what the
  backend said it holds, never beyond what this request carried. The store keeps the chain head.
- The policy in the answer (private positions: sealed | none) is applied to the store at once, so
  the trips closed from now on follow it.
- 401 stale_timestamp / bad_timestamp: the answer carries the server's clock. The device keeps
  `offset = server_time - its own clock` (persisted) and signs again, once. Whatever the Pi's
  clock says after a boot (1970 included), the second request is inside the window.
- 400: the batch is kept. Later batches are NOT sent: a record after a missing seq is a chain_gap
  for the backend, and its highest_seq would then cover the refused records, which the device
  would prune unsent. What the protocol does allow is the records *before* the offending one
  (`field` = trips[i]...): they extend the chain in order, so they go in one more request. The
  reason is logged once (it names a field and a rule, never a position), and the pass backs off
  for at least REFUSED_BACKOFF_S.
- 409 trip_id_conflict (with a `field`: the backend holds that trip id with another body): like a
  400, the batch is kept and `ritbox status` shows the reason.
- Unreachable backend, 5xx, 409 conflict (a concurrent upload): exponential backoff with
  jitter, capped; nothing is lost.
- 401 unknown_device / bad_signature: a persistent error in the store's meta (`ritbox status`
  shows it) until a pass succeeds; backs off like a refusal.
"""
from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device import keys
from device.errors import RitboxError
from device.model import PrivatePositions
from device.store import Store, StoredTrip

log = logging.getLogger("ritbox.sync")

UPLOAD_PATH = "/api/v1/trips"
EVENTS_PER_UPLOAD = 500  # device events sent along with one upload (the backend accepts 1000)
DEFAULT_BATCH = 50
DEFAULT_INTERVAL_S = 60.0
BACKOFF_BASE_S = 30.0  # first retry after a transient failure: 15-30 s (equal jitter)
BACKOFF_CAP_S = 3600.0  # a week offline costs at most one request an hour
REFUSED_BACKOFF_S = 900.0  # a 400 or a key problem needs a person or a new backend: not every minute
_MAX_DOUBLINGS = 64  # far beyond any cap: base * 2**64 s is longer than the universe is old
HEARTBEAT_S = 3600.0  # with nothing to upload, re-send the chain head this often to learn the policy
TIMEOUT = (5.0, 60.0)  # connect, read
CLOCK_ENV = "RITBOX_DEVICE_CLOCK"  # tests and diagnosis: the system clock "reads" this at start

# Meta keys (store.get_meta): what `ritbox status` shows.
META_OFFSET = "clock_offset_s"
META_LAST_ATTEMPT = "sync_last_attempt"
META_LAST_SUCCESS = "sync_last_success"
META_LAST_RESULT = "sync_last_result"
META_ERROR = "sync_error"
META_REFUSED = "sync_refused"

_FIELD_INDEX = re.compile(r"^trips\[(\d+)\]")


class SyncError(RitboxError):
    """Sync cannot even start (not enrolled, no key, no backend address)."""


@dataclass(frozen=True)
class SyncResult:
    """What one pass did. `outcome` is one of: ok, nothing_to_do, offline, server_error,
    refused, unauthorized, clock, not_enrolled."""

    outcome: str
    stored: int = 0
    duplicates: int = 0
    acknowledged_seq: int | None = None
    pending: int = 0
    requests: int = 0
    chain_events: int = 0
    policy: str | None = None
    error: str | None = None
    nearly_full: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome in ("ok", "nothing_to_do")

    def summary(self) -> str:
        """One line for a person (and for the store's meta)."""
        if self.outcome == "nothing_to_do":
            text = "nothing to upload"
        else:
            text = f"uploaded {self.stored}, duplicates {self.duplicates}"
            if self.acknowledged_seq is not None:
                text += f", acknowledged up to seq {self.acknowledged_seq}"
        text += f", {self.pending} pending"
        if self.chain_events:
            text += f", {self.chain_events} chain events recorded by the backend"
        if self.error:
            text += f"; {self.outcome}: {self.error}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class _Stop(Exception):
    """Ends a pass early with a result (internal)."""

    def __init__(self, outcome: str, error: str) -> None:
        super().__init__(error)
        self.outcome, self.error = outcome, error


def system_clock() -> Callable[[], float]:
    """time.time, or - with $RITBOX_DEVICE_CLOCK set to an ISO time - a clock that read that
    time when the process started and runs on from there (to show what a 1970 Pi does)."""
    import os

    fake = os.environ.get(CLOCK_ENV, "").strip()
    if not fake:
        return time.time
    try:
        start = datetime.fromisoformat(fake.replace("Z", "+00:00"))
    except ValueError:
        raise SyncError(f"${CLOCK_ENV} is not an ISO 8601 time: {fake!r}") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    shift = start.timestamp() - time.time()
    return lambda: time.time() + shift


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Syncer:
    """Uploads the store's pending records to `url`, signed with the key in `state_dir`."""

    def __init__(
        self,
        store: Store,
        url: str,
        state_dir: str | Path,
        *,
        batch_size: int = DEFAULT_BATCH,
        clock: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = TIMEOUT,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        refused_backoff_s: float = REFUSED_BACKOFF_S,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        if batch_size < 1:
            raise SyncError("the batch size must be at least 1")
        self.store = store
        self.url = url.rstrip("/")
        self.state_dir = Path(state_dir)
        self.batch_size = batch_size
        self.clock = clock or system_clock()
        self.monotonic = monotonic
        self.rng = rng
        self.session = session or requests.Session()
        self.timeout = timeout
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.refused_backoff_s = refused_backoff_s
        self.heartbeat_s = heartbeat_s
        self.failures = 0  # consecutive failed passes (in memory: a restart may try at once)
        self.next_attempt: float | None = None  # monotonic time; None = due now
        self.last_heartbeat: float | None = None
        self.requests_sent = 0
        self._warned_full = False
        self._key: Ed25519PrivateKey | None = None

    # ------------------------------------------------------------------ scheduling

    def run_due(self) -> SyncResult | None:
        """The scheduler's job: one pass if the backoff allows it, else None. Never raises
        (an exception in a scheduler thread would only be logged by APScheduler, without the
        backoff), so an unexpected error counts as a failed pass."""
        now = self.monotonic()
        if self.next_attempt is not None and now < self.next_attempt:
            return None
        heartbeat = self.last_heartbeat is None or now - self.last_heartbeat >= self.heartbeat_s
        try:
            return self.sync_once(heartbeat=heartbeat)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.error("sync failed: %s: %s", type(exc).__name__, exc)
            self._schedule_retry(refused=False)
            return None

    def backoff_delay(self, failures: int, *, refused: bool) -> float:
        """Equal jitter: half the exponential delay fixed, half random; capped. A refusal waits
        at least refused_backoff_s (it will not heal by itself within a minute)."""
        # The exponent stops growing long after the cap is reached: 2 ** n as a float overflows
        # past n = 1023, which a device offline for some weeks (one failure per 30-60 min) reaches.
        exp = min(self.backoff_cap_s, self.backoff_base_s * 2 ** min(max(0, failures - 1), _MAX_DOUBLINGS))
        delay = exp / 2 + self.rng() * exp / 2
        if refused:
            delay = max(delay, self.refused_backoff_s)
        return delay

    def _schedule_retry(self, *, refused: bool) -> float:
        self.failures += 1
        delay = self.backoff_delay(self.failures, refused=refused)
        self.next_attempt = self.monotonic() + delay
        return delay

    # ------------------------------------------------------------------ one pass

    def sync_once(self, *, heartbeat: bool = True) -> SyncResult:
        """Upload everything pending (batch after batch) until done or the first failure.
        With nothing pending and `heartbeat`, the chain head is sent again (a duplicate for the
        backend) to learn the current policy and check the key."""
        store = self.store
        totals = {"stored": 0, "duplicates": 0, "chain_events": 0, "requests": 0}
        acked: int | None = None
        policy: str | None = None
        outcome, error = "ok", None
        self._warn_if_nearly_full()
        try:
            device_id = store.device_id
            if not device_id:
                raise _Stop("not_enrolled", "this device is not enrolled (run `ritbox enroll URL TOKEN`)")
            if not self.url:
                raise _Stop("not_enrolled", "no backend address ([backend] url, or enroll again)")
            key = self._load_key()
            batch_size = self.batch_size
            sent_anything = False
            while True:
                batch = store.pending(limit=batch_size)
                if not batch:
                    if not sent_anything:
                        head = self._head_record() if heartbeat else None
                        if head is None:
                            outcome = "nothing_to_do"
                            break
                        try:
                            answer = self._post(device_id, key, [head], totals)
                        except (_Refused, _TooLarge):
                            raise _Stop("refused", f"the backend refused the chain head seq {head.seq}") from None
                        policy = self._apply_policy(answer)
                        self.last_heartbeat = self.monotonic()
                        outcome = "nothing_to_do"
                    break
                sent_anything = True
                try:
                    answer = self._post(device_id, key, batch, totals)
                except _TooLarge:
                    if batch_size == 1:
                        raise _Stop("refused", f"record seq {batch[0].seq} alone is larger than the "
                                    "backend accepts") from None
                    batch_size = max(1, batch_size // 2)  # try again with half, within this pass
                    continue
                except _Refused as refused:
                    acked = self._upload_prefix(device_id, key, batch, refused, totals) or acked
                    self._log_refusal_once(batch, refused)
                    raise _Stop("refused", f"{refused.field}: {refused.reason} (batch from seq "
                                f"{batch[0].seq} kept)") from None
                policy = self._apply_policy(answer)
                new_ack = self._acknowledge(answer, batch)
                acked = new_ack if new_ack is not None else acked
                if new_ack is None or new_ack < batch[-1].seq:
                    raise _Stop("server_error", f"the backend acknowledged only up to seq "
                                f"{answer.get('highest_seq')} of a batch up to seq {batch[-1].seq}")
                self.last_heartbeat = self.monotonic()
        except _Stop as stop:
            outcome, error = stop.outcome, stop.error

        result = SyncResult(
            outcome=outcome, stored=totals["stored"], duplicates=totals["duplicates"],
            acknowledged_seq=acked, pending=store.count_pending(), requests=totals["requests"],
            chain_events=totals["chain_events"], policy=policy, error=error, nearly_full=store.nearly_full,
        )
        self._record(result)
        return result

    # ------------------------------------------------------------------ pieces

    def _load_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            if not keys.key_path(self.state_dir).exists():
                # Never make a new key here: the backend knows only the enrolled one.
                raise _Stop("not_enrolled", f"no device key at {keys.key_path(self.state_dir)} "
                            "(wrong --state-dir, or enroll again)")
            self._key = keys.load_or_create_key(self.state_dir)
        return self._key

    def _head_record(self) -> StoredTrip | None:
        head_seq, _ = self.store.chain_head()
        if head_seq == 0:
            return None
        for trip in self.store.closed_trips():  # after pruning only the head (and pending) remain
            if trip.seq == head_seq:
                return trip
        return None

    def _now(self) -> float:
        return self.clock() + float(self.store.get_meta(META_OFFSET, "0") or 0)

    def _post(self, device_id: str, key: Ed25519PrivateKey, batch: list[StoredTrip],
              totals: dict[str, int]) -> dict[str, Any]:
        """One signed upload of `batch` with the device's events not yet acknowledged. Events the
        backend refuses are dropped (logged once): they must never hold the trips back."""
        events = self.store.unsent_events(limit=EVENTS_PER_UPLOAD)
        if events:
            try:
                answer = self._post_once(device_id, key, batch, totals, events)
            except _Refused as refused:
                if not refused.field.startswith("events"):
                    raise
                log.warning("the backend refused this device's events (%s: %s); they are not sent again",
                            refused.field, refused.reason)
                self.store.acknowledge_events(events[-1]["id"])
            else:
                self.store.acknowledge_events(events[-1]["id"])
                return answer
        return self._post_once(device_id, key, batch, totals, [])

    def _post_once(self, device_id: str, key: Ed25519PrivateKey, batch: list[StoredTrip],
                   totals: dict[str, int], events: list[dict[str, Any]]) -> dict[str, Any]:
        """One signed upload; retries once with the server's clock on a stale timestamp."""
        # Each record carries the device's signature of its hash: the backend keeps it with the
        # record, so the device's word outlives the request (docs/device-store.md).
        records = [{**trip.record(), "signature": keys.sign_record(key, trip.hash)} for trip in batch]
        content: dict[str, Any] = {"trips": records}
        if events:
            content["events"] = events
        body = json.dumps(content, separators=(",", ":")).encode("utf-8")
        for attempt in (1, 2):
            # Unix seconds with milliseconds: two requests within one second differ (replay check).
            timestamp = f"{self._now():.3f}"
            headers = keys.signed_headers(device_id, "POST", UPLOAD_PATH, body, key, timestamp)
            try:
                response = self.session.post(self.url + UPLOAD_PATH, data=body, headers=headers,
                                             timeout=self.timeout)
            except requests.RequestException as exc:
                raise _Stop("offline", f"cannot reach the backend ({type(exc).__name__})") from None
            finally:
                totals["requests"] += 1
                self.requests_sent += 1
            answer = _json(response)
            code = str(answer.get("error") or "")
            if response.status_code == 200 and "highest_seq" in answer:
                totals["stored"] += int(answer.get("stored", 0))
                totals["duplicates"] += int(answer.get("duplicates", 0))
                totals["chain_events"] += int(answer.get("chain_events", 0))
                return answer
            if response.status_code == 401 and code in ("stale_timestamp", "bad_timestamp"):
                server = answer.get("server_time_unix")
                if attempt == 1 and isinstance(server, (int, float)):
                    offset = float(server) - self.clock()
                    self.store.set_meta(META_OFFSET, f"{offset:.3f}")
                    log.warning("the clock is %+.0f s off the backend's; signing with the backend's time", offset)
                    continue
                raise _Stop("clock", f"the backend refused the timestamp twice ({code})")
            if response.status_code == 401:
                raise _Stop("unauthorized", _unauthorized_text(code, answer))
            # A 409 that names a record (trip_id_conflict: the backend holds that trip id with
            # another body) will not heal by retrying: kept and shown like a 400.
            if response.status_code == 400 or (response.status_code == 409 and answer.get("field")):
                raise _Refused(str(answer.get("field") or "$"), str(answer.get("reason") or answer.get("message")
                                                                   or response.reason))
            if response.status_code == 413:
                raise _TooLarge()
            raise _Stop("server_error", f"the backend answered {response.status_code}"
                        + (f" ({code})" if code else ""))
        raise AssertionError("unreachable")

    def _upload_prefix(self, device_id: str, key: Ed25519PrivateKey, batch: list[StoredTrip],
                       refused: _Refused, totals: dict[str, int]) -> int | None:
        """The records before the refused one still extend the chain in order: send them."""
        match = _FIELD_INDEX.match(refused.field)
        index = int(match.group(1)) if match else 0
        if not 0 < index < len(batch):
            return None
        try:
            answer = self._post(device_id, key, batch[:index], totals)
        except (_Refused, _TooLarge):
            return None
        self._apply_policy(answer)
        return self._acknowledge(answer, batch[:index])

    def _acknowledge(self, answer: dict[str, Any], batch: list[StoredTrip]) -> int | None:
        try:
            highest = int(answer["highest_seq"])
        except (KeyError, TypeError, ValueError):
            return None
        up_to = min(highest, batch[-1].seq)  # never beyond what the backend holds or we sent
        if up_to < batch[0].seq:
            return None
        self.store.acknowledge(up_to)
        return up_to

    def _apply_policy(self, answer: dict[str, Any]) -> str | None:
        value = (answer.get("policy") or {}).get("private_positions")
        try:
            policy = PrivatePositions(value)
        except ValueError:
            return None
        if policy is not self.store.policy:
            log.info("private positions policy from the backend: %s (for the next trips)", policy.value)
            self.store.set_policy(policy)
        return policy.value

    def _log_refusal_once(self, batch: list[StoredTrip], refused: _Refused) -> None:
        """Once per refused record and rule, however often the batch is offered again (a later
        pass may send the same record at another index, after the records before it went)."""
        match = _FIELD_INDEX.match(refused.field)
        index = int(match.group(1)) if match else 0
        seq = batch[index].seq if 0 <= index < len(batch) else batch[0].seq
        rule = _FIELD_INDEX.sub("", refused.field)
        key = f"{seq}|{rule}|{refused.reason}"
        if self.store.get_meta(META_REFUSED) == key:
            return
        self.store.set_meta(META_REFUSED, key)
        # Field path and rule only: the backend's reason never quotes a value.
        log.error("the backend refused record seq %d (%s: %s); it and the records after it stay on the device",
                  seq, refused.field, refused.reason)

    def _warn_if_nearly_full(self) -> None:
        full = self.store.nearly_full
        if full and not self._warned_full:
            log.warning("the outbox is nearly full: %d of %d trips wait for upload; at %d new trips "
                        "lose their track", self.store.count_pending(), self.store.max_pending,
                        self.store.max_pending)
        self._warned_full = full

    def _record(self, result: SyncResult) -> None:
        """Bookkeeping for `ritbox status`, and the backoff for run_due."""
        if result.requests == 0 and result.outcome == "nothing_to_do":
            self.failures, self.next_attempt = 0, None
            return  # no exchange: nothing new to write (no commit every minute)
        now = _iso(self._now())
        meta = {META_LAST_ATTEMPT: now, META_LAST_RESULT: f"{result.outcome}: {result.summary()}"}
        if result.ok:
            self.failures, self.next_attempt = 0, None
            meta[META_LAST_SUCCESS] = now
            meta[META_ERROR] = ""
            meta[META_REFUSED] = ""
        else:
            refused = result.outcome in ("refused", "unauthorized", "not_enrolled")
            delay = self._schedule_retry(refused=refused)
            if refused or result.outcome == "clock":
                meta[META_ERROR] = result.error or result.outcome
            if result.outcome != "refused":  # a refusal was logged once already
                log.warning("sync: %s: %s; next attempt in %.0f s", result.outcome, result.error, delay)
        for key, value in meta.items():
            self.store.set_meta(key, value)


class _Refused(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class _TooLarge(Exception):
    pass


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _unauthorized_text(code: str, answer: dict[str, Any]) -> str:
    if code == "unknown_device":
        return ("the backend does not know this device or it was retired (unknown_device); "
                "ask an administrator for a new token and run `ritbox enroll` again")
    if code == "bad_signature":
        return ("the backend does not accept this device's key (bad_signature); the key in the "
                "state folder is not the enrolled one: use the right --state-dir or enroll again")
    return f"the backend refused the request ({code or 'unauthorized'}): {answer.get('message', '')}".strip()


def sync_status(store: Store) -> dict[str, Any]:
    """What `ritbox status` shows about sync (from the store's meta)."""
    return {
        "last_attempt": store.get_meta(META_LAST_ATTEMPT) or None,
        "last_success": store.get_meta(META_LAST_SUCCESS) or None,
        "last_result": store.get_meta(META_LAST_RESULT) or None,
        "error": store.get_meta(META_ERROR) or None,
        "clock_offset_s": float(store.get_meta(META_OFFSET, "0") or 0),
        "backend_url": store.get_meta("backend_url") or None,
    }
