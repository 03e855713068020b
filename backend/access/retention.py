"""Retention: delete what the agreement in force says is due, and log it (docs/retention.md).

The only code that ever removes trip data. The trip tables refuse UPDATE and DELETE (triggers);
migration 0008 gives them one exception, an *open* row of retention_runs in the same
transaction. A run therefore is one transaction:

    lock (PostgreSQL advisory lock / SQLite write lock) -> plan -> insert the open run ->
    delete tracks, clear private seals, delete trips and what hangs on them ->
    one audit event per category -> close the run (counts, audit seqs) -> commit.

An open run can never be committed (a deferred foreign key refuses it at COMMIT), so the
exception never outlives the run, and every committed deletion leaves a closed, unchangeable
retention_runs row plus its audit events.

What is due (the schema's `retention_days` description, which the works council consented to):
- business_tracks: track points of trips that ended at least N days ago;
- private_trip_details: the sealed start/end of private trips whose tax year (the local year of
  started_at, as in the tax report) ended at least N days ago;
- trip_summaries: the trips themselves (and their tracks, revisions, chain events, odometer
  correction shares), same counting, and never before 7 years after the end of the tax year
  (the tax retention obligation wins over a shorter agreement).
Trip facts of a car's tax year are kept whole while any month of that year with trips of the
car is not closed by finance: nothing is deleted from an open period, and a year is never left
with holes that would look like gaps in the chain or the odometer.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import delete, func, select, text, update

from backend import audit
from backend.governance import agreements
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TRIP_SUMMARIES
from backend.db import db, in_chunks, utcnow
from backend.local_time import LOCAL
from backend.models.odometer import OdometerCorrection
from backend.models.retention import OPEN, RetentionRun
from backend.models.revisions import TripRevision
from backend.models.seals import TripDisclosure, TripReseal
from backend.models.trips import ChainEvent, DeviceChainHead, Trip, TripTrack

log = logging.getLogger(__name__)

LEGAL_YEARS = 7  # tax retention: 7 years after the end of the tax year (AWR art. 52)
# pg_advisory_xact_lock key: one retention run at a time, whoever starts it (job or CLI).
_PG_LOCK_KEY = 0x7269746265740005

# Rows that reference a trip and go with it, in deletion order (children first). A test checks
# that every foreign key to trips.id is listed, so a new table forces a decision here.
DEPENDENTS: tuple[tuple[str, Any], ...] = (
    # Before trip_revisions: their rows name a classification revision.
    ("trip_disclosures", TripDisclosure.__table__),
    ("trip_reseals", TripReseal.__table__),
    ("trip_revisions", TripRevision.__table__),
    ("odometer_corrections", OdometerCorrection.__table__),
    ("chain_events", ChainEvent.__table__),
    ("trip_tracks", TripTrack.__table__),
)


class RetentionError(Exception):
    pass


@dataclass(frozen=True)
class Cutoff:
    days: int
    before: datetime  # due: ended_at <= before (tracks), started_at < before (trip facts)
    rule: str

    def as_json(self) -> dict[str, Any]:
        return {"days": self.days, "before": _iso(self.before), "rule": self.rule}


@dataclass
class Plan:
    agreement_version_id: int
    agreement_version: str
    cutoffs: dict[str, Cutoff]
    track_trip_ids: list[int] = field(default_factory=list)
    track_points: int = 0
    seal_trip_ids: list[int] = field(default_factory=list)
    trip_ids: list[int] = field(default_factory=list)
    held_back: int = 0  # trip facts due by the agreement, kept because a month is not closed

    @property
    def empty(self) -> bool:
        return not (self.track_trip_ids or self.seal_trip_ids or self.trip_ids)


@dataclass(frozen=True)
class Result:
    dry_run: bool
    agreement_version: str | None
    cutoffs: dict[str, Cutoff]
    track_trips: int = 0
    track_points: int = 0
    seals_cleared: int = 0
    trips_deleted: int = 0
    related: dict[str, int] = field(default_factory=dict)  # rows deleted with the trips
    held_back: int = 0
    run_id: int | None = None
    audit_seqs: tuple[int, ...] = ()

    @property
    def total(self) -> int:
        return self.track_points + self.seals_cleared + self.trips_deleted + sum(self.related.values())

    def lines(self) -> list[str]:
        """Counts only: no ids, names or positions (the CLI prints these)."""
        if self.agreement_version is None:
            return ["no agreement in force: nothing is due"]
        verb = "would" if self.dry_run else "did"
        out = [f"agreement {self.agreement_version}"]
        for category in (BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TRIP_SUMMARIES):
            cutoff = self.cutoffs[category]
            out.append(f"{category}: {cutoff.days} days, due before {_iso(cutoff.before)} ({cutoff.rule})")
        out.append(f"business_tracks: {verb} delete {self.track_points} track points of {self.track_trips} trips")
        out.append(f"private_trip_details: {verb} clear the sealed positions of {self.seals_cleared} trips")
        related = ", ".join(f"{n} {table}" for table, n in sorted(self.related.items()) if n)
        out.append(f"trip_summaries: {verb} delete {self.trips_deleted} trips"
                   + (f" (with {related})" if related else ""))
        if self.held_back:
            out.append(f"kept: {self.held_back} trips due but in a tax year with a month not closed")
        if self.run_id is not None:
            out.append(f"retention run {self.run_id}, audit events {', '.join(map(str, self.audit_seqs))}")
        return out


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _start_of_year(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=LOCAL).astimezone(timezone.utc)


def cutoffs(retention_days: dict[str, int], now: datetime) -> dict[str, Cutoff]:
    """The moment before which each category is due at `now`."""
    result = {BUSINESS_TRACKS: Cutoff(retention_days[BUSINESS_TRACKS],
                                      now - timedelta(days=retention_days[BUSINESS_TRACKS]),
                                      "trip ended at least N days ago")}
    legal_year = now.astimezone(LOCAL).year - LEGAL_YEARS
    for category in (PRIVATE_TRIP_DETAILS, TRIP_SUMMARIES):
        days = retention_days[category]
        # A tax year Y ends at the start of Y+1; it is due once that moment + N days has passed,
        # i.e. every year before the local year of now - N days.
        year = (now - timedelta(days=days)).astimezone(LOCAL).year
        rule = "tax year ended at least N days ago"
        if category == TRIP_SUMMARIES and legal_year < year:
            year, rule = legal_year, f"tax year ended at least {LEGAL_YEARS} years ago (legal minimum)"
        result[category] = Cutoff(days, _start_of_year(year), rule)
    return result


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """[[first, last], ...] of consecutive ids: a year of trips is a few ranges, not thousands of ids."""
    ranges: list[list[int]] = []
    for trip_id in sorted(set(ids)):
        if ranges and trip_id == ranges[-1][1] + 1:
            ranges[-1][1] = trip_id
        else:
            ranges.append([trip_id, trip_id])
    return ranges


def plan(now: datetime | None = None) -> Plan | None:
    """What is due at `now` under the agreement in force (None: no agreement, nothing is due)."""
    from backend.periods.service import closed_in, closed_months

    now = now or utcnow()
    # The version in force when the job runs (`now` only moves the cutoffs, e.g. in tests).
    version = agreements.in_force()
    if version is None:
        return None
    agreement = agreements.load(version)
    due = cutoffs(agreement.retention_days, now)
    result = Plan(version.id, agreement.version, due)

    tracks = due[BUSINESS_TRACKS].before
    track_points = dict(db.session.execute(
        select(TripTrack.trip_id, func.count()).join(Trip, Trip.id == TripTrack.trip_id)
        .where(Trip.ended_at <= tracks).group_by(TripTrack.trip_id)).all())

    # Trip facts: both cutoffs are starts of local years, so the candidates are whole tax years.
    facts_before = max(due[PRIVATE_TRIP_DETAILS].before, due[TRIP_SUMMARIES].before)
    # A business-mode trip sealed when classified private (trip_reseals) keeps private details too.
    rows = db.session.execute(
        select(Trip.id, Trip.vehicle_id, Trip.started_at, Trip.mode,
               Trip.start_sealed.is_not(None) | Trip.end_sealed.is_not(None) | TripReseal.trip_id.is_not(None))
        .outerjoin(TripReseal, TripReseal.trip_id == Trip.id)
        .where(Trip.started_at < facts_before).order_by(Trip.id)).all()
    closings = closed_months()
    open_years: set[tuple[int, int]] = set()
    for _, vehicle_id, started_at, _, _ in rows:
        day = started_at.astimezone(LOCAL).date()
        if not closed_in(closings, vehicle_id, day):
            open_years.add((vehicle_id, day.year))
    deleted = set()
    for trip_id, vehicle_id, started_at, mode, sealed in rows:
        summary_due = started_at < due[TRIP_SUMMARIES].before
        seal_due = sealed and started_at < due[PRIVATE_TRIP_DETAILS].before
        if not (summary_due or seal_due):
            continue
        if (vehicle_id, started_at.astimezone(LOCAL).year) in open_years:
            result.held_back += 1
        elif summary_due:
            result.trip_ids.append(trip_id)
            deleted.add(trip_id)
        else:
            result.seal_trip_ids.append(trip_id)
    # The tracks of trips deleted in this run go with them (counted with the trips).
    result.track_trip_ids = sorted(t for t in track_points if t not in deleted)
    result.track_points = sum(track_points[t] for t in result.track_trip_ids)
    return result


def _lock() -> None:
    """One run at a time, taken before planning so the plan is what this run deletes."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:  # any write statement takes SQLite's single write lock until COMMIT
        db.session.execute(text("UPDATE retention_runs SET id = id WHERE 1 = 0"))


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _delete(table, column, ids: list[int]) -> int:
    """PostgreSQL: through the owner's function (the app's role holds no DELETE on trip tables,
    backend/db_roles.py); SQLite: a plain DELETE, which only the open run lets through."""
    total = 0
    for chunk in in_chunks(ids):
        if _postgresql():
            total += db.session.scalar(text("SELECT ritbox_retention_delete(:target, CAST(:ids AS integer[]))"),
                                       {"target": table.name, "ids": chunk})
        else:
            total += db.session.execute(delete(table).where(column.in_(chunk))).rowcount
    return total


