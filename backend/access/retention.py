"""Retention: delete what the agreement in force says is due, and log it (docs/retention.md).

The only code that ever removes trip data. The trip tables refuse UPDATE and DELETE (triggers);
migration 0008 gives them one exception, an *open* row of retention_runs in the same
transaction. A run works in pieces of at most CARS_PER_PIECE cars, found by one indexed query
(the cars with anything due); each piece is one short transaction:

    lock (PostgreSQL advisory lock / SQLite write lock) -> plan the piece's cars -> insert the
    open run -> delete tracks, clear private seals, delete trips and what hangs on them ->
    one audit event per category -> close the run (counts, audit seqs) -> commit.

So memory and transactions stay bounded by a piece, whatever the fleet holds, and a crash
leaves the finished pieces complete (the next run does the rest). The dry run counts each piece
with SQL aggregates and loads no ids.

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import and_, case, delete, exists, false, func, not_, or_, select, text, update

from backend import audit
from backend.governance import agreements
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TRIP_SUMMARIES
from backend.db import db, in_chunks, utcnow
from backend.local_time import LOCAL
from backend.models.fleet import Vehicle
from backend.models.odometer import OdometerCorrection
from backend.models.retention import OPEN, RetentionRun
from backend.models.revisions import TripRevision
from backend.models.seals import TripDisclosure, TripReseal
from backend.models.trips import ChainEvent, DeviceChainHead, Trip, TripTrack

log = logging.getLogger(__name__)

LEGAL_YEARS = 7  # tax retention: 7 years after the end of the tax year (AWR art. 52)
# pg_advisory_xact_lock key: one retention run at a time, whoever starts it (job or CLI).
_PG_LOCK_KEY = 0x7269746265740005
# Cars per piece: each piece is planned, deleted and logged in its own short transaction with its
# own retention run. A car holds ~1,500 trips of a tax year (4 a day), so a piece keeps at most
# some 75,000 trip ids in memory, whatever the fleet holds.
CARS_PER_PIECE = 50

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
    run_ids: tuple[int, ...] = ()  # one retention run a piece that deleted something
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
        if len(self.run_ids) == 1:
            out.append(f"retention run {self.run_ids[0]}, audit events {', '.join(map(str, self.audit_seqs))}")
        elif self.run_ids:
            out.append(f"retention runs {self.run_ids[0]} to {self.run_ids[-1]} ({len(self.run_ids)} pieces), "
                       f"{len(self.audit_seqs)} audit events")
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


@dataclass(frozen=True)
class Due:
    """The agreement in force and the cutoffs it gives at `now`."""
    agreement_version_id: int
    agreement_version: str
    cutoffs: dict[str, Cutoff]

    @property
    def summaries_before(self) -> datetime:
        return self.cutoffs[TRIP_SUMMARIES].before

    @property
    def private_before(self) -> datetime:
        return self.cutoffs[PRIVATE_TRIP_DETAILS].before

    @property
    def tracks_before(self) -> datetime:
        return self.cutoffs[BUSINESS_TRACKS].before

    @property
    def facts_before(self) -> datetime:
        # Both cutoffs are starts of local years, so the candidates are whole tax years.
        return max(self.private_before, self.summaries_before)


def due_at(now: datetime) -> Due | None:
    """The cutoffs of the agreement in force at `now` (None: no agreement, nothing is due)."""
    # The version in force when the job runs (`now` only moves the cutoffs, e.g. in tests).
    version = agreements.in_force()
    if version is None:
        return None
    agreement = agreements.load(version)
    return Due(version.id, agreement.version, cutoffs(agreement.retention_days, now))


def due_vehicles(due: Due) -> list[int]:
    """The cars with anything due, in one statement: per car an index probe on
    (vehicle_id, started_at) for trip facts (after a run, nothing is left before the cutoff but
    held-back years), and for tracks the due entries of the tracks' first points. A day with
    nothing due costs a probe a car, never a walk of the years of trips or of the tracks held."""
    wanted = [exists().where(Trip.vehicle_id == Vehicle.id, Trip.started_at < due.summaries_before)]
    if due.private_before > due.summaries_before:  # else a trip whose seals are due is due itself
        wanted.append(exists().where(Trip.vehicle_id == Vehicle.id, Trip.started_at < due.private_before,
                                     or_(Trip.start_sealed.is_not(None), Trip.end_sealed.is_not(None))))
        wanted.append(Vehicle.id.in_(select(Trip.vehicle_id).join(TripReseal, TripReseal.trip_id == Trip.id)
                                     .where(Trip.started_at < due.private_before)))
    # Tracks by their first points' times (index ix_trip_tracks_first_at): a track starts within
    # its trip, so a trip that ended before the cutoff started its track before it too. (A faulty
    # device's track timed after its trip is found once that time is past the cutoff.)
    wanted.append(Vehicle.id.in_(select(Trip.vehicle_id).join(TripTrack, TripTrack.trip_id == Trip.id)
                                 .where(TripTrack.idx == 0, TripTrack.at <= due.tracks_before,
                                        Trip.ended_at <= due.tracks_before)))
    return list(db.session.scalars(select(Vehicle.id).where(or_(*wanted)).order_by(Vehicle.id)))


def pieces(vehicle_ids: list[int], size: int | None = None) -> Iterator[list[int]]:
    size = size or CARS_PER_PIECE
    for start in range(0, len(vehicle_ids), size):
        yield vehicle_ids[start:start + size]


def _month_bounds(year: int) -> list[datetime]:
    """The UTC starts of the year's 12 local months and of the next year."""
    return [datetime(year, month, 1, tzinfo=LOCAL).astimezone(timezone.utc) for month in range(1, 13)] \
        + [_start_of_year(year + 1)]


