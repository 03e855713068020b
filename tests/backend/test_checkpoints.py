"""Signed checkpoints outside the database (issue #14, item 2; docs/access.md).

Each tampering of the issue is done in SQL the way someone with database access would (SQLite
through a plain sqlite3 connection, foreign keys off, triggers dropped; PostgreSQL as the owner,
triggers disabled; as the app role these statements are refused: test_database_roles.py), and
`flask --app backend audit verify --checkpoint FILE` names the event, trip or row.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import zipfile
from datetime import date, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from backend import audit
from backend.db import db
from tests.backend.tamper_support import tamper
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago
from tests.conftest import POSTGRES_OWNER_ROLE

UTC = timezone.utc


@pytest.fixture
def world(app, client, make_user, runner, tmp_path):
    make_user("daan@example.nl", "driver", name="Daan de Vries")
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from="2026-01-01")
    factory.upload(TripSpec(days_ago(30)), TripSpec(days_ago(20)), TripSpec(days_ago(10)))
    with app.app_context():
        for number in range(6):
            audit.record(audit.LOGIN, subject_user_id=1, details={"n": number})
    checkpoint = tmp_path / "checkpoint.json"
    result = runner.invoke(args=["audit", "checkpoint", "--out", str(checkpoint)])
    assert result.exit_code == 0, result.output
    return factory, checkpoint


def owner_sql(database_url: str, *statements: str) -> None:
    """SQL with the guards off: SQLite's sqlite3 module (triggers dropped by the statements),
    PostgreSQL as the tables' owner."""
    tamper(database_url, *statements, role=POSTGRES_OWNER_ROLE)


def _drop_triggers(database_url: str, table: str) -> list[str]:
    """The statements that switch a table's triggers off."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(make_url(database_url).database)
        names = [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))]
        connection.close()
        return [f"DROP TRIGGER {name}" for name in names]
    return [f"ALTER TABLE {table} DISABLE TRIGGER USER"]


def _delete_trip_behind_the_guards(database_url: str, device: str, seq: int) -> None:
    """Delete a trip (its track and chain events with it) as the database's owner would: on SQLite
    through a fake open retention run (the issue's break: foreign keys off, so such a run can be
    committed and opens the triggers), on PostgreSQL with the triggers disabled."""
    if database_url.startswith("sqlite"):
        statements = ["INSERT INTO retention_runs (started_at, agreement_version_id, agreement_version, cutoffs, "
                      "tracks_deleted, seals_cleared, trips_deleted, related_deleted, audit_seqs, open_sentinel) "
                      "VALUES ('2026-01-01 00:00:00', 1, 'x', '{}', 0, 0, 0, '{}', '[]', 1)"]
    else:
        statements = [f"ALTER TABLE {t} DISABLE TRIGGER USER" for t in ("trips", "trip_tracks", "chain_events")]
    trip = f"(SELECT id FROM trips WHERE device_id = '{device}' AND seq = {seq})"
    owner_sql(database_url, *statements, f"DELETE FROM trip_tracks WHERE trip_id = {trip}",
              f"DELETE FROM chain_events WHERE trip_id = {trip}",
              f"DELETE FROM trips WHERE device_id = '{device}' AND seq = {seq}")


def _verify(runner, checkpoint=None):
    args = ["audit", "verify"] + (["--checkpoint", str(checkpoint)] if checkpoint else [])
    return runner.invoke(args=args)


def test_an_untouched_database_extends_its_checkpoint(app, world, runner):
    factory, checkpoint = world
    factory.upload(TripSpec(days_ago(5)))  # more trips and events after the checkpoint
    with app.app_context():
        from backend.fleet import service as fleet
        (assignment,) = fleet.list_assignments()
        fleet.change_assignment(assignment.id, available_until=date(2027, 3, 31))
    result = _verify(runner, checkpoint)
    assert result.exit_code == 0, result.output
    assert f"extends checkpoint {checkpoint}" in result.output


def _rewrite_event(app, database_url: str, seq: int) -> None:
    """Change one event's details and recompute every hash from there on, head included."""
    with app.app_context():
        rows = db.session.execute(text("SELECT seq, body FROM audit_events ORDER BY seq")).all()
        db.session.rollback()
    prev = audit.GENESIS_HASH
    statements = _drop_triggers(database_url, "audit_events")
    for number, body in rows:
        if number == seq:
            body = body.replace('"n":2', '"n":9')
            assert '"n":9' in body
        digest = audit.event_hash(prev, body)
        quoted = body.replace("'", "''")
        statements.append(f"UPDATE audit_events SET body = '{quoted}', prev_hash = '{prev}', hash = '{digest}' "
                          f"WHERE seq = {number}")
        prev = digest
    statements.append(f"UPDATE audit_chain_head SET hash = '{prev}'")
    owner_sql(database_url, *statements)


