"""The optional online adapter: PDOK Locatieserver v3.1, reverse endpoint (Dutch addresses from
the BAG). Off unless RITBOX_PDOK_URL is set. Only positions that are not private are ever sent.

Request: GET <RITBOX_PDOK_URL>?lat=..&lon=..&type=adres&rows=1&fl=<fields>
Response (Solr shape): {"response": {"numFound": n, "start": 0, "maxScore": s, "numFoundExact": true,
"docs": [{"type": "adres", "weergavenaam": "Stationsplein 1, 3511ED Utrecht", "straatnaam": ...,
"huisnummer": 1, "huisletter": ..., "huisnummertoevoeging": ..., "postcode": "3511ED",
"woonplaatsnaam": "Utrecht", "afstand": 12.3, "id": "adr-...", "score": ...}]}}
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import requests

log = logging.getLogger(__name__)
FIELDS = ("id type weergavenaam straatnaam huisnummer huisletter huisnummertoevoeging postcode "
          "woonplaatsnaam gemeentenaam afstand")
MAX_DISTANCE_M = 250.0  # a nearest address farther away than this does not describe the spot


@dataclass(frozen=True)
class PdokAddress:
    street: str
    number: str | None
    postcode: str | None
    place: str | None
    display_name: str | None
    distance_m: float | None


class PdokError(RuntimeError):
    """PDOK could not be asked or answered nonsense (the caller falls back to the offline answer)."""


def _docs(url: str, params: dict, timeout: float) -> list:
    """The Locatieserver's result documents for one request; PdokError when it cannot answer."""
    try:
        response = requests.get(url, params=params, timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise PdokError(f"request failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise PdokError(f"HTTP {response.status_code}")
    try:
        docs = response.json()["response"]["docs"]
    except (ValueError, KeyError, TypeError):
        raise PdokError("not a Locatieserver response") from None
    return docs if isinstance(docs, list) else []


def reverse(url: str, lat: float, lon: float, timeout: float) -> PdokAddress | None:
    """The nearest address within MAX_DISTANCE_M, None when PDOK knows none; PdokError otherwise."""
    docs = _docs(url, {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "type": "adres", "rows": 1, "fl": FIELDS},
                 timeout)
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("type") != "adres" or not doc.get("straatnaam"):
            continue
        distance = doc.get("afstand")
        if isinstance(distance, (int, float)) and distance > MAX_DISTANCE_M:
            return None
        number = "".join(str(part) for part in (doc.get("huisnummer"), doc.get("huisletter")) if part)
        if doc.get("huisnummertoevoeging"):
            number = f"{number}-{doc['huisnummertoevoeging']}"
        postcode = str(doc["postcode"]).replace(" ", "").upper() if doc.get("postcode") else None
        return PdokAddress(str(doc["straatnaam"]), number or None, postcode, doc.get("woonplaatsnaam"),
                           doc.get("weergavenaam"), float(distance) if isinstance(distance, (int, float)) else None)
    return None


# --- address search (the driver's places page) ---------------------------------------------------

SEARCH_FIELDS = "id type weergavenaam centroide_ll"
SEARCH_ROWS = 5
_POINT = re.compile(r"POINT\(\s*(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s*\)")


@dataclass(frozen=True)
class PdokHit:
    label: str  # e.g. "Stationsplein 1, 3511ED Utrecht"
    lat: float
    lon: float


def search_url(reverse_url: str) -> str:
    """The free-text endpoint beside the configured reverse endpoint (.../v3_1/reverse -> .../v3_1/free)."""
    return reverse_url.rstrip("/").rsplit("/", 1)[0] + "/free"


def search(reverse_url: str, text: str, timeout: float) -> list[PdokHit]:
    """Addresses matching a typed text (Locatieserver /free, type adres), best first; PdokError
    when PDOK cannot be asked. The text goes from the server, so PDOK never sees the driver's IP."""
    docs = _docs(search_url(reverse_url),
                 {"q": text, "fq": "type:adres", "rows": SEARCH_ROWS, "fl": SEARCH_FIELDS}, timeout)
    hits = []
    for doc in docs:
        if not isinstance(doc, dict) or not isinstance(doc.get("weergavenaam"), str):
            continue
        point = _POINT.fullmatch(str(doc.get("centroide_ll", "")).strip())
        if point is None:
            continue
        lon, lat = float(point[1]), float(point[2])
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            hits.append(PdokHit(doc["weergavenaam"][:200], lat, lon))
    return hits
