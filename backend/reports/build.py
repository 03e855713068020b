"""Assemble a Report through the door. No trip table is read here: trips come from
backend.access.door (tax_report_rows for the employer's view, own_tax_report_rows
for the driver's own export), chain events from chain_events_for_vehicle."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from backend.access import door
from backend.db import db, utcnow
from backend.local_time import LOCAL, utc_bounds
from backend.models.accounts import Role, User
from backend.models.fleet import Assignment, Vehicle
from backend.models.trips import TripMode
from backend.numbers import km_nl
from backend.reports import model as m
from backend.reports import texts as texts_nl
from backend.reports.verdict import verdict
from backend.trips import counter, event_texts, revisions, stretches
from backend.odometer import service as odometer
from backend import addresses as geocoding
from backend.addresses.resolver import Resolver

PRIVATE_MODE = TripMode.PRIVATE.value
ZERO = Decimal(0)
IMPLAUSIBLE_MOTION = "implausible_motion"  # device flag: motion beyond a road vehicle (device.trips)


class ReportError(Exception):
    """Bad input for a report (unknown driver or car, no data): a message for people."""


def find_driver(email: str) -> User:
    from backend.accounts import find_user
    user = find_user(email)
    if user is None or not user.has_role(Role.DRIVER):
        raise ReportError(f"no driver with e-mail {email}")
    return user


def find_vehicle(kenteken: str) -> Vehicle:
    from backend.fleet import service
    vehicle = service.find_vehicle(kenteken)
    if vehicle is None:
        raise ReportError(f"no car with kenteken {kenteken}")
    return vehicle


def build_report(actor: User, *, year: int, driver_id: int | None = None, vehicle_id: int | None = None,
                 view: str = m.EMPLOYER) -> m.Report:
    """One report for a driver or a car and a calendar year. Raises ReportError for an unknown
    subject or a year without trips, door.AccessDenied when the actor may not read it."""
    if (driver_id is None) == (vehicle_id is None):
        raise ValueError("build_report needs exactly one of driver_id and vehicle_id")
    if not 2000 <= year <= 2100:
        raise ReportError(f"{year} is not a plausible tax year")
    driver = vehicle = None
    if driver_id is not None:
        driver = db.session.get(User, driver_id)
        if driver is None or not driver.has_role(Role.DRIVER):
            raise ReportError("unknown driver")
    else:
        vehicle = db.session.get(Vehicle, vehicle_id)
        if vehicle is None:
            raise ReportError("unknown car")

    if view == m.DRIVER:
        if driver is None or driver.id != actor.id:
            raise ReportError("the driver's own export is for the driver alone, per driver")
        trips = door.own_tax_report_rows(actor, year=year)
    else:
        # The READ audit event is committed together with the chain-events read below (one
        # commit, one fsync, fewer for a big export) or explicitly when there is none.
        # Plain columns, no gap lists (a report never prints them): see the door's reads/reports.py.
        trips = door.tax_report_rows(actor, year=year, driver_id=driver_id, vehicle_id=vehicle_id,
                                             commit=False)
    title = driver.name or driver.email if driver else vehicle.display_kenteken
    if not trips:
        db.session.commit()  # the (empty) read stays audited
        raise ReportError(f"no trips in {year} for {title}")

    vehicle_ids = sorted({t.vehicle_id for t in trips} | ({vehicle.id} if vehicle else set()))
    if vehicle is not None and vehicle_ids == [vehicle.id]:
        vehicles = {vehicle.id: vehicle}  # a car's report: read above already
    else:
        vehicles = {v.id: v for v in db.session.scalars(select(Vehicle).where(Vehicle.id.in_(vehicle_ids)))}
    first, last = date(year, 1, 1), date(year, 12, 31)
    # Plain values, not ORM rows: the audit commits below expire ORM objects, and touching an
    # expired one reloads it (a query per assignment, and per car in a fleet export); the
    # columns alone also spare the joined loads of driver and vehicle.
    statement = select(Assignment.driver_id, Assignment.vehicle_id, Assignment.available_from,
                       Assignment.available_until).where(
        Assignment.vehicle_id.in_(vehicle_ids), Assignment.available_from <= last,
        (Assignment.available_until.is_(None)) | (Assignment.available_until >= first))
    if driver is not None:
        statement = statement.where(Assignment.driver_id == driver.id)
    assignments = [_Period(*row) for row in db.session.execute(
        statement.order_by(Assignment.available_from, Assignment.id))]
    generated_by = actor.name or actor.email
    driver_ids = {t.driver_id for t in trips if t.driver_id} | {a.driver_id for a in assignments}
    # Columns, not User rows (whose roles would be loaded with them, per car of a fleet export).
    names = {user_id: (name or email) for user_id, name, email in db.session.execute(
        select(User.id, User.name, User.email).where(User.id.in_(driver_ids)))}

    cars = [m.Car(vehicle_id=v.id, kenteken=v.display_kenteken, make=v.make, model=v.model,
                  availability=tuple(m.Availability(names.get(a.driver_id, ""), a.available_from, a.available_until)
                                     for a in assignments if a.vehicle_id == v.id),
                  regimes=_regimes_in_year(v.id, year))
            for v in (vehicles[i] for i in vehicle_ids)]

    notes = []
    events_by_vehicle: dict[int, list[door.ChainEventView]] = defaultdict(list)
    if view == m.EMPLOYER and actor.has_role(Role.FINANCE):
        # Events are detected at upload time, possibly long after the trips they concern: an
        # event belongs to this report when the trip that revealed it does, or (without such a
        # trip) when it was detected within the year and the driver's availability.
        trip_ids = {t.id for t in trips}
        for vid in vehicle_ids:
            for event in door.chain_events_for_vehicle(actor, vid):
                if event.trip_id is not None:
                    keep = event.trip_id in trip_ids
                else:
                    keep = event.at.astimezone(LOCAL).year == year and (
                        driver is None or _within(event, assignments, vid))
                if keep:
                    events_by_vehicle[vid].append(event)
    else:
        db.session.commit()
        notes.append("chain_events_not_included")

    for_driver = view == m.DRIVER
    # Most trips of a year were never revised: ask the revisions API only about those that were.
    # One read of their revisions for both the annotations and the history.
    revision_rows = door.revision_rows(t.id for t in trips)
    revised = {row.trip_id for row in revision_rows}
    revised_trips = [t for t in trips if t.id in revised]
    annotations = revisions.current_annotations(revised_trips, for_driver=for_driver,
                                                rows=revision_rows) if revised_trips else {}
    history = revisions.revision_history(revised_trips, for_driver=for_driver,
                                         rows=revision_rows) if revised_trips else {}
    if any(not t.is_private and not (annotations.get(t.id) and annotations[t.id].classification) for t in trips):
        notes.append("unclassified_trips")
    if any(IMPLAUSIBLE_MOTION in t.flags for t in trips):
        notes.append(IMPLAUSIBLE_MOTION)  # a person must look at these before they count as business
    if any(t.driver_id is None for t in trips):
        notes.append("unassigned_trips")

    rows: list[m.Row] = []
    corrections: list[m.Correction] = []
    by_vehicle: dict[int, list[door.TripView]] = defaultdict(list)
    for t in trips:
        by_vehicle[t.vehicle_id].append(t)
    addresses = _Addresses()
    addresses.prepare(trips)
    start_utc, end_utc = utc_bounds(first, last)
    numbers = door.trip_numbers(vehicle_ids, year)
    explained = stretches.explanations(vehicle_ids)
    notes.append("trip_numbers")
    for car in cars:
        car_trips = by_vehicle.get(car.vehicle_id, [])
        calibrations = odometer.calibrations_for_vehicle(car.vehicle_id)  # read once for both uses
        calibrated = odometer.calibrated_odometers(car.vehicle_id, car_trips, calibrations) if car_trips else {}
        car_rows = _car_rows(car, car_trips, events_by_vehicle.get(car.vehicle_id, []), names, view,
                             annotations, history, corrections, calibrated, addresses, numbers, explained)
        rows.extend(_with_calibrations(car, car_rows, odometer.readings(car.vehicle_id, start_utc, end_utc,
                                                                               calibrations)))
        if calibrated and "calibrated_odometer" not in notes:
            notes.append("calibrated_odometer")
    # The geocoder's cache rows (never private positions) are committed with the export's audit
    # record; a report that ends without one simply resolves them again next time.
    addresses.finish()

    totals = _totals(rows)
    verdicts = _verdicts(year, rows, trips, assignments, names, driver, cars)
    return m.Report(subject=m.BY_DRIVER if driver else m.BY_VEHICLE, view=view, year=year, title=title,
                    cars=cars, rows=rows, corrections=corrections, totals=totals, verdicts=verdicts,
                    generated_at=utcnow().astimezone(LOCAL), generated_by=generated_by,
                    notes=notes)


# --- pieces --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Period:
    """An assignment's availability, as plain values (see build_report)."""

    driver_id: int
    vehicle_id: int
    available_from: date
    available_until: date | None

    def covers(self, day: date) -> bool:
        return self.available_from <= day and (self.available_until is None or day <= self.available_until)


