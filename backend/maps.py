"""The maps' background: which tile server (if any) the browser may ask for map tiles.

Off by default: Leaflet draws the route or the places on a plain background and no request
leaves the browser for another host. With a tile source, every tile request tells that server
the area being viewed, the time and the viewer's IP address (docs/maps.md), so it is a setting
the works council can decide on: PDOK's BRT-Achtergrondkaart, or a self-hosted tile server.
The page's CSP admits the tile server's origin for images only, and only when it is set.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from flask import current_app
from markupsafe import Markup, escape

from backend.config import PDOK_BRT_TILES

PDOK_ATTRIBUTION = "Kaartgegevens © Kadaster"
PDOK_MAX_ZOOM = 19  # the BRT-Achtergrondkaart's deepest level in EPSG:3857
SELF_HOSTED_MAX_ZOOM = 18


@dataclass(frozen=True)
class TileSource:
    url_template: str  # Leaflet's {z}/{x}/{y} template
    attribution: str
    max_zoom: int

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url_template)
        return f"{parts.scheme}://{parts.netloc}"


def tile_source(config=None) -> TileSource | None:
    config = current_app.config if config is None else config
    choice = config.get("MAP_TILES", "off")
    if choice == "off":
        return None
    if choice == "pdok":
        return TileSource(PDOK_BRT_TILES, PDOK_ATTRIBUTION, PDOK_MAX_ZOOM)
    return TileSource(choice, config.get("MAP_TILES_ATTRIBUTION") or "", SELF_HOSTED_MAX_ZOOM)


def map_attributes(points: Iterable[Iterable[float]] = (), **extra: str) -> Markup:
    """data- attributes for a map element (backend/static/maps.js): the points to draw, rounded
    to the 5 decimals the pages show, and the tile source when one is set. Data goes in
    attributes because the CSP allows no inline script."""
    rounded = [[round(float(v), 5) for v in point] for point in points]
    attributes = {"data-points": json.dumps(rounded, separators=(",", ":")), **extra}
    source = tile_source()
    if source is not None:
        attributes.update({"data-tile-url": source.url_template, "data-tile-attribution": source.attribution,
                           "data-tile-max-zoom": str(source.max_zoom)})
    return Markup(" ".join(f'{name}="{escape(value)}"' for name, value in attributes.items()))


def init_app(app) -> None:
    app.jinja_env.globals["map_attributes"] = map_attributes
