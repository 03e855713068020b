"""The regeling (WOR art. 27(1)(l)) in words, from an agreement version and the installation:
what is registered, where and how it is stored, who is responsible, who sees what, every further
purpose with its safeguards, retention, the correction window and the employee's rights."""
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
    section = document.section(say("Correctietermijn", "Correction window"))
    section.say(say(f"De bestuurder kan een rit tot {agreement.correction_window_days} dagen na de rit als "
                    "zakelijk, woon-werk of privé indelen en van een notitie voorzien. Daarna verandert een rit "
                    "alleen nog via een gedocumenteerde correctie, die de oorspronkelijke waarde bewaart.",
                    f"The driver may classify a trip as business, commute or private and annotate it up to "
                    f"{agreement.correction_window_days} days after the trip. After that a trip changes only "
                    "through a documented correction that keeps the original value."))
    st.rights_section(document, agreement, say)
    return document