def _within(event: door.ChainEventView, assignments: list[_Period], vehicle_id: int) -> bool:
    day = event.at.astimezone(LOCAL).date()
    return any(a.vehicle_id == vehicle_id and a.covers(day) for a in assignments)


def _coordinates(position: door.Position | None) -> m.Address | None:
    if position is None:
        return None
    return m.Address(text=f"{position.lat:.5f}, {position.lon:.5f}")


DUTCH_POSTCODE = re.compile(r"^([1-9][0-9]{3}) ?([A-Z]{2})$")


class _Addresses:
    """Positions to addresses through backend.addresses: one Resolver per driver (their own
    places first), answers remembered for the report (a car visits the same places again and
    again). Private positions are resolved with private=True: never cached, never sent online."""

    def __init__(self) -> None:
        self.resolvers: dict[int | None, Resolver] = {}
        self.seen: dict[tuple, m.Address] = {}
        self.shown: dict[geocoding.Address, m.Address | tuple | str] = {}

    def _resolver(self, driver_id: int | None) -> Resolver:
        resolver = self.resolvers.get(driver_id)
        if resolver is None:
            resolver = self.resolvers[driver_id] = Resolver(driver_id=driver_id)
            resolver.defer_writes()
        return resolver

    def prepare(self, trips: list[door.TripView]) -> None:
        """Read the geocoder cache of every position the report may show in a few queries, not
        one query per position (a car's year visits hundreds of places). Positions of trips
        recorded private are left out: they are never cached."""
        positions: dict[int | None, set[tuple[float, float]]] = defaultdict(set)
        for t in trips:
            if not (t.sealed or t.is_private):
                for position in (t.start, t.end):
                    if position is not None:
                        positions[t.driver_id].add((position.lat, position.lon))
        for driver_id, wanted in positions.items():
            self._resolver(driver_id).prefetch(wanted)

    def finish(self) -> None:
        """Insert the new cache rows in bulk (in the caller's transaction)."""
        for resolver in self.resolvers.values():
            resolver.write_pending()

    def __call__(self, position: door.Position | None, driver_id: int | None, private: bool) -> m.Address | None:
        if position is None:
            return None
        key = (position.lat, position.lon, driver_id, private)
        found = self.seen.get(key)
        if found is None:
            found = self.seen[key] = self._resolve(position, driver_id, private)
        return found

    def _resolve(self, position: door.Position, driver_id: int | None, private: bool) -> m.Address:
        try:
            address = self._resolver(driver_id).resolve(position.lat, position.lon, private=private)
        except ValueError:
            address = geocoding.UNKNOWN
        # The geocoder's answer as the report shows it, worked out once per distinct answer
        # (thousands of positions lie in a few towns); only a position's coordinates differ.
        shown = self.shown.get(address)
        if shown is None:
            shown = self.shown[address] = _shown(address)
        if shown is _COORDINATES or type(shown) is tuple:
            coordinates = f"{position.lat:.5f}, {position.lon:.5f}"
            if shown is _COORDINATES:
                return m.Address(text=coordinates)
            # A town or a named place without a street: the position keeps it checkable.
            text, postcode, place, source, street, number = shown
            return m.Address(text=f"{text} ({coordinates})", postcode=postcode, place=place, street_level=False,
                             source=source, street=street, number=number)
        return shown


