"""Settings: defaults, then the instance config file, then RITBOX_* environment variables.

Every setting is declared once in SETTINGS; anything else named RITBOX_* (or an unknown key
in the config file) is refused, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "RITBOX_"
# Variables with these prefixes belong to other parts (the device, the test harness).
FOREIGN_ENV_PREFIXES = ("RITBOX_DEVICE_", "RITBOX_TEST_")
CONFIG_FILE_NAME = "ritbox.toml"


class ConfigError(Exception):
    """A setting is missing, unknown or malformed; the message says which and why."""


def _to_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _to_positive_int(value: str | int) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return number


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    return value


def _to_http_url(value: Any) -> str:
    value = _to_str(value).strip()
    if not value.startswith(("http://", "https://")) or len(value) < 12:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value


def _to_locale(value: Any) -> str:
    value = _to_str(value)
    if value not in SUPPORTED_LOCALES:
        raise ValueError(f"expected one of {', '.join(SUPPORTED_LOCALES)}, got {value!r}")
    return value


SUPPORTED_LOCALES = ("nl", "en")
# The Dutch government's topographic background map (Kadaster, BRT-Achtergrondkaart), in the
# web-mercator tiling (EPSG:3857) Leaflet uses by default; free, no key.
PDOK_BRT_TILES = "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png"
MAP_TILES_CHOICES = ("off", "pdok")


def _to_map_tiles(value: Any) -> str:
    """off, pdok, or the XYZ template of a self-hosted tile server: an http(s) URL with {z}, {x}
    and {y}, e.g. https://tiles.example.nl/brt/{z}/{x}/{y}.png."""
    value = _to_str(value).strip()
    if value in MAP_TILES_CHOICES:
        return value
    if value.startswith(("http://", "https://")) and all(part in value for part in ("{z}", "{x}", "{y}")) \
            and not any(c in value for c in " \"'<>"):
        return value
    raise ValueError(f"expected off, pdok or a tile URL template with {{z}}, {{x}} and {{y}}, got {value!r}")
PRIVATE_POSITIONS_POLICIES = ("sealed", "none")


SMTP_SECURITY_MODES = ("starttls", "ssl", "none")
TASK_QUEUES = ("inline", "procrastinate")


def _to_task_queue(value: Any) -> str:
    value = _to_str(value)
    if value not in TASK_QUEUES:
        raise ValueError(f"expected one of {', '.join(TASK_QUEUES)}, got {value!r}")
    return value


def _to_smtp_security(value: Any) -> str:
    value = _to_str(value)
    if value not in SMTP_SECURITY_MODES:
        raise ValueError(f"expected one of {', '.join(SMTP_SECURITY_MODES)}, got {value!r}")
    return value