def _clear_seals(ids: list[int]) -> int:
    total = 0
    for chunk in in_chunks(ids):
        if _postgresql():
            total += db.session.scalar(text("SELECT ritbox_retention_clear_seals(CAST(:ids AS integer[]))"),
                                       {"ids": chunk})
        else:
            total += db.session.execute(update(Trip.__table__).where(Trip.__table__.c.id.in_(chunk))
                                        .values(start_sealed=None, end_sealed=None)).rowcount
    return total


def run(now: datetime | None = None, *, dry_run: bool = False) -> Result:
    """Delete what is due, in one transaction with its audit events; dry_run only counts."""
    now = now or utcnow()
    if not dry_run:
        _lock()
    due = plan(now)
    if due is None:
        db.session.rollback()
        return Result(dry_run, None, {})
    if due.held_back and not dry_run:
        log.info("retention: %d trips due but kept: a month of their car's tax year is not closed", due.held_back)
    if dry_run or due.empty:
        db.session.rollback()  # ends the read (and releases the lock of a run with nothing due)
        return Result(dry_run, due.agreement_version, due.cutoffs, track_trips=len(due.track_trip_ids),
                      track_points=due.track_points, seals_cleared=len(due.seal_trip_ids),
                      trips_deleted=len(due.trip_ids), related=_related_counts(due.trip_ids),
                      held_back=due.held_back)

    leaked = db.session.scalar(select(func.count()).select_from(RetentionRun)
                               .where(RetentionRun.open_sentinel.is_not(None)))
    if leaked:
        # Only possible with foreign keys off (a SQLite connection without the pragma): the
        # triggers would then let anyone delete. Refuse to run and say so, loudly.
        db.session.rollback()
        raise RetentionError("a committed retention run is still open: the database's guard is off")

    run_row = RetentionRun(started_at=now, agreement_version_id=due.agreement_version_id,
                           agreement_version=due.agreement_version[:100],
                           cutoffs={c: cut.as_json() for c, cut in due.cutoffs.items()},
                           tracks_deleted=0, seals_cleared=0, trips_deleted=0, related_deleted={},
                           audit_seqs=[], open_sentinel=OPEN)
    db.session.add(run_row)
    db.session.flush()  # the run is open from here: the triggers let this transaction delete

    points = _delete(TripTrack.__table__, TripTrack.__table__.c.trip_id, due.track_trip_ids)
    cleared = _clear_seals(due.seal_trip_ids)
    # The sealed copies of trips classified private go with the private details.
    _delete(TripReseal.__table__, TripReseal.__table__.c.trip_id, due.seal_trip_ids)
    related = {name: _delete(table, table.c.trip_id, due.trip_ids) for name, table in DEPENDENTS}
    _raise_deleted_through(due.trip_ids)
    trips = _delete(Trip.__table__, Trip.__table__.c.id, due.trip_ids)

    base = {"run": run_row.id, "agreement": due.agreement_version}
    events = []
    if due.track_trip_ids:
        events.append(_event(BUSINESS_TRACKS, due, base, trips=len(due.track_trip_ids),
                             rows={"trip_tracks": points}, ids=due.track_trip_ids))
    if due.seal_trip_ids:
        events.append(_event(PRIVATE_TRIP_DETAILS, due, base, trips=cleared,
                             rows={"sealed_positions_cleared": cleared}, ids=due.seal_trip_ids))
    if due.trip_ids:
        events.append(_event(TRIP_SUMMARIES, due, base, trips=trips, rows={"trips": trips, **related},
                             ids=due.trip_ids, held_back=due.held_back))

    # Closing the run is the last write: from here the triggers refuse again.
    db.session.execute(update(RetentionRun).where(RetentionRun.id == run_row.id).values(
        finished_at=utcnow(), tracks_deleted=points, seals_cleared=cleared, trips_deleted=trips,
        related_deleted=related, audit_seqs=events, open_sentinel=None))
    db.session.commit()
    log.info("retention run %d: %d track points, %d seals cleared, %d trips deleted, %d kept (open month)",
             run_row.id, points, cleared, trips, due.held_back)
    return Result(False, due.agreement_version, due.cutoffs, track_trips=len(due.track_trip_ids),
                  track_points=points, seals_cleared=cleared, trips_deleted=trips, related=related,
                  held_back=due.held_back, run_id=run_row.id, audit_seqs=tuple(events))