_COORDINATES = "coordinates"  # _shown: the geocoder knew nothing, the coordinates are the address


def _shown(address: geocoding.Address) -> m.Address | tuple | str:
    """A street-level answer as its m.Address; a coarser one as the fields of its m.Address,
    whose text takes each position's coordinates; _COORDINATES when there is no answer."""
    text = address.text
    if address.source == "none" or not text:
        return _COORDINATES
    postcode = None
    match = DUTCH_POSTCODE.match((address.postcode or "").upper())
    if match:
        postcode = f"{match.group(1)} {match.group(2)}"
    source = "named_place" if address.level == geocoding.NAMED_PLACE else "geocoder"
    if not address.street_level:
        return text, postcode, address.place, source, address.street, address.number
    return m.Address(text=text, postcode=postcode, place=address.place, street_level=True, source=source,
                     street=address.street, number=address.number)


POSTCODE = re.compile(r"\b([1-9][0-9]{3}) ?([A-Z]{2})\b")

FIELD_LABELS = {"classification": "karakter", "note": "notitie", "business_relation": "zakelijke relatie",
                "detour": "afwijkende route", "private_detour_km": "privé-omrijkilometers",
                "start_address": "vertrekadres", "end_address": "aankomstadres"}
VALUE_LABELS = {"business": "zakelijk", "commute": "woon-werk", "private": "privé"}


