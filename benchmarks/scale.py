"""Benchmark: national scale on PostgreSQL (issue 20).

    .venv/bin/python benchmarks/scale.py [--sizes 100000,1000000] [--with-10m] [--port 55450]
                                         [--repeat 5] [--explain] [--keep] [--quick]

Grows one throw-away PostgreSQL database (a cluster of its own, like benchmarks/ingest.py) in
stages to each size of the trips table and, at each size, times the reads that must not grow
with the table, printing each as a ratio to its figure at the first size.

The data does not flatter the product: cars of 1,000 trips in the tax year, uploaded day by day
for all cars of a stage at once (so a car's trip ids are spread over the whole stage, as uploads
of many cars interleave), business trips with 10 track points each, a classification revision on
a third of the trips, a chain event every 100 trips, every month of the year closed per car. The
measured car and driver are those of the newest stage (their ids span everything that stage
inserted). Rows are written with COPY: a benchmark is not app code, trips are facts, the door
only reads them.

Timed at each size (median of --repeat, after one warm-up):
- ingest: a signed batch of 50 trips through POST /api/v1/trips (the app's test client, no
  gunicorn), as trips per second;
- car-year CSV: the export path (door, report model, revisions, chain events, verdict, renderer);
- month page: the driver's /trips page of one month (logged in, real session);
- counter: the driver's /counter page;
- reminders: the odometer reminder job over every car, each read on its dashboard ten days ago
  (after a first run that reminded of the one car never read): nothing is due, so no per-car work;
- retention dry run: under the agreement in force (the year's business tracks are due: this one
  grows with what is due, by design);
- audit verify: the whole hash chain walked (backend.audit.verify), the log grown to one event a
  trip at each size (generated read events appended to the app's own), as seconds per 10^6 events.
- cold reads (root only): the month page and the counter of drivers nothing read since the
  stage was built, once each, after the kernel's page cache is dropped (from disk).
--quick leaves out retention (dry run and pieces) and the audit log.
At the sizes with at most --fleet-export-cars cars: a fleet CSV export through the task queue
(procrastinate) with 1 and with 2 worker processes (`flask --app backend worker`), each timed
once the workers' periodic jobs are done and from an empty geocoder cache (so both runs resolve
the same positions: 1,600 new ones a car).
Each stage ends with VACUUM (ANALYZE): the reads are timed on a settled database, as autovacuum
keeps one. With --explain, at each size: for the car-year CSV, the month page, the counter and an
ingest batch, the time in SQL against the whole and EXPLAIN (ANALYZE, BUFFERS) of the statements
that took the most; then EXPLAIN ANALYZE of the statements the issue named. --keep leaves the
cluster running at the end.
Targets (issue 20): car-year report, month page and counter within 2x of their time at the first
size; ingest at the largest size at least 80% of its rate at the first and >= 300 trips/s; the
fleet export with 2 workers >= 1.6x as fast as with 1, and <= 60 ms of worker time a car-year.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from audit_verify import build_chain, store  # noqa: E402  (the audit benchmark's generated events)
from ingest import Cluster  # noqa: E402  (the same throw-away cluster as the ingest benchmark)

YEAR = 2025
TRIPS_PER_CAR = 1000
TRACK_POINTS = 10
PASSWORD = "bench-password-123"
GENESIS = "0" * 64
SEAL = {"v": 1, "alg": "X25519-HKDF-SHA256-ChaCha20Poly1305", "kid": "0000000000000000",
        "epk": "ZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWU=", "nonce": "bm5ubm5ubm5ubm5u",
        "ct": "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjYw=="}
TARGET_READ_RATIO = 2.0
TARGET_INGEST_SHARE = 0.8
TARGET_INGEST_RATE = 300.0
TARGET_EXPORT_SPEEDUP = 1.6
TARGET_EXPORT_PER_CAR = 0.060
READS = ("car-year CSV", "month page", "counter")


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------ the data

class Fleet:
    """The database and the app over it; grows stage by stage."""

    def __init__(self, url: str, instance: str) -> None:
        from backend import create_app
        self.url = url
        os.environ["RITBOX_INSTANCE_PATH"] = instance
        self.app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                               "WTF_CSRF_ENABLED": False})
        self.cars = 0
        self.trips = 0
        self.stage = 0
        self.measured: tuple[int, int, str] | None = None  # vehicle id, driver id, driver e-mail

    def migrate(self) -> None:
        from flask_migrate import upgrade
        with self.app.app_context():
            upgrade()
            from backend.accounts import create_user
            finance = create_user("finance@bench.example", "Financien", ["finance"], PASSWORD)
            # An agreement in force (the test suite's example), so that retention plans under it
            # and the drivers' pages open once the privacy notice is acknowledged.
            from tests.backend.access_support import agreement_in_force, make_people
            self.people = make_people(lambda email, *roles, name: create_user(
                email, name, list(roles), None).id)
            agreement_in_force(self.people)
            from tests.backend.access_support import acknowledge_notice
            acknowledge_notice(finance.id)

    def grow_to(self, size: int) -> float:
        """Add cars (1,000 trips each) until the trips table holds `size` rows; returns seconds."""
        started = time.perf_counter()
        new_cars = (size - self.trips) // TRIPS_PER_CAR
        if new_cars <= 0:
            return 0.0
        self.stage += 1
        cars = self._add_cars(new_cars)
        self._copy_trips(cars)
        self.cars += new_cars
        self.trips = size
        vehicle_id, driver_id, email, _ = cars[0]
        self.measured = (vehicle_id, driver_id, email)
        self.unread = [(car[1], car[2]) for car in cars[1:3]]  # drivers whose pages nothing read yet
        with self.app.app_context():
            from tests.backend.access_support import acknowledge_notice
            acknowledge_notice(driver_id)
        return time.perf_counter() - started

    def _add_cars(self, count: int) -> list[tuple[int, int, str, str]]:
        """Vehicles, drivers (only the measured one with a password: argon2 is slow on purpose),
        assignments and retired devices, with Core."""
        from sqlalchemy import insert, select

        from backend.accounts import create_user
        from backend.db import db
        from backend.models.accounts import User, UserRole
        from backend.models.fleet import Assignment, Device, Vehicle

        rows = []
        with self.app.app_context():
            first = self.cars
            for n in range(first, first + count):
                email = f"driver{n}@bench.example"
                if n == first:
                    user = create_user(email, f"Bestuurder {n}", ["driver"], PASSWORD)
                    user_id = user.id
                else:
                    user_id = db.session.execute(insert(User).values(
                        email=email, name=f"Bestuurder {n}", password_hash="!", active=True)
                        .returning(User.id)).scalar_one()
                    db.session.execute(insert(UserRole).values(user_id=user_id, role="driver",
                                                               confirmed_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
                vehicle_id = db.session.execute(insert(Vehicle).values(
                    kenteken=_plate(n), make="Volkswagen", model="Golf").returning(Vehicle.id)).scalar_one()
                db.session.execute(insert(Assignment).values(driver_id=user_id, vehicle_id=vehicle_id,
                                                             available_from=date(YEAR - 1, 1, 1)))
                device_id = str(uuid.uuid4())
                # Active devices: the reminder job visits every car in use.
                db.session.execute(insert(Device).values(id=device_id, vehicle_id=vehicle_id, status="active",
                                                         public_key="A" * 43 + "="))
                rows.append((vehicle_id, user_id, email, device_id))
                if n % 500 == 0:
                    db.session.commit()
            db.session.commit()
            assert db.session.scalar(select(Vehicle.id).where(Vehicle.id == rows[0][0])) is not None
        return rows

    def _copy_trips(self, cars: list[tuple[int, int, str, str]]) -> None:
        """Trips day by day over all cars of the stage, then their tracks, revisions, chain events
        and closings, with COPY on one raw psycopg connection."""
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(self.url)
        conn = psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=False)
        cur = conn.cursor()
        cur.execute("SELECT coalesce(max(id), 0) FROM trips")
        next_id = cur.fetchone()[0] + 1
        random.seed(self.stage)
        per_day = TRIPS_PER_CAR / 365
        seq = {car[0]: 0 for car in cars}
        odometer = {car[0]: 10_000.0 for car in cars}
        business_ids: list[int] = []
        trip_owner: list[tuple[int, int, int]] = []  # (trip id, vehicle id, driver id) of revised trips
        columns = ("id, device_id, vehicle_id, driver_id, device_trip_id, seq, started_at, ended_at, "
                   "odometer_start_km, odometer_end_km, distance_km, mode, flags, ingest_flags, gaps, "
                   "start_lat, start_lon, end_lat, end_lon, start_sealed, end_sealed, record_hash, prev_hash, "
                   "body, received_at")
        seal = json.dumps(SEAL)
        with cur.copy(f"COPY trips ({columns}) FROM STDIN") as copy:
            for day in range(365):
                for vehicle_id, driver_id, _, device_id in cars:
                    wanted = int(per_day * (day + 1)) - int(per_day * day)
                    for k in range(wanted):
                        seq[vehicle_id] += 1
                        s = seq[vehicle_id]
                        private = s % 5 == 0
                        km = round(random.uniform(3, 60), 1)
                        started = datetime(YEAR, 1, 1, 6, tzinfo=timezone.utc) + timedelta(days=day, hours=3 * k)
                        ended = started + timedelta(minutes=25)
                        lat, lon = 52.0 + random.random() * 0.5, 4.8 + random.random() * 0.8
                        body = json.dumps({"v": 1, "seq": s, "mode": "private" if private else "business",
                                           "distance_km": km}, separators=(",", ":"))
                        o = odometer[vehicle_id]
                        copy.write_row((
                            next_id, device_id, vehicle_id, driver_id, str(uuid.uuid4()), s, started, ended,
                            round(o, 3), round(o + km, 3), km, "private" if private else "business",
                            "[]", "[]", "[]",
                            None if private else lat, None if private else lon,
                            None if private else lat + 0.05, None if private else lon + 0.05,
                            seal if private else None, seal if private else None,
                            "a" * 64, "b" * 64, body, ended + timedelta(minutes=5)))
                        odometer[vehicle_id] = o + km
                        if not private:
                            business_ids.append(next_id)
                        if s % 3 == 0:
                            trip_owner.append((next_id, vehicle_id, driver_id))
                        next_id += 1
        with cur.copy("COPY trip_tracks (trip_id, idx, at, lat, lon) FROM STDIN") as copy:
            at = datetime(YEAR, 6, 1, tzinfo=timezone.utc)
            for trip_id in business_ids:
                for i in range(TRACK_POINTS):
                    copy.write_row((trip_id, i, at, 52.0 + i / 1e3, 5.0 + i / 1e3))
        with cur.copy("COPY trip_revisions (trip_id, field, old_value, new_value, author_id, author_role, "
                      "reason, batch_id, created_at) FROM STDIN") as copy:
            for trip_id, _, driver_id in trip_owner:
                copy.write_row((trip_id, "classification", None, "business", driver_id, "driver", None,
                                str(uuid.uuid4()), datetime(YEAR, 12, 1, tzinfo=timezone.utc)))
        with cur.copy("COPY chain_events (device_id, vehicle_id, kind, seq_from, seq_to, trip_id, detail, "
                      "detected_at) FROM STDIN") as copy:
            for vehicle_id, _, _, device_id in cars:
                for n in range(TRIPS_PER_CAR // 100):
                    copy.write_row((device_id, vehicle_id, "chain_gap", n * 100 + 1, n * 100 + 1, None,
                                    "bench", datetime(YEAR, 1 + n % 12, 15, tzinfo=timezone.utc)))
        with cur.copy("COPY period_closings (month, vehicle_id, closed_via, closed_at) FROM STDIN") as copy:
            for vehicle_id, _, _, _ in cars:
                for month in range(1, 13):
                    copy.write_row((date(YEAR, month, 1), vehicle_id, "cli",
                                    datetime(YEAR + 1, 1, 5, tzinfo=timezone.utc)))
        # A dashboard reading of every car ten days ago: nothing is due for the reminder job.
        read_at = datetime.now(timezone.utc) - timedelta(days=10)
        with cur.copy("COPY odometer_calibrations (vehicle_id, read_at, dashboard_m, trips_spread, recorded_as, "
                      "recorded_at) FROM STDIN") as copy:
            for vehicle_id, _, _, _ in cars:
                copy.write_row((vehicle_id, read_at, int(odometer[vehicle_id] * 1000), 0, "cli", read_at))
        cur.execute("SELECT setval(pg_get_serial_sequence('trips', 'id'), (SELECT max(id) FROM trips))")
        conn.commit()
        # Measure a settled database, as autovacuum keeps one: planner statistics (an ANALYZE
        # inside the COPY's transaction, never committed, left the planner without any and
        # reset autovacuum's counters), the visibility map and hint bits (else the first reads
        # of a stage write every page they touch, and autovacuum works during the timings).
        conn.autocommit = True
        cur.execute("VACUUM (ANALYZE)")
        conn.close()


def _plate(n: int) -> str:
    """Distinct valid plates of sidecode 4 (XX-99-XX) for up to 16^4 * 100 cars."""
    letters = "BDFGHJKLNPRSTVXZ"
    return (f"{letters[n // 100 // 16 ** 3 % 16]}{letters[n // 100 // 16 ** 2 % 16]}{n % 100:02d}"
            f"{letters[n // 100 // 16 % 16]}{letters[n // 100 % 16]}")


# ---------------------------------------------------------------------------------- the measures

class Ingest:
    """A device enrolled the app's way, uploading signed batches of 50 trips that continue its chain."""

    def __init__(self, fleet: Fleet) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from backend.db import db
        from backend.fleet import service

        with fleet.app.app_context():
            plate = "ZZ-99-ZZ"
            service.create_vehicle(plate, "Bench", "Ingest")
            from backend.accounts import create_user
            create_user("ingest@bench.example", "Ingest", ["driver"], None)
            service.create_assignment("ingest@bench.example", plate, date(2020, 1, 1))
            issued = service.create_device(plate)
            self.key = Ed25519PrivateKey.generate()
            public = base64.b64encode(self.key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
            device = service.redeem_token(issued.token, public)
            device.enrolled_at = datetime(2020, 1, 1, tzinfo=timezone.utc)
            db.session.commit()
            self.device_id = device.id
        self.client = fleet.app.test_client()
        self.seq, self.prev, self.odometer = 0, GENESIS, 10_000.0
        self.start = datetime(YEAR, 1, 1, 6, tzinfo=timezone.utc)

    def batch(self, count: int = 50) -> bytes:
        records = []
        for _ in range(count):
            self.seq += 1
            started = self.start + timedelta(hours=2 * self.seq)
            km = 17.25
            track = [[_iso(started + timedelta(seconds=30 * i)), round(52.0 + i * 0.001, 6),
                      round(5.0 + i * 0.0013, 6)] for i in range(TRACK_POINTS)]
            body = {"v": 1, "trip_id": str(uuid.uuid4()), "seq": self.seq, "prev_hash": self.prev,
                    "started_at": _iso(started), "ended_at": _iso(started + timedelta(minutes=25)),
                    "mode": "business", "start": track[0][1:], "end": track[-1][1:], "start_sealed": None,
                    "end_sealed": None, "distance_km": km, "odometer_start_km": round(self.odometer, 3),
                    "odometer_end_km": round(self.odometer + km, 3), "flags": [], "gaps": [], "track": track}
            canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            digest = hashlib.sha256((self.prev + canonical).encode("ascii")).hexdigest()
            records.append({**body, "hash": digest})
            self.prev, self.odometer = digest, self.odometer + km
        return json.dumps({"trips": records}).encode()

    def upload(self, payload: bytes) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        message = f"POST\n/api/v1/trips\n{stamp}\n{hashlib.sha256(payload).hexdigest()}".encode()
        signature = base64.b64encode(self.key.sign(message)).decode()
        response = self.client.post("/api/v1/trips", data=payload, headers={
            "Content-Type": "application/json", "X-Ritbox-Device": self.device_id,
            "X-Ritbox-Timestamp": stamp, "X-Ritbox-Signature": signature})
        assert response.status_code in (200, 201), (response.status_code, response.get_data(as_text=True)[:300])


def measure(fleet: Fleet, ingest: Ingest, repeat: int, explain: bool, quick: bool) -> dict[str, float]:
    from sqlalchemy import select

    from backend import audit
    from backend.access import retention
    from backend.db import db
    from backend.models.accounts import User
    from backend.odometer import service as odometer
    from backend.reports.export import export

    vehicle_id, driver_id, email = fleet.measured
    browser = fleet.app.test_client()
    response = browser.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code in (302, 303), response.status_code
    results: dict[str, list[float]] = {}

    def timed(name, job):
        job()  # warm-up
        for _ in range(repeat):
            started = time.perf_counter()
            job()
            results.setdefault(name, []).append(time.perf_counter() - started)
        if explain and name in READS:
            explain_statements(name, job)

    with fleet.app.app_context():
        finance_id = db.session.scalar(select(User.id).where(User.email == "finance@bench.example"))

        def csv():
            report = export(db.session.get(User, finance_id), io.BytesIO(), fmt="csv", year=YEAR,
                            vehicle_id=vehicle_id)
            assert report.totals.trips == TRIPS_PER_CAR, report.totals.trips
            db.session.remove()

        timed("car-year CSV", csv)

        def page(path):
            def get():
                with fleet.app.app_context():  # a request's own g (Flask-Login keeps the user there)
                    answer = browser.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
            return get

        timed("month page", page(f"/me/trips?month={YEAR}-06"))
        timed("counter", page(f"/me/counter?year={YEAR}"))

        # Finance picks a driver by search (a fleet this size is not listed): the measured
        # driver by e-mail, one match among every driver.
        clerk = fleet.app.test_client()
        response = clerk.post("/login", data={"email": "finance@bench.example", "password": PASSWORD})
        assert response.status_code in (302, 303), response.status_code

        def search():
            with fleet.app.app_context():  # else the driver logged in above is the current user
                answer = clerk.get("/finance/reports", query_string={"q": email})
            assert answer.status_code == 200 and email.encode() in answer.data, answer.status_code

        timed("finance search page", search)

        payloads = [ingest.batch() for _ in range(repeat + 1)]
        durations = []
        for n, payload in enumerate(payloads):
            started = time.perf_counter()
            ingest.upload(payload)
            if n:
                durations.append(time.perf_counter() - started)
        results["ingest (s per 50 trips)"] = durations
        if explain:
            explain_statements("ingest of 50 trips", lambda: ingest.upload(ingest.batch()))

        odometer.send_reminders()  # the first run reminds of the ingest car; then nothing is due
        db.session.remove()
        timed("reminders, nothing due", lambda: (odometer.send_reminders(), db.session.remove()))
        if quick:
            if explain:
                print_explains(vehicle_id)
            return {name: statistics.median(values) for name, values in results.items()}
        timed("retention dry run", lambda: (retention.run(dry_run=True), db.session.remove()))

        events = grow_audit_log(fleet, fleet.trips)

        def verify():
            result = audit.verify()
            assert result.ok and result.events == events, result.message()
            db.session.remove()

        timed("audit verify", verify)
        results["audit verify (s per 10^6 events)"] = [value / events * 1_000_000
                                                       for value in results.pop("audit verify")]

        if explain:
            print_explains(vehicle_id)
    return {name: statistics.median(values) for name, values in results.items()}


def cold_reads(fleet: Fleet) -> dict[str, float]:
    """The month page and the counter of a driver whose pages nothing has read since the stage
    was built, the first time, after the kernel's page cache was dropped (root only): one
    sample each, from disk, as a driver's first visit of the day in a database larger than
    memory. Each read has a driver of its own (the counter's year holds the month's trips)."""
    import subprocess

    from sqlalchemy import select, update

    from backend.db import db
    from backend.models.accounts import User
    from tests.backend.access_support import acknowledge_notice

    if os.getuid() != 0:
        print("   cold reads: not measured (dropping the page cache needs root)")
        return {}
    out = {}
    for (driver_id, email), (name, path) in zip(fleet.unread, (("cold month page", f"/me/trips?month={YEAR}-06"),
                                                               ("cold counter", f"/me/counter?year={YEAR}"))):
        with fleet.app.app_context():
            secret = db.session.scalar(select(User.password_hash).where(User.email == fleet.measured[2]))
            db.session.execute(update(User).where(User.id == driver_id).values(password_hash=secret))
            db.session.commit()
            acknowledge_notice(driver_id)
            db.session.remove()
        client = fleet.app.test_client()
        with fleet.app.app_context():
            response = client.post("/login", data={"email": email, "password": PASSWORD})
            assert response.status_code in (302, 303), response.status_code
        subprocess.run(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"], check=True)
        with fleet.app.app_context():
            started = time.perf_counter()
            response = client.get(path)
            out[name] = time.perf_counter() - started
            assert response.status_code == 200, (path, response.status_code)
    return out


def grow_audit_log(fleet: Fleet, events: int) -> int:
    """Append generated events to the app's own log until it holds `events`; the log's length."""
    from backend.db import db
    from backend.models.audit import AuditChainHead

    while True:
        head = db.session.get(AuditChainHead, 1)
        seq, prev = head.seq, head.hash
        db.session.remove()
        if seq >= events:
            return seq
        rows, _ = build_chain(min(50_000, events - seq), after_seq=seq, prev=prev)
        store(fleet.app, rows)


def _statement_times(engine, top: int = 4):
    """Listen to the engine's statements; the returned function stops listening and gives the
    `top` slowest statement kinds (summed time, the statement's first 90 characters)."""
    from sqlalchemy import event
    totals: dict[str, float] = {}

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        key = " ".join(statement.split())[:90]
        totals[key] = totals.get(key, 0.0) + time.perf_counter() - conn.info.pop("bench_started")

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)

    def stop():
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        return sorted(((t, k) for k, t in totals.items()), reverse=True)[:top]
    return stop


def explain_statements(name: str, job, top: int = 4) -> None:
    """Run `job` once more, recording every statement it sends; print the time in SQL against
    the whole, and EXPLAIN (ANALYZE, BUFFERS) of the slowest instance of the `top` statement
    kinds that take the most time: where a read's growth with the table comes from (a plan,
    or pages read from outside PostgreSQL's buffers)."""
    from sqlalchemy import event

    from backend.db import db

    kinds: dict[str, list] = {}  # statement's shape -> [total s, count, slowest s, statement, parameters]

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        seconds = time.perf_counter() - conn.info.pop("bench_started")
        kind = kinds.setdefault(" ".join(statement.split())[:100], [0.0, 0, 0.0, statement, parameters])
        kind[0] += seconds
        kind[1] += 1
        if seconds > kind[2]:
            kind[2:] = [seconds, statement, parameters]

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    started = time.perf_counter()
    try:
        job()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
    whole = time.perf_counter() - started
    in_sql = sum(kind[0] for kind in kinds.values())
    print(f"   {name}: {whole * 1000:.0f} ms, {in_sql * 1000:.0f} ms of it in "
          f"{sum(kind[1] for kind in kinds.values())} statements")
    ranked = sorted(kinds.items(), key=lambda item: item[1][0], reverse=True)[:top]
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        for shape, (total, count, slowest, statement, parameters) in ranked:
            print(f"     {total * 1000:7.1f} ms in {count} x {shape}")
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON) " + statement, parameters)
            for (line,) in cursor.fetchall():
                print(f"         {line if len(line) <= 160 else line[:150] + ' ...'}")  # ids arrays
        connection.rollback()
    finally:
        connection.close()
    db.session.remove()


