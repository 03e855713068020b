"""The project's metadata and options are in setup.cfg; this adds the one thing setup.cfg cannot
say next to `packages = find:`: the repository's top-level migrations/ folder is installed inside
the backend package, as backend/migrations (setuptools' package_dir mapping), so that a wheel
carries the Alembic scripts and `flask --app backend db upgrade` works without a checkout."""
from setuptools import find_packages, setup

MIGRATIONS = {"backend.migrations": "migrations", "backend.migrations.versions": "migrations/versions"}

setup(
    packages=find_packages(include=["device", "device.*", "backend", "backend.*", "ritbox_verify"]) + list(MIGRATIONS),
    package_dir=MIGRATIONS,
)