def _revision_value(field_name: str, value: str | None) -> str:
    """A revised value as the report prints it: km as every figure (0.25 -> '0,3'), classes in Dutch."""
    if not value:
        return ""
    if field_name == "private_detour_km":
        return km_nl(value)
    return VALUE_LABELS.get(value, value)


def _written_address(text: str) -> m.Address:
    """An address a person typed in a revision: split into its fields when it reads as one
    ("Damrak 1, 1012 LG Amsterdam", what the driver's completion form writes); street level
    when street, number and postcode are all there."""
    fields = geocoding.parse_line(text)
    if fields is not None:
        street, number, postcode, place = fields
        return m.Address(text=text, postcode=postcode, place=place, street_level=True, source="driver",
                         street=street, number=number)
    match = POSTCODE.search(text.upper())
    postcode = f"{match.group(1)} {match.group(2)}" if match else None
    return m.Address(text=text, postcode=postcode, street_level=False, source="driver")


def _car_rows(car: m.Car, trips: list[door.TripView], events: list[door.ChainEventView], names: dict,
              view: str, annotations: dict, history: dict, corrections: list[m.Correction],
              calibrated: dict[int, tuple[int, int]], addresses: "_Addresses",
              numbers: dict[int, int], explained: dict | None = None) -> list[m.Row]:
    rows: list[m.Row] = []
    flag_texts: dict[str, str] = {}
    events_by_trip: dict[int, list[door.ChainEventView]] = defaultdict(list)
    loose: list[door.ChainEventView] = []
    for event in events:
        (events_by_trip[event.trip_id] if event.trip_id is not None else loose).append(event)
    loose.sort(key=lambda e: e.at)
    previous_end: float | None = None
    previous_shown_end = gps_previous_end = Decimal(0)
    previous_driver: int | None = None
    # Per-trip work below runs thousands of times for a busy car: locals instead of attribute and
    # property look-ups (TripView.is_private is a property over an enum), no empty tuples built.
    to_km, private_mode, kenteken, row_class = m.km, PRIVATE_MODE, car.kenteken, m.Row
    printed_odometer = odometer.printed_odometer
    for t in trips:
        if loose or events_by_trip:
            while loose and loose[0].at <= t.started_at:
                rows.append(_event_row(car, loose.pop(0)))
            for event in events_by_trip.pop(t.id, ()):
                rows.append(_event_row(car, event, before=t))
        start_local = t.started_at.astimezone(LOCAL)
        day = start_local.date()
        # A closed chain starts each trip at the previous trip's end: reuse its rounding.
        gps_start = gps_previous_end if t.odometer_start_km == previous_end else to_km(t.odometer_start_km)
        gps_end = to_km(t.odometer_end_km)
        shares = calibrated.get(t.id)
        # The same figures the driver's counter counts (backend.odometer.service.printed_odometer).
        start_km, end_km = printed_odometer(t, calibrated) if shares is not None else (gps_start, gps_end)
        # The chain is checked on the device's own (GPS) odometer: calibration never hides a gap.
        if previous_end is not None and stretches.is_gap(previous_end, t.odometer_start_km):
            # Unexplained km: the driver's own when they drove the trips on both sides of it,
            # until someone explains them with a reason (backend.trips.stretches).
            explanation = explained.get((car.vehicle_id, *stretches.key(previous_end, t.odometer_start_km))) \
                if explained else None
            rows.append(row_class(kind=m.ODOMETER_GAP, kenteken=kenteken, day=day,
                                  driver_id=t.driver_id if t.driver_id == previous_driver else None,
                                  started_at=start_local, odometer_start=previous_shown_end,
                                  odometer_end=start_km, distance=start_km - previous_shown_end,
                                  explained=explanation is not None,
                                  note=_explanation_note(explanation) if explanation else ""))
        previous_end, previous_shown_end, gps_previous_end = t.odometer_end_km, end_km, gps_end
        previous_driver = t.driver_id
        number = numbers[t.id]
        note = annotations.get(t.id)
        # The door's effective character (backend/access/door/character.py); unclassified (a business-mode
        # trip nobody classified yet) counts as business, flagged.
        classified = t.mode == private_mode or (note is not None and note.classification is not None)
        character = t.character if classified else m.BUSINESS
        show_addresses = character != m.PRIVATE or view == m.DRIVER
        if show_addresses:
            # Sealed positions (private once, or opened by the driver) are never cached nor sent online.
            private = t.sealed or character == m.PRIVATE
            departure = addresses(t.start, t.driver_id, private)
            arrival = addresses(t.end, t.driver_id, private)
        else:
            departure = arrival = None
        text = []
        if note:
            if note.start_address and show_addresses:
                departure = _written_address(note.start_address)
            if note.end_address and show_addresses:
                arrival = _written_address(note.end_address)
            if note.business_relation:
                text.append(f"relatie: {note.business_relation}")
            text.extend(n.text for n in note.notes)
        flags = _flag_texts(t.flags + t.ingest_flags, flag_texts) if t.flags or t.ingest_flags else ()
        rows.append(row_class(
            kind=m.TRIP, kenteken=kenteken, day=day, trip_number=number,
            driver_id=t.driver_id, driver_name=names.get(t.driver_id, ""), started_at=start_local,
            ended_at=t.ended_at.astimezone(LOCAL), odometer_start=start_km, odometer_end=end_km,
            # The odometer is the legal norm: the row's km are its printed end minus start.
            distance=end_km - start_km,
            departure=departure, arrival=arrival, character=character, classified=classified,
            addresses_withheld_by_driver=t.withheld_by_driver and departure is None and arrival is None,
            route_deviation="ja" if note and note.detour else "",
            deviation_reason=(note.detour or "") if note else "",
            private_detour=to_km(note.private_detour_km) if note and note.private_detour_km else ZERO,
            note="; ".join(text) if text else "", flags=flags,
            original_distance=gps_end - gps_start if shares is not None else None,
            gps_odometer_start=gps_start if shares is not None else None,
            gps_odometer_end=gps_end if shares is not None else None))
        for revision in history.get(t.id, []):
            corrections.append(m.Correction(
                kenteken=car.kenteken, trip_number=number, field=FIELD_LABELS.get(revision.field, revision.field),
                original=_revision_value(revision.field, revision.old_value),
                corrected=_revision_value(revision.field, revision.new_value),
                author=f"{revision.author_name} ({'financiën' if revision.author_role == 'finance' else 'bestuurder'})",
                at=revision.created_at.astimezone(LOCAL), reason=revision.reason or ""))
    for event in loose + [e for group in events_by_trip.values() for e in group]:
        rows.append(_event_row(car, event))
    return rows


