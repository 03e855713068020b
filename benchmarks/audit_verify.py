"""How fast `audit verify` walks the hash chain, against bare hashlib.sha256 on the same bytes.

Builds a chain of N audit events (default 1,000,000; realistic read events with trip ids) in a
fresh, migrated database, then in the same run:
  1. times backend.audit.verify() over the whole chain (reading from the database included);
  2. times bare hashlib.sha256(...).hexdigest() over exactly the bytes verify hashes;
and prints both rates and their ratio (target: at least 0.3).

    .venv/bin/python benchmarks/audit_verify.py [--events N] [--database-url URL]

Without --database-url the chain goes into a temporary SQLite file. For PostgreSQL pass an empty
database, e.g. --database-url postgresql+psycopg://ritbox@127.0.0.1:55433/bench (it is migrated).

Then (issue #14), in a second fresh database: a year of a fleet of --cars cars (default 500)
generated from the real recordings (tests/backend/report_year.py: the device's own stages replay
tests/data/nmea, a working year per car, private trips sealed, a declared chain gap), each record
hashed and signed by its car's own device key and stored as ingest stores it, plus
--checkpoint-events audit events and a signed checkpoint. In the same run it times
  3. `audit verify --checkpoint` (backend.audit.verify, checkpoints.load and compare) against bare
     sha256 of the same audit bytes plus one Ed25519 verification of the checkpoint (parsed as
     load parses it). These are all the bytes the check hashes and the one signature it checks:
     the device chains it compares (each stored trip's seq and record hash against the
     checkpoint's prefixes, each device's last hash in full) without hashing or verifying them,
     which is `trips verify`'s work in part 4; the guarded rows it digests are none here. So the
     device chains count as reading and comparing, which the target leaves room for;
  4. `trips verify` (backend.access.door.verify_device_word) against bare sha256 of every record's
     prev_hash + body and Ed25519 verification of every record signature.
Target for each: at least 0.3 of the bare rate. Each figure also in CPU time of this process
(time.process_time; with SQLite the database work is in this process), which a busy machine
disturbs less than wall time. --only-fleet skips parts 1-2.

    .venv/bin/python benchmarks/audit_verify.py --only-fleet [--cars 500] [--checkpoint-events 100000]

Part 5 (issue #16), on the chain of part 1: the audit log page (GET /audit/log, 200 events a
page, keyset paging by seq) timed on its first page and on its last page, as a ratio (target:
about 1, the last page as fast as the first), next to the same last page read with OFFSET as the
baseline it replaced. --skip-fleet stops after parts 1, 2 and 5.

    .venv/bin/python benchmarks/audit_verify.py --events 100000 --skip-fleet
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_chain(count: int, after_seq: int = 0, prev: str = "0" * 64) -> tuple[list[tuple], list[bytes]]:
    """Rows for audit_events (seq, body, prev_hash, hash) and the exact bytes each hash covers,
    made with backend.audit; appended to a chain whose head is (after_seq, prev)."""
    from backend import audit

    rows, payloads = [], []
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    kinds = [(audit.READ, "misuse_investigation"), (audit.READ, "tax"), (audit.SEAL_OPENED, "tax"),
             (audit.REQUEST_FILED, "hours_verification"), (audit.LOGIN, None)]
    for seq in range(after_seq + 1, after_seq + count + 1):
        event_type, purpose = kinds[seq % len(kinds)]
        at = start + timedelta(seconds=seq, microseconds=seq % 1_000_000)
        details = audit.canonical_details({"what": "trips", "categories": ["trip_summaries"],
                                           "records": 5, "trip_ids": list(range(seq, seq + 5))})
        values = (seq, at, event_type, 1 + seq % 50, 100 + seq % 400, None if seq % 3 else seq % 80,
                  purpose, None if seq % 4 else seq // 4, None if seq % 5 else seq // 5, details)
        canonical = audit.canonical_json(*values)
        payload = (prev + canonical).encode("utf-8")
        digest = hashlib.sha256(payload).hexdigest()
        rows.append((seq, canonical, prev, digest))
        payloads.append(payload)
        prev = digest
    return rows, payloads


def store(app, rows: list[tuple]) -> None:
    from sqlalchemy import insert, text

    from backend.db import db
    from backend.models.audit import AuditEvent

    # What audit.record() writes: the body; the database derives the other columns from it.
    names = ("seq", "body", "prev_hash", "hash")
    with app.app_context():
        for first in range(0, len(rows), 20_000):
            db.session.execute(insert(AuditEvent), [dict(zip(names, row)) for row in rows[first:first + 20_000]])
        db.session.execute(text("UPDATE audit_chain_head SET seq = :seq, hash = :hash WHERE id = 1"),
                           {"seq": rows[-1][0], "hash": rows[-1][-1]})
        db.session.commit()


def fleet_year(app, cars: int) -> list[tuple[bytes, bytes, str, object]]:
    """Insert a year of `cars` cars from the real recordings, as ingest stores it; return, per
    record, (hashed bytes, signed message, signature, device public key) for the bare figures."""
    import uuid

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy import insert

    from backend import sealing_keys
    from backend.db import db
    from backend.models.fleet import Device, Vehicle
    from device import chain
    from ritbox_verify.records import record_message
    from tests.backend import report_year

    trips = db.metadata.tables["trips"]  # a benchmark writes as ingest does; app code reads via the door
    events = db.metadata.tables["chain_events"]
    heads = db.metadata.tables["device_chain_heads"]
    with app.app_context():
        public_raw = sealing_keys.current_key().public_raw
    template = report_year.records(report_year.plan_year(report_year.replay_recordings()), public_raw)
    bare: list[tuple[bytes, bytes, str, object]] = []
    with app.app_context():
        for car in range(cars):
            key = Ed25519PrivateKey.generate()
            public_b64 = base64.b64encode(key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
            # Stored as the fleet service stores it: no dashes (PostgreSQL's varchar(6) refuses them).
            vehicle = Vehicle(kenteken=f"{car // 26 // 26 % 26 + 65:c}{car // 26 % 26 + 65:c}{car % 100:02d}"
                              f"{car % 26 + 65:c}Z", make="Volkswagen", model="Golf")
            db.session.add(vehicle)
            db.session.flush()
            device = Device(id=str(uuid.uuid4()), vehicle_id=vehicle.id, status="active", public_key=public_b64)
            db.session.add(device)
            db.session.flush()
            rows, prev_hash, last_seq = [], chain.GENESIS_HASH, 0
            gap_rows = []
            for record in template:
                body = {k: v for k, v in record.items() if k != "hash"}
                body["trip_id"] = str(uuid.uuid4())
                if body["seq"] != last_seq + 1:
                    gap_rows.append({"device_id": device.id, "vehicle_id": vehicle.id, "kind": "chain_gap",
                                     "seq_from": last_seq + 1, "seq_to": body["seq"] - 1,
                                     "detail": "records never arrived"})
                    prev_hash = body["prev_hash"]
                body["prev_hash"] = prev_hash
                canonical = chain.canonical_json(body)
                digest = chain.chain_hash(prev_hash, canonical)
                message = record_message(digest)
                signature = base64.b64encode(key.sign(message)).decode()
                bare.append(((prev_hash + canonical).encode("ascii"), message, signature, key.public_key()))
                business = body["mode"] == "business"
                rows.append({
                    "device_id": device.id, "vehicle_id": vehicle.id, "driver_id": None,
                    "device_trip_id": body["trip_id"], "seq": body["seq"],
                    "started_at": chain.parse_iso_utc(body["started_at"]),
                    "ended_at": chain.parse_iso_utc(body["ended_at"]),
                    "odometer_start_km": float(body["odometer_start_km"]),
                    "odometer_end_km": float(body["odometer_end_km"]), "distance_km": float(body["distance_km"]),
                    "mode": body["mode"], "flags": body["flags"], "ingest_flags": [], "gaps": body["gaps"],
                    "start_lat": body["start"][0] if business else None,
                    "start_lon": body["start"][1] if business else None,
                    "end_lat": body["end"][0] if business else None, "end_lon": body["end"][1] if business else None,
                    "start_sealed": None if business else body["start_sealed"],
                    "end_sealed": None if business else body["end_sealed"],
                    "record_hash": digest, "prev_hash": prev_hash, "body": canonical,
                    "device_signature": signature})
                prev_hash, last_seq = digest, body["seq"]
            db.session.execute(insert(trips), rows)
            if gap_rows:
                db.session.execute(insert(events), gap_rows)
            db.session.execute(insert(heads), [{"device_id": device.id, "head_seq": last_seq, "head_hash": prev_hash}])
            db.session.commit()
            if (car + 1) % 50 == 0:
                print(f"  {car + 1} cars, {len(bare):,} trips", flush=True)
    return bare


REPEATS = 3


def timed(call) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    began, began_cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - began, time.process_time() - began_cpu, result


def settle(app) -> None:
    """PostgreSQL: VACUUM ANALYZE the bulk-loaded tables, as autovacuum leaves a database in use
    (statistics, visibility map). Timed right after the load, the planner has no statistics and
    an index-only scan must visit every row's page."""
    from backend.db import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE trips, chain_events, device_chain_heads, audit_events")


