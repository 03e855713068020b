"""Benchmark: trip upload over HTTP (gunicorn, PostgreSQL) vs. a bare SQLAlchemy Core bulk insert.

    .venv/bin/python benchmarks/ingest.py [--devices 8] [--batches 10] [--batch-size 50]
                                          [--track-points 30] [--workers 4] [--port 55441]

Starts a throw-away PostgreSQL cluster (like scripts/test, on another port), migrates one
template database and registers N vehicles with enrolled devices in it, then copies it twice.

- bare: one connection inserts the same trip rows and track points with SQLAlchemy Core, batch
  by batch (one transaction per batch, like the app), with no HTTP, no signature, no validation,
  no chain check: the ceiling.
- app: gunicorn serves the app; N threads, one per device, POST their batches signed, in order,
  concurrently, through POST /api/v1/trips.

Prints trips/s for both and their ratio. Targets (issue 4): app >= 25% of bare, >= 300 trips/s.
The clients run in this process on the same 2 cores as the server, so the app figure includes
their cost too (JSON bodies are prepared before the clock starts; signing is inside it).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 0.25
TARGET_RATE = 300.0
GENESIS = "0" * 64


# --------------------------------------------------------------------------- PostgreSQL cluster

class Cluster:
    def __init__(self, port: int) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: [int(x) for x in p.parent.name.split(".")])
        if not bins:
            sys.exit("no PostgreSQL server binaries (apt-get install postgresql)")
        self.bin = bins[-1]
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="ritbox-bench-pg."))
        self.root = os.getuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres")

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self.root else list(args)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    def start(self) -> str:
        self._run(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "ritbox")
        # The same settings as scripts/test: both contenders run on this one server.
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c full_page_writes=off -c max_connections=100", "start")
        return f"postgresql+psycopg://ritbox@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        """A database of its own on the started cluster; its URL."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
        admin = f"postgresql+psycopg://ritbox@127.0.0.1:{self.port}/postgres"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return make_url(admin).set(database=name).render_as_string(hide_password=False)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# ----------------------------------------------------------------------------------- test data

def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_records(count: int, points: int, start: datetime) -> list[dict]:
    """A chain of business trip records as docs/device-store.md specifies them."""
    records, prev, odometer = [], GENESIS, 10_000.0
    for seq in range(1, count + 1):
        started = start + timedelta(hours=seq)
        ended = started + timedelta(minutes=25)
        km = 17.25
        track = [[_iso(started + timedelta(seconds=30 * i)), round(52.0 + i * 0.001, 6), round(5.0 + i * 0.0013, 6)]
                 for i in range(points)]
        body = {"v": 1, "trip_id": str(uuid.uuid4()), "seq": seq, "prev_hash": prev,
                "started_at": _iso(started), "ended_at": _iso(ended), "mode": "business",
                "start": track[0][1:] if track else [52.0, 5.0], "end": track[-1][1:] if track else [52.1, 5.1],
                "start_sealed": None, "end_sealed": None, "distance_km": km,
                "odometer_start_km": round(odometer, 3), "odometer_end_km": round(odometer + km, 3),
                "flags": [], "gaps": [], "track": track}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest = hashlib.sha256((prev + canonical).encode("ascii")).hexdigest()
        records.append({**body, "hash": digest})
        prev, odometer = digest, odometer + km
    return records


# ---------------------------------------------------------------------------------------- setup

