"""Agreement documents: the published schema, validation naming line and field, versions,
consent, the version in force, and the CLI."""
from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from backend import audit
from backend.governance import agreements
from backend.db import db
from backend.models.access import AgreementVersion
from backend.models.audit import AuditEvent
from tests.backend.access_support import agreement_in_force, consent_day, example_text, make_people, shown, user

ROOT = Path(__file__).resolve().parents[2]


def _mutate(change) -> str:
    data = yaml.safe_load(example_text())
    change(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


SKIPPED_DIRS = {".git", ".venv", "node_modules", "test-artifacts", "__pycache__"}
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _repository_files(suffix: str):
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        yield from (Path(folder) / name for name in files if name.endswith(suffix))


def test_the_agreement_schema_is_one_file() -> None:
    """The schema the upload checks against is the only copy: a second one (the docs had one)
    drifts, and adding a rule would mean editing both."""
    def same_schema(path: Path) -> bool:
        try:
            return json.loads(path.read_bytes()) == agreements.schema()
        except ValueError:
            return False

    copies = [path for path in _repository_files(".json")
              if path.name == agreements.SCHEMA_PATH.name or same_schema(path)]
    assert copies == [agreements.SCHEMA_PATH]


def test_the_docs_link_to_the_schema_the_code_loads() -> None:
    """Every link to agreement-schema.json in the README and docs/ resolves to that one file."""
    links = [(path, target) for path in [ROOT / "README.md", *_repository_files(".md")]
             if path.parent == ROOT / "docs" or path == ROOT / "README.md"
             for target in MARKDOWN_LINK.findall(path.read_text(encoding="utf-8"))
             if target.split("#")[0].endswith("agreement-schema.json")]
    assert {path.name for path, _ in links} >= {"README.md", "agreements.md"}
    wrong = [f"{path.relative_to(ROOT)}: {target}" for path, target in links
             if (path.parent / target.split("#")[0]).resolve() != agreements.SCHEMA_PATH.resolve()]
    assert wrong == []


def test_the_agreements_page_links_the_schema_it_checks_against(app, client, make_user, login) -> None:
    make_user("olga@example.nl", "privacy_officer")
    login("olga@example.nl")
    page = client.get("/agreements/").get_data(as_text=True)
    (href,) = re.findall(r'href="([^"]+)" data-testid="agreement-schema"', page)
    answer = client.get(href)
    assert answer.status_code == 200 and answer.mimetype == "application/schema+json"
    assert json.loads(answer.data) == agreements.schema()


def test_the_example_agreement_is_valid() -> None:
    agreement = agreements.parse(example_text())
    assert set(agreement.purposes) == {"misuse_investigation", "hours_verification"}
    misuse = agreement.purposes["misuse_investigation"]
    assert misuse.approver_roles == ("or_delegate", "privacy_officer")
    assert (misuse.max_period_days, misuse.max_grant_days) == (90, 14)
    assert (misuse.notify, misuse.notify_within_days) == ("at_close", 14)
    assert agreement.purposes["hours_verification"].notify == "at_grant"
    assert agreement.rule("correction_window_days") == 7
    assert agreement.private_positions == "sealed"


def test_json_documents_are_accepted_too() -> None:
    data = yaml.safe_load(example_text())
    assert agreements.parse(json.dumps(data)).version == "2026-1"


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["further_purposes"][0].__setitem__("notify_employee", "never"),
     "further_purposes[0].notify_employee: 'never' is not allowed"),
    (lambda d: d["further_purposes"][0].__setitem__("approver_roles", ["or_delegate"]),
     "further_purposes[0].approver_roles: ['or_delegate'] is too short"),
    (lambda d: d["further_purposes"][0].__setitem__("approver_roles", ["or_delegate", "or_delegate"]),
     "further_purposes[0].approver_roles: ['or_delegate', 'or_delegate'] has non-unique elements"),
    (lambda d: d["further_purposes"][1]["max_scope"].__setitem__("max_period_days", "31"),
     "further_purposes[1].max_scope.max_period_days: '31' is not of type 'integer'"),
    (lambda d: d.__setitem__("private_positions", "visible"),
     "private_positions: 'visible' is not one of ['sealed', 'none']"),
    (lambda d: d["retention_days"].pop("business_tracks"),
     "retention_days: 'business_tracks' is a required property"),
    (lambda d: d.__setitem__("surveillance", True), "(document): unknown field(s) ('surveillance' was unexpected)"),
    (lambda d: d["further_purposes"][1].__setitem__("id", "misuse_investigation"),
     "further_purposes[1].id: purpose id 'misuse_investigation' appears twice"),
    (lambda d: d["further_purposes"][0].__setitem__("id", "tax"),
     "further_purposes[0].id: 'tax' is the registry's own purpose"),
    (lambda d: d.__setitem__("private_positions", "none"),
     "further_purposes[0].max_scope.data_categories: private_trip_details cannot be granted"),
    (lambda d: d["tax_purpose"]["access"].__setitem__("finance", ["trip_summaries", "business_tracks"]),
     "tax_purpose.access.finance[1]: 'business_tracks' is not one of ['trip_summaries']"),
    # What cannot be rendered into a complete regeling (issue 18): named by field.
    (lambda d: d["further_purposes"][0].pop("approver_roles"),
     "further_purposes[0]: 'approver_roles' is a required property"),
    (lambda d: d["further_purposes"][0].__setitem__("approver_roles", []),
     "further_purposes[0].approver_roles: [] is too short"),
    (lambda d: d["further_purposes"][0]["grounds"]["labels"].pop("unauthorised_driver"),
     "further_purposes[0].grounds.labels.unauthorised_driver: the ground 'unauthorised_driver' has no label"),
    (lambda d: d["further_purposes"][1]["grounds"].pop("labels"),
     "further_purposes[1].grounds.labels.hours_declaration_mismatch: the ground 'hours_declaration_mismatch' "
     "has no label"),
    (lambda d: d["further_purposes"][1]["grounds"]["labels"].__setitem__("gut_feeling", "Onderbuik"),
     "further_purposes[1].grounds.labels.gut_feeling: 'gut_feeling' is not one of the grounds"),
    (lambda d: d.pop("controller"), "controller: missing; the regeling and the privacy notice name who is responsible"),
])
def test_a_bad_document_is_refused_naming_the_field(change, expected: str) -> None:
    with pytest.raises(agreements.AgreementError) as caught:
        agreements.parse(_mutate(change))
    assert expected in str(caught.value)
    assert str(caught.value).startswith("line ")


