"""Shared set-up for the access-layer tests: people in each role, the example agreement in
force, a vehicle, and requests filed/approved through the real functions."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


def consent_day() -> date:
    """Today in Amsterdam: a consent date may lie neither before the upload nor in the future."""
    return datetime.now(ZoneInfo("Europe/Amsterdam")).date()


def shown(version) -> str:
    """The hash of the regeling text an OR delegate is shown for this version (what they consent to)."""
    from backend import agreement_documents
    return agreement_documents.consent_text(version).sha256()


def acknowledge_notice(*user_ids: int) -> None:
    """The drivers read the privacy notice of the version in force (the gate before their pages)."""
    from backend import agreement_documents
    from backend.governance import agreements
    version = agreements.in_force()
    for user_id in user_ids:
        agreement_documents.acknowledge(user(user_id), version, agreement_documents.notice_key(version))


def agreement_in_force(people: People, text: str | None = None):
    from backend.governance import agreements
    version = agreements.upload(text or example_text(), user(people.privacy))
    agreements.record_consent(version, user(people.or_delegate), consent_day(), "OR-2026-003",
                              text_sha256=shown(version))
    # Test path: the drivers acknowledged the privacy notice (production shows it before first use).
    acknowledge_notice(people.driver, people.other_driver)
    return version


def people_under_agreement(app, make_user) -> People:
    """Everyone of make_people, with the example agreement in force."""
    people = make_people(make_user)
    with app.app_context():
        agreement_in_force(people)
    return people


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
    from backend.governance.requests import RequestInput, local_today
    today = local_today()
    return RequestInput(purpose=purpose, subject_user_id=subject_user_id, subject_vehicle_id=vehicle_id,
                        period_start=today - timedelta(days=days_back), period_end=today - timedelta(days=1),
                        categories=tuple(categories), grant_days=grant_days, grounds_category=grounds,
                        motivation=motivation)


def granted(people: People, **kwargs):
    """A request by the manager about the driver, approved by the OR delegate and the privacy officer."""
    from backend.governance import approvals, requests
    request = requests.file_request(user(people.manager), request_input(people.driver, **kwargs))
    approvals.decide(request, user(people.or_delegate), "approve", "Concrete aanwijzing, beperkt.")
    return approvals.decide(request, user(people.privacy), "approve", "Akkoord binnen de regeling.")


LOCAL = ZoneInfo("Europe/Amsterdam")
PRIVATE_START = (52.158113, 5.387421)  # digits that appear nowhere else in the database
PRIVATE_END = (51.441642, 5.469722)


def seal(position: tuple[float, float], public_raw: bytes) -> dict:
    """A sealed box written from docs/sealed-box.md, independent of device/ and the door."""
    esk = X25519PrivateKey.generate()
    epk = esk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    shared = esk.exchange(X25519PublicKey.from_public_bytes(public_raw))
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"ritbox-sealed-box-v1" + epk + public_raw).derive(shared)
    nonce = os.urandom(12)
    plaintext = json.dumps([position[0], position[1]], separators=(",", ":")).encode("ascii")
    return {"v": 1, "alg": "X25519-HKDF-SHA256-ChaCha20Poly1305",
            "kid": hashlib.sha256(public_raw).hexdigest()[:16],
            "epk": base64.b64encode(epk).decode(), "nonce": base64.b64encode(nonce).decode(),
            "ct": base64.b64encode(ChaCha20Poly1305(key).encrypt(nonce, plaintext, None)).decode()}


class Fleet:
    """Trips of two drivers in one car, inserted as ingest would leave them."""

    def __init__(self, driver: int, other_driver: int):
        from backend import sealing_keys
        from backend.governance.requests import local_today
        from backend.models.fleet import Device
        from backend.models.trips import Trip, TripTrack

        self.vehicle = make_vehicle()
        self.device = str(uuid.uuid4())
        db.session.add(Device(id=self.device, vehicle_id=self.vehicle, status="pending"))
        public = sealing_keys.current_key().public_raw
        today = local_today()
        self.trips: dict[str, int] = {}
        plan = [  # name, driver, days ago, mode
            ("old", driver, 200, "business"),
            ("business", driver, 10, "business"),
            ("private", driver, 9, "private"),
            ("other", other_driver, 5, "business"),
        ]
        odometer = 1000.0
        for seq, (name, who, days_ago, mode) in enumerate(plan, 1):
            day = today - timedelta(days=days_ago)
            started = datetime.combine(day, time(8, 0), LOCAL).astimezone(timezone.utc)
            business = mode == "business"
            trip = Trip(device_id=self.device, vehicle_id=self.vehicle, driver_id=who,
                        device_trip_id=str(uuid.uuid4()), seq=seq, started_at=started,
                        ended_at=started + timedelta(minutes=30), odometer_start_km=odometer,
                        odometer_end_km=odometer + 20, distance_km=20.0, mode=mode, flags=[],
                        ingest_flags=[], gaps=[],
                        start_lat=52.090712 if business else None, start_lon=5.121433 if business else None,
                        end_lat=52.370216 if business else None, end_lon=4.895168 if business else None,
                        start_sealed=None if business else seal(PRIVATE_START, public),
                        end_sealed=None if business else seal(PRIVATE_END, public),
                        record_hash=f"{seq:064x}", prev_hash=f"{seq - 1:064x}", body="{}")
            db.session.add(trip)
            db.session.flush()
            if business:
                for idx in range(3):
                    db.session.add(TripTrack(trip_id=trip.id, idx=idx, at=started + timedelta(minutes=idx),
                                             lat=52.1 + idx / 100, lon=5.1))
            self.trips[name] = trip.id
            odometer += 20
        db.session.commit()


