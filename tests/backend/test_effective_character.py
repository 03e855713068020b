"""Private follows the trip's effective character (issue 12, item 1; DESIGN principles 8, 11).

The authorization matrix grown by one dimension: trip effective character (business; private by
recording mode; business mode the driver later classified private; private mode the driver later
classified business, not opened; the same, opened for the tax report by the driver) x every
reader (the driver's door reads, summaries, own export; finance's door reads and every report
format; grant holders per category set, through the door and the grant pages; the audit log's
record lists) x every grant category set. One world per database, many assertions.

Also: a database dump after a reclassification to private holds none of that trip's
coordinates (text and IEEE doubles, track points included), and a refused read of a trip says
the same whether the trip exists or not.
"""
from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select, text

from backend import audit
from backend.access import door
from backend.access.door import AccessDenied
from backend.governance.requests import local_today
from backend.db import db
from backend.models.audit import AuditEvent
from backend.reports import model as m
from tests.backend.access_support import LOCAL, agreement_in_force, make_people, request_input, user
from tests.backend.trip_factory import TripFactory, TripSpec

S, T, P = "trip_summaries", "business_tracks", "private_trip_details"
MISUSE, HOURS = "misuse_investigation", "hours_verification"

# Digits that appear nowhere else in the database: a leak is found by its text.
COORDS = {
    "business": ((52.031415, 5.092653), (52.058979, 5.032384)),
    "private_mode": ((52.162643, 5.383279), (52.150288, 5.419716)),
    "reclassified_private": ((51.939937, 5.105820), (51.974944, 5.059230)),
    "reclassified_business": ((52.078164, 5.062862), (52.089986, 5.280348)),
    "disclosed": ((51.825342, 5.117067), (51.798214, 5.808651)),
}
CHARACTERS = tuple(COORDS)
MODES = {"business": "business", "private_mode": "private", "reclassified_private": "business",
         "reclassified_business": "private", "disclosed": "private"}
PRIVATE_NOW = {"private_mode", "reclassified_private"}
# What a reader without the private-details category sees (finance, grants without it).
OPEN_TO_ALL = {"business", "disclosed"}
# Holder name -> (purpose, categories). "hours" is the clause "no routes, no private data".
GRANTS = {"S": (MISUSE, (S,)), "ST": (MISUSE, (S, T)), "SP": (MISUSE, (S, P)), "STP": (MISUSE, (S, T, P)),
          "hours": (HOURS, (S,))}
WITHHELD_BY_DRIVER = "achtergehouden door de bestuurder"


def _middle(name: str) -> tuple[float, float]:
    """The track's middle point as trip_factory computes it."""
    start, end = COORDS[name]
    return ((start[0] + end[0]) / 2 + 0.01, (start[1] + end[1]) / 2)


def _texts(name: str, decimals: int = 5) -> list[str]:
    return [f"{lat:.{decimals}f}, {lon:.{decimals}f}" for lat, lon in COORDS[name]]


