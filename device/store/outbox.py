"""The outbox: closed trips as hash-chained records waiting for sync, and the events that go
with them. A record's body is device.record's; the chain is device.chain's (docs/device-store.md)."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from device import chain
from device.model import PrivatePositions, TripMode, TripRecord
from device.record import body as record_body
from device.store.schema import StoreError

DEFAULT_MAX_PENDING = 50_000
NEARLY_FULL_FRACTION = 0.9
# The id of the newest event the backend acknowledged (sync uploads events with the trips).
META_EVENTS_SENT = "events_sent_through"


@dataclass(frozen=True, slots=True)
class StoredTrip:
    """A closed trip as stored: `body` is the exact canonical JSON that was hashed (no `hash`)."""

    seq: int
    trip_id: str
    body: str
    prev_hash: str
    hash: str
    acked: bool = False

    def record(self) -> dict[str, Any]:
        """The record as a JSON object including its `hash` (what sync uploads)."""
        data = json.loads(self.body)
        data["hash"] = self.hash
        return data




class Outbox:
    """The Store's closed records and events (a part of device.store.Store: it uses the Store's
    connection, lock, transactions and settings)."""

    def _append_record(
        self,
        record: TripRecord,
        start_sealed: dict[str, Any] | None = None,
        end_sealed: dict[str, Any] | None = None,
    ) -> StoredTrip:
        """Chain the closed trip's record onto the head; inside the caller's write transaction,
        which also moves the odometer (so the open trip goes in the same commit)."""
        trip_id = str(uuid.uuid4())
        # The head is read inside the write transaction: another process that appended
        # meanwhile (a `replay --store` on the daemon's file) cannot fork the chain.
        head_seq, head_hash = self._db_head()
        seq = head_seq + 1
        try:
            seal = self._seal_private if self.policy is PrivatePositions.SEALED else None
            store_full = TripMode(record.mode) is TripMode.BUSINESS and bool(record.track) and self.full
            body = record_body(record, seq=seq, trip_id=trip_id, prev_hash=head_hash, start_sealed=start_sealed,
                               end_sealed=end_sealed, seal=seal, store_full=store_full)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"cannot store the trip that started {record.started_at}: {exc}") from exc
        canonical = chain.canonical_json(body)
        digest = chain.chain_hash(head_hash, canonical)
        self._db.execute(
            "INSERT INTO trips (seq, trip_id, body, prev_hash, hash, acked) VALUES (?, ?, ?, ?, ?, 0)",
            (seq, trip_id, canonical, head_hash, digest),
        )
        self._put_meta("head_seq", str(seq))
        self._put_meta("head_hash", digest)
        self._put_meta("odometer_km", repr(body["odometer_end_km"]))
        return StoredTrip(seq, trip_id, canonical, head_hash, digest, False)

    def _db_head(self) -> tuple[int, str]:
        meta = dict(self._db.execute(
            "SELECT key, value FROM meta WHERE key IN ('head_seq', 'head_hash', 'pruned_seq', 'pruned_hash')"
        ))
        self._meta_cache.update(meta)
        return int(meta.get("head_seq", "0")), meta.get("head_hash", chain.GENESIS_HASH)
    def chain_head(self) -> tuple[int, str]:
        """(seq, hash) of the last closed trip; (0, 64 zeros) before the first."""
        with self._lock:
            return self._db_head()

    def pending(self, limit: int = 100) -> list[StoredTrip]:
        """Closed trips not yet acknowledged by the backend, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, trip_id, body, prev_hash, hash, acked FROM trips WHERE acked = 0 ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoredTrip(s, t, b, p, h, bool(a)) for s, t, b, p, h, a in rows]

    def count_pending(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM trips WHERE acked = 0").fetchone()[0]

    @property
    def nearly_full(self) -> bool:
        return self.count_pending() >= NEARLY_FULL_FRACTION * self.max_pending

    @property
    def full(self) -> bool:
        """At max_pending new business trips keep their record but lose their track."""
        return self.count_pending() >= self.max_pending

    def acknowledge(self, up_to_seq: int) -> int:
        """Mark trips up to `up_to_seq` as received by the backend and prune them, keeping the
        chain head's row; returns how many rows were newly acknowledged."""
        with self._lock:
            result: dict[str, int] = {}

            def write() -> None:
                head_seq, _ = self._db_head()
                up_to = min(int(up_to_seq), head_seq)
                result["n"] = self._db.execute(
                    "UPDATE trips SET acked = 1 WHERE seq <= ? AND acked = 0", (up_to,)
                ).rowcount
                last_pruned = self._db.execute(
                    "SELECT seq, hash FROM trips WHERE acked = 1 AND seq < ? ORDER BY seq DESC LIMIT 1", (head_seq,)
                ).fetchone()
                if last_pruned is not None:
                    # Remember the last pruned link so verify_chain can still check the first kept row.
                    self._put_meta("pruned_seq", str(last_pruned[0]))
                    self._put_meta("pruned_hash", last_pruned[1])
                    self._db.execute("DELETE FROM trips WHERE acked = 1 AND seq < ?", (head_seq,))

            self._transaction(write)
            return result["n"]

    def closed_trips(self) -> Iterator[StoredTrip]:
        """All closed trips still on the device (acknowledged ones are pruned), by seq."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, trip_id, body, prev_hash, hash, acked FROM trips ORDER BY seq"
            ).fetchall()
        for s, t, b, p, h, a in rows:
            yield StoredTrip(s, t, b, p, h, bool(a))

    def verify_chain(self) -> int | None:
        """The seq of the first record whose link, hash or body does not check out; None if intact."""
        with self._lock:
            head_seq, head_hash = self._db_head()
            expected_seq = int(self._meta_cache.get("pruned_seq", "0")) + 1
            expected_prev = self._meta_cache.get("pruned_hash", chain.GENESIS_HASH)
            rows = self._db.execute("SELECT seq, trip_id, body, prev_hash, hash FROM trips ORDER BY seq")
            for seq, trip_id, body, prev_hash, digest in rows:
                try:
                    data = json.loads(body)
                    well_formed = (
                        data.get("seq") == seq
                        and data.get("trip_id") == trip_id
                        and data.get("prev_hash") == prev_hash
                        and chain.canonical_json(data) == body
                    )
                except (ValueError, TypeError, AttributeError):
                    well_formed = False
                if (
                    seq != expected_seq
                    or prev_hash != expected_prev
                    or not well_formed
                    or chain.chain_hash(prev_hash, body) != digest
                ):
                    return seq
                expected_seq, expected_prev = seq + 1, digest
            if head_seq and (expected_seq - 1, expected_prev) != (head_seq, head_hash):
                return min(expected_seq, head_seq)  # the newest record was removed or rewritten
            return None

    def unsent_events(self, limit: int = 500) -> list[dict[str, Any]]:
        """Events the backend has not yet acknowledged, oldest first, as sync uploads them:
        {"id", "kind", "at", "body"} (docs/api.md; no positions in any body)."""
        with self._lock:
            sent = int(self._meta_cache.get(META_EVENTS_SENT, "0") or 0)
            rows = self._db.execute("SELECT id, kind, at, body FROM events WHERE id > ? ORDER BY id LIMIT ?",
                                    (sent, limit)).fetchall()
        return [{"id": i, "kind": k, "at": a, "body": json.loads(b)} for i, k, a, b in rows]

    def acknowledge_events(self, through_id: int) -> None:
        """The backend holds every event up to this id (or refused them for good)."""
        with self._lock:
            if through_id > int(self._meta_cache.get(META_EVENTS_SENT, "0") or 0):
                self.set_meta(META_EVENTS_SENT, str(through_id))

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest events (gaps between trips, power losses), newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, at, body FROM events ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [{"id": i, "kind": k, "at": a, **json.loads(b)} for i, k, a, b in rows]

