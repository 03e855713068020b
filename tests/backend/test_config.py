"""Configuration: defaults, the instance file, RITBOX_* variables, and the refusals."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.config import ConfigError, load_settings, settings_reference


def test_defaults_put_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    config = load_settings({}, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'ritbox.sqlite'}"
    assert config["BABEL_DEFAULT_LOCALE"] == "nl"
    assert "SECRET_KEY" not in config


def test_environment_overrides_instance_file(tmp_path: Path) -> None:
    (tmp_path / "ritbox.toml").write_text('default_locale = "en"\nsession_hours = 4\n')
    config = load_settings({"RITBOX_SESSION_HOURS": "2"}, tmp_path)
    assert config["BABEL_DEFAULT_LOCALE"] == "en"
    assert config["SESSION_HOURS"] == 2


@pytest.mark.parametrize("environ, message", [
    ({"RITBOX_DATBASE_URL": "sqlite://"}, "unknown setting RITBOX_DATBASE_URL"),
    ({"RITBOX_DATABASE_URL": "not a url"}, "RITBOX_DATABASE_URL is not a database URL"),
    ({"RITBOX_DATABASE_URL": "mysql://h/db"}, "unsupported database 'mysql'"),
    ({"RITBOX_DATABASE_URL": "postgresql+psycopg2://h/db"}, "psycopg 3 driver"),
    ({"RITBOX_SESSION_HOURS": "-1"}, "RITBOX_SESSION_HOURS: expected a positive whole number"),
    ({"RITBOX_DEFAULT_LOCALE": "de"}, "RITBOX_DEFAULT_LOCALE: expected one of nl, en"),
    ({"RITBOX_TRUST_PROXY": "maybe"}, "RITBOX_TRUST_PROXY: expected true or false"),
    ({"RITBOX_MAP_TILES": "osm"}, "RITBOX_MAP_TILES: expected off, pdok or a tile URL template"),
    ({"RITBOX_MAP_TILES": "https://tiles.example.nl/{z}/{x}.png"}, "RITBOX_MAP_TILES: expected off, pdok"),
    ({"RITBOX_MAP_TILES": "ftp://tiles.example.nl/{z}/{x}/{y}.png"}, "RITBOX_MAP_TILES: expected off, pdok"),
])
def test_bad_settings_are_refused_by_name(tmp_path: Path, environ: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ, tmp_path)


def test_unknown_key_in_instance_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ritbox.toml").write_text('secret_kee = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting 'secret_kee'"):
        load_settings({}, tmp_path)


def test_variables_of_the_device_and_the_test_harness_are_not_ours(tmp_path: Path) -> None:
    config = load_settings({"RITBOX_DEVICE_CONFIG": "/etc/x", "RITBOX_TEST_POSTGRES_URL": "y"}, tmp_path)
    assert "RITBOX_DEVICE_CONFIG" not in str(config)


def test_reference_lists_every_setting() -> None:
    reference = settings_reference()
    for name in ("RITBOX_SECRET_KEY", "RITBOX_DATABASE_URL", "RITBOX_LOGIN_WINDOW_SECONDS"):
        assert f"`{name}`" in reference


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert settings_reference() in readme


def _flask(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RITBOX_") and not k.startswith("FLASK_")}
    clean.update(env)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "backend", *args], env=clean,
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def _assert_one_line_error(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    result = _flask(["users", "list"], {"RITBOX_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"}, tmp_path)
    _assert_one_line_error(result, "RITBOX_SECRET_KEY is not set")


def test_cli_names_an_unknown_setting(tmp_path: Path) -> None:
    result = _flask(["users", "list"], {"RITBOX_SECRET_KEY": "k", "RITBOX_COLOUR": "blue"}, tmp_path)
    _assert_one_line_error(result, "unknown setting RITBOX_COLOUR")


def test_cli_names_a_malformed_database_url(tmp_path: Path) -> None:
    result = _flask(["users", "list"], {"RITBOX_SECRET_KEY": "k", "RITBOX_DATABASE_URL": "postgres//x"}, tmp_path)
    _assert_one_line_error(result, "RITBOX_DATABASE_URL is not a database URL")


def test_unreachable_postgresql_is_named_with_host_and_port(tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens there, the refusal is immediate.
    result = _flask(["users", "list"], {"RITBOX_SECRET_KEY": "k",
                                        "RITBOX_DATABASE_URL": "postgresql+psycopg://ritbox@127.0.0.1:9/ritbox"},
                    tmp_path)
    _assert_one_line_error(result, "PostgreSQL at 127.0.0.1:9")


def test_debug_mode_runs_without_secret_key(tmp_path: Path) -> None:
    from backend import create_app
    from backend.db import db

    os.environ.pop("RITBOX_SECRET_KEY", None)
    app = create_app({"DEBUG": True, "TESTING": True,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"})
    assert app.config["SECRET_KEY"].startswith("debug-only-")
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("value, origin", [
    (None, None),
    ("off", None),
    ("pdok", "https://service.pdok.nl"),
    ("https://tiles.example.nl:8443/brt/{z}/{x}/{y}.png", "https://tiles.example.nl:8443"),
])
def test_the_csp_admits_a_tile_server_only_when_one_is_set(tmp_path: Path, value, origin) -> None:
    from backend import create_app
    from backend.maps import tile_source

    environ = {"RITBOX_MAP_TILES": value} if value else {}
    config = load_settings(environ, tmp_path)
    source = tile_source(config)
    assert (source.origin if source else None) == origin
    app = create_app({**config, "SECRET_KEY": "x" * 32, "TESTING": True})
    csp = app.test_client().get("/login").headers["Content-Security-Policy"]
    img_src = next(part.strip() for part in csp.split(";") if part.strip().startswith("img-src"))
    assert img_src == ("img-src 'self' data:" + (f" {origin}" if origin else ""))
    assert "script-src 'self';" in csp and "connect-src" not in csp  # scripts and fetches stay ours
