"""The audit log: hash chain, append-only triggers, verify naming the first broken link,
concurrent writers on one chain."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from backend import audit
from backend.db import db
from backend.models.audit import GENESIS_HASH, AuditEvent


def _record_some(app, count: int = 5) -> None:
    with app.app_context():
        for number in range(count):
            audit.record(audit.READ, actor=1, subject_user_id=2, purpose="misuse_investigation",
                         grant_id=3, details={"records": number, "categories": ["trip_summaries"],
                                              "note": "é \"quoted\""})


def _drop_triggers(app) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            db.session.execute(text("DROP TRIGGER audit_events_no_update"))
            db.session.execute(text("DROP TRIGGER audit_events_no_delete"))
        db.session.commit()


def test_each_hash_covers_the_previous_hash_and_the_canonical_event(app) -> None:
    _record_some(app, 3)
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [event.seq for event in events] == [1, 2, 3]
        prev = GENESIS_HASH
        for event in events:
            # Recomputed independently of audit.canonical_json, with json.dumps.
            canonical = json.dumps({
                "seq": event.seq, "at": event.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "event_type": event.event_type, "actor_id": event.actor_id,
                "subject_user_id": event.subject_user_id, "subject_vehicle_id": event.subject_vehicle_id,
                "purpose": event.purpose, "grant_id": event.grant_id, "request_id": event.request_id,
                "details": json.loads(event.details)}, sort_keys=True, separators=(",", ":"),
                ensure_ascii=False)
            assert event.body == canonical  # the columns the database derives say what is hashed
            assert event.prev_hash == prev
            assert event.hash == hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()
            prev = event.hash
        assert audit.verify().ok
        assert audit.verify().events == 3


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET body = replace(body, 'misuse_investigation', 'tax') WHERE seq = 2",
    "DELETE FROM audit_events WHERE seq = 2",
    "DELETE FROM audit_events",
])
def test_the_database_refuses_update_and_delete(app, statement: str) -> None:
    _record_some(app, 3)
    with app.app_context():
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
        assert db.session.scalar(text("SELECT count(*) FROM audit_events")) == 3
        assert db.session.scalar(text("SELECT purpose FROM audit_events WHERE seq = 2")) == "misuse_investigation"


@pytest.mark.parametrize("column", ["purpose", "details", "subject_user_id"])
def test_a_column_cannot_be_changed_apart_from_the_hashed_body_even_without_triggers(app, column) -> None:
    """Every column but seq, prev_hash and hash is generated from the body: with the append-only
    triggers gone, the database still refuses to make a column say something the hash does not
    cover (and verify needs to read only the body)."""
    _record_some(app, 2)
    _drop_triggers(app)
    with app.app_context():
        with pytest.raises(DBAPIError, match="generated column"):
            db.session.execute(text(f"UPDATE audit_events SET {column} = NULL WHERE seq = 2"))
        db.session.rollback()
        assert audit.verify().ok


def test_emptying_the_table_is_refused(app) -> None:
    """PostgreSQL's TRUNCATE skips row triggers, so it has a statement trigger of its own;
    SQLite has no TRUNCATE, and its truncate optimisation of DELETE is off when triggers exist."""
    _record_some(app, 1)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("TRUNCATE audit_events" if postgres else "DELETE FROM audit_events"))
        db.session.rollback()
        assert db.session.scalar(text("SELECT count(*) FROM audit_events")) == 1


def test_verify_names_the_tampered_row(app, runner) -> None:
    _record_some(app, 6)
    _drop_triggers(app)
    with app.app_context():
        db.session.execute(text("UPDATE audit_events SET body = replace(body, :was, :forged) WHERE seq = 4"),
                           {"was": '"records":3', "forged": '"records":0'})
        db.session.commit()
        assert json.loads(db.session.scalar(select(AuditEvent.details).where(AuditEvent.seq == 4)))["records"] == 0
        result = audit.verify()
    assert not result.ok
    assert result.broken_seq == 4
    assert result.events == 3
    outcome = runner.invoke(args=["audit", "verify"])
    assert outcome.exit_code == 1
    assert "BROKEN at event 4" in outcome.output
    assert "hash does not match" in outcome.output


def test_a_long_chain_broken_early_is_named_and_the_session_still_works(app) -> None:
    """More events than the reader takes in one chunk: the fast walk stops at the break with most
    rows unread, and the walk that names the event reads again on the same connection (on
    PostgreSQL, closing a stream early cancels its query, which must not fail the session)."""
    with app.app_context():
        for number in range(2_500):
            audit.record(audit.READ, actor=1, subject_user_id=2, purpose="misuse_investigation",
                         grant_id=3, details={"records": number}, commit=False)
        db.session.commit()
    _drop_triggers(app)
    with app.app_context():
        db.session.execute(text("UPDATE audit_events SET body = replace(body, :was, :forged) WHERE seq = 4"),
                           {"was": '"records":3}', "forged": '"records":0}'})
        db.session.commit()
        result = audit.verify()
        assert (result.ok, result.broken_seq, result.events) == (False, 4, 3)
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 2_500


def test_rows_left_unread_leave_the_session_usable(app) -> None:
    """verify's reader stops where the chain breaks, with rows still coming (here ten million, so
    the database is still sending them). On PostgreSQL closing a stream cancels its query, which
    must not fail the session's transaction."""
    with app.app_context():
        audit.record(audit.LOGIN_FAILED, details={"reason": "password"}, commit=False)
        if db.engine.dialect.name == "postgresql":
            many = "SELECT n FROM generate_series(1, 10000000) AS n"
        else:
            many = ("WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers "
                    "WHERE n < 10000000) SELECT n FROM numbers")
        rows = audit.stored_rows(many)
        assert [next(rows) for _ in range(5)] == [(1,), (2,), (3,), (4,), (5,)]
        rows.close()
        db.session.commit()  # the event recorded before the read is kept
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_verify_finds_a_removed_event_and_a_cut_off_end(app) -> None:
    _record_some(app, 5)
    _drop_triggers(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events WHERE seq = 5"))
        db.session.commit()
        result = audit.verify()
        assert (result.ok, result.broken_seq) == (False, 5)
        assert "head" in result.reason
        db.session.execute(text("DELETE FROM audit_events WHERE seq = 2"))
        db.session.commit()
        result = audit.verify()
        assert (result.ok, result.broken_seq) == (False, 2)
        assert "missing" in result.reason


def test_verify_finds_an_event_renumbered(app) -> None:
    """seq is the one column stored besides the body: moving the last event to another number
    keeps every link and hash whole, and verify still names the hole it leaves."""
    _record_some(app, 5)
    _drop_triggers(app)
    with app.app_context():
        db.session.execute(text("UPDATE audit_events SET seq = 9 WHERE seq = 5"))
        db.session.commit()
        result = audit.verify()
    assert (result.ok, result.broken_seq) == (False, 5)
    assert "event 5 is missing (next stored event is 9)" in result.reason


def test_verify_finds_a_rewritten_chain_tail(app) -> None:
    """Rewriting an event and re-hashing it is caught at the next link."""
    _record_some(app, 4)
    _drop_triggers(app)
    with app.app_context():
        row = db.session.execute(select(AuditEvent).where(AuditEvent.seq == 2)).scalar_one()
        forged = audit.canonical_json(row.seq, row.at, row.event_type, row.actor_id, 99,
                                      row.subject_vehicle_id, row.purpose, row.grant_id,
                                      row.request_id, row.details)
        new_hash = audit.event_hash(row.prev_hash, forged)
        db.session.execute(text("UPDATE audit_events SET body = :b, hash = :h WHERE seq = 2"),
                           {"b": forged, "h": new_hash})
        db.session.commit()
        result = audit.verify()
    assert (result.ok, result.broken_seq) == (False, 3)
    assert "prev_hash" in result.reason


def test_verify_command_succeeds_on_a_whole_chain(app, runner) -> None:
    _record_some(app, 2)
    outcome = runner.invoke(args=["audit", "verify"])
    assert outcome.exit_code == 0, outcome.output
    assert "audit chain OK: 2 events" in outcome.output


def test_concurrent_writers_do_not_fork_the_chain(app) -> None:
    writers, per_writer = 4, 15
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(number: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for index in range(per_writer):
                    audit.record("read", actor=number, details={"index": index})
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(number,)) for number in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        seqs = db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
        assert seqs == list(range(1, writers * per_writer + 1))
        assert len(set(db.session.scalars(select(AuditEvent.prev_hash)))) == writers * per_writer
        result = audit.verify()
        assert result.ok, result.message()


def test_an_event_not_committed_with_its_transaction_leaves_no_trace(app) -> None:
    """commit=False events belong to the caller's transaction: a rollback takes them (and the
    head's advance) back together, so the chain stays whole."""
    _record_some(app, 1)
    with app.app_context():
        audit.record(audit.GRANT_ISSUED, actor=1, commit=False)
        db.session.rollback()
        assert audit.verify().events == 1
        audit.record(audit.GRANT_ISSUED, actor=1)
        assert audit.verify().ok


def test_log_lines_carry_no_personal_data(app, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        audit.record(audit.READ, actor=41, subject_user_id=42,
                     details={"email": "daan@example.nl", "kenteken": "GBXJ12"})
    joined = "\n".join(record.getMessage() for record in caplog.records)
    assert "audit event read recorded" in joined
    for secret in ("daan@example.nl", "GBXJ12", "42", "41"):
        assert secret not in joined


def test_unknown_shapes_of_event_type_are_refused(app) -> None:
    with app.app_context():
        with pytest.raises(ValueError):
            audit.record("Read; DROP TABLE")


def test_purposes_must_be_names(app) -> None:
    """verify quotes purposes without escaping, so record() accepts only plain names."""
    with app.app_context():
        with pytest.raises(ValueError, match="bad audit purpose"):
            audit.record(audit.READ, purpose='tax" , "x')
        audit.record(audit.READ, purpose="misuse_investigation")
        assert audit.verify().ok


def test_logins_and_failed_logins_are_audited(app, client, make_user, login) -> None:
    user_id = make_user("daan@example.nl", "driver")
    assert login("daan@example.nl", "wrong password!").status_code == 401
    assert login("nobody@example.nl", "wrong password!").status_code == 401
    assert login("daan@example.nl").status_code == 302
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [(e.event_type, e.actor_id, e.subject_user_id) for e in events] == [
            (audit.LOGIN_FAILED, None, user_id), (audit.LOGIN_FAILED, None, None),
            (audit.LOGIN, user_id, user_id)]
        assert json.loads(events[0].details) == {"refused": "credentials"}
        assert audit.verify().ok


def _recorded_kinds() -> dict[str, str]:
    """kind -> where it is recorded, for every `audit.record(KIND, ...)` in the backend's source,
    KIND resolved (a constant of backend.audit or of the recording module). Importing the
    recording modules declares their kinds."""
    import ast
    import importlib
    from pathlib import Path

    import backend

    root = Path(backend.__file__).parent
    kinds: dict[str, str] = {}
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "audit" and node.args):
                continue
            arg = node.args[0]
            module_name = "backend." + ".".join(path.relative_to(root).with_suffix("").parts)
            if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "audit":
                kind = getattr(audit, arg.attr)
            elif isinstance(arg, ast.Name):
                # A module constant; a local variable (no such attribute) carries one of the others.
                kind = getattr(importlib.import_module(module_name.removesuffix(".__init__")), arg.id, None)
            else:
                kind = None
            if isinstance(kind, str):
                kinds[kind] = f"{path.relative_to(root)}:{node.lineno}"
    assert len(kinds) >= 20, kinds  # the scan finds the recording sites
    return kinds


def test_every_kind_of_event_the_code_records_has_a_label_in_the_audit_log(app):
    """The audit log page and the driver's page show an event by its label: a kind recorded
    anywhere in the backend must be declared in the registry (audit.kind) with an English label
    that the Dutch catalogue translates."""
    from pathlib import Path

    from babel.messages.pofile import read_po
    from flask_babel import force_locale

    import backend

    kinds = _recorded_kinds()
    unregistered = {kind: where for kind, where in kinds.items() if kind not in audit.KINDS}
    assert unregistered == {}
    po = Path(backend.__file__).parent / "translations" / "nl" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle)
    untranslated = {}
    with app.test_request_context(), force_locale("en"):
        for name, declared in audit.KINDS.items():
            english = str(declared.label)
            message = catalog.get(english)
            if not english or english == name or message is None or not message.string or message.fuzzy:
                untranslated[name] = (declared.module, english)
    assert untranslated == {}
    with app.test_request_context(), force_locale("nl"):
        assert str(audit.LABELS[audit.LOGIN]) == "Ingelogd"


