"""The documents are true (issue 18, item 5): for several agreement versions and installation
settings, each statement of the generated regeling, notice, DPIA and register is checked against
what the code does - the retention the text states is what the retention job deletes, the
approvers it names are the ones the approval code demands, "private positions are not recorded"
holds for what the device stores, and positions leave the server only when the text says so."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from backend import agreement_documents, mail
from backend.governance import agreements, approvals, requests
from backend.access.purposes import BUSINESS_TRACKS, TRIP_SUMMARIES
from backend.access.retention import LEGAL_YEARS, cutoffs, due_at, due_vehicles, plan
from backend.addresses.resolver import Resolver
from backend.agreement_documents import pdf
from backend.agreement_documents.model import Table
from backend.agreement_documents.words import ROLES
from backend.db import db
from backend.fleet.service import private_positions_policy
from backend.models.accounts import User
from tests.backend.access_support import (Fleet, agreement_in_force, example_text, make_people, request_input,
                                          user)
from tests.device.test_private_store import LEAFLET, config_with_key, replay, stored_bodies

PDOK = "https://api.pdok.nl/bzk/locatieserver/search/v3_1/reverse"


def _sealed_90() -> str:
    return example_text()


def _none_7_other_approvers() -> str:
    """Stricter: no private positions at all, routes kept a week, another pair of approvers."""
    text = (example_text().replace('version: "2026-1"', 'version: "2026-7"')
            .replace("private_positions: sealed", "private_positions: none")
            .replace("data_categories: [trip_summaries, business_tracks, private_trip_details]",
                     "data_categories: [trip_summaries, business_tracks]")
            .replace("business_tracks: 90", "business_tracks: 7")
            .replace("correction_window_days: 7", "correction_window_days: 21"))
    first = text.index("approver_roles: [or_delegate, privacy_officer]")
    return text[:first] + "approver_roles: [privacy_officer, manager]" + text[first + len(
        "approver_roles: [or_delegate, privacy_officer]"):]


VERSIONS = {"sealed-90": _sealed_90, "none-7": _none_7_other_approvers}
SETTINGS = {"offline": {}, "pdok-smtp": {"PDOK_URL": PDOK, "SMTP_HOST": "mail.example.nl",
                                          "MAIL_FROM": "ritbox@example.nl"}}


def _approver_rows(document) -> list[str]:
    """The 'approved by' cell of each purpose's table, in the agreement's order."""
    return [row[1] for section in document.sections for block in section.blocks if isinstance(block, Table)
            for row in block.rows if row[0] == "Goedkeuring door"]


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("version_name", VERSIONS)
def test_every_statement_holds(app, make_user, tmp_path, artifacts_dir, version_name, setting) -> None:
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "keys" / "sealing_keys.pem")
    app.config.update(SETTINGS[setting])
    people = make_people(make_user)
    with app.app_context():
        version = agreement_in_force(people, VERSIONS[version_name]())
        agreement = agreements.load(version)
        fleet = Fleet(people.driver, people.other_driver)
        documents = {kind: agreement_documents.render(kind, version, "nl") for kind in agreement_documents.KINDS}
        regeling = documents["regeling"].text()
        for kind, document in documents.items():
            (artifacts_dir / f"truth-{version_name}-{setting}-{kind}.pdf").write_bytes(pdf.render(document))

        # Retention: the days the text states are the days the retention job deletes by.
        stated_tracks = int(re.search(r"routes van zakelijke ritten \| (\d+) dagen na de rit", regeling).group(1))
        now = datetime.now(timezone.utc)
        due = cutoffs(agreement.retention_days, now)
        assert due[BUSINESS_TRACKS].days == stated_tracks
        ages = {"old": 200, "business": 10, "other": 5}  # Fleet's business trips with tracks, days ago
        due_now = due_at(now)
        planned = plan(due_now, due_vehicles(due_now))
        assert set(planned.track_trip_ids) == {fleet.trips[name] for name, age in ages.items() if age > stated_tracks}
        stated_facts = re.search(r"ritoverzichten [^|]*\| (\d+) dagen na afloop van het belastingjaar van de rit, "
                                 r"en nooit eerder dan (\d+) jaar", regeling)
        assert int(stated_facts.group(1)) == due[TRIP_SUMMARIES].days
        assert int(stated_facts.group(2)) == LEGAL_YEARS
        assert due[TRIP_SUMMARIES].before.year <= now.year - LEGAL_YEARS

        # The correction window stated is the one the revision rules apply.
        from backend.trips import revisions
        stated_window = int(re.search(r"tot (\d+) dagen na de rit", regeling).group(1))
        assert stated_window == revisions.correction_window_days()

        # Approvers: each purpose names exactly the roles the approval code leaves open, and
        # someone in a role it does not name cannot decide.
        named_rows = _approver_rows(documents["regeling"])
        assert len(named_rows) == len(agreement.purposes)
        for purpose, named in zip(agreement.purposes.values(), named_rows):
            request = requests.file_request(user(people.manager), request_input(
                people.driver, purpose=purpose.id, grounds=purpose.grounds_categories[0], days_back=20,
                grant_days=5))
            demanded = set(approvals.open_roles(request))
            assert {role for role, words in ROLES.items() if words[0] in named} == demanded
            outsider = user(people.finance)
            assert "finance" not in demanded and approvals.can_decide(request, outsider) is not None
            for label in purpose.grounds_labels.values():
                assert label in regeling

        # Private positions: what the text says is what devices are told and what they store.
        says_none = "Privéposities worden dus niet vastgelegd." in regeling
        assert says_none == (agreement.private_positions == "none")
        policy = private_positions_policy()
        assert policy == agreement.private_positions
        categories = next(row[1] for block in documents["register"].sections[0].blocks for row in block.rows
                          if row[0] == "Categorieën gegevens")
        assert ("begin- en eindposities van privéritten" in categories) == (not says_none)

        # Positions leave the server (PDOK) and e-mail goes out only when the documents say so.
        pdok_said = "posities verlaten daarvoor de server" in regeling
        assert pdok_said == (Resolver().pdok_url is not None)
        assert ("PDOK Locatieserver" in documents["notice"].text()) == pdok_said
        mail_said = "ook per e-mail" in regeling
        assert mail_said == mail.enabled()
        assert ("geen positie verlaat de server" in regeling) == (not pdok_said)

    # The device, told this policy, stores private positions sealed or not at all (real replay).
    config, _ = config_with_key(tmp_path, policy)
    store = tmp_path / "device.db"
    result = replay(config, str(LEAFLET), "--fast", "--json", "--store", str(store),
                    "--private-from", "2016-04-11T14:21:00Z", "--private-until", "2016-04-11T14:23:00Z")
    assert result.returncode == 0, result.stderr
    private = [body for body in stored_bodies(store) if body["mode"] == "private"]
    assert private and all(body["start"] is None and body["track"] == [] for body in private)
    sealed = [body.get("end_sealed") is not None for body in private]
    assert all(sealed) if not says_none else not any(sealed)
