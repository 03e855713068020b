"""Byte sources: a pseudo-terminal stands in for the serial port, a tiny TCP server for gpsd."""
from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from pathlib import Path

import pynmea2
import pytest
import serial

from device.source import (
    GPSD_WATCH,
    GpsdSource,
    ReplaySource,
    SerialSource,
    SourceError,
    rmc_time_of_day,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "nmea"
LEAFLET = DATA / "leaflet-nmealayer__test.nmea"
GARMIN = DATA / "dotmorten__NmeaSampleData.nmea"
BU353 = DATA / "gpsd__bu353s4.nmea"


class Pump:
    """Iterates a source on a thread and hands the chunks over through a queue."""

    def __init__(self, source) -> None:
        self.source = source
        self.chunks: queue.Queue[bytes] = queue.Queue()
        self.heartbeats = 0
        self.count = 0  # non-empty chunks
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for chunk in self.source:
                if chunk:
                    self.count += 1
                    self.chunks.put(chunk)
                else:
                    self.heartbeats += 1
        except BaseException as exc:  # the test asserts there is none
            self.error = exc

    def read_exactly(self, size: int, timeout: float = 10.0) -> bytes:
        got = b""
        deadline = time.monotonic() + timeout
        while len(got) < size:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"only {len(got)} of {size} bytes arrived"
            try:
                got += self.chunks.get(timeout=remaining)
            except queue.Empty:
                continue
        return got

    def close(self) -> None:
        self.source.stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        assert self.error is None, repr(self.error)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def make_pty() -> tuple[int, str]:
    """A fresh pseudo-terminal; returns the master fd and the slave's path."""
    master, slave = os.openpty()
    name = os.ttyname(slave)
    os.close(slave)  # the source opens it by name, like a real /dev/ttyUSB0
    return master, name


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:4096])
        view = view[written:]


def outage_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]


def back_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is back" in r.getMessage()]


class CountingFactory:
    """Wraps serial.Serial to count open attempts (retries) and successful opens.

    pyserial flushes the input buffer on open, so a test writes only after an open succeeded.
    """

    def __init__(self) -> None:
        self.attempts = 0
        self.opens = 0

    def __call__(self, *args, **kwargs):
        self.attempts += 1
        port = serial.Serial(*args, **kwargs)
        self.opens += 1
        return port


# --- serial ---------------------------------------------------------------------------------


def test_serial_reads_a_recording_through_a_pty() -> None:
    master, name = make_pty()
    data = LEAFLET.read_bytes()
    factory = CountingFactory()
    pump = Pump(SerialSource(name, 9600, read_timeout=0.05, serial_factory=factory))
    try:
        wait_for(lambda: factory.opens == 1)
        writer = threading.Thread(target=write_all, args=(master, data))
        writer.start()
        assert pump.read_exactly(len(data)) == data
        writer.join()
        assert pump.count <= len(data) // 1000, "read in blocks, not byte by byte"
    finally:
        pump.close()
        os.close(master)


