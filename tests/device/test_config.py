"""The device configuration file: defaults, path rules, and one clear line per mistake."""
from __future__ import annotations

import pytest

from device.config import (
    CONFIG_ENV,
    ConfigError,
    DeviceConfig,
    load_config,
    parse_config,
)
from device.model import PrivatePositions

FULL = """
[source]
kind = "gpsd"
serial_port = "/dev/ttyUSB0"
baud = 115200
gpsd_host = "10.0.0.2"
gpsd_port = 2948
replay_file = "/tmp/x.nmea"
replay_realtime = false
replay_speed = 4

[store]
path = "/data/ritbox.db"

[control]
socket = "/run/r.sock"

[odometer]
initial_km = 12345

[trips]
stop_radius_m = 150

[backend]
url = "https://ritbox.example"

[privacy]
private_positions = "none"
sealing_key = "  AAAA  "

[gpio]
button_pin = 17
led_pin = 27
"""


def test_full_file_is_read_into_typed_fields(tmp_path) -> None:
    path = tmp_path / "ritbox.toml"
    path.write_text(FULL)
    config = load_config(path)
    assert config.path == path
    assert config.source.kind == "gpsd"
    assert (config.source.baud, config.source.gpsd_port) == (115200, 2948)
    assert config.source.replay_speed == 4.0 and isinstance(config.source.replay_speed, float)
    assert config.source.replay_realtime is False
    assert config.store.path == "/data/ritbox.db"
    assert config.control.socket == "/run/r.sock"
    assert config.odometer.initial_km == 12345.0
    assert config.trips == {"stop_radius_m": 150}
    assert config.backend.url == "https://ritbox.example"
    assert config.privacy.private_positions is PrivatePositions.NONE
    assert config.sealing_key_text() == "AAAA"
    assert (config.gpio.button_pin, config.gpio.led_pin) == (17, 27)


def test_empty_file_gives_defaults(tmp_path) -> None:
    path = tmp_path / "ritbox.toml"
    path.write_text("")
    config = load_config(path)
    defaults = DeviceConfig()
    assert config.source == defaults.source
    assert config.privacy.private_positions is PrivatePositions.SEALED
    assert config.gpio.button_pin is None
    assert config.sealing_key_text() is None


def test_env_variable_names_the_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "env.toml"
    path.write_text('[store]\npath = "/env/store.db"\n')
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_config().store.path == "/env/store.db"
    # --config wins over the environment
    other = tmp_path / "other.toml"
    other.write_text('[store]\npath = "/cli/store.db"\n')
    assert load_config(other).store.path == "/cli/store.db"


def test_explicit_missing_file_is_an_error(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_sealing_key_file_is_read(tmp_path) -> None:
    key = tmp_path / "seal.pub"
    key.write_text("QUJD\n")
    config = parse_config({"privacy": {"sealing_key_file": str(key)}})
    assert config.sealing_key_text() == "QUJD"
    missing = parse_config({"privacy": {"sealing_key_file": str(tmp_path / "nope")}})
    with pytest.raises(ConfigError, match="cannot read sealing key file"):
        missing.sealing_key_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[source]\nport = "/dev/ttyUSB0"\n', "unknown key 'port' in \\[source\\]"),
        ('colour = "red"\n', "unknown section or key 'colour'"),
        ('[source]\nbaud = "fast"\n', "\\[source\\] baud must be a rate \\(e.g. 9600\\) or \"auto\""),
        ('[source]\nbaud = 0\n', "\\[source\\] baud must be a rate"),
        ('[source]\nbaud = true\n', "\\[source\\] baud must be int or str"),
        ('[source]\nkind = "bluetooth"\n', "kind must be one of serial, gpsd, replay"),
        ('[source]\nreplay_speed = 0\n', "replay_speed must be greater than 0"),
        ('[privacy]\nprivate_positions = "maybe"\n', "must be one of sealed, none"),
        ('[gpio]\nbutton_pin = "17"\n', "button_pin must be int"),
        ('[odometer]\ninitial_km = -1\n', "must not be negative"),
        ("source = 3\n", "\\[source\\] must be a table"),
        ("[source\n", "not valid TOML"),
    ],
)
def test_mistakes_are_one_clear_line(tmp_path, text, message) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_binary_garbage_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError):
        load_config(path)


def test_store_flush_interval_is_read_checked_and_defaults_to_the_store_s(tmp_path) -> None:
    from device.store import FLUSH_INTERVAL_S

    assert DeviceConfig().store.flush_interval_s == FLUSH_INTERVAL_S
    assert parse_config({"store": {"flush_interval_s": 30}}).store.flush_interval_s == 30.0
    assert parse_config({"store": {"flush_interval_s": 5}}).store.flush_interval_s == 5.0
    for bad in (4.9, 61, 0):
        with pytest.raises(ConfigError, match=r"\[store\] flush_interval_s must be between 5 and 60"):
            parse_config({"store": {"flush_interval_s": bad}})


def test_obd_is_off_by_default_and_read_when_configured(tmp_path) -> None:
    assert DeviceConfig().obd.enabled is False
    path = tmp_path / "r.toml"
    path.write_text('[obd]\nenabled = true\nport = "/dev/rfcomm0"\nbaud = 38400\npoll_s = 2\n')
    config = load_config(path)
    assert (config.obd.enabled, config.obd.port, config.obd.baud, config.obd.poll_s) == (
        True, "/dev/rfcomm0", 38400, 2.0)
    assert parse_config({"obd": {"enabled": True}}).obd.port == "auto"
    assert parse_config({"obd": {"enabled": True}}).obd.baud == "auto"


@pytest.mark.parametrize("text, message", [
    ('[obd]\nbaud = "fast"\n', "[obd] baud"),
    ("[obd]\nbaud = 0\n", "[obd] baud"),
    ("[obd]\npoll_s = 0.01\n", "[obd] poll_s"),
    ('[obd]\nspeed = 1\n', "unknown key 'speed' in [obd]"),
])
def test_obd_mistakes_are_one_clear_line(tmp_path, text, message) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)
