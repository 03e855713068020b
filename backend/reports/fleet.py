"""The fleet-wide export: one report per car for a year, written car by car into a zip file.

Streaming: one car's report is built, rendered straight into its zip entry and let go before
the next car is read, so memory stays flat with the size of the fleet. A `progress` callback
hears (done, total) after every car: the CLI draws a progress bar with it, the web job updates
its status row."""
from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import func, select

from backend.access.door import AccessDenied
from backend.db import db
from backend.models.accounts import Role, User
from backend.models.fleet import Vehicle
from backend.reports import export as exports
from backend.reports.build import ReportError, build_report


@dataclass
class FleetResult:
    total: int
    reports: int = 0
    skipped: list[str] = field(default_factory=list)  # kentekens without trips in the year


PAGE = 200  # vehicle ids read per query: the fleet is walked page by page, never held whole


def vehicle_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Vehicle)) or 0


def iter_vehicle_ids(page: int = PAGE) -> Iterator[int]:
    """Every vehicle id in kenteken order, read a page at a time (keyset on the unique kenteken,
    so a car added meanwhile neither shifts nor repeats the rest)."""
    after = None
    while True:
        statement = select(Vehicle.id, Vehicle.kenteken).order_by(Vehicle.kenteken).limit(page)
        if after is not None:
            statement = statement.where(Vehicle.kenteken > after)
        rows = db.session.execute(statement).all()
        for vehicle_id, _ in rows:
            yield vehicle_id
        if len(rows) < page:
            return
        after = rows[-1][1]


def vehicle_ids() -> list[int]:
    return list(iter_vehicle_ids())


def require_finance(actor_id: int, fmt: str) -> None:
    """Refuse an unknown format or an actor who is not finance, before the first read."""
    exports.renderer(fmt)
    actor = db.session.get(User, actor_id)
    if actor is None or not actor.has_role(Role.FINANCE):
        # The door would refuse each car; refuse once, before the first read.
        raise AccessDenied("only finance exports the whole fleet")


CHECKPOINT_ENTRY = "checkpoint.json"  # the export's signed checkpoint (backend.checkpoints)


def write_car(archive: zipfile.ZipFile, actor_id: int, vehicle_id: int, *, year: int, fmt: str,
              result: FleetResult, checkpoint: dict | None = None) -> None:
    """One car's report into its zip entry (or its kenteken into result.skipped when it has no
    trips in the year); every row read for it is let go before the next car. `checkpoint`: the
    export's signed checkpoint, which every XML carries."""
    actor = db.session.get(User, actor_id)
    try:
        report = build_report(actor, year=year, vehicle_id=vehicle_id)
    except ReportError:
        result.skipped.append(db.session.get(Vehicle, vehicle_id).display_kenteken)
    else:
        with archive.open(exports.filename(report, fmt), "w", force_zip64=True) as entry:
            exports.write(actor, report, fmt, entry, vehicle_id=vehicle_id, checkpoint=checkpoint)
        result.reports += 1
        del report
    db.session.expunge_all()


def readme(year: int, fmt: str, result: FleetResult) -> str:
    """LEESMIJ.txt of the zip; ReportError when no car had a trip in the year."""
    if not result.reports:
        raise ReportError(f"no trips in {year} for any car")
    summary = [f"Rittenregistraties {year}, formaat {fmt}: {result.reports} van {result.total} auto's."]
    if result.skipped:
        summary.append(f"Zonder ritten in {year}: {', '.join(result.skipped)}")
    summary.append(f"{CHECKPOINT_ENTRY}: ondertekend controlepunt van het auditlog en de ritketens "
                   f"(flask --app backend audit verify --checkpoint {CHECKPOINT_ENTRY}).")
    return "\r\n".join(summary) + "\r\n"


def export_fleet(actor_id: int, out: BinaryIO, *, year: int, fmt: str,
                 progress: Callable[[int, int], None] | None = None) -> FleetResult:
    require_finance(actor_id, fmt)
    result = FleetResult(total=vehicle_count())
    from backend import checkpoints
    signed = checkpoints.issue("export")  # one for the whole export, in every XML and as a member
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for done, vehicle_id in enumerate(iter_vehicle_ids(), 1):
            write_car(archive, actor_id, vehicle_id, year=year, fmt=fmt, result=result, checkpoint=signed)
            if progress:
                progress(done, max(done, result.total))
        archive.writestr("LEESMIJ.txt", readme(year, fmt, result))
        archive.writestr(CHECKPOINT_ENTRY, checkpoints.dumps(signed))
    return result
