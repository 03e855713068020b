"""The privacy notice for employees (AVG art. 13): controller, purposes and legal bases,
categories, recipients, retention, rights and the works council's consent, from the same
statements as the regeling."""
from __future__ import annotations

from backend.governance.agreements import Agreement
from backend.agreement_documents import statements as st
from backend.agreement_documents.installation import Installation
from backend.agreement_documents.model import Document
from backend.agreement_documents.words import CATEGORIES, Say
from backend.models.access import AgreementVersion


def legal_bases(agreement: Agreement, say: Say) -> list[tuple[str, str]]:
    rows = [(say("Belastingregistratie (rittenregistratie)", "Tax registration (trip registry)"),
             say("wettelijke verplichting (AVG art. 6 lid 1 onder c; Wet op de loonbelasting 1964 art. 13bis)",
                 "legal obligation (GDPR art. 6(1)(c); Dutch Wage Tax Act 1964 art. 13bis)"))]
    for purpose in agreement.purposes.values():
        rows.append((purpose.title,
                     say("gerechtvaardigd belang van de werkgever (AVG art. 6 lid 1 onder f), verder gebruik "
                         "getoetst aan AVG art. 6 lid 4 en vooraf in deze regeling aangekondigd",
                         "legitimate interest of the employer (GDPR art. 6(1)(f)); further use tested against "
                         "GDPR art. 6(4) and announced in advance in this regulation")))
    return rows


def recipients(agreement: Agreement, installation: Installation, say: Say) -> list[str]:
    out = [say("de salarisadministratie (ritoverzichten voor het belastingrapport)",
               "finance (trip summaries for the tax report)"),
           say("de Belastingdienst, op haar verzoek (het belastingrapport)",
               "the Dutch Tax Administration, on its request (the tax report)")]
    if agreement.purposes:
        out.append(say("een aanvrager met een goedgekeurde, verlopende toegang voor een verder doel, en de twee "
                       "goedkeurders van die aanvraag",
                       "a requester with an approved, expiring grant for a further purpose, and the two "
                       "approvers of that request"))
    if installation.pdok_host:
        out.append(say(f"PDOK Locatieserver ({installation.pdok_host}): posities van zakelijke ritten, om het adres "
                       "op te zoeken", f"PDOK Locatieserver ({installation.pdok_host}): positions of business trips, "
                       "to look up the address"))
    if installation.map_tiles_host:
        out.append(say(f"de kaartserver {installation.map_tiles_host}: het gebied dat u op een kaart bekijkt, het "
                       "tijdstip en uw IP-adres", f"the map tile server {installation.map_tiles_host}: the area "
                       "you view on a map, the time and your IP address"))
    if installation.smtp_host:
        out.append(say(f"de mailserver {installation.smtp_host}: meldingen over toegang tot uw gegevens",
                       f"the mail server {installation.smtp_host}: notices about access to your data"))
    return out


def build(version: AgreementVersion, agreement: Agreement, installation: Installation, language: str) -> Document:
    say = Say(language)
    document = Document("notice", language,
                        say("Privacyverklaring rittenregistratie voor werknemers",
                            "Privacy notice on the trip registry for employees"),
                        say("Bij regeling", "Under regulation") + f" {agreement.version} ({agreement.title})",
                        open_point_label=say("OPEN PUNT", "OPEN POINT"))
    st.controller_section(document, agreement, say)
    document.section(say("Doelen en grondslagen", "Purposes and legal bases")).table(
        (say("Doel", "Purpose"), say("Grondslag", "Legal basis")), legal_bases(agreement, say))
    section = document.section(say("Welke gegevens", "Which data"))
    section.list(say(nl, en) for nl, en in st.TRIP_FIELDS)
    section.say(st.private_positions_statement(agreement, say))
    document.section(say("Ontvangers", "Recipients")).list(recipients(agreement, installation, say))
    section = document.section(say("Verdere doelen", "Further purposes"))
    if agreement.purposes:
        for purpose in agreement.purposes.values():
            section.say(say(f"{purpose.title}: alleen op aanvraag met gronden, na goedkeuring door twee personen, "
                            f"hoogstens {say.words(CATEGORIES, sorted(purpose.max_categories))}; u wordt "
                            f"geïnformeerd {st.notify_statement(purpose, say)}.",
                            f"{purpose.title}: only on request with grounds, after approval by two people, at most "
                            f"{say.words(CATEGORIES, sorted(purpose.max_categories))}; you are told "
                            f"{st.notify_statement(purpose, say)}."))
    else:
        section.say(say("Geen: uw gegevens worden alleen voor de belastingregistratie gebruikt.",
                        "None: your data is used for the tax registration only."))
    document.section(say("Bewaartermijnen", "Retention")).table(
        (say("Gegevens", "Data"), say("Bewaard tot", "Kept until")), st.retention_rows(agreement, say))
    section = document.section(say("Opslag en beveiliging", "Storage and security"))
    for statement in st.storage_statements(agreement, installation, say):
        section.say(statement)
    document.section(say("Uw rechten", "Your rights")).list(st.rights(say))
    section = document.section(say("Instemming van de ondernemingsraad", "The works council's consent"))
    if version.consent_date is not None:
        section.say(say(f"De ondernemingsraad heeft op {version.consent_date.strftime('%d-%m-%Y')} ingestemd met "
                        f"regeling {agreement.version} (kenmerk {version.consent_reference}).",
                        f"The works council consented to regulation {agreement.version} on "
                        f"{version.consent_date.strftime('%d-%m-%Y')} (reference {version.consent_reference})."))
    else:
        section.say(say(f"De ondernemingsraad heeft nog niet ingestemd met regeling {agreement.version}; zonder "
                        "instemming is deze niet van kracht.",
                        f"The works council has not yet consented to regulation {agreement.version}; without "
                        "consent it is not in force."))
    return document