def test_the_line_number_points_at_the_bad_value() -> None:
    bad = example_text().replace("max_grant_days: 7", "max_grant_days: 0")
    line = next(number for number, content in enumerate(bad.splitlines(), 1) if "max_grant_days: 0" in content)
    with pytest.raises(agreements.AgreementError, match=rf"^line {line}: further_purposes\[1\]\.max_grant_days: 0 is less"):
        agreements.parse(bad)


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(agreements.AgreementError, match=r"^line 3: not valid YAML"):
        agreements.parse("schema: ritbox-agreement/1\nversion: x\n  title: bad indent\nsummary: s\n")


def test_upload_then_consent_puts_a_version_in_force(app, make_user) -> None:
    people = make_people(make_user)
    with app.app_context():
        assert agreements.in_force() is None
        version = agreements.upload(example_text(), user(people.privacy))
        assert agreements.in_force() is None  # no consent, not in force
        assert agreements.status_of(version, None) == "awaiting_consent"
        agreements.record_consent(version, user(people.or_delegate), consent_day(), "OR-2026-003", text_sha256=shown(version))
        assert agreements.in_force().id == version.id
        stored = db.session.get(AgreementVersion, version.id)
        assert stored.document_text == example_text()
        assert stored.consent_reference == "OR-2026-003"
        types = db.session.scalars(select(AuditEvent.event_type).order_by(AuditEvent.seq)).all()
        assert types == [audit.AGREEMENT_UPLOADED, audit.AGREEMENT_CONSENTED]


def test_a_newer_consented_version_supersedes_and_the_old_stays_readable(app, make_user) -> None:
    people = make_people(make_user)
    with app.app_context():
        first = agreement_in_force(people)
        second_text = example_text().replace('version: "2026-1"', 'version: "2026-2"')
        second = agreements.upload(second_text, user(people.privacy))
        assert agreements.in_force().id == first.id  # uploaded, not consented: the first rules
        agreements.record_consent(second, user(people.or_delegate), consent_day(), "OR-2026-021", text_sha256=shown(second))
        current = agreements.in_force()
        assert current.id == second.id
        assert agreements.status_of(first, current) == "superseded"
        assert agreements.load(db.session.get(AgreementVersion, first.id)).version == "2026-1"