def _with_calibrations(car: m.Car, rows: list[m.Row], readings: list) -> list[m.Row]:
    """One row per dashboard reading in the year, in time order. The first reading of the car
    (kind ODOMETER_READING) sets the offset; every later one (a correctierit) runs from the
    previous reading to this one: its km are the dashboard's, the GPS km of the trips in between
    stand beside them, and the difference is the correction already spread over those trips
    (docs/odometer.md). A reading beyond the plausibility bound says so, with its reason."""
    if not readings:
        return rows
    extra = []
    for r in readings:
        at = r.read_at.astimezone(LOCAL)
        who = {"finance": "financiën", "driver": "bestuurder", "cli": "systeem"}.get(r.recorded_as, r.recorded_as)
        recorded = f"vastgelegd door {r.recorded_by} ({who}) op {r.recorded_at.astimezone(LOCAL):%d-%m-%Y %H:%M}"
        if r.source == "obd":
            recorded = (f"kilometerteller van de auto zelf (OBD), meegestuurd met de ritten, vastgelegd op "
                        f"{r.recorded_at.astimezone(LOCAL):%d-%m-%Y %H:%M}")
        dashboard = _metres_km(r.dashboard_m)
        if r.first:
            gps = (f", stand van het kastje {t_nl(_metres_km(r.gps_odometer_m))} km, verschil "
                   f"{t_nl(_metres_km(r.offset_m), signed=True)} km; ritten vóór de eerste kalibratie zijn met dit "
                   f"verschil verschoven (hun GPS-km staan erbij)") if r.gps_odometer_m is not None else ""
            extra.append(m.Row(kind=m.ODOMETER_READING, kenteken=car.kenteken, day=at.date(), started_at=at,
                               odometer_end=dashboard,
                               note=f"eerste aflezing dashboard {t_nl(dashboard)} km{gps}; {recorded}"))
            continue
        correction = _metres_km(r.correction_m)
        spread = (f"verdeeld naar rato over {r.trips_spread} rit(ten)" if r.trips_spread
                  else "geen rit sinds de vorige aflezing: losse correctierit")
        note = (f"aflezing dashboard {t_nl(dashboard)} km, vorige {t_nl(_metres_km(r.previous_dashboard_m))} km op "
                f"{r.previous_read_at.astimezone(LOCAL):%d-%m-%Y}: dashboard {t_nl(_metres_km(r.dashboard_delta_m))} km, "
                f"GPS {t_nl(_metres_km(r.gps_delta_m))} km, correctie {t_nl(correction, signed=True)} km {spread}")
        if r.implausible:
            share = (f" ({abs(r.correction_m) * 100 / r.gps_delta_m:.0f}%)".replace(".", ",")
                     if r.gps_delta_m else "")
            note += (f"; ONGEBRUIKELIJK: verschil{share} boven de plausibiliteitsgrens, bevestigd met reden: "
                     f"{r.confirm_reason}")
        extra.append(m.Row(kind=m.ODOMETER_CORRECTION, kenteken=car.kenteken, day=at.date(), started_at=at,
                           odometer_start=_metres_km(r.previous_dashboard_m), odometer_end=dashboard,
                           distance=dashboard - _metres_km(r.previous_dashboard_m),
                           original_distance=_metres_km(r.gps_delta_m), correction=correction,
                           correction_in_trips=bool(r.trips_spread), note=f"{note}; {recorded}"))
    merged: list[m.Row] = []
    for row in rows:  # a reading goes before the first trip that started after it
        while extra and row.kind == m.TRIP and extra[0].started_at < row.started_at:
            merged.append(extra.pop(0))
        merged.append(row)
    return merged + extra