def open_years(vehicle_ids: list[int], before: datetime) -> set[tuple[int, int]]:
    """(car, tax year) before `before` in which a month holding a trip of the car is not closed:
    such a year keeps its trip facts whole. An index probe per car and month not closed (none
    when finance closed every month), never a read of the trips themselves."""
    from backend.periods.service import closed_in, closed_months

    first = dict(db.session.execute(select(Trip.vehicle_id, func.min(Trip.started_at))
                                    .where(Trip.vehicle_id.in_(vehicle_ids), Trip.started_at < before)
                                    .group_by(Trip.vehicle_id)).all())
    if not first:
        return set()
    last_year = before.astimezone(LOCAL).year - 1
    first_year = min(started.astimezone(LOCAL).year for started in first.values())
    closings = closed_months(first, [date(first_year, 1, 1), date(last_year, 12, 1)])
    result = set()
    for vehicle_id, started in sorted(first.items()):
        for year in range(started.astimezone(LOCAL).year, last_year + 1):
            bounds = _month_bounds(year)
            for month in range(1, 13):
                if closed_in(closings, vehicle_id, date(year, month, 1)):
                    continue
                if db.session.scalar(select(exists().where(
                        Trip.vehicle_id == vehicle_id, Trip.started_at >= bounds[month - 1],
                        Trip.started_at < bounds[month]))):
                    result.add((vehicle_id, year))
                    break
    return result


@dataclass
class _Conditions:
    """What is due of a piece's cars, as SQL conditions on trips (shared by the run and the dry run)."""
    cars: Any  # the piece's cars
    summary_due: Any  # the trip goes (unless held back)
    seal_due: Any  # its private details go (unless held back)
    held: Any  # in a tax year with a month not closed
    tracks_due: Any  # the trip ended before the tracks' cutoff

    @property
    def facts(self) -> Any:
        return and_(self.cars, or_(self.summary_due, self.seal_due))

    @property
    def deleted(self) -> Any:
        return and_(self.cars, self.summary_due, not_(self.held))

    @property
    def cleared(self) -> Any:
        return and_(self.cars, not_(self.summary_due), self.seal_due, not_(self.held))

    @property
    def tracks(self) -> Any:
        """The trips whose track points go (if they have any): those the run does not delete."""
        return and_(self.cars, self.tracks_due, not_(and_(self.summary_due, not_(self.held))))


def _conditions(due: Due, vehicle_ids: list[int]) -> _Conditions:
    years = open_years(vehicle_ids, due.facts_before)
    held = or_(*(and_(Trip.vehicle_id == vehicle_id, Trip.started_at >= _start_of_year(year),
                      Trip.started_at < _start_of_year(year + 1)) for vehicle_id, year in sorted(years))) \
        if years else false()
    # A business-mode trip sealed when classified private (trip_reseals) keeps private details too.
    sealed = or_(Trip.start_sealed.is_not(None), Trip.end_sealed.is_not(None),
                 exists().where(TripReseal.trip_id == Trip.id))
    return _Conditions(Trip.vehicle_id.in_(vehicle_ids), Trip.started_at < due.summaries_before,
                       and_(Trip.started_at < due.private_before, sealed), held,
                       Trip.ended_at <= due.tracks_before)


@dataclass
class Plan:
    """What one piece (a few cars) deletes: its ids are in memory, at most the piece's."""
    due: Due
    track_trip_ids: list[int] = field(default_factory=list)
    track_points: int = 0
    seal_trip_ids: list[int] = field(default_factory=list)
    trip_ids: list[int] = field(default_factory=list)
    held_back: int = 0  # trip facts due by the agreement, kept because a month is not closed

    @property
    def empty(self) -> bool:
        return not (self.track_trip_ids or self.seal_trip_ids or self.trip_ids)