def test_a_rewritten_log_with_recomputed_hashes_is_named(app, world, runner, database_url):
    _, checkpoint = world
    with app.app_context():
        seq = db.session.execute(text("SELECT seq FROM audit_events WHERE body LIKE :pattern"),
                                 {"pattern": '%"n":2%'}).scalar_one()
    _rewrite_event(app, database_url, seq)
    assert _verify(runner).exit_code == 1  # the latest checkpoint in the instance folder
    plain = runner.invoke(args=["audit", "verify", "--checkpoint", str(checkpoint)])
    assert plain.exit_code == 1
    assert f"audit event {seq} differs from the checkpoint" in plain.output
    with app.app_context():
        assert audit.verify().ok  # the chain alone does not notice


def test_a_cut_off_log_with_the_head_moved_back_is_named(app, world, runner, database_url):
    _, checkpoint = world
    with app.app_context():
        last = db.session.execute(text("SELECT max(seq) FROM audit_events")).scalar_one()
        keep_hash = db.session.execute(text(f"SELECT hash FROM audit_events WHERE seq = {last - 2}")).scalar_one()
        db.session.rollback()
    owner_sql(database_url, *_drop_triggers(database_url, "audit_events"),
              f"DELETE FROM audit_events WHERE seq > {last - 2}",
              f"UPDATE audit_chain_head SET seq = {last - 2}, hash = '{keep_hash}'")
    with app.app_context():
        assert audit.verify().ok
    result = _verify(runner, checkpoint)
    assert result.exit_code == 1
    assert f"audit event {last - 1} is missing" in result.output


def test_a_trip_deleted_under_a_fake_retention_run_is_named(app, world, runner, database_url):
    factory, checkpoint = world
    device = factory.device.device_id
    _delete_trip_behind_the_guards(database_url, device, 2)
    with app.app_context():
        assert audit.verify().ok
    result = _verify(runner, checkpoint)
    assert result.exit_code == 1
    assert f"device {device}: trip seq 2 is gone" in result.output


def _record_hash(app, device: str, seq: int) -> str:
    with app.app_context():
        found = db.session.execute(text("SELECT record_hash FROM trips WHERE device_id = :device AND seq = :seq"),
                                   {"device": device, "seq": seq}).scalar_one()
        db.session.rollback()
    return found


def _other_digits(digits: str) -> str:
    return "".join("0" if digit != "0" else "1" for digit in digits)


@pytest.mark.parametrize("seq, keep_digits", [(2, 0), (3, 4)], ids=["a trip's hash", "the last hash behind its prefix"])
def test_a_trips_record_hash_rewritten_is_named(app, world, runner, database_url, seq, keep_digits):
    """Seq 3 is the checkpoint's last trip of the device: its full hash is pinned, so a hash that
    keeps the two-byte prefix is named too."""
    factory, checkpoint = world
    device = factory.device.device_id
    original = _record_hash(app, device, seq)
    rewritten = original[:keep_digits] + _other_digits(original[keep_digits:])
    owner_sql(database_url, *_drop_triggers(database_url, "trips"),
              f"UPDATE trips SET record_hash = '{rewritten}' WHERE device_id = '{device}' AND seq = {seq}")
    result = _verify(runner, checkpoint)
    assert result.exit_code == 1
    assert f"device {device}: trip seq {seq} differs from the checkpoint" in result.output


def test_two_trips_merged_into_one_row_are_named(app, world, runner, database_url):
    """The device's trips are compared as the database concatenates them (seqs and hashes joined by
    commas): a row carrying two trips' seqs and hashes in one (SQLite keeps text in an integer
    column) must not pass for both. PostgreSQL's column types refuse the rows."""
    factory, checkpoint = world
    device = factory.device.device_id
    second, third = _record_hash(app, device, 2), _record_hash(app, device, 3)
    statements = [*_drop_triggers(database_url, "trips"), *_drop_triggers(database_url, "trip_tracks"),
                  f"DELETE FROM trip_tracks WHERE trip_id = (SELECT id FROM trips WHERE device_id = '{device}' AND seq = 3)",
                  f"DELETE FROM trips WHERE device_id = '{device}' AND seq = 3",
                  f"UPDATE trips SET seq = '2,3', record_hash = '{second},{third}' "
                  f"WHERE device_id = '{device}' AND seq = 2"]
    if not database_url.startswith("sqlite"):
        with pytest.raises(Exception, match="integer|character varying"):
            owner_sql(database_url, *statements)
        return
    owner_sql(database_url, *statements)
    result = _verify(runner, checkpoint)
    assert result.exit_code == 1
    assert f"device {device}: trip seq 2 is gone" in result.output


