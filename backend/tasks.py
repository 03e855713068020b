"""Background work on a task queue in worker processes of its own: procrastinate, which keeps its
queue in PostgreSQL itself (no extra server), worked by `flask --app backend worker`.

RITBOX_TASK_QUEUE says where background work runs:
- inline (the default; SQLite, one process): in the web process, as before: the scheduled jobs in
  each web worker's APScheduler thread (backend.jobs), a fleet export in a thread of the web
  worker that accepted it;
- procrastinate (PostgreSQL): the web only queues work. The scheduled jobs are periodic tasks
  and a fleet export is split into a task per batch of cars; the worker processes run them, as
  many as are started (sharing the instance folder with the web: the export's zip is written
  there), and a web worker's restart does not touch them. A task whose worker died (killed
  outright, no heartbeat for 30 s) is queued again by the next worker to start and by a
  periodic task every minute (retry_stalled). A job still runs under its lock
  (backend.jobs.run_once), so a job outliving its interval is never run twice at once.

Procrastinate's tables and functions live in the PostgreSQL schema "procrastinate" (migration
0018), apart from the application's: its connections search that schema only.
"""
from __future__ import annotations

import asyncio
import threading

import click
from flask import Flask, current_app

from backend.config import ConfigError

SCHEMA = "procrastinate"
EVERY_5_MINUTES = "*/5 * * * *"
EVERY_MINUTE = "* * * * *"
RETRY_STALLED = "ritbox.retry_stalled"
# A worker beats its heartbeat every 10 s; procrastinate calls a worker silent for 30 s stalled.
STALLED_AFTER_SECONDS = 30
EXTENSION = "ritbox_tasks"
_lock = threading.Lock()


def on_queue(app: Flask | None = None) -> bool:
    """True when background work goes to the worker processes, False when it runs inline."""
    return (app or current_app).config.get("TASK_QUEUE") == "procrastinate"


def conninfo(database_url: str) -> str:
    """The libpq URI of the app's SQLAlchemy URL (postgresql+psycopg://... -> postgresql://...)."""
    from sqlalchemy.engine import make_url
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def queue_for(app: Flask):
    """This Flask app's procrastinate App, with its tasks (built once per app and process)."""
    with _lock:
        state = app.extensions.setdefault(EXTENSION, {})
        if "queue" not in state:
            state["queue"] = _build(app)
        return state["queue"]


def _build(app: Flask):
    import procrastinate

    from backend import jobs
    from backend.finance import jobs as fleet_jobs

    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(app.config["SQLALCHEMY_DATABASE_URI"]),
        kwargs={"options": f"-c search_path={SCHEMA}"})
    # A finished task's row is deleted (the export's own row keeps its status); a failed one stays
    # for the operator. The periodic jobs alone would otherwise add 1,440 rows a day.
    queue = procrastinate.App(connector=connector, worker_defaults={"delete_jobs": "successful"})

    for name in jobs.JOBS:
        def run_job(timestamp: int, name: str = name) -> None:
            jobs.run_once(app, name)

        queue.periodic(cron=EVERY_5_MINUTES)(queue.task(name=f"ritbox.job.{name}", queue="jobs")(run_job))

    # A fleet export: one task splits the cars into batches and queues a task per batch; the
    # batch that completes the count queues the assembly of the zip. The batches spread over
    # every worker that is started.
    @queue.task(name="ritbox.fleet_export", queue="exports")
    def fleet_export(job_id: int) -> None:
        for number, vehicle_ids in enumerate(fleet_jobs.plan(app, job_id)):
            fleet_export_batch.defer(job_id=job_id, number=number, vehicle_ids=vehicle_ids)

    @queue.task(name="ritbox.fleet_export_batch", queue="exports")
    def fleet_export_batch(job_id: int, number: int, vehicle_ids: list[int]) -> None:
        if fleet_jobs.run_batch(app, job_id, number, vehicle_ids):
            fleet_export_assemble.defer(job_id=job_id)

    @queue.task(name="ritbox.fleet_export_assemble", queue="exports")
    def fleet_export_assemble(job_id: int) -> None:
        fleet_jobs.assemble(app, job_id)

    @queue.periodic(cron=EVERY_MINUTE)
    @queue.task(name=RETRY_STALLED, queue="jobs", queueing_lock=RETRY_STALLED)
    async def retry_stalled_tasks(timestamp: int) -> None:
        await retry_stalled(queue)

    return queue


async def retry_stalled(queue) -> int:
    """Queue again every task a dead worker was running: a worker killed outright (a restart,
    the OOM killer) leaves its task "doing", and its heartbeat stops. Every task is safe to run
    again: a fleet export keeps its plan and counts each batch once (backend.finance.jobs), a
    scheduled job runs under its lock. How many were queued again."""
    stalled = list(await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS))
    for job in stalled:
        await queue.job_manager.retry_job(job)
    return len(stalled)


def defer(app: Flask, task_name: str, **arguments) -> None:
    """Queue one task from the web (a synchronous caller): the process keeps one small pool."""
    queue = queue_for(app)
    with _lock:
        state = app.extensions[EXTENSION]
        if not state.get("opened"):
            queue.open()
            state["opened"] = True
    queue.tasks[task_name].defer(**arguments)


@click.command("worker")
@click.option("--concurrency", default=1, show_default=True,
              help="Tasks this process runs at once (each in a thread); start more processes to use more cores.")
def worker_command(concurrency: int) -> None:
    """Run the background tasks (scheduled jobs, fleet exports) until stopped (SIGINT/SIGTERM)."""
    app = current_app._get_current_object()
    if not on_queue(app):
        raise click.ClickException("RITBOX_TASK_QUEUE is inline: background work runs in the web process; "
                                   "set it to procrastinate (PostgreSQL) to run workers")
    click.echo(f"worker: running tasks (concurrency {concurrency}); stop with Ctrl-C")
    queue = queue_for(app)

    async def work() -> None:
        async with queue.open_async():
            # A worker started after a crash takes up what the dead one left at once, not at
            # the next minute's retry.
            again = await retry_stalled(queue)
            if again:
                click.echo(f"worker: {again} task(s) of a worker that stopped queued again")
            await queue.run_worker_async(concurrency=concurrency)

    asyncio.run(work())


def init_app(app: Flask) -> None:
    if on_queue(app) and not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        raise ConfigError("RITBOX_TASK_QUEUE: procrastinate keeps its queue in PostgreSQL; "
                          "with another database use inline")
    app.cli.add_command(worker_command)
