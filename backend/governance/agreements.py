"""Agreement documents (regelingen): parse, validate against the published schema, store
versions, record the works council's consent, and find the version in force.

A document is YAML or JSON (JSON is read by the same YAML parser). Every refusal names the
field path and, where the parser knows it, the line.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from sqlalchemy import select

from backend import audit
from backend.access.purposes import TAX
from backend.db import db, utcnow
from backend.local_time import LOCAL
from backend.models.access import AgreementVersion
from backend.models.accounts import Role, User


SCHEMA_PATH = Path(__file__).with_name("agreement-schema.json")
MAX_DOCUMENT_BYTES = 256 * 1024


class AgreementError(ValueError):
    """An agreement document or action is refused; the message names the field and reason."""


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


class _Loader(yaml.SafeLoader):
    """Safe YAML without implicit dates (a date must stay text, as the schema says)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Purpose:
    """One further purpose (a clause) of an agreement."""

    id: str
    title: str
    description: str
    requester_roles: frozenset[str]
    grounds_categories: tuple[str, ...]
    grounds_labels: dict[str, str]  # ground -> words; complete in every version stored since labels exist
    motivation_min_chars: int
    approver_roles: tuple[str, str]
    max_categories: frozenset[str]
    subjects: frozenset[str]
    max_period_days: int
    max_grant_days: int
    notify: str  # "at_grant" or "at_close"
    notify_within_days: int | None  # for at_close
    title_en: str = ""  # optional English words (the document itself is Dutch)
    grounds_labels_en: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Agreement:
    """A validated agreement document."""

    version: str
    title: str
    summary: str
    controller: dict[str, str] | None  # name, contact; required at upload since the documents name them
    tax_driver_access: frozenset[str]
    tax_finance_access: frozenset[str]
    purposes: dict[str, Purpose]
    retention_days: dict[str, int]
    private_positions: str
    rule_values: dict[str, Any]  # every rule of rules(): the document's value, else the default
    raw: dict[str, Any]

    def rule(self, name: str) -> Any:
        """The value of a rule the code applies (rules()), e.g. rule("correction_window_days")."""
        return self.rule_values[name]

    def stated_rules(self) -> list[tuple[Rule, Any]]:
        """Each rule with its value, in the schema's order: what the page shows, the regeling states."""
        return [(rule, self.rule_values[name]) for name, rule in rules().items()]


@dataclass(frozen=True)
class Rule:
    """A rule of the agreement that the code applies (e.g. the correction window), declared once
    in the schema, with its words in both languages (the schema's "x-ritbox-rule"): the agreement
    page shows it and the regeling states it with no code of their own. Adding one takes the
    schema, the module that applies it (agreement.rule(name)) and that module's test."""

    name: str
    default: Any
    words: dict[str, dict[str, str]]  # language -> label, value ("{value} dagen"), sentence

    def _in(self, language: str) -> dict[str, str]:
        return self.words.get(language, self.words["nl"])

    def label(self, language: str) -> str:
        return self._in(language)["label"]

    def value_text(self, language: str, value: Any) -> str:
        return self._in(language)["value"].format(value=value)

    def sentence(self, language: str, value: Any) -> str:
        return self._in(language)["sentence"].format(value=value)


RULE_KEYWORD = "x-ritbox-rule"


@lru_cache(maxsize=1)
def rules() -> dict[str, Rule]:
    """The rules the schema declares (RULE_KEYWORD), in its order."""
    return {name: Rule(name, spec["default"], spec[RULE_KEYWORD])
            for name, spec in schema()["properties"].items() if RULE_KEYWORD in spec}


