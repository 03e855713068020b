"""Trip revisions: every change by a person is a new row; the original stays; the correction
window, closed periods and finance's reasons decide who may change what."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from backend import audit
from backend.access import door
from backend.access.door import AccessDenied
from backend.db import db
from backend.models.audit import AuditEvent
from backend.models.revisions import TripRevision
from tests.backend.access_support import consent_day, example_text, shown, make_people, user
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago


@pytest.fixture
def world(app, client, make_user, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    factory = TripFactory(app, client, driver_email="daan@example.nl")
    trips = dict(zip(("fresh", "old", "private", "fresh2"), factory.upload(
        TripSpec(days_ago(2)), TripSpec(days_ago(20, hour=9)), TripSpec(days_ago(3), mode="private"),
        TripSpec(days_ago(1)))))
    other = TripFactory(app, client, driver_email="eva@example.nl", kenteken="12-ABC-3")
    (trips["other"],) = other.upload(TripSpec(days_ago(2)))
    with app.app_context():
        yield people, trips


def _views(actor_id, ids):
    return door.trip_summaries(user(actor_id), ids)


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(TripRevision))


def test_a_reclassification_keeps_the_original_with_author_time_and_link(app, world):
    from backend.trips import revisions
    people, trips = world
    driver = user(people.driver)
    (first,) = revisions.revise(driver, [trips["fresh"]], {"classification": "private"})
    (second,) = revisions.revise(driver, [trips["fresh"]], {"classification": "business"},
                                 reason="Klant bezocht, niet privé")
    assert (first.old_value, first.new_value, first.supersedes_id) == (None, "private", None)
    assert (second.old_value, second.new_value, second.supersedes_id) == ("private", "business", first.id)
    assert second.author_id == people.driver and second.author_role == "driver"
    assert second.created_at >= first.created_at
    views = _views(people.driver, [trips["fresh"]])
    annotation = revisions.current_annotations(views)[trips["fresh"]]
    assert annotation.classification == "business" and annotation.revision_count == 2
    history = revisions.revision_history(views)[trips["fresh"]]
    assert [(h.old_value, h.new_value, h.author_name) for h in history] == [
        (None, "private", "Daan de Vries"), ("private", "business", "Daan de Vries")]
    assert history[1].reason == "Klant bezocht, niet privé"


def test_an_unchanged_value_writes_nothing_and_notes_add_up(app, world):
    from backend.trips import revisions
    people, trips = world
    driver = user(people.driver)
    revisions.revise(driver, [trips["fresh"]], {"classification": "commute"})
    assert revisions.revise(driver, [trips["fresh"]], {"classification": "commute"}) == []
    revisions.revise(driver, [trips["fresh"]], {"note": "Files op de A2"})
    revisions.revise(driver, [trips["fresh"]], {"note": "Tankstop"})
    annotation = revisions.current_annotations(_views(people.driver, [trips["fresh"]]))[trips["fresh"]]
    assert [n.text for n in annotation.notes] == ["Files op de A2", "Tankstop"]
    assert _count() == 3


@pytest.mark.parametrize("table", ["trip_revisions", "period_closings"])
def test_the_database_refuses_update_and_delete_of_the_history(app, world, table):
    from backend.periods import service as periods
    from backend.trips import revisions
    people, trips = world
    revisions.revise(user(people.driver), [trips["fresh"]], {"note": "x"})
    periods.close_month(date.today().replace(day=1) - timedelta(days=1), actor=user(people.finance))
    for statement in (f"UPDATE {table} SET id = id + 100", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError):
            db.session.execute(text(statement))
            db.session.flush()
        db.session.rollback()
    assert db.session.scalar(text(f"SELECT count(*) FROM {table}")) == 1


def test_after_the_window_the_driver_can_only_add_a_note(app, world):
    from backend.trips import revisions
    people, trips = world
    driver = user(people.driver)
    with pytest.raises(revisions.RevisionError) as caught:
        revisions.revise(driver, [trips["old"]], {"classification": "private"})
    assert caught.value.locked and "only add a note" in str(caught.value)
    (note,) = revisions.revise(driver, [trips["old"]], {"note": "Was een klantbezoek"})
    assert note.new_value == "Was een klantbezoek"
    state = revisions.lock_states(_views(people.driver, [trips["old"], trips["fresh"]]))
    assert (state[trips["old"]].editable, state[trips["old"]].reason) == (False, "window")
    assert state[trips["fresh"]].editable


def test_the_window_comes_from_the_agreement_in_force(app, world):
    from backend.governance import agreements
    from backend.trips import revisions
    people, trips = world
    version = agreements.upload(example_text().replace("correction_window_days: 7", "correction_window_days: 30"),
                                user(people.privacy))
    agreements.record_consent(version, user(people.or_delegate), consent_day(), "OR-2026-003", text_sha256=shown(version))
    assert revisions.correction_window_days() == 30
    (row,) = revisions.revise(user(people.driver), [trips["old"]], {"classification": "private"})
    assert row.new_value == "private"


def test_a_driver_revising_another_drivers_trip_is_refused_and_logged(app, world):
    from backend.trips import revisions
    people, trips = world
    with pytest.raises(AccessDenied):
        revisions.revise(user(people.driver), [trips["other"]], {"classification": "private"})
    assert _count() == 0
    refused = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == revisions.REVISION_REFUSED)).all()
    assert len(refused) == 1 and refused[0].actor_id == people.driver
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == audit.READ_DENIED)).all()


def test_a_manager_or_admin_revises_nothing(app, world):
    from backend.trips import revisions
    people, trips = world
    for who in (people.manager, people.admin):
        with pytest.raises(AccessDenied):
            revisions.revise(user(who), [trips["fresh"]], {"note": "x"})
    assert _count() == 0


def test_bulk_is_all_or_nothing(app, world):
    from backend.trips import revisions
    people, trips = world
    with pytest.raises(revisions.RevisionError):
        revisions.revise(user(people.driver), [trips["fresh"], trips["old"]], {"classification": "private"})
    assert _count() == 0
    rows = revisions.revise(user(people.driver), [trips["fresh"], trips["fresh2"]], {"classification": "private"})
    assert sorted(r.trip_id for r in rows) == sorted([trips["fresh"], trips["fresh2"]])
    assert len({r.batch_id for r in rows}) == 1


def test_finance_corrects_with_a_reason_even_in_a_closed_period(app, world):
    from backend.periods import service as periods
    from backend.trips import revisions
    people, trips = world
    finance = user(people.finance)
    with pytest.raises(revisions.RevisionError, match="needs a reason"):
        revisions.revise(finance, [trips["old"]], {"classification": "private"})
    view = _views(people.driver, [trips["old"]])[0]
    periods.close_month(view.local_date, vehicle_id=view.vehicle_id, actor=finance,
                        today=view.local_date.replace(day=28) + timedelta(days=10))
    with pytest.raises(revisions.RevisionError, match="closed period"):
        revisions.revise(user(people.driver), [trips["old"]], {"classification": "business"})
    (row,) = revisions.revise(finance, [trips["old"]], {"classification": "private"},
                              reason="Tankbon toont privérit")
    assert (row.author_role, row.reason) == ("finance", "Tankbon toont privérit")
    annotation = revisions.current_annotations(_views(people.finance, [trips["old"]]))[trips["old"]]
    assert annotation.corrected_by_finance and annotation.classification == "private"


def test_a_closed_period_locks_even_a_fresh_trip_for_the_driver(app, world):
    from backend.periods import service as periods
    from backend.trips import revisions
    people, trips = world
    view = _views(people.driver, [trips["fresh"]])[0]
    periods.close_month(view.local_date, actor=user(people.finance), today=view.local_date + timedelta(days=40))
    with pytest.raises(revisions.RevisionError, match="closed period"):
        revisions.revise(user(people.driver), [trips["fresh"]], {"classification": "private"})
    assert revisions.revise(user(people.driver), [trips["fresh"]], {"note": "ok"})


def test_private_addresses_stay_with_the_driver(app, world):
    from backend.trips import revisions
    people, trips = world
    driver = user(people.driver)
    with pytest.raises(revisions.RevisionError, match="private mode"):
        revisions.revise(driver, [trips["private"]], {"end_address": "Dorpsstraat 1, 1234 AB Ergens"})
    # Classifying a trip private and typing its address in one change would store the private
    # destination in clear: refused like an address of a private-mode trip.
    with pytest.raises(revisions.RevisionError, match="private mode"):
        revisions.revise(driver, [trips["fresh"]], {"classification": "private",
                                                     "end_address": "Kerkstraat 9, 3512 AB Utrecht"})
    revisions.revise(driver, [trips["fresh"]], {"end_address": "Kerkstraat 9, 3512 AB Utrecht"})
    revisions.revise(driver, [trips["fresh"]], {"classification": "private"})
    for_finance = revisions.current_annotations(_views(people.finance, [trips["fresh"]]))[trips["fresh"]]
    assert for_finance.end_address is None and for_finance.addresses_withheld
    history = revisions.revision_history(_views(people.finance, [trips["fresh"]]))[trips["fresh"]]
    assert [h.field for h in history] == ["classification"]
    own = revisions.current_annotations(_views(people.driver, [trips["fresh"]]), for_driver=True)[trips["fresh"]]
    assert own.end_address == "Kerkstraat 9, 3512 AB Utrecht"


def test_values_are_checked(app, world):
    from backend.trips import revisions
    people, trips = world
    driver = user(people.driver)
    for changes, message in (({"classification": "holiday"}, "Unknown trip class"),
                             ({"private_detour_km": "-1"}, "zero or more"),
                             ({"private_detour_km": "abc"}, "number"),
                             ({"private_detour_km": "99"}, "cannot exceed"),
                             ({"note": "  "}, "empty note"),
                             ({"colour": "red"}, "Unknown field")):
        with pytest.raises(revisions.RevisionError, match=message):
            revisions.revise(driver, [trips["fresh"]], changes)
    (row,) = revisions.revise(driver, [trips["fresh"]], {"private_detour_km": "3,50"})
    assert row.new_value == "3.5"
    annotation = revisions.current_annotations(_views(people.driver, [trips["fresh"]]))[trips["fresh"]]
    assert annotation.private_detour_km == Decimal("3.5")
    assert _count() == 1


def test_the_read_api_wants_the_doors_views(app, world):
    from backend.trips import revisions
    with pytest.raises(TypeError):
        revisions.current_annotations([1])


def test_two_changes_replacing_the_same_value_cannot_both_win(app, world, monkeypatch):
    """Two people read the same current value and both replace it: the unique supersedes_id
    makes the database refuse the second, and the service answers with a message, not a 500."""
    from backend.access import door
    from backend.trips import revisions
    people, trips = world
    driver, finance = user(people.driver), user(people.finance)
    (first,) = revisions.revise(driver, [trips["fresh"]], {"classification": "private"})
    stale = {(trips["fresh"], "classification"): first}
    revisions.revise(driver, [trips["fresh"]], {"classification": "business"})  # supersedes `first`
    monkeypatch.setattr(door, "current_revisions", lambda ids: stale)  # finance still saw `first`
    with pytest.raises(revisions.RevisionError, match="same moment"):
        revisions.revise(finance, [trips["fresh"]], {"classification": "commute"}, reason="Woon-werk")
    assert _count() == 2
