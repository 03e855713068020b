"""Background work on the task queue (backend/tasks.py, procrastinate in PostgreSQL): the web
only queues a fleet export, a worker runs it; the scheduled jobs are the worker's periodic tasks.
The queue lives in PostgreSQL, so these tests run on PostgreSQL only; the inline default (SQLite,
one process) is what the other export and job tests run."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text

from backend import tasks
from backend.config import ConfigError
from tests.backend import report_fixtures as rf
from tests.conftest import base_config

on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def queued(app):
    app.config["TASK_QUEUE"] = "procrastinate"
    yield tasks.queue_for(app)
    if app.extensions[tasks.EXTENSION].get("opened"):
        tasks.queue_for(app).close()


def _run_worker_until_idle(queue) -> None:
    import threading

    failure: list[BaseException] = []

    def work() -> None:
        try:
            queue.run_worker(queues=["exports"], wait=False, install_signal_handlers=False)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread below
            failure.append(exc)

    worker = threading.Thread(target=work, name="procrastinate-worker")
    worker.start()
    worker.join(300)
    assert not worker.is_alive(), "the worker did not finish the queue in 300 s"
    if failure:
        raise failure[0]


def _status(client, job_id: int) -> dict:
    return client.get(f"/finance/reports/jobs/{job_id}").get_json()


@on_postgresql
def test_a_fleet_export_is_split_into_batch_tasks_and_assembled_by_the_workers(app, client, login, make_user,
                                                                              tmp_path, queued, monkeypatch):
    from backend.db import db
    from backend.finance import jobs as fleet_jobs
    from backend.fleet import service
    from backend.models.report_exports import ReportExport
    from tests.backend.fleet_helpers import enrolled_device

    monkeypatch.setattr(fleet_jobs, "BATCH_CARS", 1)  # three cars, three batch tasks
    fleet = rf.fleet(app, client, make_user, tmp_path)
    second = enrolled_device(app, client, kenteken="GB-XJ-13", driver_email="eva@example.nl",
                             assigned_from=f"{fleet.year}-01-01")
    rf.upload(app, client, second, rf.standard_plan(fleet.year))
    with app.app_context():
        service.create_vehicle("GB-XJ-14", "Volkswagen", "Polo")  # no trips: named in LEESMIJ.txt
    login(rf.FINANCE_EMAIL)
    assert client.post("/finance/reports/fleet", data={"fleet-year": fleet.year, "fleet-format": "csv"}).status_code == 303
    assert _status(client, 1)["status"] == "queued"  # the web ran nothing: the task is in the queue
    # A worker's loop, here until the queue is empty (the command runs it until stopped): the
    # export task queues the batches, the last batch queues the assembly.
    # In a thread of its own, as in the worker process: procrastinate's run_worker starts an
    # asyncio loop, which it cannot where one already runs (the browser tests' Playwright leaves
    # one in the main thread of the pytest worker that ran them).
    _run_worker_until_idle(queued)
    status = _status(client, 1)
    assert status["status"] == "done" and status["reports"] == 2, status
    with app.app_context():
        job = db.session.get(ReportExport, 1)
        assert (job.total, job.done, job.batches, job.batches_done) == (3, 3, 3, 3)
    with client.get("/finance/reports/jobs/1/download") as download:
        assert download.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(download.data))
    names = archive.namelist()
    assert names[:2] == ["rittenregistratie-2025-auto-GB-XJ-12.csv", "rittenregistratie-2025-auto-GB-XJ-13.csv"]
    assert names[-2:] == ["LEESMIJ.txt", "checkpoint.json"] and fleet_jobs.SKIPPED_ENTRY not in names
    from backend import checkpoints  # taken when the export was planned, in every batch's reports
    assert checkpoints.load(archive.read("checkpoint.json"))["reason"] == "export"
    assert "2 van 3 auto's" in archive.read("LEESMIJ.txt").decode() and "GB-XJ-14" in archive.read(
        "LEESMIJ.txt").decode()
    assert not list(Path(app.instance_path, "exports").glob("*.part*"))  # the batches' files are gone
    assert not list(Path(app.instance_path, "exports").glob("*.checkpoint.json"))
    assert not list(Path(app.instance_path, "exports").glob("*.plan.json"))
    with app.app_context():
        queued_tasks = db.session.execute(text(
            "SELECT queue_name, task_name, status FROM procrastinate.procrastinate_jobs")).all()
    # The finished tasks' rows are gone (the export, 3 batches, the assembly); all that may be left
    # is what the worker's periodic deferrer queued meanwhile on the queue this worker did not take.
    from backend import jobs
    assert [row for row in queued_tasks if row.queue_name == "exports"] == []
    assert {row.task_name for row in queued_tasks} <= {f"ritbox.job.{name}" for name in jobs.JOBS} | {tasks.RETRY_STALLED}


@on_postgresql
def test_the_scheduled_jobs_are_periodic_tasks_of_the_worker(app, queued):
    from backend import jobs
    periodic = {periodic_task.task.name for periodic_task in queued.periodic_registry.periodic_tasks.values()}
    assert periodic == {f"ritbox.job.{name}" for name in jobs.JOBS} | {tasks.RETRY_STALLED}


def test_the_queue_needs_postgresql(tmp_path) -> None:
    from backend import create_app
    with pytest.raises(ConfigError, match="procrastinate keeps its queue in PostgreSQL"):
        create_app(base_config(f"sqlite:///{tmp_path}/x.sqlite") | {"TASK_QUEUE": "procrastinate"})


@on_postgresql
def test_a_queued_export_waits_for_a_free_worker_however_long(app, make_user, queued):
    """Inline, a queued export without a heartbeat for 10 minutes had lost its web worker; on the
    queue it only waits for a worker. A running one without a heartbeat is still given up."""
    from datetime import timedelta

    from backend.db import db, utcnow
    from backend.finance import jobs as fleet_jobs
    from backend.models.report_exports import ReportExport

    finance = make_user(rf.FINANCE_EMAIL, "finance")
    long_ago = utcnow() - fleet_jobs.STALE_AFTER - timedelta(minutes=1)
    with app.app_context():
        for status in ("queued", "running"):
            db.session.add(ReportExport(requested_by_id=finance, year=2025, format="csv", status=status, total=0,
                                        done=0, reports=0, message="", created_at=long_ago, heartbeat_at=long_ago))
        db.session.commit()
        assert fleet_jobs.reap_stale() == 1
        assert dict(db.session.execute(db.select(ReportExport.status, ReportExport.message)).all()) == {
            "queued": "", "failed": fleet_jobs.INTERRUPTED}


def test_a_small_fleet_is_spread_over_batches_for_every_worker(app, make_user):
    """A fleet of 5 cars in one batch of up to BATCH_CARS leaves a second worker idle (101 cars
    were a batch of 100 and one of 1): the export is planned in at least MIN_BATCHES batches,
    each at most BATCH_CARS cars, every car once, in kenteken order."""
    from backend.db import db, utcnow
    from backend.finance import jobs as fleet_jobs
    from backend.fleet import service
    from backend.models.report_exports import ReportExport
    from backend.reports.fleet import vehicle_ids

    finance = make_user(rf.FINANCE_EMAIL, "finance")
    with app.app_context():
        for n in range(5):
            service.create_vehicle(f"GB-XJ-{20 + n}", "Volkswagen", "Polo")
        job = ReportExport(requested_by_id=finance, year=2025, format="csv", status="queued", total=0, done=0,
                           reports=0, message="", heartbeat_at=utcnow())
        db.session.add(job)
        db.session.commit()
        job_id, ids = job.id, vehicle_ids()
    batches = fleet_jobs.plan(app, job_id)
    assert [car for batch in batches for car in batch] == ids
    assert len(batches) == 5  # fewer cars than MIN_BATCHES: a batch each
    assert fleet_jobs.batch_size(101) == 4 and fleet_jobs.batch_size(1_000) == 32
    assert fleet_jobs.batch_size(10 ** 6) == fleet_jobs.BATCH_CARS