@pytest.mark.parametrize("who, message", [
    ("manager", "only a privacy officer uploads"),
    ("or_delegate", "only a privacy officer uploads"),
])
def test_only_the_privacy_officer_uploads(app, make_user, who, message) -> None:
    people = make_people(make_user)
    with app.app_context():
        with pytest.raises(agreements.AgreementError, match=message):
            agreements.upload(example_text(), user(getattr(people, who)))
        assert agreements.all_versions() == []


def test_consent_rules(app, make_user) -> None:
    people = make_people(make_user)
    with app.app_context():
        version = agreements.upload(example_text(), user(people.privacy))
        with pytest.raises(agreements.AgreementError, match="only a works council delegate"):
            agreements.record_consent(version, user(people.privacy), consent_day(), "OR-1", text_sha256=shown(version))
        with pytest.raises(agreements.AgreementError, match="decision reference"):
            agreements.record_consent(version, user(people.or_delegate), consent_day(), "  ", text_sha256=shown(version))
        with pytest.raises(agreements.AgreementError, match="future"):
            agreements.record_consent(version, user(people.or_delegate), date(2999, 1, 1), "OR-1", text_sha256=shown(version))
        assert agreements.in_force() is None
        agreements.record_consent(version, user(people.or_delegate), consent_day(), "OR-1", text_sha256=shown(version))
        with pytest.raises(agreements.AgreementError, match="recorded already"):
            agreements.record_consent(version, user(people.or_delegate), consent_day(), "OR-2", text_sha256=shown(version))


def test_consent_dated_today_in_amsterdam_is_not_in_the_future_just_after_midnight(app, make_user,
                                                                                     monkeypatch) -> None:
    """At 00:30 in Amsterdam the UTC date is still yesterday; today's consent must be accepted
    and tomorrow's refused (this failed CI at that hour)."""
    from datetime import datetime, timezone
    people = make_people(make_user)
    monkeypatch.setattr(agreements, "utcnow", lambda: datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc))
    with app.app_context():
        version = agreements.upload(example_text(), user(people.privacy))
        with pytest.raises(agreements.AgreementError, match="future"):
            agreements.record_consent(version, user(people.or_delegate), date(2026, 11, 25), "OR-1", text_sha256=shown(version))
        agreements.record_consent(version, user(people.or_delegate), date(2026, 11, 24), "OR-1", text_sha256=shown(version))
        assert agreements.in_force() is not None


def test_a_refused_upload_is_audited_and_stores_nothing(app, make_user) -> None:
    people = make_people(make_user)
    with app.app_context():
        with pytest.raises(agreements.AgreementError):
            agreements.upload(example_text().replace("at_grant", "never"), user(people.privacy))
        assert agreements.all_versions() == []
        event = db.session.scalars(select(AuditEvent)).one()
        assert event.event_type == audit.AGREEMENT_REFUSED
        assert "notify_employee" in json.loads(event.details)["reason"]


def test_the_database_keeps_agreement_text_and_rows(app, make_user) -> None:
    people = make_people(make_user)
    with app.app_context():
        version = agreement_in_force(people)
        for statement in ("UPDATE agreement_versions SET document_text = 'x' WHERE id = :id",
                          "UPDATE agreement_versions SET consent_recorded_at = NULL WHERE id = :id",
                          "DELETE FROM agreement_versions WHERE id = :id"):
            with pytest.raises(DBAPIError, match="agreement_versions are kept"):
                db.session.execute(text(statement), {"id": version.id})
            db.session.rollback()


