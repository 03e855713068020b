"""Vehicle kind and tax regime per period (issue #19): history kept, changes audited, set from the
CLI; and the drivers' verklaringen, recorded and withdrawn, audited."""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from backend.db import db
from backend.fleet import regimes
from backend.models.audit import AuditEvent
from backend.models.regimes import VehicleRegime, Verklaring


def _ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)
                                   .order_by(AuditEvent.seq)))


def test_a_vehicle_is_a_car_until_told_otherwise_and_keeps_its_regime_history(app, runner):
    _ok(runner, "vehicles", "add", "--kenteken", "VX-123-B", "--make", "Ford", "--model", "Transit")
    with app.app_context():
        vehicle_id = db.session.scalar(select(VehicleRegime.vehicle_id)) or 1
        assert regimes.regime_on(vehicle_id, date(2026, 1, 1)) == ("car", "car")
    _ok(runner, "vehicles", "regime", "--kenteken", "VX-123-B", "--kind", "van", "--regime", "van_full",
        "--from", "2026-01-01")
    _ok(runner, "vehicles", "regime", "--kenteken", "VX-123-B", "--kind", "van", "--regime",
        "van_business_only", "--from", "2026-07-01")
    with app.app_context():
        vehicle_id = db.session.scalar(select(VehicleRegime.vehicle_id))
        assert regimes.regime_on(vehicle_id, date(2025, 12, 31)) == ("car", "car")
        assert regimes.regime_on(vehicle_id, date(2026, 6, 30)) == ("van", "van_full")
        assert regimes.regime_on(vehicle_id, date(2026, 7, 1)) == ("van", "van_business_only")
        assert len(regimes.regime_history(vehicle_id)) == 2  # the earlier row stays
        events = _events(regimes.VEHICLE_REGIME_SET)
        assert [(e.subject_vehicle_id, json.loads(e.details)["regime"], json.loads(e.details)["valid_from"]) for e in events] == [
            (vehicle_id, "van_full", "2026-01-01"), (vehicle_id, "van_business_only", "2026-07-01")]
    listed = _ok(runner, "vehicles", "regimes", "--kenteken", "VX123B")
    assert listed.splitlines() == ["2026-01-01\tvan\tvan_full", "2026-07-01\tvan\tvan_business_only"]


def test_a_car_cannot_take_a_van_regime_nor_a_van_go_without_one(app, runner):
    _ok(runner, "vehicles", "add", "--kenteken", "GB-XJ-12", "--make", "VW", "--model", "Golf")
    for args in (("--kind", "car", "--regime", "van_simplified"), ("--kind", "van")):
        result = runner.invoke(args=["vehicles", "regime", "--kenteken", "GB-XJ-12", *args, "--from", "2026-01-01"])
        assert result.exit_code != 0 and "Error:" in result.output
    with app.app_context():
        assert db.session.scalar(select(VehicleRegime)) is None
        assert _events(regimes.VEHICLE_REGIME_SET) == []


def test_a_verklaring_stands_from_issue_until_its_withdrawal_and_both_are_audited(app, runner, make_user):
    make_user("vera@example.nl", "driver", name="Vera")
    out = _ok(runner, "verklaringen", "add", "--driver", "vera@example.nl", "--kind", "no_private_use_car",
              "--number", "VGP-2026-0001", "--issued", "2026-02-01")
    verklaring_id = int(out.split()[1].rstrip(":"))
    # a second standing one of the same kind is refused
    again = runner.invoke(args=["verklaringen", "add", "--driver", "vera@example.nl", "--kind",
                                "no_private_use_car", "--number", "X", "--issued", "2026-03-01"])
    assert again.exit_code != 0
    refused = runner.invoke(args=["verklaringen", "withdraw", "--id", str(verklaring_id), "--on", "2026-01-01"])
    assert refused.exit_code != 0  # before the day it was issued
    _ok(runner, "verklaringen", "withdraw", "--id", str(verklaring_id), "--on", "2026-09-01")
    with app.app_context():
        row = db.session.get(Verklaring, verklaring_id)
        assert regimes.standing(row.driver_id, "no_private_use_car", date(2026, 1, 31)) is None
        assert regimes.standing(row.driver_id, "no_private_use_car", date(2026, 2, 1)).id == verklaring_id
        assert regimes.standing(row.driver_id, "no_private_use_car", date(2026, 8, 31)).id == verklaring_id
        assert regimes.standing(row.driver_id, "no_private_use_car", date(2026, 9, 1)) is None
        assert [json.loads(e.details)["verklaring"] for e in _events(regimes.VERKLARING_RECORDED)] == [verklaring_id]
        assert [json.loads(e.details)["withdrawn_on"] for e in _events(regimes.VERKLARING_WITHDRAWN)] == ["2026-09-01"]
    listed = _ok(runner, "verklaringen", "list", "--driver", "vera@example.nl")
    assert listed.splitlines() == [f"{verklaring_id}\tno_private_use_car\tVGP-2026-0001\t2026-02-01\t2026-09-01"]


