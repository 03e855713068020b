"""The installation's settings that change what the documents say: what the system *can* do,
not what the employer intends (WOR art. 27, docs/agreement-documents.md)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Installation:
    database_kind: str  # sqlite or postgresql
    database_location: str  # the SQLite file's folder, or the PostgreSQL host
    sealing_key_path: str
    key_beside_database: bool  # the key lies in the database file's folder: a backup of it opens the seals
    pdok_host: str | None  # street addresses looked up at PDOK: business positions leave the server
    smtp_host: str | None  # employees are also told by e-mail
    map_tiles_host: str | None = None  # browsers fetch map tiles there: it sees the area viewed and the IP

    @classmethod
    def current(cls) -> Installation:
        from backend import sealing_keys
        config = current_app.config
        url = make_url(config["SQLALCHEMY_DATABASE_URI"])
        key_path = sealing_keys.key_path().resolve()
        if url.get_backend_name() == "sqlite":
            database_file = Path(url.database or "").resolve()
            location = str(database_file.parent)
            beside = key_path.is_relative_to(database_file.parent)
            kind = "sqlite"
        else:
            location = url.host or "localhost"
            beside = False
            kind = "postgresql"
        pdok = config.get("PDOK_URL")
        return cls(database_kind=kind, database_location=location, sealing_key_path=str(key_path),
                   key_beside_database=beside, pdok_host=urlsplit(pdok).hostname if pdok else None,
                   smtp_host=config.get("SMTP_HOST") or None, map_tiles_host=_map_tiles_host())


def _map_tiles_host() -> str | None:
    from backend import maps
    source = maps.tile_source()
    return urlsplit(source.url_template).hostname if source else None
