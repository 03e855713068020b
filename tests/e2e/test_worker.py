"""A fleet export survives the web worker that accepted it: gunicorn (RITBOX_TASK_QUEUE=
procrastinate, on PostgreSQL) takes the request over real HTTP and is then killed outright
(SIGKILL, as a restart or the OOM killer would); `flask --app backend worker`, started
afterwards as its own process, runs the export to the end, and the zip is there to download."""
from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zipfile

import pytest
import requests

from tests.backend import report_fixtures as rf
from tests.conftest import TEST_PASSWORD, TEST_SECRET_KEY

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _csrf(html: str, prefix: str = "") -> str:
    match = re.search(rf'name="{prefix}csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        rf'id="{prefix}csrf_token" name="{prefix}csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            requests.get(url, timeout=60)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def _export_status(app, job_id: int) -> str:
    from backend.db import db
    from backend.models.report_exports import ReportExport
    with app.app_context():
        status = db.session.get(ReportExport, job_id).status
        db.session.remove()
        return status


def _server_env(app, database_url: str) -> dict[str, str]:
    """The environment of a server process on the test's database and instance folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RITBOX_", "FLASK_"))}
    env.update(RITBOX_DATABASE_URL=database_url, RITBOX_SECRET_KEY=TEST_SECRET_KEY, RITBOX_TASK_QUEUE="procrastinate",
               RITBOX_INSTANCE_PATH=app.instance_path, RITBOX_SEALING_KEY_PATH=app.config["SEALING_KEY_PATH"])
    return env


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)  # procrastinate stops gracefully
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(30)


def test_a_web_worker_killed_after_accepting_an_export_leaves_it_to_the_worker(app, client, make_user, tmp_path,
                                                                               database_url):
    fleet = rf.fleet(app, client, make_user, tmp_path)
    env = _server_env(app, database_url)
    port = _free_port()
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
                            "backend:create_app()"], env=env, cwd=tmp_path, start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = None
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{url}/login", web)
        browser = requests.Session()
        login = browser.get(f"{url}/login").text
        answer = browser.post(f"{url}/login", data={"email": rf.FINANCE_EMAIL, "password": TEST_PASSWORD,
                                                    "csrf_token": _csrf(login)})
        assert answer.status_code == 200 and "/login" not in answer.url, answer.text[:2000]
        page = browser.get(f"{url}/finance/reports").text
        answer = browser.post(f"{url}/finance/reports/fleet", data={
            "fleet-year": fleet.year, "fleet-format": "csv", "fleet-csrf_token": _csrf(page, "fleet-")})
        # Post/redirect/get: the start answers 303 to the reports page (a reload starts nothing).
        assert answer.status_code == 200 and [r.status_code for r in answer.history] == [303], answer.text[:2000]

        os.killpg(web.pid, signal.SIGKILL)  # the whole web server, master and worker, gone at once
        web.wait(30)
        assert _export_status(app, 1) == "queued"

        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "backend", "worker"], env=env, cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 300
        while _export_status(app, 1) not in ("done", "failed") and time.monotonic() < deadline:
            assert worker.poll() is None, worker.communicate()[0]
            time.sleep(0.3)
        assert _export_status(app, 1) == "done"
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait(30)
        if worker is not None:
            _stop(worker)

    client.post("/login", data={"email": rf.FINANCE_EMAIL, "password": TEST_PASSWORD})
    with client.get("/finance/reports/jobs/1/download") as download:
        assert download.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(download.data)).namelist()
    assert any(name.endswith(".csv") for name in names) and "LEESMIJ.txt" in names


def test_a_task_whose_worker_died_is_run_again_by_the_next_worker(app, client, login, make_user, tmp_path,
                                                                   database_url):
    """A queue worker killed outright while it ran a task (a restart, the OOM killer) leaves the
    task "doing" in the queue with a heartbeat that stops. The worker started next runs it again,
    and the export completes."""
    from sqlalchemy import text

    from backend import tasks
    from backend.db import db

    fleet = rf.fleet(app, client, make_user, tmp_path)
    app.config["TASK_QUEUE"] = "procrastinate"
    login(rf.FINANCE_EMAIL)
    assert client.post("/finance/reports/fleet", data={"fleet-year": fleet.year, "fleet-format": "csv"}).status_code == 303
    if app.extensions[tasks.EXTENSION].get("opened"):
        tasks.queue_for(app).close()
    with app.app_context():
        # What a killed worker leaves, written with the queue's own functions: a registered
        # worker took the export's task, and its last heartbeat is ten minutes old.
        db.session.execute(text("SET LOCAL search_path TO procrastinate"))  # as its functions expect
        (worker_id,) = db.session.execute(text("SELECT worker_id FROM procrastinate_register_worker_v1()")).one()
        taken = db.session.execute(text("SELECT id, task_name FROM procrastinate_fetch_job_v2("
                                        "ARRAY['exports']::varchar[], :worker)"), {"worker": worker_id}).one()
        assert taken.task_name == "ritbox.fleet_export"
        db.session.execute(text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '10 minutes' "
                                "WHERE id = :worker"), {"worker": worker_id})
        db.session.commit()
        db.session.remove()

    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "backend", "worker"],
                              env=_server_env(app, database_url), cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while _export_status(app, 1) not in ("done", "failed") and time.monotonic() < deadline:
            assert worker.poll() is None, worker.communicate()[0]
            time.sleep(0.3)
        assert _export_status(app, 1) == "done"
    finally:
        _stop(worker)
    with client.get("/finance/reports/jobs/1/download") as download:
        assert download.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(download.data)).namelist()
    assert names.count(f"rittenregistratie-{fleet.year}-auto-{rf.KENTEKEN}.csv") == 1 and "LEESMIJ.txt" in names