def checkpoint_and_trips(url: str, cars: int, events: int) -> int:
    """Parts 3 and 4: `audit verify --checkpoint` and `trips verify` on a fleet year."""
    from flask_migrate import upgrade

    from backend import audit, checkpoints, create_app
    from backend.access import door
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    app = create_app({"TESTING": True, "SECRET_KEY": "benchmark", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
    print(f"building a year of {cars} cars from the real recordings ...", flush=True)
    bare_records = fleet_year(app, cars)
    rows, payloads = build_chain(events)
    store(app, rows)
    del rows
    settle(app)
    with app.app_context():
        signed = checkpoints.issue("benchmark")
        path = checkpoints.latest_file()

    def check() -> tuple:
        with app.app_context():
            hashes = bytearray()  # as `audit verify --checkpoint` does (backend/audit.py)
            result = audit.verify(hashes=hashes)
            checkpoint = checkpoints.load(path.read_bytes(), expected_key=checkpoints.instance_public_key())
            return result, checkpoint, checkpoints.compare(checkpoint, audit_hashes=hashes)

    document = checkpoints.dumps(signed)

    def bare_check() -> None:
        for payload in payloads:
            hashlib.sha256(payload).hexdigest()
        parsed = json.loads(document)
        Ed25519PublicKey.from_public_bytes(base64.b64decode(parsed["public_key"])).verify(
            base64.b64decode(parsed["signature"]), checkpoints.canonical(parsed["checkpoint"]))

    # Best of REPEATS for each side (as timeit does); the first, cold run of the check (imports,
    # statement compilation, the key file) is printed too.
    runs = [timed(check) for _ in range(REPEATS)]
    cold_seconds = runs[0][0]
    checkpoint_seconds, checkpoint_cpu, (result, checkpoint, comparison) = min(runs, key=itemgetter(0))
    if not result.ok or not comparison.ok:
        print(f"audit verify --checkpoint failed: {result.message()} {comparison.problems[:3]}", file=sys.stderr)
        return 1
    bare_checkpoint_seconds, bare_checkpoint_cpu, _ = min((timed(bare_check) for _ in range(REPEATS)),
                                                          key=itemgetter(0))
    # The floor under any verify that reads from the database: what it reads (the events' hashed
    # bytes, every device's trips' seqs and record hashes as one row a device) only read, nothing
    # hashed or compared.
    from backend.access.door import chain_summaries

    def read_only() -> None:
        with app.app_context():
            for _row in audit.stored_rows(audit._payload_sql(with_seq=False)):
                pass
            chain_summaries(sorted(checkpoint["devices"]))

    read_only_seconds = min(timed(read_only)[0] for _ in range(REPEATS))

    with app.app_context():
        began, began_cpu = time.perf_counter(), time.process_time()
        verified = door.verify_device_word()
        trips_seconds, trips_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    if not verified.ok or verified.trips != len(bare_records):
        print(f"trips verify failed: {verified.problems[:3]}", file=sys.stderr)
        return 1
    began, began_cpu = time.perf_counter(), time.process_time()
    for hashed, message, signature, key in bare_records:
        hashlib.sha256(hashed).hexdigest()
        key.verify(base64.b64decode(signature), message)
    bare_trips_seconds, bare_trips_cpu = time.perf_counter() - began, time.process_time() - began_cpu

    trips = len(bare_records)
    print(f"database:           {url.split(':', 1)[0]}")
    print(f"fleet:              {cars} cars, {trips:,} trips "
          f"(mean {sum(len(b[0]) for b in bare_records) / trips:.0f} bytes hashed each), {events:,} audit events")
    ratio = bare_checkpoint_seconds / checkpoint_seconds
    print(f"audit verify --checkpoint: {checkpoint_seconds:.3f} s (reading included; best of {REPEATS}, the "
          f"first and cold one {cold_seconds:.3f} s); bare sha256 of the same {events:,} events + 1 Ed25519: "
          f"{bare_checkpoint_seconds:.3f} s; ratio {ratio:.2f} (target >= 0.3); "
          f"in CPU time of this process {checkpoint_cpu:.3f} s vs {bare_checkpoint_cpu:.3f} s, "
          f"ratio {bare_checkpoint_cpu / checkpoint_cpu:.2f}")
    print(f"  reading alone (the same audit rows and every trip's chain link, nothing checked): "
          f"{read_only_seconds:.3f} s (best of {REPEATS}): the ratio can be at most {bare_checkpoint_seconds / read_only_seconds:.2f} "
          f"while the check reads from the database")
    ratio = bare_trips_seconds / trips_seconds
    print(f"trips verify:       {trips / trips_seconds:,.0f} trips/s ({trips_seconds:.2f} s, reading included); bare "
          f"sha256 + Ed25519 of the same records: {trips / bare_trips_seconds:,.0f}/s ({bare_trips_seconds:.2f} s); "
          f"ratio {ratio:.2f} (target >= 0.3); in CPU time of this process {trips_cpu:.2f} s vs "
          f"{bare_trips_cpu:.2f} s, ratio {bare_trips_cpu / trips_cpu:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--cars", type=int, default=500, help="fleet size for parts 3-4")
    parser.add_argument("--checkpoint-events", type=int, default=100_000, help="audit events for part 3")
    parser.add_argument("--fleet-database-url", help="an empty database for parts 3-4 (default: SQLite)")
    parser.add_argument("--only-fleet", action="store_true", help="skip parts 1-2")
    parser.add_argument("--skip-fleet", action="store_true", help="skip parts 3-4")
    args = parser.parse_args()
    os.environ.setdefault("RITBOX_INSTANCE_PATH", tempfile.mkdtemp(prefix="ritbox-bench-"))
    if args.only_fleet:
        with tempfile.TemporaryDirectory() as folder:
            url = args.fleet_database_url or f"sqlite:///{os.path.join(folder, 'fleet.sqlite')}"
            return checkpoint_and_trips(url, args.cars, args.checkpoint_events)
    status = chain_only(args)
    if status or args.skip_fleet:
        return status
    with tempfile.TemporaryDirectory() as folder:
        url = args.fleet_database_url or f"sqlite:///{os.path.join(folder, 'fleet.sqlite')}"
        return checkpoint_and_trips(url, args.cars, args.checkpoint_events)


def chain_only(args) -> int:
    """Parts 1 and 2: `audit verify` over a long chain against bare sha256."""
    from flask_migrate import upgrade

    from backend import audit, create_app

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{os.path.join(folder, 'bench.sqlite')}"
        app = create_app({"TESTING": True, "SECRET_KEY": "benchmark", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
        print(f"building a chain of {args.events:,} events ...", flush=True)
        rows, payloads = build_chain(args.events)
        store(app, rows)
        del rows
        settle(app)

        def check():
            with app.app_context():
                return audit.verify()

        def bare() -> None:
            sha256 = hashlib.sha256
            for payload in payloads:
                sha256(payload).hexdigest()

        # Best of REPEATS for each side, as in part 3.
        verify_seconds, _, result = min((timed(check) for _ in range(REPEATS)), key=itemgetter(0))
        if not result.ok or result.events != args.events:
            print(f"verify failed: {result.message()}", file=sys.stderr)
            return 1
        bare_seconds = min(timed(bare)[0] for _ in range(REPEATS))
        log_pages = audit_log_pages(app, args.events)

    verify_rate = args.events / verify_seconds
    bare_rate = args.events / bare_seconds
    print(f"database:           {url.split(':', 1)[0]}")
    print(f"events:             {args.events:,} (mean {sum(map(len, payloads)) / len(payloads):.0f} bytes hashed each)")
    print(f"audit verify:       {verify_rate:,.0f} events/s ({verify_seconds:.2f} s, reading included; best of {REPEATS})")
    print(f"bare sha256:        {bare_rate:,.0f} hashes/s ({bare_seconds:.2f} s, same bytes)")
    print(f"ratio:              {verify_rate / bare_rate:.2f} (target >= 0.3)")
    first, last, keyset_sql, offset_sql = log_pages
    print(f"audit log page:     first {first * 1000:.1f} ms, last {last * 1000:.1f} ms (GET /audit/log, 200 events); "
          f"ratio last/first {last / first:.2f} (target about 1); the last page's query: keyset "
          f"{keyset_sql * 1000:.2f} ms, OFFSET {offset_sql * 1000:.2f} ms (ratio OFFSET/keyset "
          f"{offset_sql / keyset_sql:.1f})")
    return 0


def audit_log_pages(app, events: int, repeats: int = 5) -> tuple[float, float, float, float]:
    """Part 5: the audit log page's first and last page (best of `repeats`), and the last page's
    query by keyset against the same rows by OFFSET."""
    from sqlalchemy import select

    from backend.accounts import create_user
    from backend.governance.web import AUDIT_PAGE
    from backend.db import db
    from backend.models.audit import AuditEvent

    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        create_user("olga@example.nl", "Olga", ["or_delegate"], "benchmark-password-1")
    client = app.test_client()
    assert client.post("/login", data={"email": "olga@example.nl", "password": "benchmark-password-1"}).status_code == 302

    def best(call) -> float:
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
        return min(times)

    def page(url: str) -> None:
        assert client.get(url).status_code == 200

    last_before = AUDIT_PAGE + 1  # the page below this seq holds the chain's first events
    first = best(lambda: page("/audit/log"))
    last = best(lambda: page(f"/audit/log?before={last_before}"))
    with app.app_context():
        keyset = best(lambda: db.session.scalars(select(AuditEvent).where(AuditEvent.seq < last_before)
                                                 .order_by(AuditEvent.seq.desc()).limit(AUDIT_PAGE)).all())
        offset = best(lambda: db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())
                                                 .offset(events - AUDIT_PAGE).limit(AUDIT_PAGE)).all())
    return first, last, keyset, offset


if __name__ == "__main__":
    raise SystemExit(main())