def test_cli_validate_upload_consent_list(app, runner, make_user, tmp_path) -> None:
    people = make_people(make_user)
    path = tmp_path / "regeling.yaml"
    path.write_text(example_text(), encoding="utf-8")
    outcome = runner.invoke(args=["agreements", "validate", str(path)])
    assert outcome.exit_code == 0 and "valid agreement 2026-1" in outcome.output
    outcome = runner.invoke(args=["agreements", "upload", str(path), "--by", "pieter@example.nl"])
    assert outcome.exit_code == 0, outcome.output
    with app.app_context():
        version_id = agreements.all_versions()[0].id
    outcome = runner.invoke(args=["agreements", "regeling", str(version_id)])
    assert outcome.exit_code == 0 and "Regeling rittenregistratie" in outcome.output
    text_sha256 = outcome.output.strip().splitlines()[-1].removeprefix("sha256 ")
    outcome = runner.invoke(args=["agreements", "consent", str(version_id), "--by", "olga@example.nl",
                                  "--date", consent_day().isoformat(), "--reference", "OR-2026-003",
                                  "--text-sha256", text_sha256])
    assert outcome.exit_code == 0, outcome.output
    outcome = runner.invoke(args=["agreements", "list"])
    assert f"{version_id}\t2026-1\tin_force consent {consent_day().isoformat()} OR-2026-003" in outcome.output

    bad = tmp_path / "bad.yaml"
    bad.write_text(example_text().replace("private_positions: sealed", "private_positions: open"))
    outcome = runner.invoke(args=["agreements", "upload", str(bad), "--by", "pieter@example.nl"])
    assert outcome.exit_code == 1
    assert "private_positions: 'open' is not one of" in outcome.output
    assert people.privacy


def test_a_consent_dated_before_the_upload_is_refused_on_every_path(app, runner, make_user, monkeypatch) -> None:
    """One OR delegate recorded consent dated years before the version existed: the council cannot
    have consented to a text that was not there yet (issue 12, item 3)."""
    from datetime import datetime, timezone
    people = make_people(make_user)
    # Uploaded at 00:30 Amsterdam on 24 November (23:30 UTC the day before): the upload's day is
    # the 24th in Amsterdam, so the 23rd is before it and the 24th is not.
    monkeypatch.setattr(agreements, "utcnow", lambda: datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc))
    with app.app_context():
        version = agreements.upload(example_text(), user(people.privacy))
        version_id = version.id
        for too_early in (date(2019, 3, 1), date(2026, 11, 23)):
            with pytest.raises(agreements.AgreementError, match="before the version was uploaded"):
                agreements.record_consent(version, user(people.or_delegate), too_early, "OR-1", text_sha256=shown(version))
        assert agreements.in_force() is None
    outcome = runner.invoke(args=["agreements", "consent", str(version_id), "--by", "olga@example.nl",
                                  "--date", "2019-03-01", "--reference", "OR-1", "--text-sha256", "0" * 64])
    assert outcome.exit_code == 1 and "before the version was uploaded" in outcome.output
    with app.app_context():
        assert agreements.in_force() is None
        version = db.session.get(AgreementVersion, version_id)
        agreements.record_consent(version, user(people.or_delegate), date(2026, 11, 24), "OR-1",
                                  text_sha256=shown(version))
        assert agreements.in_force().id == version_id


RULE_VALUES = {"correction_window_days": 21, "request_decision_days": 9}


def test_every_rule_is_declared_once_and_the_page_and_the_regeling_state_it(app, client, make_user, login) -> None:
    """A rule of the agreement (a field the code applies, e.g. the correction window) is declared
    once, in the schema, with its label, its value in words and the regeling's sentence in both
    languages: the agreement page shows it and the regeling states it without code of its own,
    so adding a rule takes the schema, the module that applies it and its test."""
    from backend import agreement_documents

    declared = agreements.rules()
    assert set(declared) == set(RULE_VALUES)
    for name, rule in declared.items():
        bounds = agreements.schema()["properties"][name]
        assert bounds["minimum"] <= rule.default <= bounds["maximum"]
        for language in ("nl", "en"):
            assert rule.label(language) and "{value}" in rule.words[language]["sentence"]
    people = make_people(make_user)
    text = example_text()
    for name, value in RULE_VALUES.items():
        text = re.sub(rf"^{name}: \d+$", f"{name}: {value}", text, flags=re.M)
    with app.app_context():
        version = agreement_in_force(people, text)
        agreement = agreements.load(version)
        assert {name: agreement.rule(name) for name in declared} == RULE_VALUES
        regeling = {language: agreement_documents.render("regeling", version, language).text()
                    for language in ("nl", "en")}
        version_id = version.id
    login("pieter@example.nl")
    page = client.get(f"/agreements/{version_id}").get_data(as_text=True)
    for name, rule in declared.items():
        value = RULE_VALUES[name]
        assert f"<dt>{rule.label('nl')}</dt><dd>{rule.value_text('nl', value)}</dd>" in page
        for language in ("nl", "en"):
            assert rule.sentence(language, value) in regeling[language]