def retention_pieces(fleet: Fleet) -> dict[str, float]:
    """A real (not dry) retention run, piece by piece: the query that finds the cars with anything
    due (seconds), then two pieces of `retention.CARS_PER_PIECE` cars (the year's tracks of each
    are due): the first timed, the second under tracemalloc for its peak Python memory (MiB).
    Deletes those pieces' tracks: run it after the other measurements of a size."""
    import tracemalloc

    from backend.access import retention
    from backend.db import db, utcnow

    out: dict[str, float] = {}
    with fleet.app.app_context():
        now = utcnow()
        due = retention.due_at(now)
        started = time.perf_counter()
        cars = retention.due_vehicles(due)
        out["retention: find due cars"] = time.perf_counter() - started
        db.session.rollback()
        first, second = list(retention.pieces(cars))[:2]
        slowest = _statement_times(db.engine)
        started = time.perf_counter()
        done = retention.run_piece(due, first, now)
        out["retention: a piece, run (s)"] = time.perf_counter() - started
        for seconds, statement in slowest():
            print(f"   retention piece: {seconds * 1000:8.0f} ms in {statement}")
        db.session.remove()
        tracemalloc.start()
        done = retention.run_piece(due, second, now)
        out["retention: a piece, peak (MiB)"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        db.session.remove()
        print(f"   retention: {len(cars):,} cars due; a piece of {len(second)} cars deleted "
              f"{done.track_points:,} track points of {done.track_trips:,} trips")
    return out


def fleet_export(fleet: Fleet, workers: int) -> float:
    """Seconds from accepting a fleet CSV export until its zip is assembled, with `workers`
    worker processes (`flask --app backend worker`) started beforehand on the task queue."""
    import signal
    import subprocess

    from sqlalchemy import func, select, text

    from backend.db import db
    from backend.finance import jobs
    from backend.models.accounts import User
    from backend.models.report_exports import ReportExport

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RITBOX_", "FLASK_"))}
    env.update(RITBOX_DATABASE_URL=fleet.url, RITBOX_SECRET_KEY="bench", RITBOX_TASK_QUEUE="procrastinate",
               RITBOX_INSTANCE_PATH=fleet.app.instance_path, PYTHONPATH=str(ROOT))
    with fleet.app.app_context():
        since = db.session.scalar(select(func.now()))
        db.session.remove()
    import resource
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    processes = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "backend", "worker"], env=env,
                                  cwd=fleet.app.instance_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True) for _ in range(workers)]
    try:
        with fleet.app.app_context():
            _quiet_queue(processes, since)
            # Every run starts from the same geocoder cache, the empty one: the first run's cache
            # rows would otherwise spare the second run its geocoding (and flatter 2 workers).
            db.session.execute(text("DELETE FROM address_cache"))
            db.session.commit()
            finance_id = db.session.scalar(select(User.id).where(User.email == "finance@bench.example"))
            # This process queues the export, as the web does: with the inline default it would
            # run it in a thread of its own and the workers would idle.
            fleet.app.config["TASK_QUEUE"] = "procrastinate"
            started = time.perf_counter()
            job_id = jobs.start(finance_id, YEAR, "csv").id
            db.session.remove()
            while True:
                status = db.session.scalar(select(ReportExport.status).where(ReportExport.id == job_id))
                db.session.remove()
                if status in ("done", "failed"):
                    break
                for process in processes:
                    if process.poll() is not None:
                        raise RuntimeError(process.communicate()[1][-2000:])
                time.sleep(0.2)
            seconds = time.perf_counter() - started
            assert status == "done", status
            os.remove(jobs.zip_path(fleet.app, job_id))
        return seconds
    finally:
        fleet.app.config["TASK_QUEUE"] = "inline"
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # CPU time is what the load of other processes on the machine does not change.
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        print(f"   fleet export, {workers} worker(s): {cpu:.1f} s of worker CPU (their start-up included)")