def test_a_hash_moved_across_its_neighbours_boundary_is_named(app, world, runner, database_url):
    """A hash one digit short and the next one starting with a comma join to the same text at the
    same places but for one comma: the count of commas names it. PostgreSQL's varchar(64) refuses
    the longer hash."""
    factory, checkpoint = world
    device = factory.device.device_id
    first, second = _record_hash(app, device, 1), _record_hash(app, device, 2)
    statements = [*_drop_triggers(database_url, "trips"),
                  f"UPDATE trips SET record_hash = '{first[:63]}' WHERE device_id = '{device}' AND seq = 1",
                  f"UPDATE trips SET record_hash = ',{second}' WHERE device_id = '{device}' AND seq = 2"]
    if not database_url.startswith("sqlite"):
        with pytest.raises(Exception, match="too long"):
            owner_sql(database_url, *statements)
        return
    owner_sql(database_url, *statements)
    result = _verify(runner, checkpoint)
    assert result.exit_code == 1
    assert f"device {device}: trip seq 2 differs from the checkpoint" in result.output


def test_a_late_trip_filling_a_gap_after_the_checkpoint_still_extends_it(app, client, world, runner, tmp_path):
    from tests.backend.trip_factory import record

    factory, _ = world
    from backend import sealing_keys
    with app.app_context():
        public = sealing_keys.current_key().public_raw
    late = record(factory.seq + 1, factory.prev_hash, TripSpec(days_ago(8)), factory.odometer, public)
    factory.seq, factory.prev_hash, factory.odometer = late["seq"], late["hash"], late["odometer_end_km"]
    factory.upload(TripSpec(days_ago(7)))  # seq 5 arrives, seq 4 is a gap
    checkpoint = tmp_path / "with-gap.json"
    assert runner.invoke(args=["audit", "checkpoint", "--out", str(checkpoint)]).exit_code == 0
    response = factory.device.post(client, [late])
    assert response.status_code == 200 and response.get_json()["stored"] == 1, response.get_json()
    result = _verify(runner, checkpoint)
    assert result.exit_code == 0, result.output
    pinned = json.loads(checkpoint.read_bytes())["checkpoint"]["devices"][factory.device.device_id]
    assert pinned["ranges"] == [[1, 3], [5, 5]]


def test_an_assignment_changed_behind_the_triggers_is_named(app, world, runner, database_url):
    _, checkpoint = world
    with app.app_context():
        assignment = db.session.execute(text("SELECT id FROM assignments")).scalar_one()
        db.session.rollback()
    owner_sql(database_url, *_drop_triggers(database_url, "assignments"),
              "UPDATE assignments SET available_until = '2026-12-31'")
    result = _verify(runner, checkpoint)
    assert result.exit_code == 1
    assert f"assignments row {assignment} differs from the checkpoint" in result.output


def test_a_changed_or_foreign_checkpoint_file_is_refused(app, world, runner, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from backend import checkpoints
    _, checkpoint = world
    signed = json.loads(checkpoint.read_bytes())
    signed["checkpoint"]["audit"]["seq"] -= 1
    edited = tmp_path / "edited.json"
    edited.write_bytes(checkpoints.canonical(signed))
    result = _verify(runner, edited)
    assert result.exit_code == 1 and "signature does not match" in result.output
    other = Ed25519PrivateKey.generate()
    signed = json.loads(checkpoint.read_bytes())
    forged = {**signed, "public_key": checkpoints._b64(checkpoints._public_raw(other)),
              "signature": checkpoints._b64(other.sign(checkpoints.canonical(signed["checkpoint"])))}
    edited.write_bytes(checkpoints.canonical(forged))
    result = _verify(runner, edited)
    assert result.exit_code == 1 and "signed by another key" in result.output


def test_without_a_file_the_latest_checkpoint_is_used_and_named(app, world, runner):
    from backend import checkpoints
    with app.app_context():
        latest = checkpoints.latest_file()
    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert f"extends checkpoint {latest}" in result.output


def test_the_daily_job_signs_once_across_workers(app, world):
    from backend import checkpoints, jobs
    with app.app_context():
        before = len(list(checkpoints.directory().glob("checkpoint-*.json")))
    barrier = threading.Barrier(2)
    results: list[int | None] = []

    def worker() -> None:
        barrier.wait()
        results.append(jobs.run_once(app, "checkpoint"))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results, key=lambda r: r is None) == [1, None]
    with app.app_context():
        assert jobs.checkpoint() == 0  # later the same day: the daily lock is taken
        files = list(checkpoints.directory().glob("checkpoint-*.json"))
    assert len(files) == before + 1


