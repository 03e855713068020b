"""A DPIA draft, pre-filled, following the structure of the Model DPIA Rijksdienst (part A:
description, B: lawfulness, C: risks, D: measures). What the system cannot know is an open point
for the privacy officer, marked as such in every output."""
from __future__ import annotations

from backend.governance.agreements import Agreement
from backend.agreement_documents import notice, statements as st
from backend.agreement_documents.installation import Installation
from backend.agreement_documents.model import Document
from backend.agreement_documents.words import CATEGORIES, ROLES, Say
from backend.models.access import AgreementVersion


def build(version: AgreementVersion, agreement: Agreement, installation: Installation, language: str) -> Document:
    say = Say(language)
    document = Document("dpia", language,
                        say("Concept-DPIA rittenregistratie (naar het Model DPIA Rijksdienst)",
                            "Draft DPIA for the trip registry (after the Dutch government's Model DPIA)"),
                        say("Bij regeling", "Under regulation") + f" {agreement.version}. "
                        + say("Vooraf ingevuld door Ritbox; open punten vult de privacyfunctionaris in.",
                              "Pre-filled by Ritbox; the privacy officer completes the open points."),
                        open_point_label=say("OPEN PUNT", "OPEN POINT"), numbered=False)

    # Part A: description
    section = document.section(say("A.1 Voorstel", "A.1 Proposal"))
    section.say(say("Een sluitende rittenregistratie voor auto's van de zaak, om aan te tonen dat er niet meer dan "
                    "500 km per jaar privé is gereden. Een kastje in de auto legt ritten vast uit GPS; de server "
                    "bewaart ze gebonden aan het fiscale doel.",
                    "A complete trip registry for company cars, to show that no more than 500 km a year were driven "
                    "privately. A device in the car records trips from GPS; the server keeps them bound to the "
                    "tax purpose."))
    section.open_point(say("Aanleiding, betrokken afdelingen en aantal auto's en werknemers.",
                           "Reason, departments involved and number of cars and employees."))
    section = document.section(say("A.2 Persoonsgegevens", "A.2 Personal data"))
    section.list(say(nl, en) for nl, en in st.TRIP_FIELDS)
    section.say(st.private_positions_statement(agreement, say))
    section = document.section(say("A.3 Gegevensverwerkingen en gegevensstromen", "A.3 Processing and data flows"))
    section.list([
        say("Kastje: GPS (NMEA) wordt ritten; privéposities worden op het kastje verzegeld of niet vastgelegd; "
            "ritten worden ondertekend en in een hash-keten geplaatst.",
            "Device: GPS (NMEA) becomes trips; private positions are sealed on the device or not recorded; trips "
            "are signed and hash-chained."),
        say("Server: ontvangt afgesloten ritten, controleert handtekening en keten, slaat ze op.",
            "Server: receives finished trips, checks signature and chain, stores them."),
        say("Toegangslaag: elke lezing gaat door één toegangslaag die doel en persoon toetst en lezingen logt.",
            "Access layer: every read goes through one access layer that checks purpose and person and logs reads."),
        say("Rapporten: belastingrapport (CSV, XLSX, PDF, XML) voor de salarisadministratie en de eigen export "
            "van de bestuurder.",
            "Reports: the tax report (CSV, XLSX, PDF, XML) for finance and the driver's own export."),
        st.pdok_statement(installation, say),
        st.mail_statement(installation, say),
    ])
    section = document.section(say("A.4 Verwerkingsdoeleinden", "A.4 Purposes"))
    section.list([say("Belastingregistratie (rittenregistratie).", "Tax registration (trip registry).")]
                 + [f"{p.title} ({p.id}): {p.description}" for p in agreement.purposes.values()])
    section = document.section(say("A.5 Betrokken partijen", "A.5 Parties involved"))
    st.controller_into(section, agreement, say)
    section.list([say.word(ROLES, role) for role in ("driver", "finance", "manager", "or_delegate",
                                                     "privacy_officer", "admin")])
    section.open_point(say("Verwerkers (hosting, beheer) en de verwerkersovereenkomsten.",
                           "Processors (hosting, operations) and the processing agreements."))
    section = document.section(say("A.6 Belangen", "A.6 Interests"))
    section.say(say("Werkgever: fiscale bewijslast en, met waarborgen, onderzoek bij concreet vermoeden van misbruik. "
                    "Werknemer: geen volgen, privé blijft privé, weten wie wat zag.",
                    "Employer: the tax burden of proof and, with safeguards, investigation on concrete suspicion "
                    "of misuse. Employee: no tracking, private stays private, knowing who saw what."))
    section = document.section(say("A.7 Verwerkingslocaties", "A.7 Processing locations"))
    for statement in st.storage_statements(agreement, installation, say):
        section.say(statement)
    section.open_point(say("Land en partij van de hosting en van de back-ups.",
                           "Country and party of the hosting and of the backups."))
    document.section(say("A.8 Juridisch en beleidsmatig kader", "A.8 Legal and policy framework")).list([
        say("Wet op de loonbelasting 1964 art. 13bis (bijtelling, 500 km).",
            "Dutch Wage Tax Act 1964 art. 13bis (benefit in kind, 500 km)."),
        say("WOR art. 27 lid 1 onder l: instemming van de ondernemingsraad.",
            "Works Councils Act art. 27(1)(l): the works council's consent."),
        say("AVG art. 5, 6, 13, 30, 32 en 35; de DPIA-lijst van de Autoriteit Persoonsgegevens (locatiegegevens "
            "van werknemers).",
            "GDPR art. 5, 6, 13, 30, 32 and 35; the Dutch DPA's DPIA list (employee location data)."),
    ])
    document.section(say("A.9 Bewaartermijnen", "A.9 Retention")).table(
        (say("Gegevens", "Data"), say("Bewaard tot", "Kept until")), st.retention_rows(agreement, say))

    # Part B: lawfulness
    document.section(say("B.10 Rechtsgrond", "B.10 Legal basis")).table(
        (say("Doel", "Purpose"), say("Grondslag", "Legal basis")), notice.legal_bases(agreement, say))
    document.section(say("B.11 Bijzondere persoonsgegevens", "B.11 Special categories")).say(
        say("Geen bijzondere persoonsgegevens worden gevraagd. Locatiegegevens kunnen er wel op wijzen (bezoek aan "
            "een ziekenhuis of gebedshuis); daarom worden privéposities verzegeld of niet vastgelegd.",
            "No special categories are asked for. Location data can reveal them (a visit to a hospital or place "
            "of worship); that is why private positions are sealed or not recorded."))
    section = document.section(say("B.12 Doelbinding", "B.12 Purpose limitation"))
    section.say(say(f"Verder gebruik alleen voor de {len(agreement.purposes)} verdere doelen van de regeling, elk "
                    "vooraf aangekondigd, op aanvraag met gronden en na twee goedkeuringen.",
                    f"Further use only for the regulation's {len(agreement.purposes)} further purposes, each "
                    "announced in advance, on request with grounds and after two approvals."))
    section.open_point(say("Verenigbaarheidstoets (AVG art. 6 lid 4) per verder doel.",
                           "Compatibility test (GDPR art. 6(4)) per further purpose."))
    section = document.section(say("B.13 Noodzaak en evenredigheid", "B.13 Necessity and proportionality"))
    section.table((say("Gegevens", "Data"), say("Waarom nodig voor het fiscale doel", "Why the tax purpose needs it")), [
        (say.word(CATEGORIES, "trip_summaries"),
         say("de Belastingdienst eist per rit datum, kilometerstanden, adressen en karakter",
             "the tax authority requires date, odometer readings, addresses and character per trip")),
        (say.word(CATEGORIES, "business_tracks"),
         say(f"bewijs van de afgelegde route bij omrijden; na {agreement.retention_days['business_tracks']} dagen "
             "verwijderd", f"evidence of the route on a detour; deleted after "
             f"{agreement.retention_days['business_tracks']} days")),
        (say.word(CATEGORIES, "private_trip_details"),
         say("alleen verzegeld, voor de bestuurder zelf" if agreement.private_positions == "sealed"
             else "niet vastgelegd (minimalisatie)",
             "sealed only, for the driver themself" if agreement.private_positions == "sealed"
             else "not recorded (minimisation)")),
    ])
    section.open_point(say("Afweging of minder ingrijpende alternatieven (handmatige rittenadministratie, "
                           "'verklaring geen privégebruik') volstaan.",
                           "Whether less intrusive alternatives (a manual log, a 'no private use' statement) suffice."))
    document.section(say("B.14 Rechten van de betrokkenen", "B.14 Data subjects' rights")).list(st.rights(say))

    # Part C: risks, part D: measures
    risks = [
        (say("Volgen van werknemers", "Tracking employees"),
         say("geen live positie; alleen afgesloten ritten; leidinggevenden zien niets zonder toegang",
             "no live position; finished trips only; managers see nothing without a grant")),
        (say("Gebruik voor een ander doel (function creep)", "Use for another purpose (function creep)"),
         say("één toegangslaag; alleen doelen uit de regeling; twee goedkeurders; beperkte, verlopende toegang; "
             "werknemer wordt altijd geïnformeerd; audit",
             "one access layer; only the regulation's purposes; two approvers; limited, expiring grants; the "
             "employee is always told; audit")),
        (say("Lekken van privébestemmingen", "Breach of private destinations"),
         say("verzegeld met een sleutel buiten de database" if agreement.private_positions == "sealed"
             else "niet vastgelegd",
             "sealed with a key outside the database" if agreement.private_positions == "sealed"
             else "not recorded")),
        (say("Misbruik door één insider", "Misuse by a single insider"),
         say("vier ogen bij toegang; auditlog met hash-keten en controlepunten buiten de database",
             "four eyes on access; hash-chained audit log with checkpoints outside the database")),
        (say("Te lang bewaren", "Keeping data too long"),
         say("dagelijkse bewaartermijntaak per categorie, gelogd", "daily retention job per category, logged")),
    ]
    document.section(say("C.15 Risico's voor betrokkenen", "C.15 Risks to data subjects")).table(
        (say("Risico", "Risk"), say("Maatregel in het systeem", "Measure in the system")), risks)
    document.sections[-1].open_point(say("Kans en ernst per risico, en het restrisico.",
                                         "Likelihood and severity per risk, and the residual risk."))
    section = document.section(say("D.16 Maatregelen", "D.16 Measures"))
    section.list([say("Toegangslaag (deur) met doelbinding", "Access layer (door) bound to purpose"),
                  say("Toegang per aanvraag, met gronden, beperkt en verlopend", "Grants per request, with grounds, limited and expiring"),
                  say("Vier ogen: twee goedkeurders, nooit de aanvrager of de werknemer", "Four eyes: two approvers, never the requester or the employee"),
                  st.private_positions_statement(agreement, say),
                  say("Bewaartermijnen per categorie", "Retention per category"),
                  say("Auditlog met hash-keten; de werknemer ziet wie wat zag", "Hash-chained audit log; the employee sees who saw what"),
                  say("Controlepunten van auditlog en ritketens buiten de database", "Checkpoints of the audit log and trip chains outside the database")])
    section.open_point(say("Organisatorische maatregelen (instructie, geheimhouding, incidentprocedure) en de "
                           "datum van herbeoordeling.",
                           "Organisational measures (instruction, confidentiality, incident procedure) and the date "
                           "of review."))
    return document
