"""How fast `audit verify` walks the hash chain, against bare hashlib.sha256 on the same bytes.

Builds a chain of N audit events (default 1,000,000; realistic read events with trip ids) in a
fresh, migrated database, then in the same run:
  1. times backend.audit.verify() over the whole chain (reading from the database included);
  2. times bare hashlib.sha256(...).hexdigest() over exactly the bytes verify hashes;
and prints both rates and their ratio (target: at least 0.3).

    .venv/bin/python benchmarks/audit_verify.py [--events N] [--database-url URL]

Without --database-url the chain goes into a temporary SQLite file. For PostgreSQL pass an empty
database, e.g. --database-url postgresql+psycopg://ritbox@127.0.0.1:55433/bench (it is migrated).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_chain(count: int) -> tuple[list[tuple], list[bytes]]:
    """Rows for audit_events (seq, body, prev_hash, hash) and the exact bytes each hash covers,
    made with backend.audit."""
    from backend import audit

    rows, payloads = [], []
    prev = "0" * 64
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    kinds = [(audit.READ, "misuse_investigation"), (audit.READ, "tax"), (audit.SEAL_OPENED, "tax"),
             (audit.REQUEST_FILED, "hours_verification"), (audit.LOGIN, None)]
    for seq in range(1, count + 1):
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()

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

        with app.app_context():
            began = time.perf_counter()
            result = audit.verify()
            verify_seconds = time.perf_counter() - began
        if not result.ok or result.events != args.events:
            print(f"verify failed: {result.message()}", file=sys.stderr)
            return 1

        sha256 = hashlib.sha256
        began = time.perf_counter()
        for payload in payloads:
            sha256(payload).hexdigest()
        bare_seconds = time.perf_counter() - began

    verify_rate = args.events / verify_seconds
    bare_rate = args.events / bare_seconds
    print(f"database:           {url.split(':', 1)[0]}")
    print(f"events:             {args.events:,} (mean {sum(map(len, payloads)) / len(payloads):.0f} bytes hashed each)")
    print(f"audit verify:       {verify_rate:,.0f} events/s ({verify_seconds:.2f} s, reading included)")
    print(f"bare sha256:        {bare_rate:,.0f} hashes/s ({bare_seconds:.2f} s, same bytes)")
    print(f"ratio:              {verify_rate / bare_rate:.2f} (target >= 0.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
