"""The regeling (WOR art. 27(1)(l)) in words, from an agreement version and the installation:
what is registered, where and how it is stored, who is responsible, who sees what, every further
purpose with its safeguards, retention, the rules the code applies (the correction window, the
decision period of a request: declared in the schema) and the employee's rights."""
from __future__ import annotations

from backend.governance.agreements import Agreement
from backend.agreement_documents import statements as st
from backend.agreement_documents.installation import Installation
from backend.agreement_documents.model import Document
from backend.agreement_documents.words import Say
from backend.models.access import AgreementVersion


def build(version: AgreementVersion, agreement: Agreement, installation: Installation, language: str) -> Document:
    say = Say(language)
    document = Document("regeling", language,
                        say("Regeling rittenregistratie", "Trip registry regulation") + f": {agreement.title}",
                        say("Versie", "Version") + f" {agreement.version} - "
                        + say("brondocument", "source document") + f" sha256 {version.sha256}"
                        + say("", " (a translation: the works council consents to the Dutch text)"),
                        open_point_label=say("OPEN PUNT", "OPEN POINT"))
    st.purpose_section(document, agreement, say)
    st.recorded_section(document, agreement, say)
    st.storage_section(document, agreement, installation, say)
    st.controller_section(document, agreement, say)
    st.tax_access_section(document, agreement, say)
    st.further_purposes_section(document, agreement, say)
    st.retention_section(document, agreement, say)
    for rule, value in agreement.stated_rules():  # declared in the schema with their words
        document.section(rule.label(say.language)).say(rule.sentence(say.language, value))
    st.rights_section(document, agreement, say)
    return document