class World:
    """One car of one driver with a trip of each character, and one grant holder per category set."""

    def __init__(self, app, client, make_user, tmp_path):
        from backend.access import door
        from backend.governance import approvals, requests
        from backend.trips import revisions

        app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
        self.app = app
        self.people = make_people(make_user)
        self.holders = {name: make_user(f"holder-{name.lower()}@example.nl", "manager", name=f"Manager {name}")
                        for name in GRANTS}
        with app.app_context():
            agreement_in_force(self.people)
            today = local_today()
        factory = TripFactory(app, client, driver_email="daan@example.nl",
                              assigned_from=(today - timedelta(days=60)).isoformat())
        specs = []
        for n, name in enumerate(CHARACTERS):
            day = today - timedelta(days=5 - n // 2)
            started = datetime.combine(day, time(8 + n), LOCAL)
            (start, end) = COORDS[name]
            specs.append(TripSpec(started=started, mode=MODES[name], start=start, end=end))
        self.ids = dict(zip(CHARACTERS, factory.upload(*specs)))
        self.vehicle = None
        with app.app_context():
            driver = user(self.people.driver)
            revisions.revise(driver, [self.ids["reclassified_private"]], {"classification": "private"})
            revisions.revise(driver, [self.ids["reclassified_business"], self.ids["disclosed"]],
                             {"classification": "business"})
            assert door.disclose_for_tax(user(self.people.driver), self.ids["disclosed"])
            self.grants = {}
            for holder, (purpose, categories) in GRANTS.items():
                grounds = "hours_declaration_mismatch" if purpose == HOURS else "undeclared_private_use"
                request = requests.file_request(user(self.holders[holder]), request_input(
                    self.people.driver, purpose=purpose, categories=categories, grounds=grounds))
                approvals.decide(request, user(self.people.or_delegate), "approve", "Concreet, beperkt.")
                self.grants[holder] = approvals.decide(request, user(self.people.privacy), "approve",
                                                       "Akkoord binnen de regeling.").id
            self.vehicle = door.trip(driver, self.ids["business"]).vehicle_id


@pytest.fixture
def world(app, client, make_user, tmp_path) -> World:
    return World(app, client, make_user, tmp_path)


def _by_name(world: World, views) -> dict[str, door.TripView]:
    names = {trip_id: name for name, trip_id in world.ids.items()}
    return {names[v.id]: v for v in views if v.id in names}


def _check_views(world: World, views, *, shown: set[str], cell: str) -> None:
    """Each character's view: its character, and positions shown or withheld (and by whom)."""
    got = _by_name(world, views)
    assert set(got) == set(CHARACTERS), cell
    for name, view in got.items():
        where = f"{cell} x {name}"
        assert view.is_private == (name in PRIVATE_NOW), where
        assert view.character == ("private" if name in PRIVATE_NOW else "business"), where
        if name in shown:
            assert (view.start.lat, view.start.lon) == COORDS[name][0], where
            assert (view.end.lat, view.end.lon) == COORDS[name][1], where
            assert not view.positions_withheld and not view.withheld_by_driver, where
        else:
            assert view.start is None and view.end is None and view.positions_withheld, where
            assert view.withheld_by_driver == (name not in PRIVATE_NOW and name != "business"), where


def _track_cells(world: World, actor, purpose: str, expected: dict[str, int | None], cell: str) -> None:
    """expected: points per character, None for a refusal."""
    for name in CHARACTERS:
        where = f"{cell} x {name} (track)"
        if expected[name] is None:
            with pytest.raises(AccessDenied) as denied:
                door.track(actor, world.ids[name], purpose)
            assert str(denied.value) == door.TRIP_REFUSED, where
            continue
        points = door.track(actor, world.ids[name], purpose)
        assert len(points) == expected[name], where
        if points:
            assert (points[0].lat, points[0].lon) == COORDS[name][0], where


def _rendered(report: m.Report) -> dict[str, str]:
    """The report in every format, as text to search."""
    from pypdf import PdfReader

    from backend.reports import export

    out = {}
    for fmt in ("csv", "xlsx", "pdf", "xml"):
        buffer = io.BytesIO()
        export.renderer(fmt).render(report, buffer)
        data = buffer.getvalue()
        if fmt == "xlsx":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                data = b"".join(archive.read(name) for name in archive.namelist())
        if fmt == "pdf":
            out[fmt] = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        else:
            out[fmt] = data.decode("utf-8", errors="replace")
    return out


def _check_report(world: World, report: m.Report, *, shown: set[str], cell: str) -> None:
    trips = [row for row in report.rows if row.kind == m.TRIP]
    assert len(trips) == len(CHARACTERS), cell
    by_name = dict(zip(CHARACTERS, trips))  # the trips started in this order
    for name, row in by_name.items():
        where = f"{cell} x {name}"
        assert row.character == ("private" if name in PRIVATE_NOW else "business"), where
        assert (row.departure is not None) == (name in shown), where
        assert row.addresses_withheld_by_driver == (name == "reclassified_business" and name not in shown), where
    for fmt, content in _rendered(report).items():
        for name in CHARACTERS:
            where = f"{cell} x {name} ({fmt})"
            leaked = [t for t in _texts(name) + _texts(name, 6) + [t.replace(".", ",") for t in _texts(name)]
                      if t in content]
            if name in shown:
                if fmt == "csv":  # the one format that prints every address whole
                    assert set(_texts(name)) <= set(leaked), where
            else:
                assert leaked == [], where
        mark = {"xml": 'addressesWithheldBy="driver"', "pdf": "achtergehouden (bestuurder)"}.get(fmt, WITHHELD_BY_DRIVER)
        withheld = content.count(mark) - (1 if fmt == "pdf" else 0)  # the PDF's legend names it once
        expected = 0 if "reclassified_business" in shown else (2 if fmt != "xml" else 1)
        assert withheld == expected, f"{cell} ({fmt}) withheld-by-driver marks"


def _grant_page(app, world: World, holder: str) -> dict[str, str]:
    """The grant page's row of each character, as HTML."""
    page = _logged_in(app, f"holder-{holder.lower()}@example.nl").get(f"/access/grants/{world.grants[holder]}/trips")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    rows = {}
    for name, trip_id in world.ids.items():
        match = re.search(rf'<tr data-trip="{trip_id}">(.*?)</tr>', html, re.S)
        assert match, (holder, name)
        rows[name] = match.group(1)
    return rows


def _password() -> str:
    from tests.conftest import TEST_PASSWORD
    return TEST_PASSWORD


def test_the_matrix_of_character_reader_and_category(app, world) -> None:
    from backend.access import door
    from backend.reports.build import build_report

    people = world.people
    year = local_today().year
    with app.app_context():
        driver, finance = user(people.driver), user(people.finance)

        # --- the driver: every own read shows every position; summaries open no seal -------------
        _check_views(world, door.trips_for_driver(driver, people.driver), shown=set(CHARACTERS), cell="driver/door")
        _check_views(world, [door.trip(driver, world.ids[name]) for name in CHARACTERS],
                     shown=set(CHARACTERS), cell="driver/trip")
        _check_views(world, door.own_trip_summaries(driver), shown={"business"}, cell="driver/summaries")
        _track_cells(world, driver, "tax", {"business": 3, "private_mode": 0, "reclassified_private": 3,
                                            "reclassified_business": 0, "disclosed": 0}, "driver")
        _check_views(world, door.own_tax_report_rows(driver, year=year), shown=set(CHARACTERS),
                     cell="driver/own export rows")
        own = build_report(driver, year=year, driver_id=people.driver, view=m.DRIVER)
        _check_report(world, own, shown=set(CHARACTERS), cell="driver/own export")

        # --- finance under the tax purpose ------------------------------------------------------
        for cell, views in (("finance/vehicle", door.trips_for_vehicle(finance, world.vehicle)),
                            ("finance/driver", door.trips_for_driver(finance, people.driver)),
                            ("finance/tax rows", door.tax_report_rows_with_gaps(finance, year=year, driver_id=people.driver)),
                            ("finance/report rows", door.tax_report_rows(finance, year=year,
                                                                                 vehicle_id=world.vehicle))):
            _check_views(world, views, shown=OPEN_TO_ALL, cell=cell)
        _track_cells(world, finance, "tax", dict.fromkeys(CHARACTERS), "finance")
        for subject in ({"vehicle_id": world.vehicle}, {"driver_id": people.driver}):
            report = build_report(finance, year=year, **subject)
            _check_report(world, report, shown=OPEN_TO_ALL, cell=f"finance/report {subject}")

        # --- grant holders, one per category set ------------------------------------------------
        for holder, (purpose, categories) in GRANTS.items():
            actor = user(world.holders[holder])
            shown = set(CHARACTERS) if P in categories else OPEN_TO_ALL
            _check_views(world, door.trips_for_driver(actor, people.driver, purpose=purpose), shown=shown,
                         cell=f"grant {holder}/driver")
            _check_views(world, [door.trip(actor, world.ids[name], purpose) for name in CHARACTERS], shown=shown,
                         cell=f"grant {holder}/trip")
            if T not in categories:
                tracks = dict.fromkeys(CHARACTERS)
            else:
                tracks = {"business": 3, "private_mode": 0 if P in categories else None,
                          "reclassified_private": 3 if P in categories else None,
                          "reclassified_business": 0, "disclosed": 0}
            _track_cells(world, actor, purpose, tracks, f"grant {holder}")
            # The trip tables are read by holders only through the door: no tax report for them.
            with pytest.raises(AccessDenied):
                door.tax_report_rows_with_gaps(actor, year=year, driver_id=people.driver)

        # --- the audit log's record lists name the private records apart ------------------------
        reads = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == audit.READ,
                                                            AuditEvent.grant_id.is_not(None))).all()
        assert reads
        private_ids = {world.ids[name] for name in PRIVATE_NOW}
        for event in reads:
            details = json.loads(event.details)
            assert set(details.get("private_trip_ids", [])) == private_ids & set(details["trip_ids"]), details
        opened = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == audit.SEAL_OPENED,
                                                             AuditEvent.actor_id == people.finance)).all()
        # Finance opens only the seals the driver opened for the tax report.
        assert opened and all(json.loads(e.details)["trip_ids"] == [world.ids["disclosed"]] for e in opened)
        disclosed = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == door.SEAL_DISCLOSED)).all()
        assert [(e.actor_id, json.loads(e.details)["trip_ids"]) for e in disclosed] == \
            [(people.driver, [world.ids["disclosed"]])]
        sealed = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == door.TRIP_SEALED)).all()
        assert [json.loads(e.details)["trip_ids"] for e in sealed] == [[world.ids["reclassified_private"]]]

    # --- the grant pages (HTML) ---------------------------------------------------------------
    for holder, (_, categories) in GRANTS.items():
        rows = _grant_page(app, world, holder)
        for name, html in rows.items():
            where = f"grant page {holder} x {name}"
            visible = name in CHARACTERS if P in categories else name in OPEN_TO_ALL
            assert all((t in html) == visible for t in _texts(name)), where
            assert ("privé" in html) == (name in PRIVATE_NOW), where
            assert (WITHHELD_BY_DRIVER in html) == (name == "reclassified_business" and P not in categories), where
            track_link = f"/trips/{world.ids[name]}/track" in html
            assert track_link == (T in categories and name not in PRIVATE_NOW), where


