"""Tax regimes: what kind of vehicle a car is and which registration it runs under, per period,
and the verklaringen (statements to the Belastingdienst) a driver holds.

Both are history: a regime change is a new row with its first day (valid_from), never an edit, so
a report for any past year judges by the regime that stood then. A verklaring's withdrawal is the
only change a row gets (withdrawn_on, once). Every change is audited (backend.fleet.regimes).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow

CAR, VAN = "car", "van"
VEHICLE_KINDS = (CAR, VAN)
# The registration a vehicle runs under: a car always keeps the full trip registration; a van
# may instead keep the simplified one, or run under a verklaring uitsluitend zakelijk gebruik.
CAR_FULL = "car"
VAN_FULL = "van_full"
VAN_SIMPLIFIED = "van_simplified"
VAN_BUSINESS_ONLY = "van_business_only"
REGIMES = (CAR_FULL, VAN_FULL, VAN_SIMPLIFIED, VAN_BUSINESS_ONLY)
VAN_REGIMES = (VAN_FULL, VAN_SIMPLIFIED, VAN_BUSINESS_ONLY)

# Verklaring geen privégebruik auto / verklaring uitsluitend zakelijk gebruik bestelauto.
NO_PRIVATE_USE_CAR = "no_private_use_car"
BUSINESS_ONLY_VAN = "business_only_van"
VERKLARING_KINDS = (NO_PRIVATE_USE_CAR, BUSINESS_ONLY_VAN)


def _in(values: tuple[str, ...]) -> str:
    return "('" + "', '".join(values) + "')"


class VehicleRegime(db.Model):
    __tablename__ = "vehicle_regimes"
    __table_args__ = (
        CheckConstraint(f"(kind = 'car' AND regime = 'car') OR (kind = 'van' AND regime IN {_in(VAN_REGIMES)})",
                        name="regime_fits_kind"),
        Index("ix_vehicle_regimes_vehicle_from", "vehicle_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    kind: Mapped[str] = mapped_column(String(8))
    regime: Mapped[str] = mapped_column(String(24))
    valid_from: Mapped[date] = mapped_column(Date)  # first local day it applies
    # The working hours of a van under the simplified registration ("07:30-16:30"): the hours in
    # which the employer's written rule bans private use (backend.reports.simplified).
    working_hours: Mapped[str | None] = mapped_column(String(11))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the CLI
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Verklaring(db.Model):
    __tablename__ = "verklaringen"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(VERKLARING_KINDS)}", name="kind_known"),
        CheckConstraint("withdrawn_on IS NULL OR withdrawn_on >= issued_on", name="withdrawn_after_issue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    number: Mapped[str] = mapped_column(String(40))  # the Belastingdienst's reference
    issued_on: Mapped[date] = mapped_column(Date)
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def stands_on(self, day: date) -> bool:
        return self.issued_on <= day and (self.withdrawn_on is None or day < self.withdrawn_on)


# What a tax notice says (backend.fleet.tax_notices): a private or unexplained km on a van under
# uitsluitend zakelijk, or private km reaching 80% / 100% of the limit by projection or as driven.
BUSINESS_ONLY_PRIVATE = "business_only_private"
WARNING_PROJECTED = "warning_projected"
WARNING_DRIVEN = "warning_driven"
NOTICE_KINDS = (BUSINESS_ONLY_PRIVATE, WARNING_PROJECTED, WARNING_DRIVEN)


class TaxNotice(db.Model):
    """A notice to a driver or a finance user, shown in the app and e-mailed; one per recipient,
    kind and reference (a trip, a year's threshold), so each is sent once: this table is the
    record of the warnings sent."""

    __tablename__ = "tax_notices"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(NOTICE_KINDS)}", name="kind_known"),
        UniqueConstraint("user_id", "kind", "reference", name="uq_tax_notices_user_kind_reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # the recipient
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # whom it is about
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(64))  # "trip:12", "2026:warning_driven:80:driver:7"
    params: Mapped[str] = mapped_column(Text)  # JSON: the message's placeholders
    day: Mapped[date] = mapped_column(Date)  # the local day it was raised
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VanDay(db.Model):
    """A day of a van under the simplified registration as its driver confirmed it, with the
    working hours of that day (else the van's setting applies; backend.reports.simplified)."""

    __tablename__ = "van_days"
    __table_args__ = (UniqueConstraint("vehicle_id", "day", name="uq_van_days_vehicle_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    working_hours: Mapped[str | None] = mapped_column(String(11))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