def _metres_km(metres: int | None) -> Decimal:
    return m.km(Decimal(metres or 0) / 1000)


def t_nl(value: Decimal, signed: bool = False) -> str:
    """Km in a report sentence: Dutch decimal comma (the renderers' own rule for figures)."""
    text = km_nl(value)
    return f"+{text}" if signed and value > 0 else text


def _explanation_note(explanation) -> str:
    who = "financiën" if explanation.author_role == "finance" else "bestuurder"
    return (f"verklaard door {who} op {explanation.created_at.astimezone(LOCAL):%d-%m-%Y %H:%M}: "
            f"{explanation.reason}")


def _flag_texts(codes: list[str], known: dict[str, str]) -> tuple[str, ...]:
    """A trip's flags as the Dutch remarks the report prints (never the codes)."""
    texts = []
    for code in codes:
        text = known.get(code)
        if text is None:
            with event_texts.in_dutch():
                text = known[code] = texts_nl.FLAGS.get(code) or event_texts.flag_label(code)
        texts.append(text)
    return tuple(dict.fromkeys(texts))


def _event_row(car: m.Car, event: door.ChainEventView, before: door.TripView | None = None) -> m.Row:
    """A chain or device event as a Dutch line. A chain event sits right before the trip that
    revealed it (the missing records lie before that trip), a device event at its own time; one
    without a time at its upload."""
    with event_texts.in_dutch():
        note = event_texts.chain_event_line(event)
    if event.kind == door.DEVICE_EVENT:
        at = event.occurred_at.astimezone(LOCAL) if event.occurred_at else None
        return m.Row(kind=m.DEVICE_EVENT, kenteken=car.kenteken,
                     day=(at or event.detected_at.astimezone(LOCAL)).date(), started_at=at, note=note,
                     detected_at=event.detected_at.astimezone(LOCAL))
    at = (before.started_at if before is not None else event.detected_at).astimezone(LOCAL)
    return m.Row(kind=m.CHAIN_GAP, kenteken=car.kenteken, day=at.date(), started_at=at, note=note,
                 detected_at=event.detected_at.astimezone(LOCAL))