def _quiet_queue(processes, since: datetime) -> None:
    """Wait until every worker started after `since` (the database's clock) has registered with
    the queue and the periodic jobs their start queued (checkpoint, retention, reminders ...)
    are done, so that the clock times the export alone (under load a worker takes seconds to
    start, and two starting at once longer: a fixed pause timed their start-up too)."""
    from sqlalchemy import text

    from backend.db import db

    def wait_until(sql: str, done) -> None:
        while not done(db.session.scalar(text(sql), {"since": since})):
            db.session.remove()
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(process.communicate()[1][-2000:])
            time.sleep(0.5)
        db.session.remove()

    wait_until("SELECT count(*) FROM procrastinate.procrastinate_workers WHERE last_heartbeat >= :since",
               lambda registered: registered >= len(processes))
    time.sleep(2)  # their periodic deferrer queues the jobs of the current tick
    wait_until("SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE status IN ('todo', 'doing')",
               lambda busy: busy == 0)


EXPLAINS = {
    "revised trips of the car-year (build_report)":
        "SELECT DISTINCT r.trip_id FROM trip_revisions r WHERE r.trip_id IN "
        "(SELECT id FROM trips WHERE vehicle_id = :v AND started_at >= :lo AND started_at < :hi)",
    "chain events of a vehicle":
        "SELECT * FROM chain_events WHERE vehicle_id = :v ORDER BY detected_at",
    "trips ended within the correction window (classify reminders, over the fleet)":
        "SELECT driver_id, vehicle_id, started_at, ended_at FROM trips WHERE ended_at > :recent "
        "ORDER BY ended_at, id",
    "closings of the car's year":
        "SELECT vehicle_id, month FROM period_closings WHERE (vehicle_id = :v OR vehicle_id IS NULL) "
        "AND month >= :lo AND month < :hi",
}


