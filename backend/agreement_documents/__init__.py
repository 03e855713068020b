"""Documents generated from an agreement version and the installation's settings: the regeling
the works council consents to, the employees' privacy notice, a DPIA draft and the processing-
register entry (docs/agreement-documents.md). What they say is derived from the same data the
code enforces, so the documents cannot drift from the system.

Consent binds the Dutch regeling text: its sha256 is stored with the consent, and a later
rendering that differs (a setting changed what the system does) no longer matches it."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from backend.governance import agreements
from backend.agreement_documents import dpia, notice, regeling, register
from backend.agreement_documents.installation import Installation
from backend.agreement_documents.model import Document
from backend.db import db, utcnow
from backend.models.access import AgreementVersion
from backend.models.agreement_documents import ConsentedText, NoticeAcknowledgement
from backend.models.accounts import User

BUILDERS = {"regeling": regeling.build, "notice": notice.build, "dpia": dpia.build, "register": register.build}
KINDS = tuple(BUILDERS)
CONSENT_LANGUAGE = "nl"  # the binding text


def render(kind: str, version: AgreementVersion, language: str,
           installation: Installation | None = None) -> Document:
    return BUILDERS[kind](version, agreements.load(version), installation or Installation.current(), language)


def consent_text(version: AgreementVersion) -> Document:
    """The regeling as the works council reads it before consenting."""
    return render("regeling", version, CONSENT_LANGUAGE)


def consented(version: AgreementVersion) -> ConsentedText | None:
    return db.session.scalar(select(ConsentedText).where(ConsentedText.agreement_version_id == version.id))


def store_consented_text(version: AgreementVersion, seen_sha256: str) -> ConsentedText:
    """Keep the text the delegate consented to. Refused when it is not the text rendered now
    (a setting changed between reading and consenting): they must read it again."""
    document = consent_text(version)
    if seen_sha256 != document.sha256():
        raise agreements.AgreementError(
            "the regeling text changed since it was shown (sha256 " + (seen_sha256 or "none")[:16]
            + "..., now " + document.sha256()[:16] + "...): read the current text and consent to that")
    row = ConsentedText(agreement_version_id=version.id, language=CONSENT_LANGUAGE, text=document.text(),
                        sha256=document.sha256(), recorded_at=utcnow())
    db.session.add(row)
    return row


@dataclass(frozen=True)
class ConsentCheck:
    version: AgreementVersion
    consented_sha256: str | None  # None: consent recorded before texts were kept
    current_sha256: str

    @property
    def matches(self) -> bool:
        return self.consented_sha256 == self.current_sha256


def consent_check(version: AgreementVersion) -> ConsentCheck | None:
    """For a consented version: does today's rendering still say what the council consented to?"""
    if version.consent_recorded_at is None:
        return None
    kept = consented(version)
    return ConsentCheck(version, kept.sha256 if kept else None, consent_text(version).sha256())


def mismatched_consents() -> list[ConsentCheck]:
    """Consented versions whose regeling, rendered with today's settings, differs from the text
    consented to (the in-force one first)."""
    checks = [consent_check(v) for v in agreements.all_versions() if v.consent_recorded_at is not None]
    return [check for check in checks if check is not None and not check.matches]


# --- the privacy notice for drivers --------------------------------------------------------

def notice_key(version: AgreementVersion) -> str:
    """What an acknowledgement is bound to: the Dutch notice text of this version and settings."""
    return render("notice", version, CONSENT_LANGUAGE).sha256()


def acknowledgement_of(user: User, key: str) -> NoticeAcknowledgement | None:
    return db.session.scalar(select(NoticeAcknowledgement).where(
        NoticeAcknowledgement.user_id == user.id, NoticeAcknowledgement.notice_sha256 == key))


def acknowledgements(user: User) -> list[NoticeAcknowledgement]:
    return list(db.session.scalars(select(NoticeAcknowledgement).where(NoticeAcknowledgement.user_id == user.id)
                                   .order_by(NoticeAcknowledgement.acknowledged_at.desc())))


def acknowledge(user: User, version: AgreementVersion, seen_sha256: str) -> NoticeAcknowledgement:
    """Record that the driver read the notice of this version (the Dutch text's hash binds it)."""
    from backend import audit
    key = notice_key(version)
    if seen_sha256 != key:
        raise agreements.AgreementError("the privacy notice changed since it was shown: read it again")
    existing = acknowledgement_of(user, key)
    if existing is not None:
        return existing
    row = NoticeAcknowledgement(user_id=user.id, agreement_version_id=version.id, notice_sha256=key,
                                acknowledged_at=utcnow())
    db.session.add(row)
    audit.record(audit.NOTICE_ACKNOWLEDGED, actor=user, subject_user_id=user.id,
                 details={"agreement_version_id": version.id, "label": version.label, "sha256": key}, commit=False)
    db.session.commit()
    return row