def _totals(rows: list[m.Row]) -> m.Totals:
    """Every km between the first and the last odometer value in one category: business,
    commute, private, unclassified (a trip nobody classified: never business) or unexplained
    (an odometer gap between trips; a reading with no trip since the previous one)."""
    sums = {c: Decimal(0) for c in m.CHARACTERS}
    trips = unclassified = gaps = 0
    correction = unclassified_km = unexplained = explained = Decimal(0)
    for row in rows:
        if row.kind == m.TRIP:
            trips += 1
            if row.classified:
                sums[row.character] += row.distance - row.private_detour
            else:
                unclassified += 1
                unclassified_km += row.distance - row.private_detour
            sums[m.PRIVATE] += row.private_detour
        elif row.kind in (m.CHAIN_GAP, m.ODOMETER_GAP):
            gaps += 1
            if row.kind == m.ODOMETER_GAP and row.explained:
                explained += row.distance
            elif row.kind == m.ODOMETER_GAP:
                unexplained += row.distance
        elif row.kind == m.ODOMETER_CORRECTION:
            if row.correction_in_trips:
                # Already inside the trips' km: shown as "of which", never added to a total.
                correction += row.correction
            else:
                unexplained += row.distance  # the dashboard ran, no trip was recorded
    return m.Totals(business=sums[m.BUSINESS], commute=sums[m.COMMUTE], private=sums[m.PRIVATE],
                    trips=trips, unclassified=unclassified, gaps=gaps, correction_km=correction,
                    unclassified_km=unclassified_km, unexplained_km=unexplained, explained_km=explained)


def _regimes_in_year(vehicle_id: int, year: int) -> tuple[tuple[date, str, str], ...]:
    """The regime rows that applied on some day of the year (the one standing on 1 January first)."""
    from backend.fleet.regimes import regime_history

    history = regime_history(vehicle_id)
    applied = [row for row in history if row.valid_from <= date(year, 12, 31)]
    standing = [row for row in applied if row.valid_from <= date(year, 1, 1)][-1:]
    later = [row for row in applied if row.valid_from > date(year, 1, 1)]
    return tuple((row.valid_from, row.kind, row.regime) for row in standing + later)


