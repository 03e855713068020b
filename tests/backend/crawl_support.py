"""A crawl of every page each role can reach, over realistic data: the no-code-no-English test
(test_dutch_everywhere.py, Flask's test client) and the phone test (tests/e2e/test_browser_pages.py,
Chromium) share it. The crawl follows the navigation and the links on each page, so pages added
later are covered without naming them here."""
from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from tests.backend.access_support import granted, make_people, agreement_in_force, request_input, user
from tests.backend.trip_factory import AMSTERDAM, UTRECHT, TripFactory, TripSpec, days_ago

# The people of access_support.make_people, by the role they are logged in as.
ROLE_EMAILS = {
    "driver": "daan@example.nl", "finance": "fatima@example.nl", "manager": "mark@example.nl",
    "or_delegate": "olga@example.nl", "privacy_officer": "pieter@example.nl", "admin": "anna@example.nl",
}
SAME_SHAPE_LIMIT = 3  # pages per endpoint and set of query keys (month navigation would go on forever)
PAGE_LIMIT = 80


@dataclass
class Scene:
    trips: list[int]
    grant_id: int
    request_id: int


def build_scene(app, client, make_user) -> Scene:
    """Trips (business, private, flagged), a grant, a pending request and the audit events these
    leave: what a working installation shows each role."""
    from backend.governance import requests as access_requests
    people = make_people(make_user)
    with app.app_context():
        agreement_in_force(people)
    factory = TripFactory(app, client, driver_email=ROLE_EMAILS["driver"])
    trips = factory.upload(
        TripSpec(started=days_ago(3), km=48210.04 / 1000),
        TripSpec(started=days_ago(3, hour=12), mode="private", start=AMSTERDAM, end=UTRECHT),
        TripSpec(started=days_ago(2), km=7.0, flags=("end_of_input", "gap_bridged")),
        TripSpec(started=days_ago(40), km=1234.56),
    )
    with app.app_context():
        grant = granted(people, grounds="fuel_card_mismatch",
                        categories=("trip_summaries", "business_tracks", "private_trip_details"))
        pending = access_requests.file_request(user(people.other_manager), request_input(people.driver))
        return Scene(trips=trips, grant_id=grant.id, request_id=pending.id)


# --- what a page says -----------------------------------------------------------------------------

class _PageText(HTMLParser):
    """The text a person reads on a page (and hears: labels in attributes), and its links.
    The text of a consented legal document (the regeling, DPIA: class generated-document or
    agreement-text) is kept apart: it cites each purpose by its clause id, and its words are
    fixed by the works council's consent (its SHA-256), so they are not the page's to change."""

    SKIP = {"script", "style", "textarea", "template"}
    SPOKEN = ("title", "aria-label", "placeholder", "alt")
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    CONSENTED = {"generated-document", "agreement-text"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.consented: list[str] = []
        self.links: list[str] = []
        self._skip = 0
        self._open: list[bool] = []  # per open element: does it start a consented document

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in self.VOID:
            self._open.append(bool(self.CONSENTED & set((attrs.get("class") or "").split())))
        if tag in self.SKIP:
            self._skip += 1
        if tag == "a" and attrs.get("href") and "download" not in attrs:
            self.links.append(attrs["href"])
        for name in self.SPOKEN:
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in {"submit", "button"} and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data):
        if not self._skip and data.strip():
            (self.consented if any(self._open) else self.parts).append(data.strip())


def page_text(html: str) -> tuple[str, str, list[str]]:
    """(what the page says, what a consented document on it says, its links)"""
    parser = _PageText()
    parser.feed(html)
    return "\n".join(parser.parts), "\n".join(parser.consented), parser.links


# --- the codes and the English a Dutch page must not show ----------------------------------------

def clause_ids() -> set[str]:
    """The example agreement's purpose ids: a consented document cites its clauses by them."""
    import yaml

    from tests.backend.access_support import EXAMPLE
    return {p["id"] for p in yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["further_purposes"]}