def _to_private_positions(value: Any) -> str:
    value = _to_str(value)
    if value not in PRIVATE_POSITIONS_POLICIES:
        raise ValueError(f"expected one of {', '.join(PRIVATE_POSITIONS_POLICIES)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Setting:
    name: str  # the key in the config file; the environment variable is RITBOX_<NAME upper>
    flask_key: str  # where the value lands in app.config
    default: Any
    parse: Callable[[Any], Any]
    help: str

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("instance_path", "INSTANCE_PATH", None, _to_str,
            "Folder for the config file ritbox.toml, the SQLite database and key files "
            "(environment only). Default: instance/ beside the backend package."),
    Setting("secret_key", "SECRET_KEY", None, _to_str,
            "Signs sessions and CSRF tokens. Required unless the app runs in debug mode."),
    Setting("database_url", "SQLALCHEMY_DATABASE_URI", None, _to_str,
            "SQLAlchemy URL. Default: a SQLite file ritbox.sqlite in the instance folder. "
            "PostgreSQL: postgresql+psycopg://user:password@host:5432/ritbox"),
    Setting("migrate_database_url", "MIGRATE_DATABASE_URL", None, _to_str,
            "URL that `flask --app backend db upgrade` connects with: the role that owns the tables. "
            "Default: RITBOX_DATABASE_URL. On PostgreSQL give the app a role that owns nothing "
            "(README: two roles); the upgrade then grants it what it needs."),
    Setting("default_locale", "BABEL_DEFAULT_LOCALE", "nl", _to_locale,
            "Language of the web app when the user chose none: nl or en."),
    Setting("login_max_failures_per_account", "LOGIN_MAX_FAILURES_PER_ACCOUNT", 5, _to_positive_int,
            "Failed logins for one account within the window before logins for it are refused."),
    Setting("login_max_failures_per_address", "LOGIN_MAX_FAILURES_PER_ADDRESS", 20, _to_positive_int,
            "Failed logins from one network address within the window before it is refused."),
    Setting("login_window_seconds", "LOGIN_WINDOW_SECONDS", 900, _to_positive_int,
            "The window over which failed logins are counted."),
    Setting("session_hours", "SESSION_HOURS", 8, _to_positive_int,
            "How long a login stays valid."),
    Setting("trust_proxy", "TRUST_PROXY", False, _to_bool,
            "Behind one reverse proxy: take the client address from X-Forwarded-For."),
    Setting("enroll_token_hours", "ENROLL_TOKEN_HOURS", 24, _to_positive_int,
            "How long a device enrollment token stays valid (it works once)."),
    Setting("api_timestamp_window_seconds", "API_TIMESTAMP_WINDOW_SECONDS", 300, _to_positive_int,
            "A signed device request is accepted only when its timestamp is this close to the "
            "server's clock (against replays)."),
    Setting("ingest_max_batch_trips", "INGEST_MAX_BATCH_TRIPS", 500, _to_positive_int,
            "Most trips one upload may carry; more is refused with 413."),
    Setting("ingest_max_body_bytes", "INGEST_MAX_BODY_BYTES", 16 * 1024 * 1024, _to_positive_int,
            "Largest upload body in bytes; more is refused with 413."),
    Setting("private_positions", "PRIVATE_POSITIONS", "sealed", _to_private_positions,
            "What devices record of a private trip's positions, as the works-council agreement "
            "says: sealed (start and end sealed to the backend's key) or none."),
    Setting("sealing_key_path", "SEALING_KEY_PATH", None, _to_str,
            "File with the backend's X25519 sealing keys (created on first use, mode 0600, never "
            "in the database). Default: sealing_keys.pem in the instance folder."),
    Setting("odometer_photo_max_bytes", "ODOMETER_PHOTO_MAX_BYTES", 10 * 1000 * 1000, _to_positive_int,
            "Largest dashboard photo (JPEG, PNG or WebP) accepted with an odometer calibration, in bytes."),
    Setting("pdok_url", "PDOK_URL", None, _to_http_url,
            "Reverse endpoint of the PDOK Locatieserver for street-level addresses, e.g. "
            "https://api.pdok.nl/bzk/locatieserver/search/v3_1/reverse. Default off: addresses come "
            "from named places and the offline GeoNames extract only, and no position leaves the server."),
    Setting("pdok_timeout_seconds", "PDOK_TIMEOUT_SECONDS", 3, _to_positive_int,
            "How long one PDOK request may take before the offline answer is used."),
    Setting("map_tiles", "MAP_TILES", "off", _to_map_tiles,
            "Background of the maps: off (the route on a plain background; no request leaves the "
            "browser), pdok (PDOK's BRT-Achtergrondkaart, the Dutch government's map) or the "
            "template of a self-hosted tile server, e.g. https://tiles.example.nl/{z}/{x}/{y}.png. "
            "A tile request tells the tile server the area being viewed, when, and the viewer's "
            "IP address (docs/maps.md)."),
    Setting("map_tiles_attribution", "MAP_TILES_ATTRIBUTION", None, _to_str,
            "Credit line shown on the map for a self-hosted tile server (pdok: Kadaster's is shown)."),
    Setting("smtp_host", "SMTP_HOST", None, _to_str,
            "Mail server for e-mail to employees (access to their data) and finance (odometer "
            "reminders). Default off: notifications show in the app only."),
    Setting("smtp_port", "SMTP_PORT", 587, _to_positive_int,
            "The mail server's port (587 for STARTTLS, 465 for SSL)."),
    Setting("smtp_security", "SMTP_SECURITY", "starttls", _to_smtp_security,
            "starttls, ssl, or none (only for a relay on the same host or a trusted network)."),
    Setting("smtp_username", "SMTP_USERNAME", None, _to_str,
            "Login at the mail server, if it asks for one."),
    Setting("smtp_password", "SMTP_PASSWORD", None, _to_str,
            "Password for smtp_username. Set it in the environment or the instance file, never in the repository."),
    Setting("smtp_ca_file", "SMTP_CA_FILE", None, _to_str,
            "PEM file with the CA certificate(s) to verify the mail server with, instead of the system's."),
    Setting("smtp_timeout_seconds", "SMTP_TIMEOUT_SECONDS", 10, _to_positive_int,
            "How long one conversation with the mail server may take before it is retried later."),
    Setting("mail_from", "MAIL_FROM", None, _to_str,
            "Sender of Ritbox's e-mail, e.g. Ritbox <ritbox@example.nl>. Required when smtp_host is set."),
    Setting("public_url", "PUBLIC_URL", None, _to_http_url,
            "The address users reach Ritbox at, e.g. https://ritbox.example.nl; e-mails link to it. "
            "Default: the e-mails name no link."),
    Setting("classify_reminder_days", "CLASSIFY_REMINDER_DAYS", 3, _to_positive_int,
            "Days before unclassified trips lock (the correction window ends) that their driver is "
            "reminded, by e-mail and on the home page."),
    Setting("device_silent_days", "DEVICE_SILENT_DAYS", 7, _to_positive_int,
            "Days without an upload after which an active device shows as silent on the home pages "
            "of finance and the administrator."),
    Setting("task_queue", "TASK_QUEUE", "inline", _to_task_queue,
            "Where background work runs (scheduled jobs, fleet exports): inline, in the web process "
            "(one process, SQLite), or procrastinate, a queue in PostgreSQL worked by separate "
            "`flask --app backend worker` processes (docs/deployment.md)."),
)
SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}


