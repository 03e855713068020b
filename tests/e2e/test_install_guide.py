"""docs/device.md run as written, top to bottom, in a throw-away root (issue #15).

The guide's shell blocks of sections 1 (install), 5 (the service) and 8 (enroll) run in order, as
root, in a copy of this machine's root file system (an overlay in a private mount namespace:
tests/e2e/install_guide/throwaway_root.sh); the configuration is the guide's own block of
section 2 with only the receiver's port changed. The receiver is a pseudo-terminal that plays a
real recorded drive (dates moved to this week, as the demo does). The service starts before the
box is enrolled, as the guide allows; the daemon must then pick up the enrollment by itself and
upload to a real backend, without any restart.

Stand-ins, because a chroot runs no systemd: the folder install_guide/ holds a `systemctl` that
does what systemd does with each directive of device/ritbox.service (and refuses a unit with a
directive it does not emulate) and a `journalctl -u` that prints the service's output. The
repository is cloned from this checkout's committed HEAD (the guide's `<the ritbox repository>`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import _missing_service
from tests.e2e.test_sync import GARMIN, Backend, backend_template  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "device.md"
HERE = Path(__file__).resolve().parent / "install_guide"
PORT_LINE = re.compile(r'^serial_port = "[^"]*"', re.M)

pytestmark = pytest.mark.slow


def guide_blocks(number: int, language: str) -> list[str]:
    """The ```language blocks of section `number` of the guide, in order."""
    text = GUIDE.read_text(encoding="utf-8")
    section = re.search(rf"^## {number}\. .*?(?=^## |\Z)", text, re.M | re.S)
    assert section, f"docs/device.md has no section {number}"
    return re.findall(rf"^```{language}\n(.*?)^```", section.group(0), re.M | re.S)


def _throwaway_root_possible() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        _missing_service("the install-guide test needs root and unshare (a throw-away root)")
    probe = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        _missing_service(f"no private mount and PID namespace here: {probe.stderr.decode().strip()}")


def _guide_script(config: str) -> str:
    install, = guide_blocks(1, "sh")
    service, = guide_blocks(5, "sh")
    enroll = guide_blocks(8, "sh")[0]
    # The one placeholder of the guide: the repository is this checkout.
    install = install.replace("<the ritbox repository>", f"file://{ROOT}")
    assert "<" not in install, install
    enroll = enroll.replace("https://ritbox.example.nl", '"$url"').replace("TOKEN", '"$token"')
    return f"""set -euo pipefail
echo "== section 1: install"
{install}
echo "== section 2: configure"
mkdir -p /etc/ritbox
cat > /etc/ritbox/ritbox.toml <<'TOML'
{config}TOML
echo "== section 5: the service"
{service}
echo SERVICE-STARTED
# The daemon runs, not enrolled: wait until it holds a closed trip waiting for upload.
for attempt in $(seq 1 1200); do
  if ritbox status --json > /tmp/status.json 2>/dev/null \\
     && python3 -c 'import json,sys; sys.exit(0 if json.load(open("/tmp/status.json"))["store"]["pending"] else 1)'; then
    break
  fi
  sleep 0.5
done
echo TRIPS-PENDING
read -r url token
echo "== section 8: enroll"
{enroll}
echo ENROLLED
read -r done || true
systemctl stop ritbox
sleep 1
echo "== the service's log"
cat /var/log/ritbox.service.log
"""


def _receiver(drive: Path) -> tuple[int, str, threading.Thread]:
    """A pseudo-terminal that sends the drive's sentences as a receiver does; its device file
    belongs to group dialout, as a real serial port does."""
    import grp

    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.chown(path, 0, grp.getgrnam("dialout").gr_gid)
    os.chmod(path, 0o660)
    lines = drive.read_bytes().splitlines(keepends=True)

    def play() -> None:
        try:
            for line in lines:
                os.write(master, line.rstrip(b"\r\n") + b"\r\n")
        except OSError:
            pass  # the test ended and closed the terminal

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return slave, path, thread


def _read_until(process: subprocess.Popen, marker: str, output: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"the guide's script ended before {marker}:\n" + "".join(output))
        output.append(line)
        if line.strip() == marker:
            return
    raise AssertionError(f"no {marker} within {timeout} s:\n" + "".join(output))


def test_the_guide_as_written_gets_a_drive_to_the_backend_without_a_restart(backend_template, tmp_path) -> None:  # noqa: F811
    _throwaway_root_possible()
    backend = Backend(tmp_path / "backend")
    shutil.copytree(backend_template, backend.folder)
    backend.start()
    drive = tmp_path / "drive.nmea"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "nmea_shift_dates.py"), str(GARMIN), str(drive),
                    "--to", (date.today() - timedelta(days=3)).isoformat()], check=True, capture_output=True)
    toml, = guide_blocks(2, "toml")
    slave, port, player = _receiver(drive)
    config = PORT_LINE.sub(f'serial_port = "{port}"', toml, count=1)
    assert port in config
    script = tmp_path / "guide.sh"
    script.write_text(_guide_script(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RITBOX_")}
    process = subprocess.Popen(
        # A PID namespace too: when the script ends, or this test dies, every process started
        # in the throw-away root (the service and its supervisor) ends with it.
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
         "bash", str(HERE / "throwaway_root.sh"),
         str(tmp_path / "root"), str(script)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output: list[str] = []
    try:
        _read_until(process, "SERVICE-STARTED", output, timeout=600)
        _read_until(process, "TRIPS-PENDING", output, timeout=300)
        process.stdin.write(f"{backend.url} {backend.enroll_token()}\n")
        process.stdin.flush()
        _read_until(process, "ENROLLED", output, timeout=120)
        enrollment = json.loads((tmp_path / "root" / "upper" / "var" / "lib" / "ritbox" / "enrollment.json").read_text())
        device_id = enrollment["device_id"]
        # The daemon checks at each sync interval (60 s) whether it was enrolled meanwhile.
        deadline = time.monotonic() + 240
        while not backend.trips(device_id) and time.monotonic() < deadline:
            time.sleep(1)
        trips = backend.trips(device_id)
    finally:
        if process.poll() is None:
            try:  # communicate() closes stdin: the script stops the service and prints its log
                rest, _ = process.communicate(timeout=60)
                output.append(rest)
            except subprocess.TimeoutExpired:
                process.kill()
        backend.kill()
        os.close(slave)
        player.join(timeout=5)
    log = "".join(output)
    assert trips, "no trip reached the backend:\n" + log
    # The service ran once: it picked up the enrollment without a restart (its log as printed at
    # the end; section 5's journalctl printed the beginning of it before).
    service_log = log.rpartition("== the service's log\n")[2]
    assert len(re.findall(r"^started \d+$", service_log, re.M)) == 1, log
    assert "Traceback" not in log, log
    # lgpio could write its pipes (LG_WD in the unit), so the GPIO button is not lost for that
    assert "Can't set permissions" not in service_log, service_log
