"""The entry in the register of processing activities (AVG art. 30(1)) as a short table."""
from __future__ import annotations

from backend.governance.agreements import Agreement
from backend.agreement_documents import notice, statements as st
from backend.agreement_documents.installation import Installation
from backend.agreement_documents.model import Document
from backend.agreement_documents.words import CATEGORIES, Say
from backend.models.access import AgreementVersion


def rows(agreement: Agreement, installation: Installation, say: Say) -> list[tuple[str, str]]:
    controller = (f"{agreement.controller['name']} ({agreement.controller['contact']})" if agreement.controller
                  else say("[OPEN PUNT: verwerkingsverantwoordelijke]", "[OPEN POINT: controller]"))
    purposes = "; ".join(f"{purpose}: {basis}" for purpose, basis in notice.legal_bases(agreement, say))
    categories = [c for c in ("trip_summaries", "business_tracks", "private_trip_details")
                  if c != "private_trip_details" or agreement.private_positions == "sealed"]
    retention = "; ".join(f"{data}: {until}" for data, until in st.retention_rows(agreement, say))
    security = say("één toegangslaag met doelbinding, toegang voor andere doelen alleen na twee goedkeuringen, "
                   "verzegelde privéposities, hash-geketende ritten en auditlog, bewaartermijnen per categorie",
                   "one access layer bound to purpose, access for other purposes only after two approvals, sealed "
                   "private positions, hash-chained trips and audit log, retention per category")
    if agreement.private_positions == "none":
        security = security.replace(say("verzegelde privéposities", "sealed private positions"),
                                    say("geen privéposities vastgelegd", "no private positions recorded"))
    return [
        (say("Verwerking", "Processing"), say("Rittenregistratie auto van de zaak (Ritbox)",
                                               "Company car trip registry (Ritbox)")),
        (say("Verwerkingsverantwoordelijke", "Controller"), controller),
        (say("Doelen en grondslagen", "Purposes and legal bases"), purposes),
        (say("Betrokkenen", "Data subjects"), say("werknemers met een auto van de zaak of bestelauto",
                                                   "employees with a company car or van")),
        (say("Categorieën gegevens", "Categories of data"), say.words(CATEGORIES, categories)),
        (say("Ontvangers", "Recipients"), "; ".join(notice.recipients(agreement, installation, say))),
        (say("Doorgifte buiten de EER", "Transfers outside the EEA"), say("geen", "none")),
        (say("Bewaartermijnen", "Retention"), retention),
        (say("Beveiliging (art. 32)", "Security (art. 32)"), security),
    ]


def build(version: AgreementVersion, agreement: Agreement, installation: Installation, language: str) -> Document:
    say = Say(language)
    document = Document("register", language,
                        say("Verwerkingsregister (AVG art. 30): rittenregistratie",
                            "Register of processing (GDPR art. 30): trip registry"),
                        say("Bij regeling", "Under regulation") + f" {agreement.version}",
                        open_point_label=say("OPEN PUNT", "OPEN POINT"))
    document.section(say("Registervermelding", "Register entry")).table(
        (say("Onderdeel", "Item"), say("Inhoud", "Content")), rows(agreement, installation, say))
    return document
