"""Byte sources for the pipeline: a serial receiver, a recorded file, or a gpsd socket.

Every source is an iterable of `bytes` chunks with a thread-safe `stop()`. Chunks are raw
bytes with no framing promise: a chunk may end mid-sentence, the framer downstream copes.
Live sources yield an empty chunk when a read times out, so that the consumer loop gets a
chance to do housekeeping (apply a privacy switch, notice a stop) while the receiver is silent.

Live sources never raise on a lost device: they log ONE line when an outage starts and one
when the data is back, and retry with capped exponential backoff in between. A log line never
carries a position (only port names, hosts and reasons).
"""
from __future__ import annotations

import functools
import logging
import operator
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import serial

from device.errors import RitboxError

log = logging.getLogger("ritbox.source")

#: Longest sleep between two epochs in a real-time replay (seconds, after the speed factor).
#: Recordings have logger gaps of many minutes (the Garmin drive has 13 and 21 min); pacing
#: them faithfully would stall a demo, and the pipeline takes its time from the NMEA anyway.
REPLAY_MAX_SLEEP_S = 2.0


class SourceError(RitboxError):
    """A source was configured in a way that can never work (not a passing outage)."""


class ByteSource(Protocol):
    """What the pipeline consumes: an iterable of byte chunks that can be stopped."""

    def __iter__(self) -> Iterator[bytes]: ...

    def stop(self) -> None: ...


class Backoff:
    """Capped exponential backoff delays: initial, 2x, 4x ... up to `maximum`."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class OutageLog:
    """Logs one line when an outage starts and one when it ends, never one per retry."""

    def __init__(self, what: str, logger: logging.Logger = log) -> None:
        self.what = what
        self.logger = logger
        self.down_since: float | None = None
        self.outages = 0

    def down(self, reason: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            self.logger.warning("%s unavailable (%s); retrying in the background", self.what, reason)

    def up(self) -> None:
        if self.down_since is not None:
            seconds = time.monotonic() - self.down_since
            self.down_since = None
            self.logger.warning("%s is back after %.0f s", self.what, seconds)


def _reason(exc: BaseException) -> str:
    """A short, position-free description of an I/O error for a log line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    # pyserial wraps errno text as "[Errno 2] could not open port X: [Errno 2] No such file ..."
    match = re.search(r"\[Errno -?\d+\] ([^:\[\]]+)$", text)
    return match.group(1).strip() if match else text.splitlines()[0][:200]


# Rates receivers ship with, most common first: NMEA's 4800 and 9600, u-blox/MediaTek 38400 and
# 115200 (10 Hz). 9600 baud carries ~960 bytes/s: too slow for a receiver that sends ~1,700.
AUTO_BAUD_RATES = (9600, 38400, 115200, 4800, 57600, 19200)
_NMEA_LINE = re.compile(rb"\$([\x20-\x29\x2b-\x7e]{5,80})\*([0-9A-Fa-f]{2})")


def valid_nmea_lines(data: bytes) -> int:
    """How many checksummed NMEA sentences `data` holds; at a wrong baud rate there are none."""
    count = 0
    for match in _NMEA_LINE.finditer(data):
        body, want = match.group(1), int(match.group(2), 16)
        if functools.reduce(operator.xor, body, 0) == want:
            count += 1
    return count