def test_serial_missing_port_logs_one_line_and_retries_until_it_appears(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ritbox.source")
    link = tmp_path / "gps0"
    factory = CountingFactory()
    source = SerialSource(
        str(link), 9600, read_timeout=0.05, backoff_initial=0.01, backoff_max=0.04,
        serial_factory=factory,
    )
    pump = Pump(source)
    master, name = make_pty()
    try:
        wait_for(lambda: factory.attempts >= 6)
        assert len(outage_lines(caplog)) == 1, "one line per outage, not one per retry"
        assert "No such file or directory" in outage_lines(caplog)[0]
        assert str(link) in outage_lines(caplog)[0]
        link.symlink_to(name)  # the receiver is plugged in
        wait_for(lambda: factory.opens == 1)
        payload = b"$GPGGA,hello*00\r\n"
        write_all(master, payload)
        assert pump.read_exactly(len(payload)) == payload
        assert len(back_lines(caplog)) == 1
    finally:
        pump.close()
        os.close(master)
    assert len(outage_lines(caplog)) == 1


def test_serial_survives_unplug_and_replug(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ritbox.source")
    link = tmp_path / "gps0"
    master, name = make_pty()
    link.symlink_to(name)
    factory = CountingFactory()
    source = SerialSource(
        str(link), 4800, read_timeout=0.05, backoff_initial=0.01, backoff_max=0.04,
        serial_factory=factory,
    )
    pump = Pump(source)
    data = BU353.read_bytes()
    half = len(data) // 2
    try:
        wait_for(lambda: factory.opens == 1)
        write_all(master, data[:half])
        assert pump.read_exactly(half) == data[:half]
        # Unplug: the device node goes away and reads fail.
        os.close(master)
        link.unlink()
        wait_for(lambda: factory.attempts >= 6)
        assert len(outage_lines(caplog)) == 1
        # Replug: a new device node behind the same port name.
        master, name = make_pty()
        link.symlink_to(name)
        wait_for(lambda: factory.opens == 2)
        write_all(master, data[half:])
        assert pump.read_exactly(len(data) - half) == data[half:]
        assert len(back_lines(caplog)) == 1
    finally:
        pump.close()
        os.close(master)
    assert len(outage_lines(caplog)) == 1


def test_serial_read_timeouts_yield_heartbeats_and_a_long_silence_reopens(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ritbox.source")
    master, name = make_pty()
    factory = CountingFactory()
    source = SerialSource(
        name, 9600, read_timeout=0.02, silence_s=0.2, backoff_initial=0.01, backoff_max=0.02,
        serial_factory=factory,
    )
    pump = Pump(source)
    try:
        wait_for(lambda: factory.attempts >= 3)  # silence made it reopen, more than once
        assert pump.heartbeats > 0
        assert len(outage_lines(caplog)) == 1
        assert "no data" in outage_lines(caplog)[0]
        opens = factory.opens
        wait_for(lambda: factory.opens > opens)  # written right after a fresh open
        write_all(master, b"$GPRMC*00\r\n")
        assert pump.read_exactly(11) == b"$GPRMC*00\r\n"
    finally:
        pump.close()
        os.close(master)


def test_serial_without_port_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="no serial port"):
        SerialSource("", 9600)


# --- replay ---------------------------------------------------------------------------------


def test_replay_fast_yields_the_file_byte_exact() -> None:
    data = GARMIN.read_bytes()
    source = ReplaySource(GARMIN, realtime=False, chunk_size=10_000)
    chunks = list(source)
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 10_000
    assert source.sleeps == 0


def rmc_seconds_via_pynmea2(path: Path) -> list[float]:
    """Independent reading of the RMC times, with pynmea2 instead of the source's regex."""
    out = []
    for raw in path.read_bytes().splitlines():
        line = raw.decode("ascii", "replace").strip()
        if "RMC," not in line:
            continue
        try:
            msg = pynmea2.parse(line[line.index("$"):])
        except (pynmea2.ParseError, ValueError):
            continue
        t = msg.timestamp
        if t is not None:
            out.append(t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6)
    return out


def test_replay_realtime_sleeps_once_per_epoch_before_its_rmc_line() -> None:
    events: list[tuple[str, object]] = []
    source = ReplaySource(LEAFLET, realtime=True, speed=10.0, sleep=lambda s: events.append(("sleep", s)))
    for chunk in source:
        events.append(("chunk", chunk))
    assert b"".join(c for kind, c in events if kind == "chunk") == LEAFLET.read_bytes()

    seconds = rmc_seconds_via_pynmea2(LEAFLET)
    steps = [b - a for a, b in zip(seconds, seconds[1:]) if b - a > 0]
    sleeps = [s for kind, s in events if kind == "sleep"]
    assert len(sleeps) == len(steps) == source.sleeps
    assert sleeps == pytest.approx([s / 10.0 for s in steps])
    # Every pause comes right before the RMC line of the new epoch, never after it.
    for index, (kind, _) in enumerate(events):
        if kind == "sleep":
            following = events[index + 1]
            assert following[0] == "chunk" and b"RMC," in following[1]


def test_replay_realtime_caps_long_recording_gaps() -> None:
    sleeps: list[float] = []
    source = ReplaySource(GARMIN, realtime=True, speed=1.0, max_sleep=2.0, sleep=sleeps.append)
    total = sum(len(chunk) for chunk in source)
    assert total == GARMIN.stat().st_size
    assert max(sleeps) == 2.0  # the 13 and 21 minute logger gaps are capped ...
    assert sleeps.count(2.0) >= 2  # ... and so are the 2 s epochs themselves
    seconds = rmc_seconds_via_pynmea2(GARMIN)
    raw_steps = [(b - a) % 86400 for a, b in zip(seconds, seconds[1:])]
    assert len(sleeps) == sum(1 for s in raw_steps if 0 < s < 43200)


def test_replay_of_a_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(SourceError, match="cannot read recording"):
        list(ReplaySource(tmp_path / "nope.nmea"))


def test_replay_speed_must_be_positive() -> None:
    with pytest.raises(SourceError):
        ReplaySource(LEAFLET, realtime=True, speed=0)


def test_rmc_time_of_day_ignores_garbage() -> None:
    assert rmc_time_of_day(b"$GPRMC,235959.50,A,...*00") == pytest.approx(86399.5)
    assert rmc_time_of_day(b"$GPRMC,,V,,,,,,,,,*00") is None
    assert rmc_time_of_day(b"$GPRMC,996060,A*00") is None
    assert rmc_time_of_day(b"\x00\xb5b garbage") is None


# --- gpsd -----------------------------------------------------------------------------------


class FakeGpsd:
    """Accepts connections, checks the WATCH command, sends gpsd's JSON banner then NMEA."""

    def __init__(self, payloads: list[bytes]) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.payloads = payloads
        self.commands: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for payload in self.payloads:
            conn, _ = self.server.accept()
            with conn:
                conn.sendall(b'{"class":"VERSION","release":"3.25","proto_major":3,"proto_minor":15}\n')
                command = b""
                while not command.endswith(b"\n"):
                    command += conn.recv(1024)
                self.commands.append(command)
                conn.sendall(b'{"class":"DEVICES","devices":[{"class":"DEVICE","path":"/dev/ttyUSB0"}]}\n'
                             b'{"class":"WATCH","enable":true,"json":false,"nmea":true}\n')
                # Odd chunk sizes, so that lines are split across reads.
                for start in range(0, len(payload), 777):
                    conn.sendall(payload[start:start + 777])
        self.server.close()


def test_gpsd_streams_raw_nmea_and_drops_its_json(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ritbox.source")
    data = LEAFLET.read_bytes()
    first, second = data[: len(data) // 3], data[len(data) // 3:]
    cut = first.rfind(b"\n") + 1  # gpsd forwards whole sentences
    first, second = first[:cut], first[cut:] + second
    fake = FakeGpsd([first, second])
    pump = Pump(GpsdSource("127.0.0.1", fake.port, read_timeout=0.05, backoff_initial=0.01, backoff_max=0.02))
    try:
        # The server drops the first connection mid-recording; the source reconnects.
        assert pump.read_exactly(len(data)) == data
    finally:
        pump.close()
    assert fake.commands == [GPSD_WATCH, GPSD_WATCH]
    assert len(outage_lines(caplog)) >= 1  # the dropped connection is reported ...
    assert all("connection closed" in line or "refused" in line.lower() for line in outage_lines(caplog))


def test_gpsd_not_running_is_one_line_and_retries(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ritbox.source")
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    source = GpsdSource("127.0.0.1", port, read_timeout=0.05, backoff_initial=0.01, backoff_max=0.02)
    pump = Pump(source)
    try:
        time.sleep(0.3)  # ~15 retries at this backoff
    finally:
        pump.close()
    assert len(outage_lines(caplog)) == 1
    assert "refused" in outage_lines(caplog)[0].lower()


class MismatchedUart:
    """A pty stands in for the receiver's UART, but a pty has no baud rate: this factory gives
    what a real UART does when the two ends disagree (every byte garbled) unless the port is
    opened at the receiver's rate. It records the rates tried."""

    def __init__(self, receiver_baud: int) -> None:
        self.receiver_baud = receiver_baud
        self.tried: list[int] = []

    def __call__(self, port: str, baud: int, **kwargs):
        self.tried.append(baud)
        real = serial.Serial(port, baud, **kwargs)
        if baud == self.receiver_baud:
            return real
        original = real.read
        real.read = lambda size=1: bytes((b * 7 + 0x55) & 0xFF for b in original(size))
        return real


def test_auto_baud_finds_the_rate_that_yields_valid_nmea(caplog) -> None:
    caplog.set_level(logging.INFO, logger="ritbox.source")
    master, name = make_pty()
    uart = MismatchedUart(receiver_baud=38400)
    source = SerialSource(name, "auto", read_timeout=0.05, probe_s=0.6, serial_factory=uart)
    stop = threading.Event()

    def receiver() -> None:  # a receiver talking all the time, as a real one does
        lines = LEAFLET.read_bytes().splitlines(keepends=True)
        while not stop.is_set():
            for line in lines[:40]:
                if stop.is_set():
                    return
                write_all(master, line)
                time.sleep(0.005)

    writer = threading.Thread(target=receiver, daemon=True)
    writer.start()
    pump = Pump(source)
    try:
        first = pump.read_exactly(200)
        assert first.startswith(b"$") or b"\n$" in first
        # the complete sentences after the cut (the recording also has $GSENSORD lines without a
        # checksum, which pynmea2 does not parse) are real NMEA
        whole = [line for line in first[first.index(b"$"):].split(b"\r\n")[:-1] if b"*" in line]
        assert whole and all(pynmea2.parse(line.decode(), check=True).sentence_type for line in whole)
        assert source.detected_baud == 38400
        assert uart.tried[:2] == [9600, 38400]
        assert any("at 38400 baud" in r.getMessage() for r in caplog.records)
    finally:
        stop.set()
        pump.close()
        writer.join(timeout=5)
        os.close(master)


def test_auto_baud_names_the_problem_when_no_rate_gives_nmea(caplog) -> None:
    master, name = make_pty()
    uart = MismatchedUart(receiver_baud=1200)  # a rate no receiver uses: nothing decodes
    source = SerialSource(name, "auto", read_timeout=0.05, probe_s=0.2, serial_factory=uart,
                          backoff_initial=30, backoff_max=30)
    stop = threading.Event()

    def receiver() -> None:
        while not stop.is_set():
            write_all(master, b"$GPRMC,081836,A,3751.65,S,14507.36,E,000.0,360.0,130998,011.3,E*62\r\n")
            time.sleep(0.01)

    writer = threading.Thread(target=receiver, daemon=True)
    writer.start()
    pump = Pump(source)
    try:
        wait_for(lambda: outage_lines(caplog), timeout=15)
        assert "no valid NMEA at any baud rate (9600, 38400, 115200, 4800, 57600, 19200)" in outage_lines(caplog)[0]
        assert pump.count == 0
    finally:
        stop.set()
        pump.close()
        writer.join(timeout=5)
        os.close(master)
