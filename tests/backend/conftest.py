"""Fixtures shared by the backend's tests (pytest looks here first; the app, database and browser
fixtures are in tests/conftest.py)."""
from __future__ import annotations

import pytest

from tests.backend.smtp_sink import Server


@pytest.fixture
def smtp():
    """A real SMTP server on a loopback port, for the test's length (tests.backend.smtp_sink)."""
    server = Server()
    server.start()
    yield server
    server.stop()