def _coordinate_marks(names) -> tuple[list[str], list[bytes]]:
    """The trips' coordinates (and track points) as text and as IEEE doubles, both byte orders."""
    numbers = []
    for name in names:
        numbers += [value for position in COORDS[name] for value in position]
        numbers += list(_middle(name))
    texts = [repr(number) for number in numbers]
    doubles = [struct.pack(order, number) for number in numbers for order in ("<d", ">d")]
    return texts, doubles


def _reclassification_world(app, client, make_user, tmp_path):
    """A driver's business trip and the business trip after it, both recorded in business mode."""
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    with app.app_context():
        agreement_in_force(people)
        today = local_today()
    factory = TripFactory(app, client, driver_email="daan@example.nl",
                          assigned_from=(today - timedelta(days=60)).isoformat())
    started = datetime.combine(today - timedelta(days=2), time(8), LOCAL)
    ids = factory.upload(
        TripSpec(started=started, start=COORDS["reclassified_private"][0], end=COORDS["reclassified_private"][1]),
        TripSpec(started=started + timedelta(hours=2), start=COORDS["business"][0], end=COORDS["business"][1]))
    return people, ids


def test_a_trip_the_driver_classified_private_is_private_for_a_grant_without_private_details(
        app, client, make_user, tmp_path) -> None:
    """The reported break: "forgot the private switch"; a grant without the private-details
    category, and one under the clause "no private data", showed it as business with its start
    and end positions and its full track."""
    from backend.governance import approvals, requests
    from backend.trips import revisions

    people, (trip_id, _) = _reclassification_world(app, client, make_user, tmp_path)
    with app.app_context():
        revisions.revise(user(people.driver), [trip_id], {"classification": "private"})
        holders = {}
        for holder, purpose, categories, grounds in (
                (people.manager, MISUSE, (S, T), "undeclared_private_use"),
                (people.other_manager, HOURS, (S,), "hours_declaration_mismatch")):
            request = requests.file_request(user(holder), request_input(
                people.driver, purpose=purpose, categories=categories, grounds=grounds))
            approvals.decide(request, user(people.or_delegate), "approve", "Concreet, beperkt.")
            approvals.decide(request, user(people.privacy), "approve", "Akkoord.")
            holders[holder] = purpose
        for holder, purpose in holders.items():
            views = [v for v in door.trips_for_driver(user(holder), people.driver, purpose=purpose) if v.id == trip_id]
            assert len(views) == 1
            assert views[0].is_private
            assert (views[0].start, views[0].end, views[0].positions_withheld) == (None, None, True)
        with pytest.raises(AccessDenied):
            door.track(user(people.manager), trip_id, MISUSE)
        finance = [v for v in door.trips_for_driver(user(people.finance), people.driver) if v.id == trip_id]
        assert finance[0].is_private and finance[0].start is None


