"""The README's run command itself: `bash scripts/demo`, driven to the point where the driver's
page shows the trips the demo device recorded, uploaded and the backend stored; then finance
downloads the car's report and the manager files a request, as the command's message says.

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
from contextlib import closing
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"^Ritbox runs on (http://127\.0\.0\.1:\d+)/", re.M)
MOTIVATION = "Tankpasgegevens wijzen op ritten die niet als prive zijn opgegeven in de afgelopen maand."


def _login(output: str, role: str) -> tuple[str, str]:
    match = re.search(rf"^\s+{role}\s+(\S+@demo\.ritbox\.nl)\s+(\S+)$", output, re.M)
    assert match, output
    return match.group(1), match.group(2)


def _log_in(page, url: str, login: tuple[str, str]) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("E-mailadres").fill(login[0])
    page.get_by_label("Wachtwoord").fill(login[1])
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_test_id("navigation").wait_for()


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


@pytest.mark.slow  # the README's run command end to end: about a minute
def test_the_readme_run_command_shows_the_driver_the_recorded_trips(browser, page, tmp_path, artifacts_dir):
    instance = tmp_path / "instance"
    demo = Demo(instance)
    try:
        url = demo.wait_for_url()
        out = demo.text()
        assert "uploaded 6, duplicates 0, acknowledged up to seq 6, 0 pending" in out
        # The 2005 recording is replayed as if driven three days ago (scripts/nmea_shift_dates.py).
        drive_day = datetime.now(timezone.utc).date() - timedelta(days=2)
        month = drive_day.strftime("%Y-%m")
        assert f"moved to {drive_day - timedelta(days=1)}" in out
        for where in (f"Mijn ritten -> {month}", f"Belastingrapporten: the report of GB-XJ-12 for {drive_day.year}",
                      "Inzageverzoeken"):
            assert where in out
        trips = _backend_trips(instance)
        assert len(trips) == 6 and sorted(mode for _, _, mode in trips).count("private") == 2

        # The driver sees the trips the device recorded, in the month of the recording.
        _log_in(page, url, _login(out, "driver"))
        page.get_by_test_id("navigation").get_by_role("link", name="Mijn ritten").click()
        # Before the first use the driver is shown the privacy notice and acknowledges it.
        page.get_by_role("button", name="Ik heb de privacyverklaring gelezen").click()
        page.goto(f"{url}/me/trips?month={month}")
        rows = page.locator("tr[data-trip-id]")
        rows.first.wait_for()
        shown = sorted(int(rows.nth(i).get_attribute("data-trip-id")) for i in range(rows.count()))
        assert shown == sorted(trip_id for trip_id, _, _ in trips)
        page.screenshot(path=str(artifacts_dir / "demo-driver-trips.png"), full_page=True)

        # The drive was moved to the Netherlands (Amersfoort to Vianen and back): every recorded
        # position lies there, and the last trip ends at the driver's home, on a map.
        with closing(sqlite3.connect(instance / "ritbox.sqlite")) as db:
            ends = db.execute("SELECT start_lat, start_lon, end_lat, end_lon FROM trips WHERE mode = 'business'"
                              " ORDER BY seq").fetchall()
            last_trip = db.execute("SELECT id FROM trips ORDER BY seq DESC LIMIT 1").fetchone()[0]
        assert len(ends) == 4
        for start_lat, start_lon, end_lat, end_lon in ends:
            assert 51.9 < start_lat < 52.3 and 51.9 < end_lat < 52.3 and 4.8 < start_lon < 5.5 and 4.8 < end_lon < 5.5
        page.goto(f"{url}/me/trips/{last_trip}")
        page.get_by_test_id("route-map").locator("path.route-line").wait_for(state="attached")
        assert page.get_by_test_id("end-address").inner_text().startswith("Thuis")
        page.screenshot(path=str(artifacts_dir / "demo-driver-trip-map.png"), full_page=True)

        # Finance downloads the car's report for the year of the drive.
        finance = browser.new_context(locale="nl-NL", accept_downloads=True).new_page()
        _log_in(finance, url, _login(out, "finance"))
        finance.get_by_role("link", name="Belastingrapporten").click()
        form = finance.get_by_test_id("report-form")
        form.get_by_label("Bestuurder of auto").select_option(label="GB-XJ-12 (Volkswagen Golf Variant)")
        form.get_by_label("Jaar").fill(str(drive_day.year))
        form.get_by_label("Formaat").select_option("csv")
        with finance.expect_download() as info:
            form.get_by_role("button", name="Rapport downloaden").click()
        report = tmp_path / info.value.suggested_filename
        info.value.save_as(report)
        text = report.read_text(encoding="utf-8-sig")
        with closing(sqlite3.connect(instance / "ritbox.sqlite")) as db:
            first, last = db.execute("SELECT min(odometer_start_km), max(odometer_end_km) FROM trips").fetchone()
        assert first == 48210.0  # the demo's --odometer
        for value in (first, last):  # the replay's odometer, start to end, as the report prints it
            assert f"{value:.1f}".replace(".", ",") in text
        finance.context.close()

        # The manager files a request under the agreement the demo put in force.
        manager = browser.new_context(locale="nl-NL").new_page()
        _log_in(manager, url, _login(out, "manager"))
        manager.get_by_test_id("navigation").get_by_role("link", name="Inzageverzoeken").click()
        manager.goto(f"{url}/access/requests/new")
        manager.get_by_label("Doel (artikel van de regeling)").select_option("misuse_investigation")
        manager.get_by_label("Werknemer").select_option(label="Daan de Vries <driver@demo.ritbox.nl>")
        # The agreement lets a request reach back at most 90 days: the last month, which holds the drive.
        today = date.today()
        manager.get_by_label("Periode vanaf").fill((today - timedelta(days=30)).isoformat())
        manager.get_by_label("Periode tot en met").fill((today - timedelta(days=1)).isoformat())
        manager.get_by_label("Ritoverzichten (datum, tijden, kilometerstand, km, zakelijke adressen)").check()
        manager.get_by_label("Duur van de toestemming (dagen)").fill("7")
        manager.get_by_label("Grond").select_option("undeclared_private_use")
        manager.get_by_label("Schriftelijke motivering").fill(MOTIVATION)
        manager.get_by_role("button", name="Aanvraag indienen").click()
        manager.locator("[data-testid=request-status], [data-testid=refusal], .error, .errors").first.wait_for()
        assert manager.get_by_test_id("request-status").count() == 1, manager.locator("main").inner_text()
        assert manager.get_by_test_id("request-status").inner_text() == "In afwachting van besluit"
        manager.context.close()
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
