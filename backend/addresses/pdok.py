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


def reverse(url: str, lat: float, lon: float, timeout: float) -> PdokAddress | None:
    """The nearest address within MAX_DISTANCE_M, None when PDOK knows none; PdokError otherwise."""
    try:
        response = requests.get(url, params={"lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "type": "adres",
                                             "rows": 1, "fl": FIELDS},
                                timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise PdokError(f"request failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise PdokError(f"HTTP {response.status_code}")
    try:
        docs = response.json()["response"]["docs"]
    except (ValueError, KeyError, TypeError):
        raise PdokError("not a Locatieserver response") from None
    for doc in docs if isinstance(docs, list) else []:
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
