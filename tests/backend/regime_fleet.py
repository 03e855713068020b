"""A mixed fleet for a tax year (issue #19), ingested the real way (report_fixtures.upload):
cars, a van under each regime, a driver who changes car in June, a driver who starts in October,
verklaringen geen privégebruik and uitsluitend zakelijk. The expected figures are written out
by hand in the tests, never taken from the code under test."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tests.backend.fleet_helpers import enrolled_device
from tests.backend.report_fixtures import Planned, upload

YEAR = 2025
FINANCE = "fin@example.nl"


@dataclass(frozen=True)
class Car:
    kenteken: str
    driver: str
    assigned_from: date
    plan: tuple[Planned, ...]
    kind: str = "car"
    regime: str = "car"
    assigned_until: date | None = None


CARS = (
    # Anna: a car all year, verklaring geen privegebruik, 550 km private: 50 km above 500.
    Car("GB-XJ-12", "anna@example.nl", date(YEAR, 1, 1), (
        Planned(date(YEAR, 3, 3), 40.0), Planned(date(YEAR, 3, 8), 200.0, mode="private"),
        Planned(date(YEAR, 11, 8), 350.0, mode="private"), Planned(date(YEAR, 11, 10), 25.0))),
    # Otto starts on 1 October with a verklaring: 150 km in 92 days is 595 km a year: over.
    Car("12-ABC-3", "otto@example.nl", date(YEAR, 10, 1), (
        Planned(date(YEAR, 10, 6), 40.0), Planned(date(YEAR, 11, 15), 150.0, mode="private"))),
    # Carla changes car in June: 120 km private in the first, 130 km in the second.
    Car("AB-12-34", "carla@example.nl", date(YEAR, 1, 1), (
        Planned(date(YEAR, 2, 3), 50.0), Planned(date(YEAR, 3, 1), 120.0, mode="private")),
        assigned_until=date(YEAR, 6, 15)),
    Car("AB-12-CD", "carla@example.nl", date(YEAR, 6, 16), (
        Planned(date(YEAR, 7, 1), 60.0), Planned(date(YEAR, 9, 1), 130.0, mode="private"))),
    # A van under each regime.
    Car("VB-123-C", "piet@example.nl", date(YEAR, 1, 1), (
        Planned(date(YEAR, 4, 1), 70.0), Planned(date(YEAR, 4, 5), 80.0, mode="private")),
        kind="van", regime="van_full"),
    Car("VC-123-D", "sanne@example.nl", date(YEAR, 1, 1), (
        Planned(date(YEAR, 4, 1), 70.0), Planned(date(YEAR, 4, 5), 30.0, mode="private")),
        kind="van", regime="van_simplified"),
    # Bram: uitsluitend zakelijk, yet a private trip and 3.2 km driven without the device.
    Car("VD-123-F", "bram@example.nl", date(YEAR, 1, 1), (
        Planned(date(YEAR, 5, 6), 70.0), Planned(date(YEAR, 5, 10), 12.5, mode="private"),
        Planned(date(YEAR, 6, 2), 20.0, odometer_jump=3.2)),
        kind="van", regime="van_business_only"),
)
DRIVERS = {"anna@example.nl": "Anna", "otto@example.nl": "Otto", "carla@example.nl": "Carla",
           "piet@example.nl": "Piet", "sanne@example.nl": "Sanne", "bram@example.nl": "Bram"}
VERKLARINGEN = (("anna@example.nl", "no_private_use_car", "VGP-ANNA", date(YEAR - 1, 11, 1)),
                ("otto@example.nl", "no_private_use_car", "VGP-OTTO", date(YEAR, 10, 1)),
                ("bram@example.nl", "business_only_van", "UZB-BRAM", date(YEAR - 1, 12, 1)))


def build(app, client, make_user, tmp_path) -> dict[str, int]:
    """The fleet of CARS; returns the user ids by e-mail (finance under FINANCE)."""
    from backend.fleet import regimes, service

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    ids = {email: make_user(email, "driver", name=name) for email, name in DRIVERS.items()}
    ids[FINANCE] = make_user(FINANCE, "finance", name="Fien")
    for car in CARS:
        device = enrolled_device(app, client, kenteken=car.kenteken, driver_email=car.driver,
                                 assigned_from=car.assigned_from.isoformat())
        with app.app_context():
            if car.assigned_until:
                found = service.find_assignment(car.kenteken, car.driver, car.assigned_from)
                service.end_assignment(found.id, car.assigned_until)
            if car.kind == "van":
                regimes.set_regime(car.kenteken, car.kind, car.regime, date(YEAR - 1, 1, 1))
        upload(app, client, device, list(car.plan))
    with app.app_context():
        for email, kind, number, issued in VERKLARINGEN:
            regimes.record_verklaring(email, kind, number, issued)
    return ids