class SerialSource:
    """A GPS receiver on a serial port (USB puck, UART on the Pi's GPIO header).

    Survives unplug/replug, a port that does not exist yet, and a receiver that goes silent:
    after `silence_s` without a byte the port is reopened (some USB adapters hang instead of
    failing). Reconnects back off exponentially from `backoff_initial` to `backoff_max` seconds.
    """

    def __init__(
        self,
        port: str,
        baud: int | str = 9600,
        *,
        probe_s: float = 2.5,
        read_timeout: float = 1.0,
        read_size: int = 4096,
        silence_s: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        serial_factory: Callable[..., serial.SerialBase] = serial.Serial,
    ) -> None:
        if not port:
            raise SourceError("no serial port configured")
        if baud != "auto" and not (isinstance(baud, int) and baud > 0):
            raise SourceError(f"baud must be a rate or \"auto\", not {baud!r}")
        self.port = port
        self.baud = baud  # "auto": the first rate of AUTO_BAUD_RATES that yields valid NMEA
        self.probe_s = probe_s
        self.detected_baud: int | None = None
        self._probed = b""  # what the detection read: the first chunk of the stream
        self.read_timeout = read_timeout
        self.read_size = read_size
        self.silence_s = silence_s
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._factory = serial_factory
        self._stop = threading.Event()
        self.outage = OutageLog(f"serial port {port}")
        self.bytes_read = 0

    def stop(self) -> None:
        self._stop.set()

    def _open(self) -> serial.SerialBase | None:
        if self.baud != "auto":
            return self._open_at(int(self.baud))
        rates = AUTO_BAUD_RATES
        if self.detected_baud is not None:  # a replugged receiver is most likely the same one
            rates = (self.detected_baud, *(r for r in rates if r != self.detected_baud))
        heard_bytes = False
        for rate in rates:
            port = self._open_at(rate)
            if port is None:
                return None  # the port itself is missing: no rate will help
            sample = self._probe(port)
            if valid_nmea_lines(sample) >= 2:
                if self.detected_baud != rate:
                    log.info("serial port %s: the receiver sends at %d baud", self.port, rate)
                self.detected_baud = rate
                self._probed = sample
                return port
            heard_bytes = heard_bytes or bool(sample)
            self._close(port)
            if self._stop.is_set():
                return None
        tried = ", ".join(map(str, rates))
        self.outage.down(f"no valid NMEA at any baud rate ({tried})" if heard_bytes else "no data at any baud rate")
        return None

    def _open_at(self, rate: int) -> serial.SerialBase | None:
        try:
            return self._factory(self.port, rate, timeout=self.read_timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            self.outage.down(_reason(exc))
            return None

    def _probe(self, port: serial.SerialBase) -> bytes:
        """Read for up to probe_s seconds or until two sentences pass their checksum."""
        sample = b""
        deadline = time.monotonic() + self.probe_s
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                sample += port.read(self.read_size)
            except (serial.SerialException, OSError, TypeError):
                break
            if valid_nmea_lines(sample) >= 2:
                break
        return sample

    @staticmethod
    def _close(port: serial.SerialBase) -> None:
        try:
            port.close()
        except (serial.SerialException, OSError):
            pass  # the device is already gone; nothing to release

    def __iter__(self) -> Iterator[bytes]:
        while not self._stop.is_set():
            port = self._open()
            if port is None:
                self._stop.wait(self._backoff.next_delay())
                continue
            try:
                if self._probed:
                    self.bytes_read += len(self._probed)
                    probed, self._probed = self._probed, b""
                    self.outage.up()
                    yield probed
                yield from self._read_until_lost(port)
            finally:
                self._close(port)
            if not self._stop.is_set():
                self._stop.wait(self._backoff.next_delay())

    def _read_until_lost(self, port: serial.SerialBase) -> Iterator[bytes]:
        last_data = time.monotonic()
        while not self._stop.is_set():
            try:
                # Up to read_size bytes or read_timeout: about one feed per second at 1 Hz,
                # instead of one per byte (a Pi Zero notices the difference).
                data = port.read(self.read_size)
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial on a vanished USB device can hit a None fd internally.
                self.outage.down(_reason(exc))
                return
            if data:
                self.outage.up()
                self._backoff.reset()
                last_data = time.monotonic()
                self.bytes_read += len(data)
                yield data
            else:
                if time.monotonic() - last_data >= self.silence_s:
                    self.outage.down(f"no data for {self.silence_s:.0f} s")
                    return
                yield b""


class ReplaySource:
    """A recorded NMEA file, either as fast as possible or paced by its RMC times.

    Real-time pacing sleeps the RMC time-of-day delta between epochs, divided by `speed`,
    and never longer than `max_sleep` seconds (see REPLAY_MAX_SLEEP_S). Backward steps are
    not slept (except a step over midnight, which is a normal forward step).
    """

    def __init__(
        self,
        path: str | Path,
        realtime: bool = False,
        *,
        speed: float = 1.0,
        max_sleep: float = REPLAY_MAX_SLEEP_S,
        chunk_size: int = 64 * 1024,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if speed <= 0:
            raise SourceError("replay speed must be greater than 0")
        self.path = Path(path)
        self.realtime = realtime
        self.speed = speed
        self.max_sleep = max_sleep
        self.chunk_size = chunk_size
        self._stop = threading.Event()
        self._sleep = sleep if sleep is not None else self._stop.wait
        self.sleeps: int = 0  # number of pacing pauses, for tests and the curious

    def stop(self) -> None:
        self._stop.set()

    def _open(self):
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot read recording {self.path}: {_reason(exc)}") from None

    def __iter__(self) -> Iterator[bytes]:
        with self._open() as fh:
            if self.realtime:
                yield from self._paced(fh)
            else:
                while not self._stop.is_set():
                    # read1: what is there, up to chunk_size; a FIFO (a demo feed) is not held
                    # back until a whole chunk has arrived.
                    chunk = fh.read1(self.chunk_size)
                    if not chunk:
                        return
                    yield chunk

    def _paced(self, fh) -> Iterator[bytes]:
        previous: float | None = None
        # Split on LF only: CR-only files then come as one big piece, which is still correct
        # (just not paced); the framer does the real framing.
        for line in fh:
            if self._stop.is_set():
                return
            seconds = rmc_time_of_day(line)
            if seconds is not None:
                if previous is not None:
                    delta = seconds - previous
                    if delta < -43200:  # the clock passed midnight
                        delta += 86400
                    if delta > 0:
                        self.sleeps += 1
                        self._sleep(min(delta / self.speed, self.max_sleep))
                previous = seconds
            yield line


_RMC_TIME = re.compile(rb"\$[A-Z]{2}RMC,(\d{2})(\d{2})(\d{2}(?:\.\d+)?),")


def rmc_time_of_day(line: bytes) -> float | None:
    """Seconds since midnight of an RMC line, or None. Only for pacing, so no checksum check."""
    match = _RMC_TIME.search(line)
    if match is None:
        return None
    hours, minutes, seconds = int(match.group(1)), int(match.group(2)), float(match.group(3))
    if hours > 23 or minutes > 59 or seconds >= 61:
        return None
    return hours * 3600 + minutes * 60 + seconds


#: Asks gpsd to forward the receiver's raw NMEA instead of its own JSON reports.
GPSD_WATCH = b'?WATCH={"enable":true,"nmea":true};\n'


class GpsdSource:
    """Raw NMEA from a gpsd daemon (for Pis that already run gpsd for other programs).

    gpsd answers the WATCH with a few JSON lines (VERSION, DEVICES, WATCH); those are dropped
    here so that they do not count as skipped NMEA. Reconnects like SerialSource.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 2947,
        *,
        read_timeout: float = 1.0,
        silence_s: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.read_timeout = read_timeout
        self.silence_s = silence_s
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._stop = threading.Event()
        self.outage = OutageLog(f"gpsd at {host}:{port}")

    def stop(self) -> None:
        self._stop.set()

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.read_timeout)
            sock.settimeout(self.read_timeout)
            sock.sendall(GPSD_WATCH)
            return sock
        except OSError as exc:
            self.outage.down(_reason(exc))
            return None

    def __iter__(self) -> Iterator[bytes]:
        while not self._stop.is_set():
            sock = self._connect()
            if sock is None:
                self._stop.wait(self._backoff.next_delay())
                continue
            try:
                yield from self._read_until_lost(sock)
            finally:
                sock.close()
            if not self._stop.is_set():
                self._stop.wait(self._backoff.next_delay())

    def _read_until_lost(self, sock: socket.socket) -> Iterator[bytes]:
        last_data = time.monotonic()
        pending = b""  # an unfinished line, held back until we know whether it is JSON
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if time.monotonic() - last_data >= self.silence_s:
                    self.outage.down(f"no data for {self.silence_s:.0f} s")
                    return
                yield b""
                continue
            except OSError as exc:
                self.outage.down(_reason(exc))
                return
            if not data:
                self.outage.down("connection closed")
                return
            self.outage.up()
            self._backoff.reset()
            last_data = time.monotonic()
            pending += data
            cut = pending.rfind(b"\n") + 1
            if cut == 0:
                if len(pending) > 65536:  # no newline in 64 KiB: not JSON we could drop anyway
                    yield pending
                    pending = b""
                continue
            complete, pending = pending[:cut], pending[cut:]
            yield drop_json_lines(complete)


def drop_json_lines(data: bytes) -> bytes:
    """Remove gpsd's JSON reports (lines starting with '{') from complete lines."""
    if b"{" not in data:
        return data
    return b"".join(line for line in data.splitlines(keepends=True) if not line.lstrip().startswith(b"{"))