def test_a_fresh_app_knows_every_kind_the_code_records(tmp_path):
    """A web worker builds the app and nothing else before it shows the audit log: building the
    app must declare every kind that is recorded (its module imported), or the filter and the
    labels would miss it in that worker."""
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from backend import create_app, audit\n"
        "create_app({'TESTING': True, 'SECRET_KEY': 'x', 'SQLALCHEMY_DATABASE_URI': sys.argv[1]})\n"
        "print(json.dumps(sorted(audit.KINDS)))\n")
    result = subprocess.run([sys.executable, "-c", script, f"sqlite:///{tmp_path / 'fresh.sqlite'}"],
                            capture_output=True, text=True, check=True,
                            env={**os.environ, "RITBOX_INSTANCE_PATH": str(tmp_path)})
    declared = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert set(_recorded_kinds()) - declared == set()


def test_a_kind_that_is_not_declared_is_refused_and_nothing_is_written(app) -> None:
    """record() takes only kinds declared with audit.kind: an undeclared one would reach the
    audit log page without a label."""
    _record_some(app, 1)
    with app.app_context():
        with pytest.raises(ValueError, match="audit kind 'not_declared_anywhere' is not registered"):
            audit.record("not_declared_anywhere", actor=1)
        db.session.rollback()
        assert audit.verify().events == 1


def test_a_kind_is_declared_once() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        audit.kind(audit.READ, "Data read again")  # declared in backend.audit, not here
    assert audit.KINDS[audit.READ].module == "backend.audit"