def _rows_of_trip(table) -> Any:
    """The rows of `table` that hang on the trip at hand: an index probe per trip (a join would
    read the whole table, once per piece)."""
    return select(func.count()).select_from(table).where(table.c.trip_id == Trip.id).scalar_subquery()


def plan(due: Due, vehicle_ids: list[int]) -> Plan:
    """What is due of these cars."""
    where = _conditions(due, vehicle_ids)
    result = Plan(due)
    result.trip_ids = list(db.session.scalars(select(Trip.id).where(where.deleted).order_by(Trip.id)))
    result.seal_trip_ids = list(db.session.scalars(select(Trip.id).where(where.cleared).order_by(Trip.id)))
    result.held_back = db.session.scalar(select(func.count()).select_from(Trip).where(where.facts, where.held))
    # The tracks of trips deleted in this run go with them (counted with the trips).
    counted = select(Trip.id.label("id"), _rows_of_trip(TripTrack.__table__).label("points")) \
        .where(where.tracks).subquery()
    tracks = db.session.execute(select(counted.c.id, counted.c.points).where(counted.c.points > 0)
                                .order_by(counted.c.id)).all()
    result.track_trip_ids = [trip_id for trip_id, _ in tracks]
    result.track_points = sum(points for _, points in tracks)
    return result


def count(due: Due, vehicle_ids: list[int]) -> Result:
    """The dry run of a piece: what `plan` would delete, counted by the database."""
    where = _conditions(due, vehicle_ids)
    trips, cleared, held = db.session.execute(select(
        func.coalesce(func.sum(case((where.deleted, 1), else_=0)), 0),
        func.coalesce(func.sum(case((where.cleared, 1), else_=0)), 0),
        func.coalesce(func.sum(case((where.held, 1), else_=0)), 0)).where(where.facts)).one()
    sums = db.session.execute(select(*(func.coalesce(func.sum(_rows_of_trip(table)), 0) for _, table in DEPENDENTS))
                              .where(where.deleted)).one()
    related = {name: n for (name, _), n in zip(DEPENDENTS, sums)}
    points = _rows_of_trip(TripTrack.__table__)
    track_trips, track_points = db.session.execute(select(
        func.coalesce(func.sum(case((points > 0, 1), else_=0)), 0), func.coalesce(func.sum(points), 0))
        .where(where.tracks)).one()
    return Result(True, due.agreement_version, due.cutoffs, track_trips=track_trips, track_points=track_points,
                  seals_cleared=cleared, trips_deleted=trips, related=related, held_back=held)


