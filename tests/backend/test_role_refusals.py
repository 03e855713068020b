"""A 403 from the role check is a refused read in the audit log, with the route: the works
council sees a manager trying the driver's or finance's pages, not only the door's refusals."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from backend import audit
from backend.db import db
from backend.models.audit import AuditEvent


def _denied_events(app) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == audit.READ_DENIED)
                                       .order_by(AuditEvent.seq)))


@pytest.mark.parametrize("path, route", [
    ("/me/trips/1", "/me/trips/<int:trip_id>"),
    ("/finance/reports", "/finance/reports"),
    ("/my/report", "/my/report"),
    ("/audit/log", "/audit/log"),
])
def test_a_role_check_refusal_is_audited_with_its_route(app, client, make_user, login, path, route) -> None:
    manager = make_user("m@example.nl", "manager")
    login("m@example.nl")
    assert client.get(path).status_code == 403
    events = _denied_events(app)
    assert len(events) == 1
    event = events[0]
    assert event.actor_id == manager
    details = json.loads(event.details)
    assert details["route"] == route and details["path"] == path and details["method"] == "GET"


def test_an_allowed_page_and_a_logged_out_visit_leave_no_refusal(app, client, make_user, login) -> None:
    assert client.get("/me/trips").status_code == 302  # to the login page: nobody to audit
    make_user("d@example.nl", "driver")
    login("d@example.nl")
    assert client.get("/me/trips").status_code == 200
    assert _denied_events(app) == []