def known_codes(app) -> set[str]:
    """Every code the application knows, collected from the code itself."""
    import yaml

    from backend import accounts, audit
    from backend.governance.forms import CATEGORY_LABELS
    from backend.governance.web import EVENT_LABELS, STATUS_LABELS
    from backend.models.trips import ChainEventKind, IngestFlag, TripMode
    from backend.trips.event_texts import FLAG_LABELS
    from backend.web.roles import ROLE_LABELS
    from tests.backend.access_support import EXAMPLE

    codes: set[str] = set(FLAG_LABELS) | set(CATEGORY_LABELS) | set(STATUS_LABELS) | set(ROLE_LABELS)
    codes |= {str(k) for k in EVENT_LABELS}
    codes |= {e.value for enum in (ChainEventKind, IngestFlag, TripMode) for e in enum}
    codes |= {v for module in (audit, accounts) for k, v in vars(module).items()
              if k.isupper() and isinstance(v, str) and re.fullmatch(r"[a-z][a-z_]+", v)}
    agreement = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for purpose in agreement["further_purposes"]:
        codes.add(purpose["id"])
        codes |= set(purpose["grounds"]["categories"]) | set(purpose["max_scope"]["data_categories"])
    codes |= set(agreement["retention_days"]) | {agreement["private_positions"]}
    codes |= {c for cats in agreement["tax_purpose"]["access"].values() for c in cats}
    # Words that are codes and Dutch words at once are no evidence of a code.
    return {c for c in codes if c not in DUTCH_TOO}


DUTCH_TOO = {"manager", "login", "read"}  # "read" is caught by ENGLISH_WORDS in a sentence

# Words of English sentences that Dutch text never uses (Dutch borrows nouns, not these).
ENGLISH_WORDS = {
    "the", "and", "with", "your", "you", "this", "which", "cannot", "such", "own", "their", "they",
    "should", "would", "could", "there", "from", "has", "have", "not", "were", "into",
    "records", "sealed", "trip", "trips", "request", "requester", "decide", "found", "forbidden",
    "error", "page", "please", "field", "required", "invalid", "must", "between", "characters",
    "when", "where", "what", "who", "why", "none", "yes", "no", "none", "unknown", "true", "false",
}
# Tokens that are not text: kentekens, e-mail addresses, hashes, identifiers in data.
_WORD = re.compile(r"(?<![\w@.\-/])[A-Za-zÀ-ÿ_]+(?![\w@\-/])")


# A figure with a decimal point (Dutch writes a comma), or a thousands dot before a decimal comma
# (the reports print none). Coordinates (4 decimals or more) keep the point, as maps write them.
# (Three digits after a point may be a Dutch thousands dot in typed text: "2.400 km".)
_POINT_NUMBER = re.compile(r"(?<![\d.,])\d+\.\d{1,2}(?![\d.])")
_THOUSANDS_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3})+,\d")


def offences(text: str, codes: set[str]) -> set[str]:
    found = {f"number {n}" for n in _POINT_NUMBER.findall(text) + _THOUSANDS_NUMBER.findall(text)}
    for word in _WORD.findall(text):
        if word in codes:
            found.add(f"code {word}")
        elif word.lower() in ENGLISH_WORDS:
            found.add(f"English {word!r}")
    return found


def english_catalogue_sentences() -> list[str]:
    """Pieces of the English msgids (4 words or more, without placeholders) whose Dutch differs:
    seeing one on a Dutch page is an untranslated sentence."""
    from babel.messages.pofile import read_po
    path = Path(__file__).resolve().parents[2] / "backend" / "translations" / "nl" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    pieces = set()
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english, dutch in zip(ids, strings):
            if not english or english == dutch:
                continue
            for piece in re.split(r"%\(\w+\)[sd]|%[sd]|\{\w*\}", english):
                piece = piece.strip(" .,:;()")
                if len(piece.split()) >= 4 and piece not in (dutch or ""):
                    pieces.add(piece)
    return sorted(pieces)


# --- the crawl ------------------------------------------------------------------------------------

def page_shape(app, url: str) -> tuple:
    parts = urlsplit(url)
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(parts.path, method="GET")
    except Exception:  # noqa: BLE001 - a link to a page that does not exist is its own shape
        endpoint = parts.path
    keys = tuple(sorted(k.split("=")[0] for k in parts.query.split("&") if k))
    return endpoint, keys


def follow(app, start: list[str], links_of) -> list[str]:
    """Breadth first from `start`: links_of(url) -> the page's links (None: not an HTML page).
    Stays inside the application, leaves static files and repeated page shapes alone."""
    seen, shapes, order = set(), {}, []
    queue = list(start)
    while queue and len(order) < PAGE_LIMIT:
        url = queue.pop(0)
        parts = urlsplit(url)
        if parts.netloc or not parts.path.startswith("/") or parts.path.startswith("/static/"):
            continue
        if "lang=en" in parts.query:  # a document the reader asked for in English
            continue
        url = parts.path + (f"?{parts.query}" if parts.query else "")
        shape = page_shape(app, url)
        if url in seen or shapes.get(shape, 0) >= SAME_SHAPE_LIMIT or shape[0] == "auth.logout":
            continue
        seen.add(url)
        links = links_of(url)
        if links is None:
            continue
        shapes[shape] = shapes.get(shape, 0) + 1
        order.append(url)
        queue.extend(urljoin(url, link) for link in links if not link.startswith("#"))
    return order
