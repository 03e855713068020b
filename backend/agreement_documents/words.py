"""The documents' vocabulary in Dutch and English. The documents are rendered in a chosen
language whatever the reader's UI language, so their words live here, not in the UI catalogue."""
from __future__ import annotations

LANGUAGES = ("nl", "en")

ROLES = {
    "driver": ("de bestuurder", "the driver"),
    "finance": ("de salarisadministratie", "finance (payroll)"),
    "manager": ("een leidinggevende", "a manager"),
    "or_delegate": ("een afgevaardigde van de ondernemingsraad", "a works council delegate"),
    "privacy_officer": ("de privacyfunctionaris", "the privacy officer"),
    "admin": ("de beheerder", "the administrator"),
}
CATEGORIES = {
    "trip_summaries": ("ritoverzichten (datum, tijden, kilometerstanden, afstand, zakelijke begin- en eindadressen)",
                       "trip summaries (date, times, odometer readings, distance, business start and end addresses)"),
    "business_tracks": ("routes van zakelijke ritten", "routes of business trips"),
    "private_trip_details": ("begin- en eindposities van privéritten", "start and end positions of private trips"),
}
DRIVER_ACCESS = {
    "own_trip_summaries": ("de eigen ritoverzichten", "their own trip summaries"),
    "own_business_tracks": ("de routes van de eigen zakelijke ritten", "the routes of their own business trips"),
    "own_private_trip_details": ("de begin- en eindposities van de eigen privéritten",
                                 "the start and end positions of their own private trips"),
}
SUBJECTS = {"employee": ("één werknemer", "one employee"), "vehicle": ("één auto", "one car")}
DATABASES = {"sqlite": ("een SQLite-databasebestand", "an SQLite database file"),
             "postgresql": ("een PostgreSQL-databaseserver", "a PostgreSQL database server")}


def pick(language: str, pair: tuple[str, str]) -> str:
    return pair[LANGUAGES.index(language)]


class Say:
    """say(nl, en) -> the text in the document's language."""

    def __init__(self, language: str):
        if language not in LANGUAGES:
            raise ValueError(f"unknown document language {language!r}")
        self.language = language

    def __call__(self, nl: str, en: str) -> str:
        return nl if self.language == "nl" else en

    def word(self, table: dict[str, tuple[str, str]], key: str) -> str:
        return pick(self.language, table[key]) if key in table else key

    def words(self, table: dict[str, tuple[str, str]], keys) -> str:
        items = [self.word(table, key) for key in keys]
        joiner = self(" en ", " and ")
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + joiner + items[-1]
