"""The privacy switch: the driver's private/business mode, its control socket and GPIO button.

The mode lives in one `PrivacySwitch`. The CLI reaches it over a local Unix socket with a
one-line JSON protocol. A GPIO button toggles it and an LED shows it (on = private). The
mode is persisted in the store's meta table, so a restart never silently leaves private mode.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from device.errors import RitboxError
from device.model import TripMode

log = logging.getLogger(__name__)

META_KEY = "private_mode"
MAX_REQUEST_BYTES = 64 * 1024
Listener = Callable[[TripMode, datetime], None]
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(RitboxError):
    """The control socket cannot be used: bad request, no answer, or a socket problem."""


class DaemonNotRunning(ControlError):
    """No daemon listens on the control socket."""


class GpioUnavailable(RitboxError):
    """gpiozero is missing or has no pins to drive on this machine."""


class MetaStore(Protocol):
    """The part of device.store.Store the switch needs (so tests can use a stand-in)."""

    def get_meta(self, key: str, default: str | None = None) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class PrivacySwitch:
    """Thread-safe current mode; listeners hear every change together with its time.

    `clock` gives the time of a change. The daemon passes the time of the latest GPS fix,
    because the system clock of a Pi without an RTC is not to be trusted. The default system
    clock is for tests and tools.
    """

    def __init__(
        self,
        store: MetaStore | None = None,
        *,
        default: TripMode = TripMode.BUSINESS,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._mode = TripMode(default)
        saved = store.get_meta(META_KEY) if store is not None else None
        if saved is not None:
            try:
                self._mode = TripMode(saved)
            except ValueError:
                log.warning("ignoring unknown saved privacy mode %r", saved)

    @property
    def mode(self) -> TripMode:
        with self._lock:
            return self._mode

    @property
    def private(self) -> bool:
        return self.mode is TripMode.PRIVATE

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(mode, at)` after every change (in the thread that made the change)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def set_mode(self, mode: TripMode, *, source: str = "api") -> bool:
        """Switch to `mode`; returns False when it already was that mode."""
        mode = TripMode(mode)
        with self._lock:
            if mode is self._mode:
                return False
            self._mode = mode
            at = self._clock()
            self._persist(mode)
            listeners = list(self._listeners)
            # Listeners run under the lock so that two quick toggles reach them in order.
            for listener in listeners:
                try:
                    listener(mode, at)
                except Exception:  # noqa: BLE001 - one broken listener must not block the others
                    log.exception("privacy listener failed")
        log.info("privacy mode set to %s by %s", mode.value, source)
        return True

    def set_private(self, on: bool, *, source: str = "api") -> bool:
        return self.set_mode(TripMode.PRIVATE if on else TripMode.BUSINESS, source=source)

    def toggle(self, *, source: str = "api") -> TripMode:
        """Flip the mode and return the new one."""
        with self._lock:
            self.set_private(not self.private, source=source)
            return self._mode

    def _persist(self, mode: TripMode) -> None:
        if self._store is None:
            return
        try:
            self._store.set_meta(META_KEY, mode.value)
        except RitboxError:
            # The switch still takes effect: failing to save must never keep a driver in business mode.
            log.exception("could not persist the privacy mode")


def privacy_handler(
    switch: PrivacySwitch, status: Callable[[], dict[str, Any]] | None = None
) -> Handler:
    """A control handler for {"cmd": "private", "value": "on"|"off"|"status"} and {"cmd": "status"}."""

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "private":
            value = request.get("value", "status")
            if value in ("on", "off"):
                changed = switch.set_private(value == "on", source="control socket")
                return {"ok": True, "private": switch.private, "changed": changed}
            if value == "status":
                return {"ok": True, "private": switch.private}
            return error_response("bad_request", f"private takes on, off or status, not {value!r}")
        if cmd == "status":
            body = dict(status()) if status is not None else {}
            return {"ok": True, "private": switch.private, **body}
        return error_response("unknown_command", f"unknown command {cmd!r}")

    return handle


def error_response(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message}


class ControlServer:
    """Serves one-line JSON requests on a Unix socket, in a daemon thread.

    Protocol: the client sends one JSON object terminated by a newline. The server answers one
    JSON object terminated by a newline and closes the connection.
    """

    def __init__(self, socket_path: str | os.PathLike[str], handler: Handler, *, mode: int = 0o660) -> None:
        self.socket_path = Path(socket_path)
        self.handler = handler
        self.mode = mode
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Bind the socket (replacing a stale one) and start serving."""
        if self._thread is not None:
            return
        path = self.socket_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise ControlError(f"{path} exists and is not a socket; refusing to replace it")
            if _answers(path):
                raise ControlError(f"another ritbox daemon is already running (socket at {path})")
            path.unlink()  # left behind by a daemon that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            os.chmod(path, self.mode)
            sock.listen(8)
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot listen on the control socket {path}: {exc.strerror or exc}") from exc
        sock.settimeout(0.2)  # lets the loop notice stop() without a wake-up connection
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="ritbox-control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and remove the socket file."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            try:
                self.socket_path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("control socket accept failed")
                continue
            with conn:
                conn.settimeout(2.0)
                try:
                    conn.sendall(self._answer(conn))
                except OSError:
                    pass  # the client went away; nothing to tell it

    def _answer(self, conn: socket.socket) -> bytes:
        try:
            line = _read_line(conn)
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except (TimeoutError, OSError):
            response = error_response("bad_request", "no complete request line within 2 s")
        except (ValueError, UnicodeDecodeError):
            response = error_response("bad_request", "a request is one JSON object on one line")
        else:
            try:
                response = self.handler(request)
            except Exception as exc:  # noqa: BLE001 - the daemon must outlive a bad command
                log.exception("control command failed")
                response = error_response("internal", f"the daemon could not do that: {exc}")
        return (json.dumps(response) + "\n").encode("utf-8")


