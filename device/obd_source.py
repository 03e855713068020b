"""The car's own odometer, engine state and VIN over OBD-II (an ELM327 adapter), beside the GPS.

python-OBD talks to the adapter. It has no command for the odometer (mode 01 PID A6, 4 bytes in
0.1 km; mandatory in newer cars, absent in many older ones), so ODOMETER is defined here. A thread
of its own polls the car, so that a slow or dead adapter never holds up the NMEA path; the
pipeline only ever reads the latest CarState.

Nothing the adapter says is trusted blindly: an answer that is missing (`NO DATA`, `?`,
`CAN ERROR`, a half line, garbage) is counted under its reason and ignored; an odometer that goes
backwards, or further than a car can drive in the time since the last good reading, is counted and
ignored, so a trip never gets a wrong odometer from the car.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import obd
from obd import OBDCommand
from obd.protocols import ECU

log = logging.getLogger("ritbox.obd")

# A road vehicle covers at most this much per second (300 km/h); more is an adapter's glitch.
MAX_KM_PER_S = 300 / 3600
# Slack for the 0.1 km resolution and readings taken a moment apart.
ODOMETER_SLACK_KM = 0.2
# Above this engine speed the engine runs (idle is 600-900 rpm; a starter turns ~200).
ENGINE_ON_RPM = 400
# The odometer counts as absent after this many polls without an answer in a row.
ODOMETER_MISSING_AFTER = 3


def _data(messages: list[Any]) -> bytes:
    """The data bytes of the first answer from a control unit (mode and PID echo included)."""
    answers = [m for m in messages if m.ecu != ECU.UNKNOWN and m.data]
    return bytes(answers[0].data) if answers else b""


def _decode_odometer(messages: list[Any]) -> float | None:
    """Mode 01 PID A6: 4 bytes, big endian, in 0.1 km; a shorter answer is no reading."""
    data = _data(messages)
    return int.from_bytes(data[2:6], "big") / 10 if len(data) >= 6 and data[:2] == b"\x41\xa6" else None


def _decode_rpm(messages: list[Any]) -> float | None:
    """Mode 01 PID 0C: 2 bytes in 1/4 rpm."""
    data = _data(messages)
    return int.from_bytes(data[2:4], "big") / 4 if len(data) >= 4 and data[:2] == b"\x41\x0c" else None


# Own commands instead of python-OBD's: they take the answer of any control unit and keep the
# adapter's own lines (NO DATA, CAN ERROR, ?), which say why there is no value, and they never pad
# a half answer with zeros (python-OBD does, to the command's size: a cut reply would read as 0).
ODOMETER = OBDCommand("ODOMETER", "Odometer (total distance travelled)", b"01A6", 0,
                      _decode_odometer, ECU.ALL, False)
RPM = OBDCommand("RPM", "Engine speed", b"010C", 0, _decode_rpm, ECU.ALL, False)


@dataclass(frozen=True)
class CarState:
    """What the car said last, each value with the monotonic time it was read (None: never)."""

    connected: bool = False
    odometer_km: float | None = None
    odometer_at: float | None = None
    odometer_supported: bool | None = None  # None until the car answered or failed enough times
    engine_on: bool | None = None
    engine_at: float | None = None
    battery_v: float | None = None
    vin: str | None = None


class OdometerFilter:
    """Accepts only odometer values a car can have produced since the last accepted one."""

    def __init__(self) -> None:
        self.last_km: float | None = None
        self.last_at: float | None = None

    def check(self, km: float, at: float) -> str | None:
        """None when `km` (read at monotonic time `at`) is plausible, else the reason it is not."""
        if km < 0 or km > 9_999_999:
            return "odometer_out_of_range"
        if self.last_km is not None and self.last_at is not None:
            if km < self.last_km - 0.05:
                return "odometer_backwards"
            if km - self.last_km > MAX_KM_PER_S * max(0.0, at - self.last_at) + ODOMETER_SLACK_KM:
                return "odometer_jump"
        self.last_km, self.last_at = km, at
        return None


def _reason(response: Any) -> str:
    """Why an answer carries no value, in one word for the counters."""
    raw = " ".join(m.raw() for m in getattr(response, "messages", []) or []).upper()
    for marker, reason in (("NO DATA", "no_data"), ("CAN ERROR", "can_error"), ("?", "not_understood"),
                           ("STOPPED", "stopped"), ("BUS", "bus_error")):
        if marker in raw:
            return reason
    return "no_answer" if not raw.strip() else "garbage"


class ObdSource:
    """Polls the car through an ELM327 adapter on `port` (or the first one found: "auto")."""

    def __init__(self, port: str = "auto", baud: int | None = None, *, poll_s: float = 1.0,
                 odometer_s: float = 0.0, voltage_s: float = 0.0,
                 timeout: float = 2.0, reconnect_s: float = 5.0,
                 connect: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.port = None if port == "auto" else port
        self.baud = baud
        self.poll_s = poll_s  # the engine speed, every poll
        # The odometer and the supply voltage at most this often (0: every poll). Each request
        # costs the device ~0.4 ms of CPU in python-OBD; the odometer is needed at a trip's start
        # and end (the car stands then) and at a store flush, not every second.
        self.odometer_s = odometer_s
        self.voltage_s = voltage_s
        self._odometer_due = self._voltage_due = 0.0  # time.monotonic(): a wall-clock schedule
        self.timeout = timeout
        self.reconnect_s = reconnect_s
        self._connect = connect or obd.OBD
        self._clock = clock
        self._state = CarState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._filter = OdometerFilter()
        self._odometer_misses = 0
        self.counters: Counter[str] = Counter()
        self.polls = 0  # rounds of the polling loop (benchmarks/device_pipeline.py --obd)
        self.events: list[tuple[str, str | None]] = []  # (kind, detail): taken by the pipeline

    # --------------------------------------------------------------- the pipeline's side

    def state(self) -> CarState:
        with self._lock:
            return self._state

    def counts(self) -> dict[str, int]:
        """A copy of the counters (the polling thread adds to them)."""
        with self._lock:
            return dict(self.counters)

    def take_events(self) -> list[tuple[str, str | None]]:
        with self._lock:
            events, self.events = self.events, []
            return events

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ritbox-obd", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout * 4 + 5)

    # --------------------------------------------------------------- the polling thread

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)

    def _count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def _event(self, kind: str, detail: str | None = None) -> None:
        with self._lock:
            self.events.append((kind, detail))

    def _run(self) -> None:
        while not self._stop.is_set():
            connection = self._open()
            if connection is None:
                self._stop.wait(self.reconnect_s)
                continue
            try:
                self._poll(connection)
            finally:
                try:
                    connection.close()
                except Exception:  # noqa: BLE001 - the adapter is gone already; nothing to release
                    pass
            if not self._stop.is_set():
                self._stop.wait(self.reconnect_s)

    def _open(self) -> Any:
        try:
            connection = self._connect(self.port, self.baud, fast=False, timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - python-OBD raises whatever pyserial raises
            self._count("connect_failed")
            log.debug("OBD adapter: %s", type(exc).__name__)
            return None
        if connection.status() != obd.OBDStatus.CAR_CONNECTED:
            self._count("no_car")
            connection.close()
            return None
        self._set(connected=True)
        self._event("obd_connected")
        log.info("OBD: car connected (%s)", connection.protocol_name())
        vin = self._vin(connection)
        if vin is not None:
            previous = self.state().vin
            self._set(vin=vin)
            if previous is not None and previous != vin:
                self._event("vin_changed", vin)
        return connection

    def _vin(self, connection: Any) -> str | None:
        response = connection.query(obd.commands.VIN, force=True)
        if response.is_null():
            self._count("vin_" + _reason(response))
            return None
        value = response.value
        text = value.decode("ascii", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
        text = "".join(ch for ch in text if ch.isalnum()).upper()
        return text or None

    def _poll(self, connection: Any) -> None:
        silent_since: float | None = None
        while not self._stop.is_set():
            self.polls += 1
            now = time.monotonic()
            answered = False
            if now >= self._odometer_due:
                self._odometer_due = now + self.odometer_s
                answered = self._read_odometer(connection)
            with_voltage = now >= self._voltage_due
            if with_voltage:
                self._voltage_due = now + self.voltage_s
            answered = self._read_engine(connection, with_voltage) or answered
            if answered and connection.is_connected():
                silent_since = None
            else:
                now = self._clock()
                silent_since = silent_since if silent_since is not None else now
                if not connection.is_connected() or now - silent_since >= self.timeout * 3:
                    self._count("adapter_lost")
                    self._set(connected=False)
                    self._event("obd_lost")
                    log.warning("OBD: the adapter stopped answering; the odometer falls back to GPS")
                    return
            self._stop.wait(self.poll_s)

    def _read_odometer(self, connection: Any) -> bool:
        if self.state().odometer_supported is False:
            return False
        response = connection.query(ODOMETER, force=True)
        at = self._clock()
        if response.is_null() or response.value is None:
            self._count("odometer_" + _reason(response))
            self._odometer_misses += 1
            if self.state().odometer_supported is None and self._odometer_misses >= ODOMETER_MISSING_AFTER:
                self._set(odometer_supported=False)
                self._event("obd_no_odometer")
                log.info("OBD: this car does not report its odometer (PID A6); GPS km and calibration as before")
            return False
        self._odometer_misses = 0
        problem = self._filter.check(float(response.value), at)
        if problem is not None:
            self._count(problem)
            return True  # the adapter answered; the value was not believable
        self._set(odometer_km=float(response.value), odometer_at=at, odometer_supported=True)
        return True

    def _read_engine(self, connection: Any, with_voltage: bool = True) -> bool:
        """Engine speed and (`with_voltage`) the adapter's supply voltage; True when the adapter
        answered at all.

        The adapter answers ATRV itself; an engine control unit that answers NO DATA to the
        engine speed while the adapter is alive is asleep: the ignition is off. Without ATRV this
        round, the adapter's own line (NO DATA, CAN ERROR, ?) shows it is alive."""
        response = connection.query(RPM, force=True)
        at = self._clock()
        reason = None if not response.is_null() and response.value is not None else _reason(response)
        if with_voltage:
            voltage = connection.query(obd.commands.ELM_VOLTAGE, force=True)
            adapter_alive = not voltage.is_null() and voltage.value is not None
            if adapter_alive:
                self._set(battery_v=float(voltage.value.magnitude))
        else:
            adapter_alive = reason in (None, "no_data", "can_error", "not_understood", "stopped", "bus_error")
        if reason is not None:
            self._count("rpm_" + reason)
            if adapter_alive and reason == "no_data":
                self._set(engine_on=False, engine_at=at)
            return adapter_alive
        self._set(engine_on=float(response.value) >= ENGINE_ON_RPM, engine_at=at)
        return True
