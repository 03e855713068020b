"""Benchmark: the fleet export's work per car, in one process (issue 20).

    .venv/bin/python benchmarks/fleet_export_car.py [--cars 20] [--port 55441] [--repeat 3]
                                                    [--fmt csv] [--profile 30] [--keep]
    .venv/bin/python benchmarks/fleet_export_car.py --url URL ...   (measure on a database kept by --keep)

Builds a throw-away PostgreSQL database with benchmarks/scale.py's generator (cars of 1,000 trips
in the tax year, uploaded day by day for all cars at once so that their ids interleave, a third
of the trips revised, chain events, closings, a dashboard reading per car, 1,600 distinct
positions a car) and times `backend.reports.fleet.write_car`, the fleet export's per-car step,
for every car in one process, as a batch task of the export runs it (one checkpoint for all):

- bare SELECT: every column of the car's trips of the year, fetched (Core): the baseline;
- warm: write_car with the geocoder cache filled by an earlier run;
- cold: write_car after `DELETE FROM address_cache` (every position is geocoded again: the
  offline index's nearest-place search, the cache rows inserted).

The app's objects are frozen after start-up (gc.freeze()) as in a worker process, which
create_app does for every real process; --no-freeze leaves them to the collector (its full
collections then cost some 8-15 ms a car more here).

Rounds are interleaved (bare, warm, cold; again; ...) so that load from other processes hits
all three alike. Printed per car: wall and CPU time (medians over the rounds), statements and
their time, and each as a ratio to the bare SELECT. Then a cProfile of one warm and one cold
pass: the functions with the most time of their own, and the report's main steps cumulatively.
The target (issue 20) is <= 60 ms of worker time a car-year; a worker adds its start-up and the
batch's own work (a part file, a row) to this.

To compare code before and after a change on the same data: build once with --keep (prints the
URL and leaves the cluster running), then run the script of each version with --url, alternately.
Compare their output as well: each car's CSV (warm and cold cache) and XLSX members, written by
write_car with backend.reports.build.utcnow replaced by a fixed moment (the report's time of
making is in every file), must be byte for byte the same.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

YEAR = 2025
TRIPS_PER_CAR = 1000


class Statements:
    """Counts the statements sent and the time spent in them (engine events)."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event
        self.count, self.seconds = 0, 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seconds += time.perf_counter() - conn.info["bench_started"].pop()
        self.count += 1


def build(url: str, instance: str, cars: int) -> None:
    from scale import Fleet
    fleet = Fleet(url, instance)
    fleet.migrate()
    seconds = fleet.grow_to(cars * TRIPS_PER_CAR)
    print(f"built {cars} cars of {TRIPS_PER_CAR} trips in {seconds:.0f} s")