def _lock() -> None:
    """One run at a time, taken before planning so the plan is what this run deletes."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:  # any write statement takes SQLite's single write lock until COMMIT
        db.session.execute(text("UPDATE retention_runs SET id = id WHERE 1 = 0"))


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    """PostgreSQL: a piece's ids in one array (one statement a table and piece; in chunks of 500,
    each call planned a sequential scan of trip_tracks at 10^6 trips: 49 s a piece); SQLite: IN
    lists of 500."""
    if _postgresql():
        return [sorted(set(ids))] if ids else []
    return in_chunks(ids)


def _delete(table, column, ids: list[int]) -> int:
    """PostgreSQL: through the owner's function (the app's role holds no DELETE on trip tables,
    backend/db_roles.py); SQLite: a plain DELETE, which only the open run lets through."""
    total = 0
    for chunk in _chunks(ids):
        if _postgresql():
            total += db.session.scalar(text("SELECT ritbox_retention_delete(:target, CAST(:ids AS integer[]))"),
                                       {"target": table.name, "ids": chunk})
        else:
            total += db.session.execute(delete(table).where(column.in_(chunk))).rowcount
    return total


def _clear_seals(ids: list[int]) -> int:
    total = 0
    for chunk in _chunks(ids):
        if _postgresql():
            total += db.session.scalar(text("SELECT ritbox_retention_clear_seals(CAST(:ids AS integer[]))"),
                                       {"ids": chunk})
        else:
            total += db.session.execute(update(Trip.__table__).where(Trip.__table__.c.id.in_(chunk))
                                        .values(start_sealed=None, end_sealed=None)).rowcount
    return total


def run(now: datetime | None = None, *, dry_run: bool = False) -> Result:
    """Delete what is due, piece by piece (a few cars each), each piece in its own transaction
    with its own retention run and audit events; dry_run only counts. A failure rolls back the
    piece at hand: the pieces before it stay deleted and logged, and the next run does the rest."""
    now = now or utcnow()
    due = due_at(now)
    if due is None:
        db.session.rollback()
        return Result(dry_run, None, {})
    vehicle_ids = due_vehicles(due)
    db.session.rollback()  # ends the read: each piece reads (and, in a run, locks) on its own
    total = Result(dry_run, due.agreement_version, due.cutoffs)
    for piece in pieces(vehicle_ids):
        try:
            done = count(due, piece) if dry_run else run_piece(due, piece, now)
        except BaseException:
            db.session.rollback()  # the piece at hand: nothing of it is deleted without its log
            raise
        db.session.rollback()
        total = _sum(total, done)
    if total.held_back and not dry_run:
        log.info("retention: %d trips due but kept: a month of their car's tax year is not closed", total.held_back)
    return total


def _sum(a: Result, b: Result) -> Result:
    related = {name: a.related.get(name, 0) + b.related.get(name, 0) for name in {*a.related, *b.related}}
    return replace(a, track_trips=a.track_trips + b.track_trips, track_points=a.track_points + b.track_points,
                   seals_cleared=a.seals_cleared + b.seals_cleared, trips_deleted=a.trips_deleted + b.trips_deleted,
                   related=related, held_back=a.held_back + b.held_back, run_ids=a.run_ids + b.run_ids,
                   audit_seqs=a.audit_seqs + b.audit_seqs)


def run_piece(due_now: Due, vehicle_ids: list[int], now: datetime) -> Result:
    """One piece: lock, plan, open a run, delete, log, close the run, commit."""
    _lock()
    piece = plan(due_now, vehicle_ids)
    if piece.empty:
        db.session.rollback()  # releases the lock of a piece with nothing due
        return Result(False, due_now.agreement_version, due_now.cutoffs, held_back=piece.held_back)

    leaked = db.session.scalar(select(func.count()).select_from(RetentionRun)
                               .where(RetentionRun.open_sentinel.is_not(None)))
    if leaked:
        # Only possible with foreign keys off (a SQLite connection without the pragma): the
        # triggers would then let anyone delete. Refuse to run and say so, loudly.
        db.session.rollback()
        raise RetentionError("a committed retention run is still open: the database's guard is off")

    run_row = RetentionRun(started_at=now, agreement_version_id=due_now.agreement_version_id,
                           agreement_version=due_now.agreement_version[:100],
                           cutoffs={c: cut.as_json() for c, cut in due_now.cutoffs.items()},
                           tracks_deleted=0, seals_cleared=0, trips_deleted=0, related_deleted={},
                           audit_seqs=[], open_sentinel=OPEN)
    db.session.add(run_row)
    db.session.flush()  # the run is open from here: the triggers let this transaction delete

    points = _delete(TripTrack.__table__, TripTrack.__table__.c.trip_id, piece.track_trip_ids)
    cleared = _clear_seals(piece.seal_trip_ids)
    # The sealed copies of trips classified private go with the private details.
    _delete(TripReseal.__table__, TripReseal.__table__.c.trip_id, piece.seal_trip_ids)
    related = {name: _delete(table, table.c.trip_id, piece.trip_ids) for name, table in DEPENDENTS}
    _raise_deleted_through(piece.trip_ids)
    trips = _delete(Trip.__table__, Trip.__table__.c.id, piece.trip_ids)

    base = {"run": run_row.id, "agreement": due_now.agreement_version}
    events = []
    if piece.track_trip_ids:
        events.append(_event(BUSINESS_TRACKS, piece, base, trips=len(piece.track_trip_ids),
                             rows={"trip_tracks": points}, ids=piece.track_trip_ids))
    if piece.seal_trip_ids:
        events.append(_event(PRIVATE_TRIP_DETAILS, piece, base, trips=cleared,
                             rows={"sealed_positions_cleared": cleared}, ids=piece.seal_trip_ids))
    if piece.trip_ids:
        events.append(_event(TRIP_SUMMARIES, piece, base, trips=trips, rows={"trips": trips, **related},
                             ids=piece.trip_ids, held_back=piece.held_back))

    # Closing the run is the last write: from here the triggers refuse again.
    db.session.execute(update(RetentionRun).where(RetentionRun.id == run_row.id).values(
        finished_at=utcnow(), tracks_deleted=points, seals_cleared=cleared, trips_deleted=trips,
        related_deleted=related, audit_seqs=events, open_sentinel=None))
    db.session.commit()
    log.info("retention run %d: %d track points, %d seals cleared, %d trips deleted, %d kept (open month)",
             run_row.id, points, cleared, trips, piece.held_back)
    return Result(False, due_now.agreement_version, due_now.cutoffs, track_trips=len(piece.track_trip_ids),
                  track_points=points, seals_cleared=cleared, trips_deleted=trips, related=related,
                  held_back=piece.held_back, run_ids=(run_row.id,), audit_seqs=tuple(events))


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


def _event(category: str, piece: Plan, base: dict[str, Any], *, trips: int, rows: dict[str, int],
           ids: list[int], held_back: int | None = None) -> int:
    details = {**base, "category": category, **piece.due.cutoffs[category].as_json(), "trips": trips,
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