def _raise_deleted_through(trip_ids: list[int]) -> None:
    """Remember, per device, the highest seq among the trips about to be deleted: a device that
    sends such a record again (restored from a backup, say) must not bring deleted data back, and
    ingest answers it as a duplicate (DeviceChainHead.deleted_through_seq)."""
    highest: dict[str, int] = {}
    for chunk in in_chunks(trip_ids):
        for device_id, seq in db.session.execute(select(Trip.device_id, func.max(Trip.seq))
                                                 .where(Trip.id.in_(chunk)).group_by(Trip.device_id)):
            highest[device_id] = max(seq, highest.get(device_id, 0))
    for device_id, seq in highest.items():
        db.session.execute(update(DeviceChainHead)
                           .where(DeviceChainHead.device_id == device_id, DeviceChainHead.deleted_through_seq < seq)
                           .values(deleted_through_seq=seq))


def _related_counts(trip_ids: list[int]) -> dict[str, int]:
    counts = {}
    for name, table in DEPENDENTS:
        counts[name] = sum(db.session.scalar(select(func.count()).select_from(table).where(
            table.c.trip_id.in_(chunk))) for chunk in in_chunks(trip_ids))
    return counts


def _event(category: str, due: Plan, base: dict[str, Any], *, trips: int, rows: dict[str, int],
           ids: list[int], held_back: int | None = None) -> int:
    details = {**base, "category": category, **due.cutoffs[category].as_json(), "trips": trips,
               "rows": rows, "trip_ids": id_ranges(ids)}
    if held_back:
        details["held_back"] = held_back
    return audit.record(audit.RETENTION_DELETED, details=details, commit=False).seq


retention_cli = AppGroup("retention", help="Delete what the agreement's retention periods say is due.")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what is due; delete nothing.")
def run_command(dry_run: bool) -> None:
    """Run retention now (the scheduler does this daily). Prints counts only."""
    for line in run(dry_run=dry_run).lines():
        click.echo(line)


def init_app(app: Flask) -> None:
    app.cli.add_command(retention_cli)
