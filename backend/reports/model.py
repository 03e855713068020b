"""The report model: plain values, no ORM objects, nothing a renderer has to look up.

Distances are Decimal km rounded to 0.1 per row; totals are sums of the rounded row values, so
a reader adding up the rows gets exactly the totals printed. Times are Europe/Amsterdam.

Slots for features that land separately:
- corrections (trip revisions: classification, notes, detours, address fixes) - every one with
  its original value, author, time and reason;
- odometer calibration corrections, as rows of kind ODOMETER_CORRECTION;
- addresses with postcode and a street_level mark (named places, reverse geocoder).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from backend.numbers import KM, round_km

PRIVATE_LIMIT_KM = Decimal(500)

# Row kinds
TRIP = "trip"
CHAIN_GAP = "chain_gap"  # a device's hash chain misses records or does not link (chain event)
DEVICE_EVENT = "device_event"  # the device's own event: power, receiver, private switch
ODOMETER_GAP = "odometer_gap"  # a trip's start odometer differs from the previous trip's end
ODOMETER_CORRECTION = "odometer_correction"  # a later dashboard reading and its correction (correctierit)
ODOMETER_READING = "odometer_reading"  # a car's first dashboard reading: sets the offset, books nothing

# Characters
BUSINESS = "business"
COMMUTE = "commute"
PRIVATE = "private"
CHARACTERS = (BUSINESS, COMMUTE, PRIVATE)

# Views
EMPLOYER = "employer"  # finance: private trips without any address
DRIVER = "driver"  # the driver's own export: their private addresses included

# Subjects
BY_DRIVER = "driver"
BY_VEHICLE = "vehicle"


km = round_km  # the one rounding (backend/numbers.py)


@dataclass(frozen=True)
class Address:
    """A departure or arrival address: `text` the one line people read (a named place's name,
    the coordinates beside a town), and the fields the Belastingdienst lists separately.
    street_level False: the address is incomplete (a town or only coordinates) and the driver
    can complete it (a revision, docs/reports.md)."""

    text: str
    postcode: str | None = None
    place: str | None = None
    street_level: bool = False
    source: str = "coordinates"  # coordinates | named_place | geocoder | driver
    street: str | None = None
    number: str | None = None


@dataclass(frozen=True)
class Availability:
    driver_name: str
    available_from: date
    available_until: date | None


@dataclass(frozen=True)
class Car:
    vehicle_id: int
    kenteken: str  # display form, with the sidecode's dashes
    make: str
    model: str
    availability: tuple[Availability, ...]
    # The vehicle's regimes that applied in the year, (first day, kind, regime), oldest first
    # (backend.fleet.regimes); empty: a car under the full trip registration all year.
    regimes: tuple[tuple[date, str, str], ...] = ()


@dataclass(frozen=True)
class Correction:
    """A change made after the trip was recorded; the original stays visible."""

    kenteken: str
    trip_number: int | None
    field: str
    original: str
    corrected: str
    author: str
    at: datetime
    reason: str


@dataclass(slots=True)  # thousands per report: slots make them smaller and quicker to build
class Row:
    kind: str
    kenteken: str
    day: date
    trip_number: int | None = None
    driver_id: int | None = None
    driver_name: str = ""
    started_at: datetime | None = None  # local time
    ended_at: datetime | None = None
    odometer_start: Decimal | None = None
    odometer_end: Decimal | None = None
    distance: Decimal = Decimal(0)
    departure: Address | None = None
    arrival: Address | None = None
    character: str | None = None
    classified: bool = True  # False: taken from the device's mode, not confirmed by the driver
    # Recorded in private mode (or sealed), business now, and not (yet) opened by the driver for
    # the tax report: the addresses are withheld by the driver, not missing.
    addresses_withheld_by_driver: bool = False
    route_deviation: str = ""
    deviation_reason: str = ""
    private_detour: Decimal = Decimal(0)
    note: str = ""
    flags: tuple[str, ...] = ()
    # The GPS-based figures before calibration (None when the car was never calibrated: then
    # the odometer columns are the GPS figures themselves).
    original_distance: Decimal | None = None
    gps_odometer_start: Decimal | None = None
    gps_odometer_end: Decimal | None = None
    # A correctierit: the correction booked (dashboard minus GPS km) and whether it was spread
    # over trips (then it is inside their km already).
    correction: Decimal | None = None
    correction_in_trips: bool = False
    # A chain or device event: when the backend learned of it (the row sits at its own time).
    detected_at: datetime | None = None
    # An odometer gap someone explained with a reason (backend.trips.stretches): not unexplained.
    explained: bool = False


@dataclass(frozen=True)
class Totals:
    business: Decimal
    commute: Decimal
    private: Decimal
    trips: int
    unclassified: int
    gaps: int
    correction_km: Decimal  # calibration corrections inside the trips' km (of which, not added)
    # Never business: trips nobody classified yet, and km between two odometer values that no trip
    # explains (onverklaard: driven without the device, a reading with no trip since the last).
    unclassified_km: Decimal = Decimal(0)
    unexplained_km: Decimal = Decimal(0)
    explained_km: Decimal = Decimal(0)  # stretches no trip covers, explained with a reason

    @property
    def total(self) -> Decimal:
        """Every km the odometer ran over the report's rows: end minus start of the chain."""
        return (self.business + self.commute + self.private + self.unclassified_km + self.unexplained_km
                + self.explained_km)


