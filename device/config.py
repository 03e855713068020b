"""The device's configuration file (TOML), read into dataclasses with defaults.

Path: `--config`, else $RITBOX_DEVICE_CONFIG, else /etc/ritbox/ritbox.toml. A missing default
file means "all defaults" (handy for `ritbox replay` on a laptop); a missing file that was asked
for explicitly is an error. Every mistake is a ConfigError with one line a person can act on;
an unknown key is a mistake (a typo must not silently fall back to a default).

Example (all keys optional)::

    [source]
    kind = "serial"            # serial | gpsd | replay
    serial_port = "/dev/serial0"
    baud = "auto"              # or a rate: 4800, 9600, 38400, 115200 ...
    gpsd_host = "127.0.0.1"
    gpsd_port = 2947
    replay_file = ""           # for kind = "replay" (demos, tests)
    replay_realtime = true
    replay_speed = 1.0

    [store]
    path = "/var/lib/ritbox/ritbox.db"
    flush_interval_s = 15.0    # open trip to disk every this many s of driving (5..60; see docs/device-store.md)

    [control]
    socket = "/run/ritbox/control.sock"

    [odometer]
    initial_km = 0.0           # dashboard reading when the device is installed

    [trips]                    # overrides of device.trips.TripSettings fields
    # stop_radius_m = 200

    [backend]
    url = ""                   # for `ritbox sync` (later)

    [privacy]
    private_positions = "sealed"   # sealed | none (what the works-council agreement says)
    sealing_key = ""               # backend's X25519 public key, base64 (or sealing_key_file)
    sealing_key_file = ""

    [gpio]
    button_pin = 17            # omit to run without a button
    led_pin = 27
    ignition_pin = 22          # omit without an ignition wire (docs/device.md, section 11)
    ignition_active_high = true

    [obd]                      # the car's odometer and ignition through an ELM327 adapter
    enabled = false            # off by default
    port = "auto"              # or "/dev/ttyUSB0", "/dev/rfcomm0" (Bluetooth; docs/device.md)
    baud = "auto"              # or a rate: 9600, 38400, 115200
    poll_s = 5.0               # seconds between two engine-speed polls (0.2..60)
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.errors import RitboxError
from device.model import PrivatePositions

DEFAULT_CONFIG_PATH = Path("/etc/ritbox/ritbox.toml")
CONFIG_ENV = "RITBOX_DEVICE_CONFIG"
SOURCE_KINDS = ("serial", "gpsd", "replay")
MIN_FLUSH_INTERVAL_S = 5.0
MAX_FLUSH_INTERVAL_S = 60.0
MIN_OBD_POLL_S = 0.2
MAX_OBD_POLL_S = 60.0


class ConfigError(RitboxError):
    """The configuration file cannot be used as it is."""


@dataclass
class SourceConfig:
    kind: str = "serial"
    serial_port: str = "/dev/serial0"
    baud: int | str = "auto"  # "auto": the daemon tries the common rates (device.source.AUTO_BAUD_RATES)
    gpsd_host: str = "127.0.0.1"
    gpsd_port: int = 2947
    replay_file: str = ""
    replay_realtime: bool = True
    replay_speed: float = 1.0


@dataclass
class StoreConfig:
    path: str = "/var/lib/ritbox/ritbox.db"
    # What a power cut can lose of an open trip vs. SD card wear and CPU: see device.store.
    flush_interval_s: float = 15.0


@dataclass
class ControlConfig:
    socket: str = "/run/ritbox/control.sock"


@dataclass
class OdometerConfig:
    initial_km: float = 0.0


@dataclass
class BackendConfig:
    url: str = ""


@dataclass
class PrivacyConfig:
    private_positions: PrivatePositions = PrivatePositions.SEALED
    sealing_key: str = ""
    sealing_key_file: str = ""


@dataclass
class GpioConfig:
    button_pin: int | None = None
    led_pin: int | None = None
    ignition_pin: int | None = None  # the ignition through an opto-coupler (device.ignition)
    ignition_active_high: bool = True


@dataclass
class ObdConfig:
    enabled: bool = False
    port: str = "auto"  # "auto": python-OBD scans the serial ports for an adapter
    baud: int | str = "auto"
    poll_s: float = 5.0  # engine speed; the odometer at each store flush (device.cli.start_obd)


@dataclass
class DeviceConfig:
    """Everything the daemon needs; `trips` holds TripSettings overrides by field name."""

    source: SourceConfig = field(default_factory=SourceConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    odometer: OdometerConfig = field(default_factory=OdometerConfig)
    trips: dict[str, Any] = field(default_factory=dict)
    backend: BackendConfig = field(default_factory=BackendConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)
    obd: ObdConfig = field(default_factory=ObdConfig)
    path: Path | None = None  # where it was read from, None for pure defaults

    def sealing_key_text(self) -> str | None:
        """The configured sealing public key (base64 text), from inline or file, or None."""
        if self.privacy.sealing_key:
            return self.privacy.sealing_key.strip()
        if self.privacy.sealing_key_file:
            try:
                return Path(self.privacy.sealing_key_file).read_text(encoding="ascii").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"cannot read sealing key file {self.privacy.sealing_key_file}: {exc}"
                ) from None
        return None


_SECTIONS: dict[str, type] = {
    "source": SourceConfig,
    "store": StoreConfig,
    "control": ControlConfig,
    "odometer": OdometerConfig,
    "backend": BackendConfig,
    "privacy": PrivacyConfig,
    "gpio": GpioConfig,
    "obd": ObdConfig,
}


def config_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """Which file to read, and whether the user asked for it (then it must exist)."""
    if explicit:
        return Path(explicit), True
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env), True
    return DEFAULT_CONFIG_PATH, False


def load_config(explicit: str | os.PathLike[str] | None = None) -> DeviceConfig:
    """Read the configuration file; see the module docstring for the path rules."""
    path, required = config_path(explicit)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return DeviceConfig()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    config = parse_config(data, where=str(path))
    config.path = path
    return config


def parse_config(data: dict[str, Any], where: str = "config") -> DeviceConfig:
    """Build a DeviceConfig from parsed TOML, rejecting unknown keys and wrong types."""
    config = DeviceConfig()
    for key, value in data.items():
        if key == "trips":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [trips] must be a table")
            config.trips = dict(value)
        elif key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [{key}] must be a table")
            setattr(config, key, _section(_SECTIONS[key], value, key, where))
        else:
            raise ConfigError(f"{where}: unknown section or key {key!r}")
    if config.source.kind not in SOURCE_KINDS:
        raise ConfigError(
            f"{where}: [source] kind must be one of {', '.join(SOURCE_KINDS)}, not {config.source.kind!r}"
        )
    baud = config.source.baud
    if isinstance(baud, str) and baud != "auto" or isinstance(baud, int) and baud <= 0:
        raise ConfigError(f"{where}: [source] baud must be a rate (e.g. 9600) or \"auto\", not {baud!r}")
    if config.source.replay_speed <= 0:
        raise ConfigError(f"{where}: [source] replay_speed must be greater than 0")
    if not MIN_FLUSH_INTERVAL_S <= config.store.flush_interval_s <= MAX_FLUSH_INTERVAL_S:
        # Below 5 s the SD card gets more than 720 fsyncs an hour; above 60 s a power cut costs
        # more of the trip than the backend's odometer calibration should have to absorb.
        raise ConfigError(
            f"{where}: [store] flush_interval_s must be between {MIN_FLUSH_INTERVAL_S:g} and "
            f"{MAX_FLUSH_INTERVAL_S:g}, not {config.store.flush_interval_s!r}"
        )
    obd_baud = config.obd.baud
    if isinstance(obd_baud, str) and obd_baud != "auto" or isinstance(obd_baud, int) and obd_baud <= 0:
        raise ConfigError(f"{where}: [obd] baud must be a rate (e.g. 38400) or \"auto\", not {obd_baud!r}")
    if not MIN_OBD_POLL_S <= config.obd.poll_s <= MAX_OBD_POLL_S:
        # Faster floods a Bluetooth adapter (each poll is three requests); slower misses a short stop.
        raise ConfigError(f"{where}: [obd] poll_s must be between {MIN_OBD_POLL_S:g} and {MAX_OBD_POLL_S:g}, "
                          f"not {config.obd.poll_s!r}")
    if config.odometer.initial_km < 0:
        raise ConfigError(f"{where}: [odometer] initial_km must not be negative")
    return config


def _section(cls: type, values: dict[str, Any], name: str, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {key!r} in [{name}] (known: {', '.join(sorted(known))})"
            )
        kwargs[key] = _coerce(value, hints[key], f"[{name}] {key}", where)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, what: str, where: str) -> Any:
    """Check a TOML value against a field's type hint; ints are fine for floats."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None):
            continue
        if isinstance(option, type) and issubclass(option, PrivatePositions):
            try:
                return PrivatePositions(value)
            except ValueError:
                allowed = ", ".join(p.value for p in PrivatePositions)
                raise ConfigError(f"{where}: {what} must be one of {allowed}, not {value!r}") from None
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    raise ConfigError(f"{where}: {what} must be {expected}, not {value!r}")
