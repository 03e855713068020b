"""The OBD source against ELM327-emulator: a real emulated adapter and car on a pseudo-terminal,
python-OBD talking to it as it would to a USB adapter in the car."""
from __future__ import annotations

import logging
import os
import threading
import time

import elm
import obd
import pytest
from elm.obd_message import ELM_FOOTER, ObdMessage

from device.obd_source import ODOMETER_MISSING_AFTER, ObdSource, OdometerFilter

pytestmark = pytest.mark.slow

VIN_A = "WVWZZZ1KZAW123457"
VIN_B = "VF1RFB00765432189"


def odometer_answer(km: float) -> str:
    tenths = round(km * 10)
    data = " ".join(f"{b:02X}" for b in tenths.to_bytes(4, "big"))
    return f"<header>7E8</header><size>06</size><subd>41 A6 {data}</subd>"


def vin_answer(vin: str) -> str:
    """Mode 09 PID 02 as the emulator's own VIN entry answers it (a positive answer)."""
    return "<pos_answer>01 " + " ".join(f"{ord(c):02X}" for c in vin) + "</pos_answer>"


class EmulatedCar:
    """ELM327-emulator on a pty, with the odometer PID the default scenario lacks."""

    def __init__(self) -> None:
        ObdMessage["default"].setdefault("ODOMETER", {
            "Request": "^01A6" + ELM_FOOTER, "Descr": "Total distance travelled",
            "Response": odometer_answer(48210.0)})
        self.emulator = elm.Elm(batch_mode=True)
        # The pty first, then the thread: run() opens one itself when there is none yet, and the
        # two get_pty() calls racing each other made "Pseudo-tty port connection failed".
        self.port = self.emulator.get_pty()
        self.thread = threading.Thread(target=self.emulator.run, daemon=True)
        self.thread.start()
        # run() sets its state to ACTIVE once started: a STOPPED set before then would be lost.
        wait_for(lambda: getattr(self.emulator, "threadState", None) == self.emulator.THREAD.ACTIVE, timeout=10)

    def answer(self, pid: str, text: str) -> None:
        self.emulator.answer[pid] = text

    def pull_out(self) -> None:
        """The adapter pulled out of the OBD socket: the emulator (adapter and car) is gone."""
        self.close()

    def close(self) -> None:
        """Stop the emulator's thread, then close its pty exactly once.

        Not emulator.terminate(): it closes the descriptors but keeps their numbers, and the
        emulator's thread calls it again when its next read or write fails, closing whatever
        file the process has opened since under those numbers."""
        emulator = self.emulator
        if emulator.master_fd is None:
            return
        emulator.threadState = emulator.THREAD.STOPPED
        os.write(emulator.slave_fd, b"\r")  # wakes the thread's blocking read; it sees STOPPED
        self.thread.join(10)
        if self.thread.is_alive():  # leak the pty rather than close numbers still in use
            raise RuntimeError("the emulator's thread did not stop")
        master, slave = emulator.master_fd, emulator.slave_fd
        emulator.master_fd = emulator.slave_fd = None
        os.close(slave)
        os.close(master)


@pytest.fixture
def car():
    logging.getLogger().setLevel(logging.WARNING)  # the emulator logs every request at INFO
    emulated = EmulatedCar()
    yield emulated
    emulated.close()