def _business_only_km(rows: list[m.Row], cars: list[m.Car]) -> dict[int | None, Decimal]:
    """Per driver: private and unexplained km on a van on days it ran under the regime
    uitsluitend zakelijk (backend.fleet.regimes), which put that verklaring at risk."""
    from backend.fleet.regimes import RegimeBook
    from backend.models.regimes import VAN_BUSINESS_ONLY

    vehicle_of = {car.kenteken: car.vehicle_id for car in cars}
    book = RegimeBook(vehicle_of.values())
    if not any(VAN_BUSINESS_ONLY in book.regimes_of(vehicle_id) for vehicle_id in vehicle_of.values()):
        return {}
    km: dict[int | None, Decimal] = defaultdict(Decimal)
    for row in rows:
        if book.on(vehicle_of.get(row.kenteken), row.day)[1] != VAN_BUSINESS_ONLY:
            continue
        if row.kind == m.ODOMETER_GAP or (row.kind == m.ODOMETER_CORRECTION and not row.correction_in_trips):
            km[row.driver_id] += row.distance
        elif row.kind == m.TRIP and row.character == m.PRIVATE:
            km[row.driver_id] += (row.odometer_end or ZERO) - (row.odometer_start or ZERO)
        elif row.kind == m.TRIP:
            km[row.driver_id] += row.private_detour
    return km


def _verdicts(year: int, rows: list[m.Row], trips: list[door.TripView], assignments: list[_Period],
              names: dict, driver: User | None, cars: list[m.Car] = ()) -> list[m.Verdict]:
    """One verdict per driver (the rule is per person), over their trips in this report,
    decided by the driver's counter (backend.trips.counter), judged by the driver's verklaringen
    and the vans' regimes (backend.fleet.regimes)."""
    from backend.fleet.regimes import verklaringen_of

    counted: dict[int, list] = defaultdict(list)
    unexplained: dict[int | None, Decimal] = defaultdict(Decimal)
    seen: set[int] = set()
    counted_trip = counter.counted_trip
    business_only = _business_only_km(rows, list(cars))
    for row in rows:
        if (row.kind == m.ODOMETER_GAP and not row.explained) or (
                row.kind == m.ODOMETER_CORRECTION and not row.correction_in_trips):
            unexplained[row.driver_id] += row.distance
            continue
        if row.kind != m.TRIP or row.driver_id is None:
            continue
        seen.add(row.driver_id)
        # The verdict counts private km (private trips, private detours inside others) and shows
        # unclassified km: a trip contributing none of these changes none of its figures.
        if row.character == m.PRIVATE or row.private_detour or not row.classified:
            counted[row.driver_id].append(counted_trip(
                row.day, row.odometer_start, row.odometer_end, row.character if row.classified else None,
                row.private_detour))
    people = [driver.id] if driver is not None else sorted({a.driver_id for a in assignments} | seen)
    verdicts = [verdict(names.get(person, ""), year, counted.get(person, []),
                        [(a.available_from, a.available_until) for a in assignments if a.driver_id == person],
                        unexplained.get(person, Decimal(0)), verklaringen=verklaringen_of(person),
                        business_only_km=business_only.get(person, Decimal(0)))
                for person in people]
    # Unexplained km between trips of different drivers (or none) are the car's: they stand
    # with the trips nobody owns.
    if driver is None and (any(row.kind == m.TRIP and row.driver_id is None for row in rows)
                           or unexplained.get(None)):
        # Trips on days without an assignment: nobody answers for their private km yet, so they
        # count against the car with no availability (any private km is over) until finance
        # adds or extends an assignment covering their days (backend.fleet.service).
        orphans = [counted_trip(row.day, row.odometer_start, row.odometer_end,
                                row.character if row.classified else None, row.private_detour)
                   for row in rows if row.kind == m.TRIP and row.driver_id is None
                   and (row.character == m.PRIVATE or row.private_detour or not row.classified)]
        verdicts.append(verdict(UNASSIGNED, year, orphans, [], unexplained.get(None, Decimal(0)),
                                business_only_km=business_only.get(None, Decimal(0))))
    return verdicts


UNASSIGNED = "zonder bestuurder (ritten op dagen zonder toewijzing)"
