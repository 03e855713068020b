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
from pathlib import Path

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


def test_a_web_worker_killed_after_accepting_an_export_leaves_it_to_the_worker(app, client, make_user, tmp_path,
                                                                               database_url):
    fleet = rf.fleet(app, client, make_user, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RITBOX_", "FLASK_"))}
    env.update(RITBOX_DATABASE_URL=database_url, RITBOX_SECRET_KEY=TEST_SECRET_KEY, RITBOX_TASK_QUEUE="procrastinate",
               RITBOX_INSTANCE_PATH=app.instance_path, RITBOX_SEALING_KEY_PATH=app.config["SEALING_KEY_PATH"])
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
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)  # procrastinate stops gracefully
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(30)

    client.post("/login", data={"email": rf.FINANCE_EMAIL, "password": TEST_PASSWORD})
    with client.get("/finance/reports/jobs/1/download") as download:
        assert download.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(download.data)).namelist()
    assert any(name.endswith(".csv") for name in names) and "LEESMIJ.txt" in names