def wait_for(predicate, timeout: float = 30.0, message=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not reached {message()}"
        time.sleep(0.05)


def test_the_cars_odometer_engine_and_vin_come_through_the_adapter(car):
    car.answer("ODOMETER", odometer_answer(48210.0))
    source = ObdSource(car.port, poll_s=0.1)
    source.start()
    try:
        # One poll reads the odometer, then the engine and the voltage: wait for the whole round.
        wait_for(lambda: source.state().odometer_km == 48210.0 and source.state().battery_v is not None)
        state = source.state()
        assert state.connected and state.odometer_supported is True
        assert state.engine_on is True  # the emulated engine idles at 620 rpm
        assert state.battery_v and 11 < state.battery_v < 15
        assert state.vin
        car.answer("ODOMETER", odometer_answer(48210.5))  # half a kilometre later
        wait_for(lambda: source.state().odometer_km == 48210.5)
        assert ("obd_connected", None) in source.take_events()
    finally:
        source.stop()


def test_a_car_without_the_odometer_pid_says_so_once_and_keeps_the_engine_state(car):
    car.answer("ODOMETER", "NO DATA\r")
    source = ObdSource(car.port, poll_s=0.05)
    source.start()
    try:
        wait_for(lambda: source.state().odometer_supported is False and source.state().engine_on is not None)
        time.sleep(0.3)
        events = source.take_events()
        assert events.count(("obd_no_odometer", None)) == 1
        assert source.state().odometer_km is None
        assert source.counters["odometer_no_data"] == ODOMETER_MISSING_AFTER  # then it stops asking
        assert source.state().engine_on is True
    finally:
        source.stop()


def test_garbage_backwards_and_jumping_odometers_are_counted_and_never_taken(car):
    car.answer("ODOMETER", odometer_answer(48210.0))
    source = ObdSource(car.port, poll_s=0.05)
    source.start()
    try:
        wait_for(lambda: source.state().odometer_km == 48210.0)
        car.answer("ODOMETER", odometer_answer(48100.0))  # backwards
        wait_for(lambda: source.counters["odometer_backwards"] >= 2)
        car.answer("ODOMETER", odometer_answer(49210.0))  # 1,000 km in a moment
        wait_for(lambda: source.counters["odometer_jump"] >= 2)
        car.answer("ODOMETER", "<writeln>CAN ERROR</writeln>")
        wait_for(lambda: source.counters["odometer_can_error"] >= 2)
        car.answer("ODOMETER", "<writeln>41 A6 00</writeln>")  # a half answer
        wait_for(lambda: sum(v for k, v in source.counters.items()
                             if k.startswith("odometer_") and k not in
                             ("odometer_backwards", "odometer_jump", "odometer_can_error")) >= 2)
        assert source.state().odometer_km == 48210.0  # none of it reached the state
        car.answer("ODOMETER", odometer_answer(48210.1))
        wait_for(lambda: source.state().odometer_km == 48210.1)
    finally:
        source.stop()


def test_an_adapter_pulled_out_mid_drive_is_an_event_not_silence(car):
    car.answer("ODOMETER", odometer_answer(48210.0))
    # reconnect_s short: should the first connection fail, it is tried again within the wait;
    # after the pull-out every reconnection fails anyway.
    source = ObdSource(car.port, poll_s=0.05, timeout=0.5, reconnect_s=1)
    source.start()
    try:
        wait_for(lambda: source.state().odometer_km == 48210.0)
        car.pull_out()
        wait_for(lambda: ("obd_lost", None) in source.events, timeout=30)
        assert source.state().connected is False
        assert source.state().odometer_km == 48210.0  # the last good value, with its read time
    finally:
        source.stop()


def test_the_odometer_filter_accepts_only_what_a_car_can_drive():
    plausible = OdometerFilter()
    assert plausible.check(1000.0, at=0.0) is None
    assert plausible.check(1000.0, at=1.0) is None
    assert plausible.check(999.0, at=2.0) == "odometer_backwards"
    assert plausible.check(1005.0, at=3.0) == "odometer_jump"  # 5 km in 2 s
    assert plausible.check(1005.0, at=3600.0) is None  # 5 km in an hour
    assert plausible.check(-1.0, at=3601.0) == "odometer_out_of_range"


def test_a_box_moved_to_another_car_is_a_vin_change_event():
    """The adapter is pulled out of one car and plugged into another (a different VIN)."""
    logging.getLogger().setLevel(logging.WARNING)
    first, second = EmulatedCar(), EmulatedCar()
    first.answer("VIN", vin_answer(VIN_A))
    second.answer("VIN", vin_answer(VIN_B))
    ports = iter([first.port, second.port, second.port, second.port])
    source = ObdSource("auto", poll_s=0.05, timeout=0.5, reconnect_s=0.2,
                       connect=lambda _port, baud, **kw: obd.OBD(next(ports), baud, **kw))
    source.start()
    try:
        wait_for(lambda: source.state().vin == VIN_A)
        first.pull_out()
        wait_for(lambda: source.state().vin == VIN_B)
        events = source.take_events()
        assert ("obd_lost", None) in events and ("vin_changed", VIN_B) in events
    finally:
        source.stop()
        first.close()
        second.close()


def test_not_understood_and_binary_garbage_are_counted_by_name(car):
    car.answer("ODOMETER", odometer_answer(48210.0))
    source = ObdSource(car.port, poll_s=0.05)
    source.start()
    try:
        wait_for(lambda: source.state().odometer_km == 48210.0)
        car.answer("ODOMETER", "<writeln>?</writeln>")
        wait_for(lambda: source.counts().get("odometer_not_understood", 0) >= 2)
        car.answer("ODOMETER", "<writeln>ZZ%%41 A6 G7 #~</writeln>")  # line noise
        wait_for(lambda: source.counts().get("odometer_garbage", 0) + source.counts().get("odometer_no_answer", 0) >= 2)
        assert source.state().odometer_km == 48210.0 and source.state().connected
    finally:
        source.stop()


def test_an_adapter_that_resets_mid_drive_is_lost_and_found_again_never_a_wrong_odometer(car):
    """ATZ mid-drive (a voltage dip): the adapter forgets its settings (echo on, default
    headers); its answers no longer parse. The source calls it lost, connects again (setting
    the adapter up anew) and reads the odometer as before."""
    car.answer("ODOMETER", odometer_answer(48210.0))
    source = ObdSource(car.port, poll_s=0.05, timeout=0.5, reconnect_s=0.5)
    source.start()
    try:
        wait_for(lambda: source.state().odometer_km == 48210.0)
        source.take_events()
        seen = []
        car.emulator.reset(0)
        car.answer("ODOMETER", odometer_answer(48210.3))
        wait_for(lambda: seen.extend(source.take_events()) or ("obd_connected", None) in seen,
                 message=lambda: f"{seen} {source.counts()} {source.state()}")
        assert ("obd_lost", None) in seen
        assert source.state().odometer_km in (48210.0, 48210.3)  # never anything else
        wait_for(lambda: source.state().odometer_km == 48210.3)
        assert source.counts()["adapter_lost"] == 1
    finally:
        source.stop()


def test_an_emulated_car_shut_down_twice_never_closes_a_file_it_does_not_own(tmp_path):
    """ELM327-emulator's terminate() closes its pty descriptors but keeps their numbers, and its
    own thread calls terminate() again when a read fails: a second close hits whatever file has
    since been given that number (CI saw a copytree in a later test fail with EBADF)."""
    logging.getLogger().setLevel(logging.WARNING)
    car = EmulatedCar()
    car.pull_out()
    time.sleep(0.5)  # the emulator's thread notices the closed pty
    files = [open(tmp_path / f"file-{n}", "w+") for n in range(4)]  # take the freed numbers
    try:
        car.close()
        time.sleep(0.5)
        for file in files:
            file.write("still mine")
            file.flush()
            os.fstat(file.fileno())
    finally:
        for file in files:
            file.close()
    assert not car.thread.is_alive()
