"""A server deployed from the package, not from a checkout: `pip wheel .`, the wheel installed
(not editable) into a fresh virtual environment, `flask --app backend db upgrade` on a fresh
SQLite database from a folder that is not the checkout, and gunicorn serving the login page over
real HTTP.

The wheel is built from a copy of the source tree (setuptools writes build/ and *.egg-info
where it builds) with the test environment's setuptools (no build isolation: no download).
The fresh environment gets the wheel only; its dependencies (Flask, SQLAlchemy, gunicorn ...)
come from the test environment's site-packages through a .pth line, which adds that folder to
sys.path without running its .pth files, so the checkout's editable install stays invisible.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "instance",
                                    "test-artifacts", "tests", "benchmarks", ".pytest_cache", ".hypothesis")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command} ended with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def _wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    wheelhouse = tmp_path / "wheelhouse"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheelhouse, ".",
         cwd=source)
    [wheel] = wheelhouse.glob("ritbox-*.whl")
    return wheel


def _fresh_environment(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    site_packages = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(site_packages) / "ritbox_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _get(url: str, timeout: float = 120) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read().decode("utf-8")
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_wheel_installs_migrates_a_fresh_database_and_serves_the_login_page(tmp_path: Path) -> None:
    python = _fresh_environment(tmp_path, _wheel(tmp_path))
    server_folder = tmp_path / "srv"  # not the checkout: nothing there but the instance
    server_folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RITBOX_", "PYTHON"))}
    env.update(RITBOX_INSTANCE_PATH=str(server_folder / "instance"), RITBOX_SECRET_KEY="package-test-" + "0" * 32,
               RITBOX_DATABASE_URL=f"sqlite:///{server_folder / 'ritbox.sqlite'}")

    installed = _run(python, "-c", "import backend; print(backend.__file__)", cwd=server_folder, env=env).stdout
    assert installed.startswith(str(tmp_path / "venv")), installed  # the wheel's code, not the checkout's

    _run(python, "-m", "flask", "--app", "backend", "db", "upgrade", cwd=server_folder, env=env)
    heads = _run(python, "-m", "flask", "--app", "backend", "db", "current", cwd=server_folder, env=env)
    assert "(head)" in heads.stdout, heads.stdout + heads.stderr

    port = _free_port()
    server = subprocess.Popen([str(python), "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
                               "backend:create_app()"], cwd=server_folder, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        status, page = _get(f"http://127.0.0.1:{port}/login")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert status == 200, output
    assert 'name="password"' in page and "Inloggen" in page, page[:2000]
