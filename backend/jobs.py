"""Scheduled jobs (APScheduler BackgroundScheduler): mark expired grants and requests, and send
the notifications that are due.

Every web worker may run a scheduler; a job body runs only in the worker that moves the job's
row in job_locks forward (an UPDATE ... WHERE locked_until <= now, or the first INSERT), so each
job runs once per interval across workers. "now" is the database's clock, which every server
shares (a server whose own clock runs fast would take a held lock), and the worker renews the
lock while the job runs, so a job that takes longer than its lock is not started a second time.
Tests call the job functions directly.
Notifications are delivered in the app (the driver's "who saw my data" page) and, when a mail
server is configured, by e-mail from the outbox the "mail" job sends (backend/mail).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from typing import Callable

from flask import Flask
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from backend.db import database_now, db, utcnow
from backend.models.access import JobLock

log = logging.getLogger(__name__)

INTERVAL = timedelta(minutes=5)
_started = threading.Lock()
_scheduler = None


def holder_name() -> str:
    """Who takes a lock or a claim: host and process (for the operator), and a random part, so
    that two runs in one process (scheduler threads, a CLI command) are two holders."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(name: str, holder: str, ttl: timedelta = INTERVAL, now: datetime | None = None) -> bool:
    """Take the job's lock row until now + ttl, unless another holder has it until later.
    now: the database's clock unless given (tests)."""
    now = now or database_now()
    taken = db.session.execute(
        update(JobLock).where(JobLock.name == name, JobLock.locked_until <= now)
        .values(locked_until=now + ttl, holder=holder[:100])).rowcount
    if taken:
        db.session.commit()
        return True
    db.session.rollback()
    try:
        db.session.add(JobLock(name=name, locked_until=now + ttl, holder=holder[:100]))
        db.session.commit()
        return True
    except IntegrityError:  # the row exists and is held
        db.session.rollback()
        return False


def renew(connection, name: str, holder: str, ttl: timedelta) -> bool:
    """Move a lock this holder still has to the database's now + ttl; False when it has lost it."""
    until = database_now(connection) + ttl
    return bool(connection.execute(
        update(JobLock).where(JobLock.name == name, JobLock.holder == holder[:100])
        .values(locked_until=until)).rowcount)


class _Renewal:
    """Renews a job's lock every third of its ttl from a thread of its own (with its own database
    connection) while the job runs, so the lock outlasts the job however long it takes, and
    lapses one ttl after a worker that died."""

    def __init__(self, engine, name: str, holder: str, ttl: timedelta) -> None:
        self.engine, self.name, self.holder, self.ttl = engine, name, holder, ttl
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"lock-{name}", daemon=True)

    def _run(self) -> None:
        while not self.stopped.wait(self.ttl.total_seconds() / 3):
            try:
                with self.engine.begin() as connection:
                    if not renew(connection, self.name, self.holder, self.ttl):
                        log.warning("job %s: the lock was taken by another worker while this run went on", self.name)
                        return
            except Exception:  # noqa: BLE001 - a failed renewal is tried again; the job goes on
                log.exception("job %s: renewing the lock failed", self.name)

    def __enter__(self) -> "_Renewal":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join()


def expire_grants(now: datetime | None = None) -> int:
    """Mark grants past expiry (reads are refused at expiry anyway) and undecided requests."""
    from backend.governance import grants
    return grants.mark_expired(now) + grants.expire_requests(now)


def send_notifications(now: datetime | None = None) -> int:
    from backend.governance import grants
    return grants.send_due_notifications(now)


def odometer_reminders(now: datetime | None = None) -> int:
    """Remind finance and the driver when a car's last calibration is over two months old."""
    from backend.odometer import service
    return service.send_reminders(now)


def classify_reminders(now: datetime | None = None) -> int:
    """Remind drivers whose unclassified trips lock within a few days (backend.home.reminders)."""
    from backend.home import reminders
    return reminders.send_classify_reminders(now)


def finance_digest(now: datetime | None = None) -> int:
    """The weekly digest for finance, queued by the first run of each week."""
    from backend.home import reminders
    return reminders.send_finance_digest(now)


def send_mail(now: datetime | None = None) -> int:
    """Send the queued e-mail that is due (notifications are queued when they are delivered)."""
    from backend import mail
    return mail.send_due(now)


RETENTION_EVERY = timedelta(hours=24)


def retention(now: datetime | None = None) -> int:
    """Delete what the agreement's retention periods say is due (backend.access.retention).
    Once a day is enough (it works through the due cars in pieces, each its own transaction): the
    job checks every interval but works only when it can move the daily "retention_daily" lock row
    forward."""
    from backend.access import retention as retention_run
    if not acquire("retention_daily", holder_name(), RETENTION_EVERY, now):
        return 0
    return retention_run.run(now).total


CHECKPOINT_EVERY = timedelta(hours=24)


def checkpoint(now: datetime | None = None) -> int:
    """Sign a checkpoint of the audit log and the device chains once a day (backend.checkpoints),
    written to the instance folder and e-mailed to the OR delegates and privacy officers."""
    from backend import checkpoints
    if not acquire("checkpoint_daily", f"{socket.gethostname()}:{os.getpid()}", CHECKPOINT_EVERY, now):
        return 0
    checkpoints.send(checkpoints.issue("daily", now))
    return 1


JOBS: dict[str, Callable[[], int]] = {
    "grant_expiry": expire_grants,
    "notifications": send_notifications,
    "odometer_reminders": odometer_reminders,
    "classify_reminders": classify_reminders,
    "finance_digest": finance_digest,
    "retention": retention,
    "mail": send_mail,
    "checkpoint": checkpoint,
}


def run_once(app: Flask, name: str) -> int | None:
    """Run a job if this worker gets its lock; None when another worker has it. The lock is
    renewed while the job runs and then left to lapse: the job runs at most once an interval."""
    holder = holder_name()
    ttl = INTERVAL - timedelta(seconds=30)
    with app.app_context():
        try:
            if not acquire(name, holder, ttl):
                return None
            with _Renewal(db.engine, name, holder, ttl):
                done = JOBS[name]()
            log.info("job %s done: %d item(s)", name, done)
            return done
        except Exception:  # noqa: BLE001 - a failing job must not kill the scheduler
            log.exception("job %s failed", name)
            db.session.rollback()
            return None
        finally:
            db.session.remove()


def start(app: Flask) -> None:
    """Start this worker's scheduler (once per process)."""
    global _scheduler
    from apscheduler.schedulers.background import BackgroundScheduler

    with _started:
        if _scheduler is not None:
            return
        _scheduler = BackgroundScheduler(timezone="UTC", daemon=True)
        for name in JOBS:
            _scheduler.add_job(run_once, "interval", args=(app, name), id=name,
                               seconds=INTERVAL.total_seconds(), next_run_time=utcnow() + timedelta(seconds=10),
                               coalesce=True, max_instances=1)
        _scheduler.start()


def init_app(app: Flask) -> None:
    """Start the scheduler with the first request a worker serves: never in tests or in CLI
    commands (db upgrade, users ...), which serve no requests. With the task queue on, the
    worker processes run the jobs as periodic tasks instead (backend.tasks)."""
    from backend import tasks
    if app.testing or tasks.on_queue(app):
        return

    @app.before_request
    def _start_scheduler() -> None:
        if _scheduler is None:
            start(app)