def print_explains(vehicle_id: int) -> None:
    from sqlalchemy import text

    from backend.db import db
    params = {"v": vehicle_id, "lo": datetime(YEAR - 1, 12, 31, 23, tzinfo=timezone.utc),
              "hi": datetime(YEAR, 12, 31, 23, tzinfo=timezone.utc),
              "recent": datetime.now(timezone.utc) - timedelta(days=14)}
    for title, sql in EXPLAINS.items():
        plan = db.session.execute(text("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql), params)
        print(f"   EXPLAIN {title}:")
        for (line,) in plan:
            print(f"     {line}")
    db.session.rollback()


# --------------------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--with-10m", action="store_true", help="add 10^7 trips (builds for a long while)")
    parser.add_argument("--port", type=int, default=55450)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running at the end (prints how to stop it)")
    parser.add_argument("--quick", action="store_true",
                        help="the reads, ingest and reminders only (no retention, no audit log of 10^7 events)")
    parser.add_argument("--fleet-export-cars", type=int, default=1000,
                        help="time the fleet export (1 and 2 workers) at the sizes with at most this many cars")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([10_000_000] if args.with_10m else [])
    import logging
    logging.disable(logging.WARNING)
    cluster = Cluster(args.port)
    url = cluster.start()
    try:
        url = cluster.create_database("scale")
        with tempfile.TemporaryDirectory(prefix="ritbox-bench-scale.") as instance:
            fleet = Fleet(url, instance)
            fleet.migrate()
            ingest = Ingest(fleet)
            table: dict[int, dict[str, float]] = {}
            exports: dict[int, tuple[int, float, float]] = {}
            pieces: dict[int, dict[str, float]] = {}
            for size in sizes:
                seconds = fleet.grow_to(size)
                print(f"\n{size:,} trips ({fleet.cars:,} cars; this stage built in {seconds:.0f} s)")
                table[size] = measure(fleet, ingest, args.repeat, args.explain, args.quick)
                table[size].update(cold_reads(fleet))
                base = table[sizes[0]]
                for name, value in table[size].items():
                    print(f"   {name:28} {value * 1000:9.1f} ms   x{value / base[name]:5.2f} of {sizes[0]:,}")
                pieces[size] = {} if args.quick else retention_pieces(fleet)
                for name, value in pieces[size].items():
                    shown = f"{value:9.1f} MiB" if "MiB" in name else f"{value * 1000:9.1f} ms "
                    print(f"   {name:28} {shown}  x{value / pieces[sizes[0]][name]:5.2f} of {sizes[0]:,}")
                if fleet.cars <= args.fleet_export_cars:
                    cars = fleet.cars + 1  # and the ingest benchmark's car
                    one, two = fleet_export(fleet, 1), fleet_export(fleet, 2)
                    exports[size] = (cars, one, two)
                    print(f"   fleet export of {cars:,} car-years: 1 worker {one:.1f} s "
                          f"({one / cars * 1000:.0f} ms a car), 2 workers {two:.1f} s: x{one / two:.2f}")
    finally:
        if args.keep:
            print(f"\nkept: {url} (stop: pg_ctl -D {cluster.dir / 'data'} stop; rm -rf {cluster.dir})")
        else:
            cluster.stop()
    return report(sizes, table, exports)


def report(sizes: list[int], table: dict[int, dict[str, float]],
           exports: dict[int, tuple[int, float, float]]) -> int:
    first, last = table[sizes[0]], table[sizes[-1]]
    ok = True
    print(f"\ntargets at {sizes[-1]:,} against {sizes[0]:,} trips:")
    for name in READS:
        ratio = last[name] / first[name]
        met = ratio <= TARGET_READ_RATIO
        ok = ok and met
        print(f"   {name:28} x{ratio:5.2f} (<= {TARGET_READ_RATIO}x): {'met' if met else 'MISSED'}")
    key = "ingest (s per 50 trips)"
    rate_first, rate_last = 50 / first[key], 50 / last[key]
    met = rate_last >= TARGET_INGEST_SHARE * rate_first and rate_last >= TARGET_INGEST_RATE
    ok = ok and met
    print(f"   ingest {rate_last:,.0f} trips/s, {rate_last / rate_first:.0%} of {rate_first:,.0f} "
          f"(>= {TARGET_INGEST_SHARE:.0%} and >= {TARGET_INGEST_RATE:.0f}/s): {'met' if met else 'MISSED'}")
    for size, (cars, one, two) in exports.items():
        met = one / two >= TARGET_EXPORT_SPEEDUP and one / cars <= TARGET_EXPORT_PER_CAR
        ok = ok and met
        print(f"   fleet export at {size:,}: 2 workers x{one / two:.2f} of 1 (>= {TARGET_EXPORT_SPEEDUP}), "
              f"{one / cars * 1000:.0f} ms a car-year (<= {TARGET_EXPORT_PER_CAR * 1000:.0f}): "
              f"{'met' if met else 'MISSED'}")
    print("\nall targets met" if ok else "\nsome targets MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