def _node_line(root: yaml.Node | None, path: list[Any]) -> int | None:
    """The 1-based line of the node at path (or of its nearest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == key:
                    child = value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _path_text(path: list[Any]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "(document)"


def parse(text: str, *, require_complete: bool = True) -> Agreement:
    """Parse and validate a document; raise AgreementError naming line, path and reason.

    require_complete: also refuse what cannot be rendered into a complete regeling (a ground
    without words, no controller). Versions stored before those fields existed still load."""
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise AgreementError(f"document larger than {MAX_DOCUMENT_BYTES // 1024} KiB")
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise AgreementError(f"{where}not valid YAML or JSON: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise AgreementError("line 1: (document): the document must be a mapping of fields")

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        error = min(errors, key=lambda e: len(e.absolute_path) * -1)  # the most specific first
        path = list(error.absolute_path)
        raise AgreementError(f"line {_node_line(root, path)}: {_path_text(path)}: {_reason(error)}")

    _check_semantics(data, root)
    if require_complete:
        _check_complete(data, root)
    return _to_agreement(data)


def _reason(error: jsonschema.ValidationError) -> str:
    if error.validator == "oneOf" and list(error.absolute_path)[-1:] == ["notify_employee"]:
        return (f"{error.instance!r} is not allowed: use at_grant or "
                "{at_close_within_days: N} (the employee is always told)")
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown field(s)")
    return error.message


def _check_semantics(data: dict[str, Any], root: yaml.Node | None) -> None:
    """What JSON Schema cannot say."""
    seen: set[str] = set()
    for index, purpose in enumerate(data["further_purposes"]):
        path = ["further_purposes", index, "id"]
        if purpose["id"] == TAX:
            raise AgreementError(f"line {_node_line(root, path)}: {_path_text(path)}: "
                                 f"'{TAX}' is the registry's own purpose, not a further purpose")
        if purpose["id"] in seen:
            raise AgreementError(f"line {_node_line(root, path)}: {_path_text(path)}: "
                                 f"purpose id {purpose['id']!r} appears twice")
        seen.add(purpose["id"])
        if "private_trip_details" in purpose["max_scope"]["data_categories"] \
                and data["private_positions"] == "none":
            path = ["further_purposes", index, "max_scope", "data_categories"]
            raise AgreementError(f"line {_node_line(root, path)}: {_path_text(path)}: "
                                 "private_trip_details cannot be granted when private_positions is none")


def _check_complete(data: dict[str, Any], root: yaml.Node | None) -> None:
    """What the generated regeling, privacy notice and DPIA must be able to say in words."""
    if "controller" not in data:
        raise AgreementError(f"line {_node_line(root, [])}: controller: missing; the regeling and the "
                             "privacy notice name who is responsible (controller.name) and how to reach "
                             "the privacy officer (controller.contact)")
    for index, purpose in enumerate(data["further_purposes"]):
        grounds = purpose["grounds"]
        labels = grounds.get("labels", {})
        for position, ground in enumerate(grounds["categories"]):
            if not labels.get(ground, "").strip():
                path = ["further_purposes", index, "grounds", "labels"]
                if "labels" not in grounds:
                    path = ["further_purposes", index, "grounds", "categories", position]
                raise AgreementError(f"line {_node_line(root, path)}: further_purposes[{index}].grounds."
                                     f"labels.{ground}: the ground {ground!r} has no label; the regeling "
                                     "names each ground in words")
        for key in ("labels", "labels_en"):
            for ground in grounds.get(key, {}):
                if ground not in grounds["categories"]:
                    path = ["further_purposes", index, "grounds", key, ground]
                    raise AgreementError(f"line {_node_line(root, path)}: {_path_text(path)}: "
                                         f"{ground!r} is not one of the grounds in categories")


def _to_agreement(data: dict[str, Any]) -> Agreement:
    purposes = {}
    for item in data["further_purposes"]:
        notify = item["notify_employee"]
        scope = item["max_scope"]
        purposes[item["id"]] = Purpose(
            id=item["id"], title=item["title"], description=item["description"].strip(),
            requester_roles=frozenset(item["requester_roles"]),
            grounds_categories=tuple(item["grounds"]["categories"]),
            grounds_labels=dict(item["grounds"].get("labels", {})),
            motivation_min_chars=item["grounds"].get("motivation_min_chars", 40),
            approver_roles=tuple(item["approver_roles"]),  # type: ignore[arg-type]
            max_categories=frozenset(scope["data_categories"]),
            subjects=frozenset(scope["subjects"]),
            max_period_days=scope["max_period_days"],
            max_grant_days=item["max_grant_days"],
            notify="at_grant" if notify == "at_grant" else "at_close",
            notify_within_days=None if notify == "at_grant" else notify["at_close_within_days"],
            title_en=item.get("title_en", ""), grounds_labels_en=dict(item["grounds"].get("labels_en", {})),
        )
    return Agreement(
        version=data["version"], title=data["title"], summary=data.get("summary", "").strip(),
        controller=dict(data["controller"]) if "controller" in data else None,
        tax_driver_access=frozenset(data["tax_purpose"]["access"]["driver"]),
        tax_finance_access=frozenset(data["tax_purpose"]["access"]["finance"]),
        purposes=purposes, retention_days=dict(data["retention_days"]),
        private_positions=data["private_positions"],
        rule_values={name: data.get(name, rule.default) for name, rule in rules().items()}, raw=data)


def load(version: AgreementVersion) -> Agreement:
    """The parsed document of a stored version (validated when it was stored)."""
    return _parse_cached(version.sha256, version.document_text)


@lru_cache(maxsize=32)
def _parse_cached(sha256: str, text: str) -> Agreement:
    return parse(text, require_complete=False)


# --- versions ------------------------------------------------------------------------------

def upload(text: str, uploader: User) -> AgreementVersion:
    """Store a new version (not yet in force). Only a privacy officer uploads."""
    if not uploader.has_role(Role.PRIVACY_OFFICER):
        raise AgreementError("only a privacy officer uploads agreement versions")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        agreement = parse(text)
    except AgreementError as exc:
        audit.record(audit.AGREEMENT_REFUSED, actor=uploader, details={"sha256": digest, "reason": str(exc)})
        raise
    if db.session.scalar(select(AgreementVersion).where(AgreementVersion.sha256 == digest)) is not None:
        raise AgreementError("this exact document was uploaded before")
    version = AgreementVersion(label=agreement.version, title=agreement.title, document_text=text,
                               sha256=digest, uploaded_by_id=uploader.id, uploaded_at=utcnow())
    db.session.add(version)
    db.session.flush()
    audit.record(audit.AGREEMENT_UPLOADED, actor=uploader,
                 details={"agreement_version_id": version.id, "label": agreement.version, "sha256": digest},
                 commit=False)
    db.session.commit()
    return version


def record_consent(version: AgreementVersion, delegate: User, consent_date: date, reference: str, *,
                   text_sha256: str) -> None:
    """An OR delegate records the works council's consent; from now on this version is in force.

    text_sha256 is the hash of the regeling text the delegate was shown (the page and the CLI show
    it); it is kept with the text, so a later rendering that differs is seen as unconsented."""
    if not delegate.has_role(Role.OR_DELEGATE):
        raise AgreementError("only a works council delegate records consent")
    if version.consent_recorded_at is not None:
        raise AgreementError("consent for this version was recorded already")
    reference = reference.strip()
    if not reference:
        raise AgreementError("consent needs the decision reference of the works council")
    # A consent date is a Dutch calendar date: between midnight and 01:00/02:00 in Amsterdam the
    # UTC date is still yesterday, and today's consent must not read as "in the future".
    if consent_date > utcnow().astimezone(LOCAL).date():
        raise AgreementError("the consent date lies in the future")
    # The council consents to this text: it cannot have done so before the text was uploaded.
    uploaded_on = version.uploaded_at.astimezone(LOCAL).date()
    if consent_date < uploaded_on:
        raise AgreementError(f"the consent date {consent_date.isoformat()} lies before the version was "
                             f"uploaded ({uploaded_on.isoformat()}): the works council consents to "
                             "the uploaded text")
    from backend import agreement_documents
    agreement_documents.store_consented_text(version, text_sha256)
    # The event first: the database records consent only right after the event naming it.
    audit.record(audit.AGREEMENT_CONSENTED, actor=delegate,
                 details={"agreement_version_id": version.id, "label": version.label,
                          "sha256": version.sha256, "consent_date": consent_date.isoformat(),
                          "reference": reference, "regeling_sha256": text_sha256}, commit=False)
    version.consent_date = consent_date
    version.consent_reference = reference
    version.consent_recorded_by_id = delegate.id
    version.consent_recorded_at = utcnow()
    db.session.commit()


def _in_force(at: datetime | None, *columns):
    """Of the version in force at a moment (the one whose consent was recorded last before
    it), these columns or the whole row."""
    at = at or utcnow()
    return (select(*columns)
            .where(AgreementVersion.consent_recorded_at.is_not(None), AgreementVersion.consent_recorded_at <= at)
            .order_by(AgreementVersion.consent_recorded_at.desc(), AgreementVersion.id.desc())
            .limit(1))


def in_force(at: datetime | None = None) -> AgreementVersion | None:
    """The version in force at a moment: the one whose consent was recorded last before it."""
    return db.session.scalar(_in_force(at, AgreementVersion))


def agreement_in_force(at: datetime | None = None) -> Agreement | None:
    """load(in_force(at)), reading only the version's text and hash: the door decides with it
    at every read (twice per car of a fleet export), and the whole version row brought its
    uploader and consenting delegate along, with their roles (three statements, not one)."""
    found = db.session.execute(_in_force(at, AgreementVersion.sha256, AgreementVersion.document_text)).first()
    return _parse_cached(found.sha256, found.document_text) if found is not None else None


def all_versions() -> list[AgreementVersion]:
    return list(db.session.scalars(select(AgreementVersion).order_by(AgreementVersion.id.desc())))


def status_of(version: AgreementVersion, current: AgreementVersion | None) -> str:
    if version.consent_recorded_at is None:
        return "awaiting_consent"
    return "in_force" if current is not None and current.id == version.id else "superseded"
