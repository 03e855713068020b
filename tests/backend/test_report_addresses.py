"""A report's addresses are resolved in bulk (both databases): the geocoder cache of a year's
positions is read in one query and the new cache rows are written in one batch, instead of a
query and an insert per position; a second report reads them all from the cache."""
from __future__ import annotations

import io
from datetime import datetime, timezone

from sqlalchemy import event

from tests.backend.trip_factory import TripFactory, TripSpec

N = 40  # business trips, each between two positions no other trip has


def _statements(app, fn):
    """(SELECTs on address_cache, INSERT executions on address_cache) while fn runs."""
    from backend.db import db

    counts = {"select": 0, "insert": 0}

    def seen(conn, cursor, statement, parameters, context, executemany):
        text = statement.lower()
        if "address_cache" in text:
            if text.lstrip().startswith("select"):
                counts["select"] += 1
            elif text.lstrip().startswith("insert"):
                counts["insert"] += 1

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            result = fn()
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    return counts, result


def test_a_years_positions_are_resolved_with_one_cache_query_and_one_batch(app, client, make_user, monkeypatch):
    from backend.addresses import geonames
    from backend.db import db
    from backend.models.accounts import User
    from backend.reports.export import export

    make_user("daan@example.nl", "driver", name="Daan de Vries")
    finance = make_user("fatima@example.nl", "finance", name="Fatima El Amrani")
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from="2025-01-01")
    specs = [TripSpec(started=datetime(2025, 3, 3 + i % 25, 8, 0, tzinfo=timezone.utc).replace(month=3 + i // 25),
                      start=(52.0 + i * 0.01, 5.0 + i * 0.003), end=(51.6 + i * 0.01, 4.6 + i * 0.004))
             for i in range(N)]
    factory.upload(*specs)
    vehicle_id = _vehicle_id(app)
    calls = []  # the positions of each search of the offline geocoder
    real = geonames.nearest_places

    def searched(positions):
        calls.append(list(positions))
        return real(calls[-1])

    monkeypatch.setattr(geonames, "nearest_places", searched)

    def report():
        out = io.BytesIO()
        with app.app_context():
            built = export(db.session.get(User, finance), out, fmt="csv", year=2025, vehicle_id=vehicle_id)
        return built, out.getvalue()

    counts, (built, data) = _statements(app, report)
    # Every position was new, and all were searched together.
    assert built.totals.trips == N and [len(positions) for positions in calls] == [2 * N]
    assert counts == {"select": 1, "insert": 1}, counts
    assert data.count("adres onvolledig (alleen de plaats bekend)".encode()) >= 2 * N  # town-level answers, marked
    calls.clear()
    counts, (again, second) = _statements(app, report)
    assert calls == [] and counts == {"select": 1, "insert": 0}, counts
    assert _rows(second) == _rows(data)


def _rows(data: bytes) -> list[bytes]:
    """The row lines (the last lines name the moment the file was made)."""
    return [line for line in data.splitlines() if line.startswith((b"rit;", b"\xef\xbb\xbfSoort"))]


def _vehicle_id(app) -> int:
    from backend.fleet import service
    with app.app_context():
        return service.find_vehicle("GB-XJ-12").id
