"""Shared set-up for the access-layer tests: people in each role, the example agreement in
force, a vehicle, and requests filed/approved through the real functions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from backend.db import db
from backend.models.accounts import User

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "agreement-v1.yaml"
MOTIVATION = "Tankpas toont 2.400 km in mei terwijl geen privegebruik is opgegeven; concreet vermoeden."


def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


@dataclass
class People:
    driver: int
    other_driver: int
    manager: int
    other_manager: int
    or_delegate: int
    privacy: int
    both: int  # an OR delegate who is also privacy officer
    finance: int
    admin: int


def make_people(make_user) -> People:
    return People(
        driver=make_user("daan@example.nl", "driver", name="Daan de Vries"),
        other_driver=make_user("eva@example.nl", "driver", name="Eva Mulder"),
        manager=make_user("mark@example.nl", "manager", name="Mark Jansen"),
        other_manager=make_user("mila@example.nl", "manager", name="Mila Bos"),
        or_delegate=make_user("olga@example.nl", "or_delegate", name="Olga Bakker"),
        privacy=make_user("pieter@example.nl", "privacy_officer", name="Pieter Smit"),
        both=make_user("bram@example.nl", "or_delegate", "privacy_officer", name="Bram Kok"),
        finance=make_user("fatima@example.nl", "finance", name="Fatima El Amrani"),
        admin=make_user("anna@example.nl", "admin", name="Anna Visser"),
    )


def user(user_id: int) -> User:
    return db.session.get(User, user_id)


def agreement_in_force(people: People, text: str | None = None):
    from backend.access import agreements
    version = agreements.upload(text or example_text(), user(people.privacy))
    agreements.record_consent(version, user(people.or_delegate), date(2026, 1, 15), "OR-2026-003")
    return version


def make_vehicle(kenteken: str = "GBXJ12") -> int:
    from backend.models.fleet import Vehicle
    vehicle = Vehicle(kenteken=kenteken, make="Volkswagen", model="Golf")
    db.session.add(vehicle)
    db.session.commit()
    return vehicle.id


def request_input(subject_user_id: int | None, *, purpose: str = "misuse_investigation",
                  days_back: int = 30, categories=("trip_summaries",), grant_days: int = 7,
                  grounds: str = "undeclared_private_use", vehicle_id: int | None = None,
                  motivation: str = MOTIVATION):
    from backend.access.requests import RequestInput, local_today
    today = local_today()
    return RequestInput(purpose=purpose, subject_user_id=subject_user_id, subject_vehicle_id=vehicle_id,
                        period_start=today - timedelta(days=days_back), period_end=today - timedelta(days=1),
                        categories=tuple(categories), grant_days=grant_days, grounds_category=grounds,
                        motivation=motivation)


def granted(people: People, **kwargs):
    """A request by the manager about the driver, approved by the OR delegate and the privacy officer."""
    from backend.access import approvals, requests
    request = requests.file_request(user(people.manager), request_input(people.driver, **kwargs))
    approvals.decide(request, user(people.or_delegate), "approve", "Concrete aanwijzing, beperkt.")
    return approvals.decide(request, user(people.privacy), "approve", "Akkoord binnen de regeling.")