def _read_line(conn: socket.socket) -> str:
    data = bytearray()
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError("request too long")
    return bytes(data).split(b"\n", 1)[0].decode("utf-8")


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def send_command(socket_path: str | os.PathLike[str], cmd: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
    """Send one command to the running daemon and return its JSON answer."""
    path = Path(socket_path)
    if not path.exists():
        raise DaemonNotRunning(f"ritbox daemon is not running (no socket at {path})")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise DaemonNotRunning(f"ritbox daemon is not running (stale socket at {path})") from exc
        except PermissionError as exc:
            raise ControlError(f"no permission to use the control socket {path}") from exc
        sock.sendall((json.dumps(cmd) + "\n").encode("utf-8"))
        data = bytearray()
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except TimeoutError as exc:
        raise ControlError(f"ritbox daemon did not answer within {timeout:g} s") from exc
    except OSError as exc:
        raise ControlError(f"control socket {path} failed: {exc.strerror or exc}") from exc
    finally:
        sock.close()
    try:
        response = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ControlError("ritbox daemon sent an answer that is not JSON") from exc
    if not isinstance(response, dict):
        raise ControlError("ritbox daemon sent an answer that is not a JSON object")
    return response


class GpioButton:
    """A push button that toggles private mode and an LED that is on while private.

    Needs gpiozero (extra `gpio`). The LED follows the switch whatever changed it (CLI too).
    """

    def __init__(
        self,
        switch: PrivacySwitch,
        button_pin: int | str | None,
        led_pin: int | str | None = None,
        *,
        bounce_time: float | None = 0.05,
        pin_factory: Any = None,
    ) -> None:
        try:
            import gpiozero
        except ImportError as exc:
            raise GpioUnavailable("gpiozero is not installed (pip install 'ritbox[gpio]')") from exc
        self._switch = switch
        self.button = None
        self.led = None
        try:
            if led_pin is not None:
                self.led = gpiozero.LED(led_pin, pin_factory=pin_factory)
            if button_pin is not None:
                self.button = gpiozero.Button(button_pin, bounce_time=bounce_time, pin_factory=pin_factory)
                self.button.when_pressed = self._pressed
        except gpiozero.BadPinFactory as exc:
            self.close()
            raise GpioUnavailable(
                "no GPIO pin library works here (on Raspberry Pi OS: pip install 'ritbox[gpio]', "
                "which brings lgpio)") from exc
        except gpiozero.GPIOZeroError as exc:
            self.close()
            raise GpioUnavailable(f"cannot use GPIO pins {button_pin}/{led_pin}: {exc}") from exc
        switch.add_listener(self._changed)
        self._show(switch.mode)

    def _pressed(self) -> None:
        self._switch.toggle(source="button")

    def _changed(self, mode: TripMode, at: datetime) -> None:
        self._show(mode)

    def _show(self, mode: TripMode) -> None:
        if self.led is not None:
            if mode is TripMode.PRIVATE:
                self.led.on()
            else:
                self.led.off()

    def close(self) -> None:
        self._switch.remove_listener(self._changed)
        for device in (self.button, self.led):
            if device is not None:
                device.close()
        self.button = self.led = None