def load_settings(environ: Mapping[str, str], instance_path: str | Path) -> dict[str, Any]:
    """Return app.config entries from the instance config file and the environment."""
    raw: dict[str, Any] = {}
    config_file = Path(instance_path) / CONFIG_FILE_NAME
    if config_file.exists():
        try:
            file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: not valid TOML: {exc}") from None
        for key, value in file_values.items():
            if key not in SETTINGS_BY_NAME:
                raise ConfigError(f"{config_file}: unknown setting {key!r}; known: "
                                  + ", ".join(SETTINGS_BY_NAME))
            raw[key] = (value, f"{config_file}: {key}")

    for env_name, value in environ.items():
        if not env_name.startswith(ENV_PREFIX) or env_name.startswith(FOREIGN_ENV_PREFIXES):
            continue
        key = env_name[len(ENV_PREFIX):].lower()
        if key not in SETTINGS_BY_NAME:
            raise ConfigError(f"unknown setting {env_name}; known: "
                              + ", ".join(s.env_name for s in SETTINGS))
        raw[key] = (value, env_name)

    config: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in raw:
            value, origin = raw[setting.name]
            try:
                config[setting.flask_key] = setting.parse(value)
            except ValueError as exc:
                raise ConfigError(f"{origin}: {exc}") from None
        elif setting.default is not None:
            config[setting.flask_key] = setting.default

    if "SQLALCHEMY_DATABASE_URI" not in config:
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(instance_path) / 'ritbox.sqlite'}"
    check_database_url(config["SQLALCHEMY_DATABASE_URI"])
    if "MIGRATE_DATABASE_URL" in config:
        check_database_url(config["MIGRATE_DATABASE_URL"], "RITBOX_MIGRATE_DATABASE_URL")
    if config.get("SMTP_HOST") and not config.get("MAIL_FROM"):
        raise ConfigError("RITBOX_SMTP_HOST is set but RITBOX_MAIL_FROM is not: e-mail needs a sender address")
    return config


def check_database_url(url: str, setting: str = "RITBOX_DATABASE_URL") -> None:
    """Refuse a URL SQLAlchemy cannot use, naming the setting."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{setting} is not a database URL: {url!r} "
                          "(expected e.g. sqlite:///path/ritbox.sqlite or "
                          "postgresql+psycopg://user@host:5432/ritbox)") from None
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(f"{setting}: unsupported database {parsed.get_backend_name()!r}; "
                          "use sqlite or postgresql")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise ConfigError(f"{setting}: use the psycopg 3 driver, "
                          "postgresql+psycopg://... (install ritbox[postgres])")


def settings_reference() -> str:
    """A Markdown table of every setting, for the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = {"secret_key": "(required)", "database_url": "instance/ritbox.sqlite",
                   "instance_path": "instance/",
                   "sealing_key_path": "instance/sealing_keys.pem", "pdok_url": "(off)",
                   "smtp_host": "(off)",
                   "migrate_database_url": "`RITBOX_DATABASE_URL`"}.get(setting.name)
        if default is None:
            default = "(none)" if setting.default is None else f"`{setting.default}`"
        rows.append(f"| `{setting.env_name}` | {default} | {setting.help} |")
    return "\n".join(rows)

