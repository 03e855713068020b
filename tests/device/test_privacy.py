"""The privacy switch, its control socket and its GPIO button (on gpiozero's mock pins)."""
from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device.errors import RitboxError
from device.model import TripMode
from device.privacy import (
    ControlError,
    ControlServer,
    DaemonNotRunning,
    GpioButton,
    GpioUnavailable,
    PrivacySwitch,
    privacy_handler,
    send_command,
)
from device.store import Store, StoreError

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


class FixClock:
    """Stands in for 'time of the latest GPS fix', the daemon's clock for switch changes."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


# ------------------------------------------------------------------------------------ switch

def test_mode_survives_a_restart_through_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "ritbox.db")
    switch = PrivacySwitch(store)
    assert switch.mode is TripMode.BUSINESS
    assert switch.set_private(True) is True
    store.close()

    store = Store(tmp_path / "ritbox.db")
    restarted = PrivacySwitch(store)
    assert restarted.private and restarted.mode is TripMode.PRIVATE
    restarted.set_private(False)
    store.close()
    assert PrivacySwitch(Store(tmp_path / "ritbox.db")).mode is TripMode.BUSINESS


def test_listeners_hear_each_change_with_its_time() -> None:
    clock = FixClock()
    switch = PrivacySwitch(clock=clock)
    heard: list[tuple[TripMode, datetime]] = []
    switch.add_listener(lambda mode, at: heard.append((mode, at)))
    assert switch.set_private(True) is True
    assert switch.set_private(True) is False  # no change, no notification
    assert switch.toggle() is TripMode.BUSINESS
    assert heard == [(TripMode.PRIVATE, T0 + timedelta(seconds=1)), (TripMode.BUSINESS, T0 + timedelta(seconds=2))]


def test_a_failing_listener_does_not_stop_the_others() -> None:
    switch = PrivacySwitch()
    heard: list[TripMode] = []

    def broken(mode: TripMode, at: datetime) -> None:
        raise RuntimeError("listener bug")

    switch.add_listener(broken)
    switch.add_listener(lambda mode, at: heard.append(mode))
    switch.set_private(True)
    assert heard == [TripMode.PRIVATE] and switch.private


class BrokenStore:
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return default

    def set_meta(self, key: str, value: str) -> None:
        raise StoreError("disk full")


def test_private_mode_takes_effect_even_when_it_cannot_be_saved() -> None:
    switch = PrivacySwitch(BrokenStore())
    switch.set_private(True)
    assert switch.private


def test_concurrent_toggles_are_serialised() -> None:
    switch = PrivacySwitch()
    heard: list[TripMode] = []
    switch.add_listener(lambda mode, at: heard.append(mode))
    threads = [threading.Thread(target=lambda: [switch.toggle() for _ in range(50)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(heard) == 200
    # Every notification is a real change, in order: the modes strictly alternate.
    assert all(a is not b for a, b in zip(heard, heard[1:]))
    assert switch.mode is TripMode.BUSINESS and heard[-1] is TripMode.BUSINESS


# ---------------------------------------------------------------------------- control socket

@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "control.sock"


@pytest.fixture
def served(sock_path: Path):
    switch = PrivacySwitch()
    server = ControlServer(sock_path, privacy_handler(switch, lambda: {"pending": 3}))
    server.start()
    yield switch, server
    server.stop()


def test_private_on_off_status_round_trip(served, sock_path: Path) -> None:
    switch, _ = served
    assert send_command(sock_path, {"cmd": "private", "value": "status"}) == {"ok": True, "private": False}
    assert send_command(sock_path, {"cmd": "private", "value": "on"}) == {"ok": True, "private": True, "changed": True}
    assert switch.private
    assert send_command(sock_path, {"cmd": "private", "value": "on"})["changed"] is False
    assert send_command(sock_path, {"cmd": "status"}) == {"ok": True, "private": True, "pending": 3}
    assert send_command(sock_path, {"cmd": "private", "value": "off"})["private"] is False
    assert switch.mode is TripMode.BUSINESS


def test_bad_requests_get_error_answers_and_the_server_lives_on(served, sock_path: Path) -> None:
    assert send_command(sock_path, {"cmd": "reboot"})["error"] == "unknown_command"
    assert send_command(sock_path, {"cmd": "private", "value": "maybe"})["error"] == "bad_request"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.connect(str(sock_path))
        raw.sendall(b"\x00\xffnot json\n")
        answer = json.loads(raw.makefile("rb").readline())
    assert answer["ok"] is False and answer["error"] == "bad_request"
    assert send_command(sock_path, {"cmd": "private", "value": "status"})["ok"] is True


def test_a_failing_handler_is_an_error_answer(sock_path: Path) -> None:
    def handler(request: dict) -> dict:
        raise ValueError("boom")

    with ControlServer(sock_path, handler):
        answer = send_command(sock_path, {"cmd": "status"})
        assert answer["ok"] is False and answer["error"] == "internal"
        assert send_command(sock_path, {"cmd": "status"})["error"] == "internal"  # still serving


def test_no_daemon_is_a_clear_error(sock_path: Path) -> None:
    with pytest.raises(DaemonNotRunning, match=r"ritbox daemon is not running \(no socket at .*control.sock\)"):
        send_command(sock_path, {"cmd": "status"})


def test_a_stale_socket_means_not_running_and_is_replaced(sock_path: Path) -> None:
    sock_path.parent.mkdir(parents=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock_path))
    dead.close()  # a killed daemon leaves its socket file behind
    with pytest.raises(DaemonNotRunning, match="stale socket"):
        send_command(sock_path, {"cmd": "status"})
    with ControlServer(sock_path, privacy_handler(PrivacySwitch())):
        assert send_command(sock_path, {"cmd": "private", "value": "status"})["ok"] is True
    assert not sock_path.exists()  # stop() cleans up
    with pytest.raises(DaemonNotRunning):
        send_command(sock_path, {"cmd": "status"})


def test_a_second_daemon_refuses_to_steal_the_socket(served, sock_path: Path) -> None:
    with pytest.raises(ControlError, match="already running"):
        ControlServer(sock_path, privacy_handler(PrivacySwitch())).start()
    assert send_command(sock_path, {"cmd": "private", "value": "status"})["ok"] is True


def test_a_regular_file_at_the_socket_path_is_not_replaced(sock_path: Path) -> None:
    sock_path.parent.mkdir(parents=True)
    sock_path.write_text("precious")
    with pytest.raises(ControlError, match="not a socket"):
        ControlServer(sock_path, privacy_handler(PrivacySwitch())).start()
    assert sock_path.read_text() == "precious"


def test_a_daemon_that_does_not_answer_times_out(sock_path: Path) -> None:
    sock_path.parent.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
        mute.bind(str(sock_path))
        mute.listen(1)  # accepts into the backlog, never answers
        with pytest.raises(ControlError, match="did not answer within 0.3 s") as info:
            send_command(sock_path, {"cmd": "status"}, timeout=0.3)
        assert not isinstance(info.value, DaemonNotRunning)


# -------------------------------------------------------------------------------------- GPIO

@pytest.fixture
def pins() -> MockFactory:
    factory = MockFactory()
    yield factory
    factory.reset()


def press(factory: MockFactory, pin: int) -> None:
    button = factory.pin(pin)
    button.drive_low()  # the button pulls the pin to ground (gpiozero's default pull-up)
    button.drive_high()


def test_button_toggles_private_mode_and_the_led_shows_it(pins: MockFactory, tmp_path: Path) -> None:
    store = Store(tmp_path / "ritbox.db")
    switch = PrivacySwitch(store)
    gpio = GpioButton(switch, 17, 27, bounce_time=None, pin_factory=pins)
    led = pins.pin(27)
    assert led.state == 0 and not switch.private

    press(pins, 17)
    assert switch.private and led.state == 1
    press(pins, 17)
    assert not switch.private and led.state == 0

    switch.set_private(True, source="cli")  # the LED follows the CLI too
    assert led.state == 1
    gpio.close()
    switch.set_private(False)
    assert store.get_meta("private_mode") == "business"
    store.close()


def test_led_starts_in_the_saved_mode(pins: MockFactory) -> None:
    switch = PrivacySwitch()
    switch.set_private(True)
    gpio = GpioButton(switch, None, 27, pin_factory=pins)
    assert pins.pin(27).state == 1
    gpio.close()


def test_an_unusable_pin_is_a_clear_error(pins: MockFactory) -> None:
    with pytest.raises(GpioUnavailable, match="cannot use GPIO pins 99/27") as info:
        GpioButton(PrivacySwitch(), 99, 27, pin_factory=pins)
    assert isinstance(info.value, RitboxError)
    GpioButton(PrivacySwitch(), 17, 27, pin_factory=pins).close()  # the LED pin was released


def test_a_button_without_any_pin_library_says_what_to_install(monkeypatch):
    """gpiozero without lgpio (the bare `gpiozero` install): "Unable to load any default pin
    factory" must become one line that names the fix, not a button that silently does nothing."""
    import gpiozero

    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(gpiozero.Device, "pin_factory", None)  # as in a fresh daemon process
    with pytest.raises(GpioUnavailable, match="lgpio"):  # this test machine is no Pi: none loads
        GpioButton(PrivacySwitch(), 17, 27)