def test_the_database_keeps_a_verklaring_as_recorded_once_withdrawn(app, make_user):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    make_user("vera@example.nl", "driver", name="Vera")
    with app.app_context():
        row = regimes.record_verklaring("vera@example.nl", "business_only_van", "UZB-7", date(2026, 1, 1))
        verklaring_id = row.id
        with pytest.raises(DBAPIError):  # only the withdrawal columns may change
            db.session.execute(text("UPDATE verklaringen SET number = 'UZB-8' WHERE id = :id"), {"id": verklaring_id})
        db.session.rollback()
        regimes.withdraw_verklaring(verklaring_id, date(2026, 5, 1))
        for statement in ("UPDATE verklaringen SET withdrawn_on = NULL WHERE id = :id",
                          "UPDATE verklaringen SET withdrawn_on = '2026-06-01' WHERE id = :id",
                          "DELETE FROM verklaringen WHERE id = :id"):
            with pytest.raises(DBAPIError):
                db.session.execute(text(statement), {"id": verklaring_id})
            db.session.rollback()
        assert db.session.get(Verklaring, verklaring_id).withdrawn_on == date(2026, 5, 1)


def test_finance_sets_a_regime_and_records_and_withdraws_a_verklaring_on_its_page(app, client, login, make_user,
                                                                                   runner):
    make_user("fien@example.nl", "finance", name="Fien")
    make_user("bram@example.nl", "driver", name="Bram")
    _ok(runner, "vehicles", "add", "--kenteken", "VD-123-F", "--make", "Ford", "--model", "Transit")
    login("fien@example.nl")
    assert client.post("/finance/regimes", data={"action": "regime", "kenteken": "VD123F",
                                                 "regime": "van_simplified", "valid_from": "2026-03-01"}).status_code == 302
    bad = client.post("/finance/regimes", data={"action": "regime", "kenteken": "VD123F", "regime": "van_simplified",
                                                "valid_from": "1-3-2026"})
    assert bad.status_code == 400 and "Geef een datum als JJJJ-MM-DD." in bad.get_data(as_text=True)
    assert client.post("/finance/regimes", data={"action": "verklaring", "driver": "bram@example.nl",
                                                 "kind": "business_only_van", "number": "UZB-9",
                                                 "issued_on": "2026-03-01"}).status_code == 302
    page = client.get("/finance/regimes").get_data(as_text=True)
    assert "01-03-2026: Bestelauto: vereenvoudigde registratie" in page
    assert "Verklaring uitsluitend zakelijk gebruik bestelauto" in page and "UZB-9" in page
    with app.app_context():
        (verklaring,) = db.session.scalars(select(Verklaring)).all()
        verklaring_id = verklaring.id
        (event,) = _events(regimes.VEHICLE_REGIME_SET)
        assert json.loads(event.details)["via"] == "web" and event.actor_id is not None
    assert client.post("/finance/regimes", data={"action": "withdraw", "verklaring": verklaring_id,
                                                 "withdrawn_on": "2026-06-01"}).status_code == 302
    with app.app_context():
        assert db.session.get(Verklaring, verklaring_id).withdrawn_on == date(2026, 6, 1)
    client.post("/logout")
    login("bram@example.nl")
    assert client.get("/finance/regimes").status_code == 403
