"""The scheduled jobs' lock (backend/jobs.py): one clock for every server, the database's, and a
lock that lasts as long as its job runs, however long that is."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select

from backend import jobs
from backend.db import db, utcnow
from backend.models.access import JobLock


def test_a_server_whose_clock_runs_ahead_does_not_take_a_held_lock(app, monkeypatch) -> None:
    with app.app_context():
        assert jobs.acquire("mail", holder="web-1", ttl=timedelta(minutes=4, seconds=30))
        # The second server's clock is 10 minutes fast: by its own clock the lock ran out.
        monkeypatch.setattr(jobs, "utcnow", lambda: utcnow() + timedelta(minutes=10))
        assert not jobs.acquire("mail", holder="web-2", ttl=timedelta(minutes=4, seconds=30))
        assert db.session.scalar(select(JobLock.holder).where(JobLock.name == "mail")) == "web-1"


def test_a_job_that_outlives_its_lock_is_not_started_again_while_it_runs(app, monkeypatch) -> None:
    monkeypatch.setattr(jobs, "INTERVAL", timedelta(seconds=34))  # the lock is taken for 4 s
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def slow_job() -> int:
        runs.append("run")
        if len(runs) == 1:  # the first run outlives its lock; a second one returns at once
            started.set()
            release.wait(60)
        return 1

    monkeypatch.setitem(jobs.JOBS, "slow", slow_job)
    first: list[int | None] = []
    worker = threading.Thread(target=lambda: first.append(jobs.run_once(app, "slow")))
    worker.start()
    try:
        assert started.wait(60)
        with app.app_context():
            taken_until = db.session.scalar(select(JobLock.locked_until).where(JobLock.name == "slow"))
        while utcnow() < taken_until + timedelta(seconds=1):  # the lock as first taken has run out
            time.sleep(0.2)
        second = jobs.run_once(app, "slow")  # another worker's scheduler fires
    finally:
        release.set()
        worker.join(60)
    assert second is None
    assert first == [1] and runs == ["run"]