def test_a_dump_after_reclassification_to_private_holds_none_of_its_coordinates(app, client, make_user,
                                                                                 tmp_path) -> None:
    from backend.trips import revisions

    people, (trip_id, business_id) = _reclassification_world(app, client, make_user, tmp_path)
    name = "reclassified_private"
    texts, doubles = _coordinate_marks([name])
    business_texts, _ = _coordinate_marks(["business"])

    def dump() -> tuple[str, bytes]:
        """Every row of every table as text, and (SQLite) the database file's bytes."""
        rows = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(text(f'SELECT * FROM "{table.name}"')):
                rows.append(repr(tuple(row)))
        raw = b""
        if db.engine.dialect.name == "sqlite":
            db.session.commit()
            path = db.engine.url.database
            raw = open(path, "rb").read()
            try:
                raw += open(path + "-wal", "rb").read()
            except FileNotFoundError:
                pass
        return "\n".join(rows), raw

    with app.app_context():
        before, before_raw = dump()
        assert all(t in before for t in texts)  # the dump works: the clear copies are there
        if before_raw:
            assert any(d in before_raw for d in doubles)
        revisions.revise(user(people.driver), [trip_id], {"classification": "private"})
        db.session.remove()
    with app.app_context():
        after, after_raw = dump()
        assert [t for t in texts if t in after] == []
        assert [d for d in doubles if d in after_raw] == []
        assert all(t in after for t in business_texts)  # the business trip next to it is untouched
        # The driver still sees the positions and the track: they were sealed, not lost.
        view = door.trip(user(people.driver), trip_id)
        assert (view.start.lat, view.start.lon) == COORDS[name][0] and view.is_private
        assert [(p.lat, p.lon) for p in door.track(user(people.driver), trip_id)][1] == _middle(name)
        assert door.trip(user(people.driver), business_id).start.lat == COORDS["business"][0][0]


