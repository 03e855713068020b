"""How fast the address resolver answers for a report's positions, against baselines in the same run.

In a fresh, migrated database (temporary SQLite unless --database-url), for N positions spread over
the Netherlands (default 4,000: a year's report of 2,000 trips has 4,000 start/end positions):
  1. cold: Resolver.resolve_many over every position (named places checked, GeoNames nearest place,
     cache rows written), then commit;
  2. warm: the same positions again with a fresh Resolver (every answer from the cache table,
     loaded by resolve_many's prefetch);
  3. baseline A: bare GeoNames lookups (backend.addresses.geonames.nearest_place on the regional
     index, see docs/addresses.md) of the same positions;
  4. baseline B: a bare SELECT of each position's cache row by key (what a cache hit must cost);
and prints the rates and the ratios cold/A and warm/B. The GeoNames extract is loaded once before
timing (its build time, and the peak RSS of the process, are printed apart).

    .venv/bin/python benchmarks/addresses.py [--positions N] [--places P] [--database-url URL]

For PostgreSQL pass an EMPTY database (it is migrated), e.g.
--database-url postgresql+psycopg://ritbox@127.0.0.1:55433/odometer_bench after CREATE DATABASE.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=4000)
    parser.add_argument("--places", type=int, default=50, help="organisation places (offices, customers)")
    parser.add_argument("--database-url")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="ritbox-bench-addresses-")
    url = args.database_url or f"sqlite:///{os.path.join(workdir, 'bench.sqlite')}"
    from flask_migrate import upgrade
    from sqlalchemy import select

    from backend import create_app
    from backend.addresses import geonames
    from backend.addresses.resolver import Resolver, cache_key
    from backend.db import db
    from backend.models.org_places import AddressCacheEntry, OrgPlace

    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url})
    rng = random.Random(7)
    positions = [(round(rng.uniform(51.3, 53.3), 6), round(rng.uniform(3.6, 7.1), 6)) for _ in range(args.positions)]
    with app.app_context():
        upgrade()
        for i in range(args.places):
            lat, lon = rng.uniform(51.3, 53.3), rng.uniform(3.6, 7.1)
            db.session.add(OrgPlace(name=f"Klant {i}", kind="customer", lat=lat, lon=lon, radius_m=200,
                                    street="Straat", number=str(i + 1), postcode="1234AB", city="Plaats"))
        # A quarter of the positions lie inside a place (a report's usual office/customer visits).
        places = db.session.scalars(select(OrgPlace)).all()
        for i in range(0, len(positions), 4):
            place = places[i % len(places)]
            positions[i] = (place.lat + 0.0005, place.lon)
        db.session.commit()

        started = time.perf_counter()
        geonames.nearest_place(52.09, 5.11)
        load = time.perf_counter() - started

        resolver = Resolver()
        started = time.perf_counter()
        cold = resolver.resolve_many(positions)
        db.session.commit()
        t_cold = time.perf_counter() - started

        started = time.perf_counter()
        warm = Resolver().resolve_many(positions)  # a fresh resolver: answers from the table
        t_warm = time.perf_counter() - started
        assert warm == cold, "the cache must answer what the geocoder answered"

        started = time.perf_counter()
        for lat, lon in positions:
            geonames.nearest_place(lat, lon)
        t_geonames = time.perf_counter() - started

        started = time.perf_counter()
        for lat, lon in positions:
            lat_e5, lon_e5 = cache_key(lat, lon)
            db.session.scalar(select(AddressCacheEntry).where(
                AddressCacheEntry.lat_e5 == lat_e5, AddressCacheEntry.lon_e5 == lon_e5,
                AddressCacheEntry.provider == "geonames"))
        t_select = time.perf_counter() - started
        named = sum(a.level == "named_place" for a in cold)
        db.session.remove()
        db.engine.dispose()

    n = len(positions)
    print(f"database: {url.split(':')[0]}; positions: {n} ({named} in one of {args.places} named places)")
    print(f"GeoNames regional index build (once per process): {load:.2f} s, "
          f"{geonames.indexed_places():,} places; peak RSS of this process {_peak_rss_mb():.0f} MB")
    print(f"cold resolve: {n / t_cold:,.0f}/s   bare GeoNames lookups: {n / t_geonames:,.0f}/s   "
          f"ratio {t_cold / t_geonames:.1f}x")
    print(f"warm resolve (cache): {n / t_warm:,.0f}/s   bare cache SELECTs: {n / t_select:,.0f}/s   "
          f"ratio {t_warm / t_select:.1f}x")


def _peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
