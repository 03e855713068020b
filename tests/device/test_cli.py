"""The `ritbox` command, run as a separate process the way a person or systemd runs it."""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "nmea"
RECORDINGS = sorted(DATA.glob("*.nmea"))
LEAFLET = DATA / "leaflet-nmealayer__test.nmea"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


def provenance() -> dict[str, tuple[bool, float, float | None]]:
    """file -> (moving?, distance km, max km/h) from the 'moving?' column of PROVENANCE.md."""
    out = {}
    for line in (DATA / "PROVENANCE.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 10 or not cells[1].startswith("`"):
            continue
        name = cells[1].strip("`")
        moving = cells[8]
        match = re.search(r"\(([\d.]+|n/a) km/h.*?, ([\d.]+) km\)", moving)
        assert match, f"cannot read the moving? column for {name}: {moving}"
        max_kmh = None if match.group(1) == "n/a" else float(match.group(1))
        out[name] = (moving.startswith("YES"), float(match.group(2)), max_kmh)
    return out


PROVENANCE = provenance()


def ritbox(*args: str, config: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("RITBOX_DEVICE_CONFIG", None)
    if config is not None:
        env["RITBOX_DEVICE_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "device.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "ritbox.toml"
    path.write_text("")
    return path


def test_every_recording_is_covered_by_provenance() -> None:
    assert RECORDINGS, "no recordings in tests/data/nmea"
    assert {p.name for p in RECORDINGS} == set(PROVENANCE)


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_replay_fast_json_is_plausible_for_every_recording(path: Path, config: Path) -> None:
    result = ritbox("replay", str(path), "--fast", "--json", "--odometer", "1000", config=config)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)  # exactly one JSON value: trailing text would fail here
    assert isinstance(summary, dict)

    sentences, fixes, skipped = summary["sentences"], summary["fixes"], summary["skipped"]
    assert sentences > 0
    assert all(isinstance(v, int) and v >= 0 for v in skipped.values())
    assert 0 <= fixes <= sentences
    assert sum(skipped.values()) <= sentences

    moving, distance_km, max_kmh = PROVENANCE[path.name]
    trips = summary["trips"]
    odometer = 1000.0
    previous_end = None
    for trip in trips:
        assert ISO_Z.match(trip["started_at"]) and ISO_Z.match(trip["ended_at"])
        start, end = (datetime.fromisoformat(trip[k].replace("Z", "+00:00")) for k in ("started_at", "ended_at"))
        assert start < end
        if previous_end is not None:
            assert start >= previous_end
        previous_end = end
        assert trip["mode"] == "business"
        assert isinstance(trip["flags"], list) and all(isinstance(f, str) for f in trip["flags"])
        assert trip["distance_km"] >= 0
        # a closed chain: each trip starts where the previous one ended
        assert trip["odometer_start_km"] == pytest.approx(odometer, abs=0.0015)
        assert trip["odometer_end_km"] - trip["odometer_start_km"] == pytest.approx(trip["distance_km"], abs=0.0015)
        odometer = trip["odometer_end_km"]
        if max_kmh is not None:
            hours = (end - start).total_seconds() / 3600
            assert trip["distance_km"] / hours <= max_kmh, "average speed above the recording's maximum"
        for gap in trip["gaps"]:
            assert set(gap) == {"started_at", "ended_at", "distance_km", "bridged"}

    if moving:
        between = summary["gaps_between_trips"]
        # The movement is visible: as trips, or (for a recording trimmed to a few fixes) as a gap.
        assert trips or any(g["distance_km"] >= 0.2 and not g["bridged"] for g in between)
        seen_km = sum(t["distance_km"] for t in trips) + sum(g["distance_km"] for g in between)
        assert seen_km == pytest.approx(distance_km, rel=0.10)
    else:
        assert trips == [], "a parked recording must not make trips"


def test_realtime_replay_gives_the_same_result_as_fast(config: Path) -> None:
    fast = ritbox("replay", str(LEAFLET), "--fast", "--json", config=config)
    paced = ritbox("replay", str(LEAFLET), "--speed", "1000", "--json", config=config)
    assert fast.returncode == paced.returncode == 0, paced.stderr
    assert json.loads(paced.stdout) == json.loads(fast.stdout)
    assert json.loads(fast.stdout)["trips"]


def test_replay_prints_a_readable_summary_without_json(config: Path) -> None:
    result = ritbox("replay", str(LEAFLET), "--fast", config=config)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert re.match(r"^2016-04-11T\d\d:\d\d:\d\dZ -> 2016-04-11T.*km .*business", lines[0])
    assert re.match(r"^3201 sentences, 360 fixes, 1 trips; skipped: .*not_nmea 360", lines[-1])


def test_replay_with_private_window_splits_the_trip(config: Path) -> None:
    whole = json.loads(ritbox("replay", str(LEAFLET), "--fast", "--json", config=config).stdout)["trips"]
    assert len(whole) == 1
    result = ritbox(
        "replay", str(LEAFLET), "--fast", "--json",
        "--private-from", "2016-04-11T14:21:00Z", "--private-until", "2016-04-11T14:23:00Z",
        config=config,
    )
    assert result.returncode == 0, result.stderr
    trips = json.loads(result.stdout)["trips"]
    assert [t["mode"] for t in trips] == ["business", "private", "business"]
    assert all("split_private_switch" in t["flags"] for t in trips)
    times = [(_utc(t["started_at"]), _utc(t["ended_at"])) for t in trips]
    for (_, ended), (started, _) in zip(times, times[1:]):
        # The next part starts at the switch fix, where and when the previous part ended.
        assert started == ended
    assert _utc("2016-04-11T14:20:55Z") <= times[0][1] <= _utc("2016-04-11T14:21:00Z")
    assert _utc("2016-04-11T14:22:55Z") <= times[1][1] <= _utc("2016-04-11T14:23:00Z")
    for a, b in zip(trips, trips[1:]):
        assert b["odometer_start_km"] == a["odometer_end_km"]
    # Splitting does not lose or invent km (a few metres of decimation at each split).
    assert sum(t["distance_km"] for t in trips) == pytest.approx(whole[0]["distance_km"], abs=0.05)


def test_replay_into_a_store_then_trips_lists_them(tmp_path, config: Path) -> None:
    store = tmp_path / "state" / "ritbox.db"
    replay = ritbox("replay", str(LEAFLET), "--fast", "--json", "--store", str(store), config=config)
    assert replay.returncode == 0, replay.stderr
    listed = ritbox("trips", "--json", "--store", str(store), config=config)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["chain_ok"] is True
    replayed = json.loads(replay.stdout)["trips"]
    assert [(t["started_at"], t["distance_km"]) for t in data["trips"]] == [
        (t["started_at"], t["distance_km"]) for t in replayed
    ]
    assert [t["seq"] for t in data["trips"]] == [1]
    assert data["trips"][0]["track_points"] >= 3  # simplified (10 m), but a track
    human = ritbox("trips", "--store", str(store), config=config)
    assert human.returncode == 0 and "chain intact" in human.stdout
    status = ritbox("status", "--json", "--store", str(store), config=config)
    assert status.returncode == 0, status.stderr
    body = json.loads(status.stdout)
    assert body["daemon"] == "not running"
    assert body["store"]["pending"] == 1
    assert body["store"]["counters"]["skipped.not_nmea"] == 360


# --- errors: one line, non-zero, no traceback ----------------------------------------------


def test_missing_recording_is_one_line(tmp_path, config: Path) -> None:
    line = assert_one_line_error(ritbox("replay", str(tmp_path / "nope.nmea"), "--fast", config=config))
    assert "cannot read recording" in line


def test_random_bytes_do_not_crash_replay(tmp_path, config: Path) -> None:
    rng = random.Random(20261123)
    junk = bytearray(rng.randbytes(200_000))
    # salt it with sentence starts and line ends so that the framer has work to do
    for _ in range(3000):
        junk[rng.randrange(len(junk))] = rng.choice(b"$\r\n*,")
    path = tmp_path / "junk.nmea"
    path.write_bytes(bytes(junk) + LEAFLET.read_bytes()[:5000] + bytes(junk[:5000]))
    result = ritbox("replay", str(path), "--fast", "--json", config=config)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["skipped"]["not_nmea"] > 0
    assert summary["trips"] == []


def test_unknown_config_key_is_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[source]\nprot = "/dev/ttyUSB0"\n')
    line = assert_one_line_error(ritbox("replay", str(LEAFLET), "--fast", config=bad))
    assert "unknown key 'prot' in [source]" in line


def test_unknown_trip_setting_is_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[trips]\nstop_radius = 100\n")
    line = assert_one_line_error(ritbox("replay", str(LEAFLET), "--fast", config=bad))
    assert "unknown key 'stop_radius' in [trips]" in line


def test_trip_settings_from_config_are_used(tmp_path) -> None:
    strict = tmp_path / "strict.toml"
    # the 2.3 km drive never gets 5 km away, nor drives a 5 km manoeuvre
    strict.write_text("[trips]\nmove_distance_m = 5000\nmanoeuvre_path_m = 5000\n")
    result = ritbox("replay", str(LEAFLET), "--fast", "--json", config=strict)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["trips"] == []


def test_bad_private_time_is_one_line(config: Path) -> None:
    line = assert_one_line_error(ritbox("replay", str(LEAFLET), "--fast", "--private-from", "noon", config=config))
    assert "not an ISO 8601 time" in line


def test_usage_error_is_one_line(config: Path) -> None:
    assert_one_line_error(ritbox("replay", config=config), status=2)
    assert_one_line_error(ritbox("private", "maybe", config=config), status=2)


def test_private_without_daemon_is_one_line_and_exit_1(tmp_path) -> None:
    cfg = tmp_path / "ritbox.toml"
    cfg.write_text(f'[control]\nsocket = "{tmp_path / "control.sock"}"\n')
    for value in ("status", "on", "off"):
        line = assert_one_line_error(ritbox("private", value, config=cfg))
        assert "not running" in line


def test_status_without_store_or_daemon_is_one_line(tmp_path) -> None:
    cfg = tmp_path / "ritbox.toml"
    cfg.write_text(
        f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[store]\npath = "{tmp_path / "none.db"}"\n'
    )
    line = assert_one_line_error(ritbox("status", config=cfg))
    assert "no trip store" in line


# --- the daemon -----------------------------------------------------------------------------


class DaemonProcess:
    """`ritbox run` in the background, with its stderr in a file."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.config = config
        self.stderr_path = tmp_path / "daemon.stderr"
        env = dict(os.environ, RITBOX_DEVICE_CONFIG=str(config))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "device.cli", "run"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.stderr_path.open("w"),
        )

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def daemon_status(config: Path) -> dict:
    result = ritbox("status", "--json", config=config)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_daemon_private_switch_over_the_control_socket(tmp_path) -> None:
    """A FIFO as the replay file lets the test decide when the 'receiver' sends what."""
    fifo = tmp_path / "receiver.fifo"
    os.mkfifo(fifo)
    socket_path = tmp_path / "run" / "control.sock"
    store = tmp_path / "state" / "ritbox.db"
    cfg = tmp_path / "ritbox.toml"
    cfg.write_text(
        f'[source]\nkind = "replay"\nreplay_file = "{fifo}"\nreplay_realtime = false\n'
        f'[store]\npath = "{store}"\n[control]\nsocket = "{socket_path}"\n[odometer]\ninitial_km = 500\n'
    )
    data = LEAFLET.read_bytes()
    cut = data.index(b"$GPRMC,142220")  # mid-drive, at the start of an epoch
    first, second = data[:cut], data[cut:]
    part = tmp_path / "first.nmea"
    part.write_bytes(first)
    expected_fixes_first = json.loads(ritbox("replay", str(part), "--fast", "--json", config=cfg).stdout)["fixes"]

    daemon = DaemonProcess(cfg, tmp_path)
    writer = None
    try:
        wait_for(socket_path.exists, "the control socket")
        assert ritbox("private", "status", config=cfg).stdout.strip() == "private mode is off"

        writer = open(fifo, "wb")  # noqa: SIM115 - closed below to signal the end of input
        writer.write(first)
        writer.flush()
        # The last epoch of the first part stays open until the next epoch starts.
        wait_for(lambda: daemon_status(cfg)["pipeline"]["fixes"] == expected_fixes_first - 1, "first part")
        status = daemon_status(cfg)
        assert status["daemon"] == "running" and status["private"] is False
        assert status["store"]["open_trip"]["mode"] == "business"

        on = ritbox("private", "on", config=cfg)
        assert on.returncode == 0 and on.stdout.strip() == "private mode is now on"
        again = ritbox("private", "on", config=cfg)
        assert again.returncode == 0 and again.stdout.strip() == "private mode was already on"
        assert ritbox("private", "status", config=cfg).stdout.strip() == "private mode is on"
        human = ritbox("status", config=cfg).stdout
        assert re.search(r"^daemon: +running$", human, re.M) and re.search(r"^privacy: +PRIVATE$", human, re.M)
        assert re.search(r"^open trip: +business since 2016-04-11T14:1\d:\d\dZ", human, re.M)

        writer.write(second)
        writer.close()
        writer = None
        wait_for(lambda: daemon_status(cfg)["pipeline"]["source_ended"], "end of the recording")
        status = daemon_status(cfg)
        assert status["private"] is True
        assert status["store"]["open_trip"]["mode"] == "private"
        assert status["store"]["chain_head"]["seq"] == 1  # the business part, closed at the switch

        off = ritbox("private", "off", config=cfg)
        assert off.returncode == 0 and off.stdout.strip() == "private mode is now off"
        wait_for(lambda: daemon_status(cfg)["store"]["chain_head"]["seq"] == 2, "the private part to close")
        assert daemon.stop() == 0
    finally:
        if writer is not None:
            writer.close()
        daemon.kill()
    assert "Traceback" not in daemon.stderr()
    assert not socket_path.exists(), "a clean stop removes the socket"

    trips = json.loads(ritbox("trips", "--json", "--store", str(store), config=cfg).stdout)
    assert trips["chain_ok"] is True
    business, private = trips["trips"]
    assert (business["mode"], private["mode"]) == ("business", "private")
    assert "split_private_switch" in business["flags"] and "split_private_switch" in private["flags"]
    assert business["odometer_start_km"] == 500.0
    assert private["odometer_start_km"] == business["odometer_end_km"]
    switched = _utc("2016-04-11T14:22:20Z")  # the latest fix when the switch was applied
    assert switched.timestamp() - 10 <= _utc(business["ended_at"]).timestamp() <= switched.timestamp()
    assert _utc(private["started_at"]) == _utc(business["ended_at"])  # split at the switch fix: no hole
    assert business["track_points"] >= 2 and private["track_points"] == 0
    # After SIGTERM the mode is kept; the switch at a standstill opened no empty trip.
    after = json.loads(ritbox("status", "--json", "--store", str(store), config=cfg).stdout)
    assert after["daemon"] == "not running" and after["private"] is False
    assert after["store"]["open_trip"] is None
    assert after["store"]["odometer_km"] == private["odometer_end_km"]


def test_daemon_with_missing_serial_port_logs_one_line_and_stops_cleanly(tmp_path) -> None:
    cfg = tmp_path / "ritbox.toml"
    cfg.write_text(
        f'[source]\nkind = "serial"\nserial_port = "{tmp_path / "ttyUSB9"}"\n'
        f'[store]\npath = "{tmp_path / "ritbox.db"}"\n[control]\nsocket = "{tmp_path / "control.sock"}"\n'
    )
    daemon = DaemonProcess(cfg, tmp_path)
    try:
        wait_for(lambda: "unavailable" in daemon.stderr(), "the outage line")
        time.sleep(1.6)  # at 0.5 s, 1 s, ... backoff: at least two more retries
        status = daemon_status(cfg)
        assert status["pipeline"]["fixes"] == 0 and status["pipeline"]["source"] == "serial"
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    stderr = daemon.stderr()
    assert "Traceback" not in stderr
    outage = [line for line in stderr.splitlines() if "unavailable" in line]
    assert len(outage) == 1
    assert "No such file or directory" in outage[0]


def test_second_daemon_on_the_same_socket_is_refused(tmp_path) -> None:
    fifo = tmp_path / "receiver.fifo"
    os.mkfifo(fifo)
    socket_path = tmp_path / "control.sock"
    cfg = tmp_path / "ritbox.toml"
    cfg.write_text(
        f'[source]\nkind = "replay"\nreplay_file = "{fifo}"\n'
        f'[store]\npath = "{tmp_path / "ritbox.db"}"\n[control]\nsocket = "{socket_path}"\n'
    )
    first = DaemonProcess(cfg, tmp_path)
    # keep the FIFO open for writing so the first daemon's source blocks (no EOF)
    holder = threading.Thread(target=lambda: open(fifo, "wb").close(), daemon=True)
    try:
        wait_for(socket_path.exists, "the control socket")
        second = ritbox("run", config=cfg, timeout=30)
        line = assert_one_line_error(second)
        assert "already running" in line
    finally:
        holder.start()  # unblocks the first daemon's open() if it is still waiting
        first.stop()
        first.kill()


def test_daemon_without_gpio_hardware_warns_once_and_keeps_running(tmp_path, monkeypatch) -> None:
    fifo = tmp_path / "receiver.fifo"
    os.mkfifo(fifo)
    socket_path = tmp_path / "control.sock"
    cfg = tmp_path / "ritbox.toml"
    cfg.write_text(
        f'[source]\nkind = "replay"\nreplay_file = "{fifo}"\n[store]\npath = "{tmp_path / "ritbox.db"}"\n'
        f'[control]\nsocket = "{socket_path}"\n[gpio]\nbutton_pin = 17\nled_pin = 27\n'
    )
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-pin-factory")  # no pins, also on a Pi
    daemon = DaemonProcess(cfg, tmp_path)
    try:
        wait_for(socket_path.exists, "the control socket")
        assert ritbox("private", "on", config=cfg).stdout.strip() == "private mode is now on"
        with open(fifo, "wb") as writer:  # end of input, so that the source stops waiting
            writer.write(LEAFLET.read_bytes()[:2000])
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    stderr = daemon.stderr()
    assert "Traceback" not in stderr and "warnings.warn" not in stderr
    assert len([line for line in stderr.splitlines() if "privacy button unavailable" in line]) == 1


def test_a_dead_obd_adapter_never_holds_up_the_gps_path(tmp_path) -> None:
    """[obd] on, the adapter a pseudo-terminal nobody answers on (a dead Bluetooth link): the
    replay runs through the daemon as without OBD, and status says no adapter answers."""
    master, slave = os.openpty()  # kept open, never read or written: every request times out
    try:
        store = tmp_path / "ritbox.db"
        cfg = tmp_path / "ritbox.toml"
        cfg.write_text(
            f'[source]\nkind = "replay"\nreplay_file = "{LEAFLET}"\nreplay_realtime = false\n'
            f'[store]\npath = "{store}"\n[control]\nsocket = "{tmp_path / "control.sock"}"\n'
            f'[obd]\nenabled = true\nport = "{os.ttyname(slave)}"\n'
        )
        expected = json.loads(ritbox("replay", str(LEAFLET), "--fast", "--json", config=cfg).stdout)["fixes"]
        daemon = DaemonProcess(cfg, tmp_path)
        try:
            wait_for(lambda: (tmp_path / "control.sock").exists(), "the control socket")
            wait_for(lambda: daemon_status(cfg)["pipeline"]["source_ended"], "the end of the recording")
            status = daemon_status(cfg)
            assert status["pipeline"]["fixes"] == expected
            assert status["pipeline"]["car"]["connected"] is False
            human = ritbox("status", config=cfg).stdout
            assert re.search(r"^car \(OBD\): +no adapter answering", human, re.M), human
            assert daemon.stop() == 0
        finally:
            daemon.kill()
        assert "Traceback" not in daemon.stderr()
    finally:
        os.close(master)
        os.close(slave)


def test_status_without_obd_says_it_is_off(tmp_path) -> None:
    from device.cli import car_line

    assert car_line(None).startswith("off ([obd] enabled = false)")


def test_the_systemd_units_command_line_is_one_the_cli_takes() -> None:
    """device/ritbox.service starts `ritbox run --config FILE`: the option after the command must
    work as before it (it did not, so the service as installed never ran: issue #15's guide test)."""
    import shlex

    from device.cli import build_parser

    unit = (Path(__file__).resolve().parents[2] / "device" / "ritbox.service").read_text()
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    binary, *args = shlex.split(exec_start)
    assert binary.endswith("/ritbox")
    parsed = build_parser().parse_args(args)
    assert (parsed.command, parsed.config) == ("run", "/etc/ritbox/ritbox.toml")
    before = build_parser().parse_args(["--config", "/a.toml", "status"])
    assert (before.command, before.config) == ("status", "/a.toml")
    assert build_parser().parse_args(["status"]).config is None