@dataclass(frozen=True)
class Verdict:
    """The 500 km rule for one driver: private km scaled to a full year when the car was
    available for part of it (3 months with 200 km -> 800 km/year -> over the limit)."""

    driver_name: str
    private_km: Decimal
    available_days: int
    days_in_year: int
    projected_km: Decimal
    within_limit: bool
    limit_km: Decimal = PRIVATE_LIMIT_KM
    # Shown beside the verdict and counted against the limit: km not (yet) shown to be business.
    unclassified_km: Decimal = Decimal(0)
    unexplained_km: Decimal = Decimal(0)
    # The driver's verklaringen that stood in the year (backend.fleet.regimes): under a verklaring
    # geen privégebruik the burden of proof is the driver's, and km above the pro-rated limit are
    # flagged; private or unexplained km on a van under uitsluitend zakelijk put that one at risk.
    verklaringen: tuple[VerdictVerklaring, ...] = ()
    pro_rated_limit_km: Decimal = PRIVATE_LIMIT_KM
    business_only_km: Decimal = Decimal(0)

    @property
    def burden_of_proof(self) -> bool:
        return any(v.kind == NO_PRIVATE_USE_CAR for v in self.verklaringen)

    @property
    def km_above_limit(self) -> Decimal:
        """Private km above the pro-rated limit (0 when the verdict is within it)."""
        if self.within_limit:
            return Decimal(0)
        return max(Decimal(0), self.private_km - self.pro_rated_limit_km)

    @property
    def business_only_at_risk(self) -> bool:
        return self.business_only_km > 0


NO_PRIVATE_USE_CAR, BUSINESS_ONLY_VAN = "no_private_use_car", "business_only_van"


@dataclass(frozen=True)
class VerdictVerklaring:
    kind: str  # NO_PRIVATE_USE_CAR or BUSINESS_ONLY_VAN
    number: str
    issued_on: date
    withdrawn_on: date | None


@dataclass
class Report:
    subject: str  # BY_DRIVER or BY_VEHICLE
    view: str  # EMPLOYER or DRIVER
    year: int
    title: str  # the driver's name or the car's kenteken
    cars: list[Car]
    rows: list[Row]
    corrections: list[Correction]
    totals: Totals
    verdicts: list[Verdict]
    generated_at: datetime
    generated_by: str
    notes: list[str] = field(default_factory=list)

    @property
    def period(self) -> tuple[date, date]:
        return date(self.year, 1, 1), date(self.year, 12, 31)

    def trip_rows(self) -> list[Row]:
        return [row for row in self.rows if row.kind == TRIP]