def prepare_template(admin_url: str, name: str, devices: int) -> list[tuple[str, int, object]]:
    """Migrate `name` and register one vehicle, driver and enrolled device per simulated car."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    from backend import create_app
    from backend.accounts import create_user
    from backend.db import db
    from backend.fleet import service

    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url})
    result = []
    with app.app_context():
        upgrade()
        letters = "BDFGHJKLNPRSTVXZ"
        for i in range(devices):
            plate = f"{letters[i // 16 % 16]}{letters[i % 16]}-{10 + i % 90:02d}-ZZ"  # sidecode 4
            service.create_vehicle(plate, "Bench", "Car")
            create_user(f"driver{i}@bench.example", f"Driver {i}", ["driver"], "bench-password-123")
            service.create_assignment(f"driver{i}@bench.example", plate, datetime(2020, 1, 1).date())
            issued = service.create_device(plate)
            key = Ed25519PrivateKey.generate()
            public = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                    serialization.PublicFormat.Raw)).decode()
            device = service.redeem_token(issued.token, public)
            # In service since the assignment: the backend refuses trips dated long before a
            # device's enrollment (backend/api/bounds.py), and the bench trips are of January 2026.
            device.enrolled_at = datetime(2020, 1, 1, tzinfo=timezone.utc)
            db.session.commit()
            result.append((device.id, device.vehicle_id, key))
        db.session.remove()
        db.engine.dispose()
    return result


def copy_database(admin_url: str, template: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


# ----------------------------------------------------------------------------------------- bare

def bare_insert(url: str, devices, batches: dict[str, list[list[dict]]]) -> tuple[int, float]:
    """The same trips and track points with SQLAlchemy Core: one transaction per batch."""
    from sqlalchemy import create_engine, insert

    from backend.models.trips import Trip, TripTrack

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)

    prepared = []
    for device_id, vehicle_id, _ in devices:
        for batch in batches[device_id]:
            rows, tracks = [], []
            for r in batch:
                body = {k: v for k, v in r.items() if k != "hash"}
                rows.append({
                    "device_id": device_id, "vehicle_id": vehicle_id, "driver_id": None,
                    "device_trip_id": r["trip_id"], "seq": r["seq"], "started_at": parse(r["started_at"]),
                    "ended_at": parse(r["ended_at"]), "odometer_start_km": r["odometer_start_km"],
                    "odometer_end_km": r["odometer_end_km"], "distance_km": r["distance_km"], "mode": r["mode"],
                    "flags": r["flags"], "ingest_flags": [], "gaps": r["gaps"], "start_lat": r["start"][0],
                    "start_lon": r["start"][1], "end_lat": r["end"][0], "end_lon": r["end"][1],
                    "start_sealed": None, "end_sealed": None, "record_hash": r["hash"], "prev_hash": r["prev_hash"],
                    "body": json.dumps(body, sort_keys=True, separators=(",", ":")),
                    "received_at": datetime.now(timezone.utc)})
                tracks.append([(parse(t), lat, lon) for t, lat, lon in r["track"]])
            prepared.append((rows, tracks))
    engine = create_engine(url)
    total = 0
    started = time.perf_counter()
    with engine.connect() as connection:
        for rows, tracks in prepared:
            with connection.begin():
                ids = connection.execute(insert(Trip).returning(Trip.id, sort_by_parameter_order=True), rows).scalars().all()
                points = [{"trip_id": trip_id, "idx": i, "at": at, "lat": lat, "lon": lon}
                          for trip_id, track in zip(ids, tracks) for i, (at, lat, lon) in enumerate(track)]
                if points:
                    connection.execute(insert(TripTrack), points)
            total += len(rows)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return total, elapsed


# ------------------------------------------------------------------------------------------ app

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, workers: int, instance: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RITBOX_")},
           "RITBOX_DATABASE_URL": url, "RITBOX_SECRET_KEY": "bench-" + uuid.uuid4().hex,
           "RITBOX_INSTANCE_PATH": str(instance), "RITBOX_INGEST_MAX_BATCH_TRIPS": "1000"}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen([str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                                "backend:create_app()"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    import requests
    for _ in range(200):
        try:
            if requests.get(base + "/api/v1/openapi.json", timeout=1).status_code == 200:
                return process, base
        except requests.RequestException:
            pass
        time.sleep(0.1)
    process.terminate()
    sys.exit("gunicorn did not come up")


def upload(base: str, devices, bodies: dict[str, list[bytes]]) -> tuple[int, float]:
    import requests

    def sign(key, body: bytes) -> dict:
        timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        message = f"POST\n/api/v1/trips\n{timestamp}\n{hashlib.sha256(body).hexdigest()}".encode()
        return {"X-Ritbox-Timestamp": timestamp, "X-Ritbox-Signature": base64.b64encode(key.sign(message)).decode(),
                "Content-Type": "application/json"}

    stored = [0] * len(devices)
    errors: list[str] = []
    barrier = threading.Barrier(len(devices) + 1)

    def device_loop(i: int, device_id: str, key) -> None:
        session = requests.Session()
        barrier.wait()
        for body in bodies[device_id]:
            headers = {"X-Ritbox-Device": device_id, **sign(key, body)}
            response = session.post(base + "/api/v1/trips", data=body, headers=headers, timeout=120)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:200]}")
                return
            stored[i] += response.json()["stored"]

    threads = [threading.Thread(target=device_loop, args=(i, d, k)) for i, (d, _, k) in enumerate(devices)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        sys.exit(f"upload failed: {errors[0]}")
    return sum(stored), elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--batches", type=int, default=10, help="batches per device")
    parser.add_argument("--batch-size", type=int, default=50, help="trips per batch")
    parser.add_argument("--track-points", type=int, default=30, help="track points per trip")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=55441, help="port of the throw-away PostgreSQL")
    args = parser.parse_args()

    cluster = Cluster(args.port)
    server = None
    instance = Path(tempfile.mkdtemp(prefix="ritbox-bench-instance."))
    try:
        admin_url = cluster.start()
        devices = prepare_template(admin_url, "bench_template", args.devices)
        start = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
        batches: dict[str, list[list[dict]]] = {}
        bodies: dict[str, list[bytes]] = {}
        for device_id, _, _ in devices:
            records = make_records(args.batches * args.batch_size, args.track_points, start)
            batches[device_id] = [records[i:i + args.batch_size] for i in range(0, len(records), args.batch_size)]
            bodies[device_id] = [json.dumps({"trips": b}).encode() for b in batches[device_id]]
        bare_url = copy_database(admin_url, "bench_template", "bench_bare")
        app_url = copy_database(admin_url, "bench_template", "bench_app")

        bare_trips, bare_s = bare_insert(bare_url, devices, batches)
        server, base = serve(app_url, args.workers, instance)
        app_trips, app_s = upload(base, devices, bodies)
        if app_trips != bare_trips:
            sys.exit(f"the app stored {app_trips} trips, the bare insert {bare_trips}")

        bare_rate, app_rate = bare_trips / bare_s, app_trips / app_s
        ratio = app_rate / bare_rate
        size = sum(len(b) for v in bodies.values() for b in v) / sum(len(v) for v in bodies.values())
        print(f"{args.devices} devices x {args.batches} batches x {args.batch_size} trips "
              f"({args.track_points} track points each, {size / 1024:.0f} KiB per batch), "
              f"gunicorn -w {args.workers}, PostgreSQL on 127.0.0.1:{args.port}")
        print(f"bare Core insert : {bare_trips} trips in {bare_s:6.2f} s = {bare_rate:8.0f} trips/s")
        print(f"app over HTTP    : {app_trips} trips in {app_s:6.2f} s = {app_rate:8.0f} trips/s")
        print(f"ratio app/bare   : {ratio:.2f} (target >= {TARGET_RATIO:.2f}); "
              f"app rate target >= {TARGET_RATE:.0f} trips/s: {'met' if app_rate >= TARGET_RATE else 'NOT met'}, "
              f"ratio target: {'met' if ratio >= TARGET_RATIO else 'NOT met'}")
        return 0 if ratio >= TARGET_RATIO and app_rate >= TARGET_RATE else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        cluster.stop()
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