def measure(url: str, instance: str, cars: int, repeat: int, fmt: str, profile: int, freeze: bool = True) -> None:
    from backend import create_app
    os.environ["RITBOX_INSTANCE_PATH"] = instance
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url})
    if freeze:
        # As a worker process does (backend/__init__.py, create_app without test_config): what
        # the app holds is no longer walked by every full garbage collection.
        import gc
        gc.freeze()
    from sqlalchemy import func, select, text

    from backend import checkpoints
    from backend.db import db
    from backend.models.accounts import User
    from backend.models.trips import Trip
    from backend.reports.fleet import FleetResult, write_car

    with app.app_context():
        statements = Statements(db.engine)
        finance_id = db.session.scalar(select(User.id).where(User.email == "finance@bench.example"))
        vehicle_ids = list(db.session.scalars(select(Trip.vehicle_id).group_by(Trip.vehicle_id)
                                              .having(func.count() >= TRIPS_PER_CAR).order_by(Trip.vehicle_id)))
        vehicle_ids = vehicle_ids[:cars]
        signed = checkpoints.issue("export")  # one for all, as the fleet export takes it
        db.session.remove()
        trips = db.metadata.tables["trips"]
        lo = datetime(YEAR - 1, 12, 31, 23, tzinfo=timezone.utc)
        hi = datetime(YEAR, 12, 31, 23, tzinfo=timezone.utc)
        sizes: list[int] = []

        def bare() -> None:
            for vehicle_id in vehicle_ids:
                rows = db.session.execute(select(trips).where(
                    trips.c.vehicle_id == vehicle_id, trips.c.started_at >= lo, trips.c.started_at < hi)
                    .order_by(trips.c.started_at, trips.c.id)).fetchall()
                assert len(rows) == TRIPS_PER_CAR, len(rows)
                db.session.rollback()

        def export() -> None:
            out = io.BytesIO()
            result = FleetResult(total=len(vehicle_ids))
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for vehicle_id in vehicle_ids:
                    write_car(archive, finance_id, vehicle_id, year=YEAR, fmt=fmt, result=result, checkpoint=signed)
            assert result.reports == len(vehicle_ids), result
            sizes.append(len(out.getvalue()))
            db.session.remove()

        def cold() -> None:
            db.session.execute(text("DELETE FROM address_cache"))
            db.session.commit()
            export()

        jobs = {"bare SELECT": (bare, None), "write_car, warm cache": (export, None),
                "write_car, cold cache": (export, cold)}
        bare()
        export()  # warm-up: imports, the offline geocoder's index, the cache rows of every position
        wall: dict[str, list[float]] = {name: [] for name in jobs}
        cpu: dict[str, list[float]] = {name: [] for name in jobs}
        sql: dict[str, list[tuple[int, float]]] = {name: [] for name in jobs}
        for _ in range(repeat):
            for name, (job, run) in jobs.items():
                if run is cold:
                    db.session.execute(text("DELETE FROM address_cache"))
                    db.session.commit()
                    db.session.remove()
                count, seconds = statements.count, statements.seconds
                started, cpu_started = time.perf_counter(), time.process_time()
                job()
                wall[name].append((time.perf_counter() - started) / len(vehicle_ids))
                cpu[name].append((time.process_time() - cpu_started) / len(vehicle_ids))
                sql[name].append(((statements.count - count) / len(vehicle_ids),
                                  (statements.seconds - seconds) / len(vehicle_ids)))
        print(f"\nper car ({len(vehicle_ids)} cars of {TRIPS_PER_CAR} trips, {fmt}, median of {repeat} rounds, "
              f"load average {os.getloadavg()[0]:.1f}):")
        base_wall, base_cpu = (statistics.median(wall["bare SELECT"]), statistics.median(cpu["bare SELECT"]))
        print(f"   {'':24} {'wall ms':>9} {'x bare':>7} {'CPU ms':>8} {'x bare':>7} {'statements':>11} {'SQL ms':>7}")
        for name in jobs:
            w, c = statistics.median(wall[name]), statistics.median(cpu[name])
            n, s = statistics.median(x[0] for x in sql[name]), statistics.median(x[1] for x in sql[name])
            print(f"   {name:24} {w * 1000:9.1f} {w / base_wall:7.2f} {c * 1000:8.1f} {c / base_cpu:7.2f} "
                  f"{n:11.1f} {s * 1000:7.1f}")
        print(f"   zip of the {len(vehicle_ids)} reports: {sizes[-1]:,} bytes")

        if profile:
            for name, job in (("warm", export), ("cold", cold)):
                if name == "cold":
                    db.session.execute(text("DELETE FROM address_cache"))
                    db.session.commit()
                    db.session.remove()
                    job = export
                profiler = cProfile.Profile()
                profiler.enable()
                job()
                profiler.disable()
                stream = io.StringIO()
                stats = pstats.Stats(profiler, stream=stream)
                stats.sort_stats("tottime").print_stats(profile)
                stats.sort_stats("cumulative").print_stats(r"backend/(reports|access|addresses|audit|trips|odometer"
                                                           r"|checkpoints)", profile)
                print(f"\ncProfile, {name} cache, {len(vehicle_ids)} cars (profiler overhead included):")
                print("\n".join(line for line in stream.getvalue().splitlines()
                                if line.strip() and not line.startswith(("   Ordered by", "   List reduced"))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cars", type=int, default=20)
    parser.add_argument("--port", type=int, default=55441)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fmt", default="csv")
    parser.add_argument("--profile", type=int, default=30, help="rows of each cProfile table (0: no profile)")
    parser.add_argument("--url", help="measure on this database (built earlier with --keep)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running and print its URL")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="no gc.freeze() after start-up (as this benchmark measured until the freeze was added)")
    args = parser.parse_args()
    import logging
    logging.disable(logging.WARNING)
    if args.url:
        with tempfile.TemporaryDirectory(prefix="ritbox-bench-car.") as instance:
            measure(args.url, instance, args.cars, args.repeat, args.fmt, args.profile, args.freeze)
        return 0
    from ingest import Cluster

    cluster = Cluster(args.port)
    cluster.start()
    try:
        url = cluster.create_database("percar")
        with tempfile.TemporaryDirectory(prefix="ritbox-bench-car.") as instance:
            build(url, instance, args.cars)
            if args.keep:
                print(f"kept: {url} (stop: pg_ctl -D {cluster.dir / 'data'} stop; rm -rf {cluster.dir})")
                return 0
            measure(url, instance, args.cars, args.repeat, args.fmt, args.profile, args.freeze)
    finally:
        if not args.keep:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