def test_the_xml_report_and_the_fleet_zip_carry_a_checkpoint(app, world, runner, make_user, tmp_path):
    from lxml import etree

    from backend import checkpoints
    make_user("fatima@example.nl", "finance", name="Fatima")
    year = str(days_ago(10).year)
    out = tmp_path / "car.xml"
    result = runner.invoke(args=["report", "--vehicle", "GB-XJ-12", "--year", year, "--format", "xml",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    element = etree.parse(str(out)).getroot().find("{urn:ritbox:report:1}checkpoint")
    with app.app_context():
        key = checkpoints.instance_public_key()
    embedded = checkpoints.load(element.text.encode(), expected_key=key)
    assert embedded["reason"] == "tax_report"
    zipped = tmp_path / "fleet.zip"
    result = runner.invoke(args=["report", "--fleet", "--year", year, "--format", "csv", "--out", str(zipped)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(zipped) as archive:
        member = checkpoints.load(archive.read("checkpoint.json"), expected_key=key)
    assert member["reason"] == "export" and member["audit"]["seq"] >= embedded["audit"]["seq"]


def test_delegates_and_privacy_officers_get_it_by_mail_and_can_download_it(app, world, make_user, client, login):
    from backend import checkpoints, jobs, mail
    from tests.backend.smtp_sink import Server, use_smtp as _use

    make_user("olga@example.nl", "or_delegate", name="Olga Bakker")
    make_user("pieter@example.nl", "privacy_officer", name="Pieter Smit")
    server = Server()
    server.start()
    try:
        _use(app, server)
        with app.app_context():
            assert jobs.checkpoint() == 1
            assert mail.send_due() == 2
            key = checkpoints.instance_public_key()
    finally:
        server.stop()
    assert sorted(r for _, recipients, _ in server.inbox.messages for r in recipients) == [
        "olga@example.nl", "pieter@example.nl"]
    _, _, message = server.inbox.messages[0]
    assert "controlepunt" in message["Subject"]  # Dutch, the default language
    signed_line = message.get_content().strip().splitlines()[-1]
    assert checkpoints.load(signed_line.encode(), expected_key=key)["reason"] == "daily"

    login("pieter@example.nl")
    response = client.get("/audit/checkpoint")
    assert response.status_code == 200
    assert checkpoints.load(response.data, expected_key=key)["reason"] == "download"
    assert b'href="/audit/checkpoint"' in client.get("/audit/log").data


def test_a_reports_checkpoint_pins_its_own_car_and_still_names_a_deleted_trip(app, world, runner, make_user, client,
                                                                             tmp_path, database_url):
    """A tax report used to sign a checkpoint of the whole database (every audit event and every
    trip of every car: at national scale each report would read all of it; issue 20). It pins the
    report's cars (their device chains and guarded rows) and the audit log's head, and verifies
    against them alike."""
    from lxml import etree

    from backend import checkpoints
    factory, _ = world
    make_user("eva@example.nl", "driver", name="Eva Mulder")
    other = TripFactory(app, client, kenteken="12-ABC-3", driver_email="eva@example.nl",
                        assigned_from="2026-01-01")
    other.upload(TripSpec(days_ago(15)), TripSpec(days_ago(14)))
    make_user("fatima@example.nl", "finance", name="Fatima")
    out = tmp_path / "car.xml"
    result = runner.invoke(args=["report", "--vehicle", "GB-XJ-12", "--year", str(days_ago(10).year),
                                 "--format", "xml", "--out", str(out)])
    assert result.exit_code == 0, result.output
    element = etree.parse(str(out)).getroot().find("{urn:ritbox:report:1}checkpoint")
    signed = json.loads(element.text)
    pinned = signed["checkpoint"]
    assert sorted(pinned["devices"]) == [factory.device.device_id]
    assert "prefixes" not in pinned["audit"]
    with app.app_context():
        golf = db.session.execute(text("SELECT id FROM vehicles WHERE kenteken = 'GBXJ12'")).scalar_one()
        db.session.rollback()
    assert pinned["scope"] == {"vehicles": [golf]}
    assert {row for row in pinned["rows"]["assignments"]} == {
        str(a) for a in _ids(app, f"SELECT id FROM assignments WHERE vehicle_id = {golf}")}
    # A scoped checkpoint never becomes the one `audit verify` takes by default.
    with app.app_context():
        assert checkpoints.latest_file() is None or "tax_report" not in checkpoints.latest_file().name

    report_checkpoint = tmp_path / "report-checkpoint.json"
    report_checkpoint.write_bytes(checkpoints.dumps(signed))
    assert _verify(runner, report_checkpoint).exit_code == 0
    device = factory.device.device_id
    _delete_trip_behind_the_guards(database_url, device, 2)
    result = _verify(runner, report_checkpoint)
    assert result.exit_code == 1
    assert f"device {device}: trip seq 2 is gone" in result.output


def _ids(app, sql: str) -> list[int]:
    with app.app_context():
        ids = list(db.session.execute(text(sql)).scalars())
        db.session.rollback()
    return ids