def test_the_sealing_is_the_only_change_the_triggers_let_through(app, world) -> None:
    """The trip row of a sealed trip cannot be changed otherwise, nor a business trip's be cleared."""
    from sqlalchemy.exc import DatabaseError

    with app.app_context():
        for statement in (
                f"UPDATE trips SET distance_km = 1 WHERE id = {world.ids['reclassified_private']}",
                f"UPDATE trips SET start_lat = NULL, start_lon = NULL, end_lat = NULL, end_lon = NULL, "
                f"body = '{{\"sealed\":\"trip_reseals\"}}' WHERE id = {world.ids['business']}",
                f"DELETE FROM trip_tracks WHERE trip_id = {world.ids['business']}",
                f"DELETE FROM trip_reseals WHERE trip_id = {world.ids['reclassified_private']}",
                f"UPDATE trip_disclosures SET trip_id = {world.ids['business']}"):
            with pytest.raises(DatabaseError):
                db.session.execute(text(statement))
            db.session.rollback()


def _logged_in(app, email: str):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": _password()})
    assert response.status_code in (302, 303)
    return client


def test_a_refused_trip_read_says_the_same_whether_the_trip_exists_or_not(app, client, make_user,
                                                                          tmp_path) -> None:
    from tests.backend.access_support import granted

    people, (trip_id, _) = _reclassification_world(app, client, make_user, tmp_path)
    with app.app_context():
        grant_id = granted(people).id  # the manager: trip summaries only, no tracks
        missing = trip_id + 1000
        other = user(people.other_driver)
        messages = set()
        for asked in (trip_id, missing):
            for call in (lambda: door.trip(other, asked), lambda: door.track(other, asked),
                         lambda: door.trip_summaries(other, [asked])):
                with pytest.raises(AccessDenied) as denied:
                    call()
                messages.add(str(denied.value))
        assert len(messages) == 1, messages
    # Over HTTP: another driver's trip page, and a holder's track page outside the grant's
    # categories, answer exactly as for an id that does not exist (status and body, HTML and JSON).
    for email, path in (("eva@example.nl", "/me/trips/{}"), ("mark@example.nl", f"/access/grants/{grant_id}/trips/{{}}/track")):
        seen = set()
        for asked in (trip_id, missing):
            client = _logged_in(app, email)
            html = client.get(path.format(asked))
            as_json = client.get(path.format(asked), headers={"Accept": "application/json"})
            page = re.sub(r'name="csrf_token" value="[^"]*"', "", html.get_data(as_text=True))  # per session
            seen.add((html.status_code, page, as_json.status_code, as_json.get_data(as_text=True)))
        assert len(seen) == 1, (path, seen)
        (status, _, json_status, body) = seen.pop()
        assert status == json_status == 403, body


