"""The README's run command itself: `bash scripts/demo`, driven to the point where the driver's
page shows the trips the demo device recorded, uploaded and the backend stored.

The script runs as it would for a newcomer (its own process group, a temporary instance folder,
a free port); only the pip install is skipped (RITBOX_DEMO_SKIP_INSTALL=1: scripts/test has
installed the venv already). A second run on the same instance must not enroll again or
duplicate the trips.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"^Ritbox runs on (http://127\.0\.0\.1:\d+)/", re.M)
DRIVER_LOGIN = re.compile(r"^\s+driver\s+(driver@demo\.ritbox\.nl)\s+(\S+)$", re.M)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Demo:
    """`bash scripts/demo` in its own process group; its output collected by a thread."""

    def __init__(self, instance: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RITBOX_")}
        env.update(RITBOX_DEMO_PORT=str(_free_port()), RITBOX_INSTANCE_PATH=str(instance),
                   RITBOX_DEMO_SKIP_INSTALL="1")
        self.process = subprocess.Popen(["bash", str(ROOT / "scripts" / "demo")], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def text(self) -> str:
        return "".join(self.output)

    def wait_for_url(self, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = URL_LINE.search(self.text())
            if match:
                return match.group(1)
            assert self.process.poll() is None, f"the demo ended with {self.process.returncode}:\n{self.text()}"
            time.sleep(0.2)
        raise AssertionError("the demo did not print its URL:\n" + self.text())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


def _backend_trips(instance: Path) -> list[tuple]:
    with sqlite3.connect(instance / "ritbox.sqlite") as db:
        return db.execute("SELECT id, device_trip_id, mode FROM trips ORDER BY seq").fetchall()


def test_the_readme_run_command_shows_the_driver_the_recorded_trips(page, tmp_path, artifacts_dir):
    instance = tmp_path / "instance"
    demo = Demo(instance)
    try:
        url = demo.wait_for_url()
        out = demo.text()
        assert "uploaded 6, duplicates 0, acknowledged up to seq 6, 0 pending" in out
        for where in ("Mijn ritten -> September 2005", "Belastingrapporten", "Inzageverzoeken"):
            assert where in out
        email, password = DRIVER_LOGIN.search(out).groups()
        trips = _backend_trips(instance)
        assert len(trips) == 6 and sorted(mode for _, _, mode in trips).count("private") == 2

        page.goto(f"{url}/login")
        page.get_by_label("E-mailadres").fill(email)
        page.get_by_label("Wachtwoord").fill(password)
        page.get_by_role("button", name="Inloggen").click()
        page.get_by_test_id("navigation").get_by_role("link", name="Mijn ritten").click()
        page.goto(f"{url}/me/trips?month=2005-09")
        rows = page.locator("tr[data-trip-id]")
        rows.first.wait_for()
        shown = sorted(int(rows.nth(i).get_attribute("data-trip-id")) for i in range(rows.count()))
        assert shown == sorted(trip_id for trip_id, _, _ in trips)
        page.screenshot(path=str(artifacts_dir / "demo-driver-trips.png"), full_page=True)
    finally:
        demo.stop()

    # The same command again on the same instance: no second enrollment, no duplicate trips.
    again = Demo(instance)
    try:
        again.wait_for_url()
        out = again.text()
        assert "enrolling the demo device" not in out
        assert "already holds its drive (up to trip 6): not replayed again" in out
        assert "nothing to upload, 0 pending" in out
        assert _backend_trips(instance) == trips
    finally:
        again.stop()
