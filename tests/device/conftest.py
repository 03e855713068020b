"""Fixtures for the device suite: the real NMEA recordings in tests/data/nmea."""
from __future__ import annotations

import pathlib
from collections.abc import Callable

import pytest

NMEA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "nmea"


def recording_path(name: str) -> pathlib.Path:
    """Path of a recording by file name, with or without the .nmea suffix."""
    path = NMEA_DIR / (name if name.endswith(".nmea") else name + ".nmea")
    if not path.is_file():
        raise FileNotFoundError(f"no recording {name!r} in {NMEA_DIR}")
    return path


def all_recordings() -> list[str]:
    """File names of every recording, sorted (for parametrize)."""
    return sorted(p.name for p in NMEA_DIR.glob("*.nmea"))


@pytest.fixture
def recording() -> Callable[[str], pathlib.Path]:
    """`recording("gpsd__hemi")` -> pathlib.Path of tests/data/nmea/gpsd__hemi.nmea."""
    return recording_path