def test_trips_classified_private_before_sealing_existed_are_sealed_by_the_cli(app, client, make_user, tmp_path,
                                                                              runner) -> None:
    import uuid

    from backend.models.revisions import TripRevision

    people, (trip_id, business_id) = _reclassification_world(app, client, make_user, tmp_path)
    with app.app_context():
        # A classification written before migration 0016: the positions stayed in clear.
        db.session.add(TripRevision(trip_id=trip_id, field="classification", new_value="private",
                                    author_id=people.driver, author_role="driver", batch_id=str(uuid.uuid4())))
        db.session.commit()
        view = [v for v in door.trips_for_driver(user(people.finance), people.driver) if v.id == trip_id][0]
        assert view.is_private and view.start is None  # the door withholds them all the same
    result = runner.invoke(args=["seals", "seal-classified"])
    assert result.exit_code == 0 and "sealed 1 trips" in result.output, result.output
    with app.app_context():
        rows = db.session.execute(text(f"SELECT start_lat, end_lon, body FROM trips WHERE id = {trip_id}")).one()
        assert rows == (None, None, '{"sealed":"trip_reseals"}')
        assert db.session.execute(text(f"SELECT count(*) FROM trip_tracks WHERE trip_id = {trip_id}")).scalar() == 0
        assert door.trip(user(people.driver), trip_id).start.lat == COORDS["reclassified_private"][0][0]
    assert "sealed 0 trips" in runner.invoke(args=["seals", "seal-classified"]).output
