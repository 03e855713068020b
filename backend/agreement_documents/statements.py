"""Statements the documents share, each derived from the agreement and the installation in one
place, so the regeling, the notice, the DPIA and the register say the same thing (and the truth
test checks each once against the code that enforces it)."""
from __future__ import annotations

from backend.governance.agreements import Agreement, Purpose
from backend.access.retention import LEGAL_YEARS
from backend.agreement_documents.installation import Installation
from backend.agreement_documents.model import Document
from backend.agreement_documents.words import CATEGORIES, DATABASES, DRIVER_ACCESS, ROLES, SUBJECTS, Say

TRIP_FIELDS = (("datum, vertrek- en aankomsttijd", "date, departure and arrival time"),
               ("begin- en eindstand van de kilometerteller en de afstand", "start and end odometer reading and distance"),
               ("begin- en eindpositie (bij zakelijke ritten ook als adres)",
                "start and end position (for business trips also as an address)"),
               ("de route (reeks GPS-posities) van zakelijke ritten", "the route (series of GPS positions) of business trips"),
               ("het karakter (zakelijk, woon-werk, privé) en een eventuele notitie of omrijreden",
                "the character (business, commute, private) and any note or reason for a detour"),
               ("de auto, het kastje en de bestuurder die aan de auto was toegewezen",
                "the car, the device and the driver assigned to the car"))


def private_positions_statement(agreement: Agreement, say: Say) -> str:
    if agreement.private_positions == "none":
        return say("In privéstand legt het kastje geen posities vast: geen route en geen begin- of eindpunt, "
                   "alleen tijden en kilometers. Privéposities worden dus niet vastgelegd.",
                   "In private mode the device records no positions: no route and no start or end point, only "
                   "times and kilometres. Private positions are not recorded.")
    return say("In privéstand legt het kastje geen route vast. Begin- en eindpositie worden op het kastje "
               "verzegeld (versleuteld) met de openbare sleutel van de server; alleen de bestuurder zelf, of "
               "iemand met een toegekende toegang waarvan het doel privégegevens toestaat, kan ze openen, en "
               "elke opening wordt gelogd.",
               "In private mode the device records no route. The start and end positions are sealed "
               "(encrypted) on the device with the server's public key; only the driver, or someone with a "
               "granted access whose purpose allows private details, can open them, and every opening is logged.")


def purpose_section(document: Document, agreement: Agreement, say: Say) -> None:
    section = document.section(say("Doel van de registratie", "Purpose of the registry"))
    section.say(agreement.raw["tax_purpose"]["description"].strip())
    if agreement.summary:
        section.say(agreement.summary)
    section.say(say("Elk ander gebruik dan de belastingregistratie is alleen toegestaan voor de verdere doelen "
                    "hieronder, op aanvraag, met gronden en na goedkeuring door twee personen.",
                    "Any use other than the tax registration is allowed only for the further purposes below, "
                    "on request, with grounds and after approval by two people."))


def recorded_section(document: Document, agreement: Agreement, say: Say) -> None:
    section = document.section(say("Wat wordt vastgelegd", "What is recorded"))
    section.say(say("Per rit:", "Per trip:"))
    section.list(say(nl, en) for nl, en in TRIP_FIELDS)
    section.say(private_positions_statement(agreement, say))
    section.say(say("Er is geen live volgen: het kastje stuurt alleen afgesloten ritten.",
                    "There is no live tracking: the device sends finished trips only."))


def storage_statements(agreement: Agreement, installation: Installation, say: Say) -> list[str]:
    where = say("in de map", "in the folder") if installation.database_kind == "sqlite" else say("op", "on")
    out = [say(f"De gegevens staan in {say.word(DATABASES, installation.database_kind)} {where} "
               f"{installation.database_location}. Ritten, correcties en de auditlog kunnen niet worden "
               "gewijzigd of verwijderd, behalve door de bewaartermijnen hieronder.",
               f"The data is stored in {say.word(DATABASES, installation.database_kind)} {where} "
               f"{installation.database_location}. Trips, corrections and the audit log cannot be changed or "
               "deleted, except by the retention periods below.")]
    if agreement.private_positions == "sealed":
        out.append(say(f"De sleutel die verzegelde privéposities opent, staat buiten de database in het bestand "
                       f"{installation.sealing_key_path}.",
                       f"The key that opens sealed private positions is kept outside the database in the file "
                       f"{installation.sealing_key_path}."))
        if installation.key_beside_database:
            out.append(say("Let op: die sleutel staat in dezelfde map als het databasebestand. Een back-up van die "
                           "map bevat beide en kan de privéposities openen.",
                           "Note: that key is in the same folder as the database file. A backup of that folder "
                           "holds both and can open the private positions."))
        else:
            out.append(say("Een kopie of back-up van de database bevat geen leesbare privéposities.",
                           "A copy or backup of the database holds no readable private positions."))
    else:
        out.append(say("Een kopie of back-up van de database bevat geen privéposities: ze worden niet vastgelegd.",
                       "A copy or backup of the database holds no private positions: they are not recorded."))
    out.append(say("Posities en routes van zakelijke ritten staan leesbaar in de database en in elke back-up "
                   "daarvan; die back-ups vallen onder dezelfde beveiliging en bewaartermijnen.",
                   "Positions and routes of business trips are readable in the database and in every backup of "
                   "it; those backups fall under the same security and retention periods."))
    out.append(pdok_statement(installation, say))
    out.append(mail_statement(installation, say))
    if installation.map_tiles_host:
        out.append(map_tiles_statement(installation, say))
    return out


def map_tiles_statement(installation: Installation, say: Say) -> str:
    """Only with a tile server set (docs/maps.md); without one the maps make no outside request."""
    return say(f"Kaarten in de webapp halen hun achtergrond (kaarttegels) bij {installation.map_tiles_host}: die "
               "server ziet welk gebied iemand bekijkt, wanneer, en het IP-adres van de kijker, niet wie het is of "
               "welke rit het is.",
               f"Maps in the web app fetch their background (map tiles) from {installation.map_tiles_host}: that "
               "server sees which area someone views, when, and the viewer's IP address, not who it is or which "
               "trip it is.")


def pdok_statement(installation: Installation, say: Say) -> str:
    if installation.pdok_host:
        return say(f"Adressen van zakelijke posities worden opgezocht bij de PDOK Locatieserver van de overheid "
                   f"({installation.pdok_host}): die posities verlaten daarvoor de server. Privéposities worden "
                   "nooit verstuurd.",
                   f"Addresses of business positions are looked up at the government's PDOK Locatieserver "
                   f"({installation.pdok_host}): those positions leave the server for it. Private positions are "
                   "never sent.")
    return say("Adressen worden op de server zelf bepaald (eigen locaties en een offline plaatsnamenlijst); "
               "geen positie verlaat de server.",
               "Addresses are determined on the server itself (own places and an offline list of place names); "
               "no position leaves the server.")


def mail_statement(installation: Installation, say: Say) -> str:
    if installation.smtp_host:
        return say(f"Meldingen aan werknemers over toegang tot hun gegevens gaan ook per e-mail (via de mailserver "
                   f"{installation.smtp_host}); de e-mail noemt wie, welk doel en welke periode, geen ritten of "
                   "plaatsen.",
                   f"Notices to employees about access to their data are also sent by e-mail (through the mail "
                   f"server {installation.smtp_host}); the e-mail names who, which purpose and which period, no "
                   "trips or places.")
    return say("Meldingen aan werknemers staan alleen in de app; er wordt geen e-mail verstuurd.",
               "Notices to employees are shown in the app only; no e-mail is sent.")


def storage_section(document: Document, agreement: Agreement, installation: Installation, say: Say) -> None:
    section = document.section(say("Waar en hoe de gegevens worden bewaard", "Where and how the data is stored"))
    for statement in storage_statements(agreement, installation, say):
        section.say(statement)


def controller_section(document: Document, agreement: Agreement, say: Say) -> None:
    controller_into(document.section(say("Verantwoordelijke", "Who is responsible")), agreement, say)


def controller_into(section, agreement: Agreement, say: Say) -> None:
    if agreement.controller:
        section.say(say(f"Verwerkingsverantwoordelijke: {agreement.controller['name']}. Contact voor vragen en "
                        f"verzoeken: {agreement.controller['contact']}.",
                        f"Controller: {agreement.controller['name']}. Contact for questions and requests: "
                        f"{agreement.controller['contact']}."))
    else:
        section.open_point(say("Deze versie noemt geen verwerkingsverantwoordelijke; vul naam en contact in.",
                               "This version names no controller; fill in name and contact."))


def tax_access_section(document: Document, agreement: Agreement, say: Say) -> None:
    section = document.section(say("Wie ziet wat voor de belastingregistratie", "Who sees what for the tax registration"))
    section.list([
        say(f"De bestuurder ziet {say.words(DRIVER_ACCESS, sorted(agreement.tax_driver_access))}, en wie "
            "wanneer en waarom diens gegevens inzag.",
            f"The driver sees {say.words(DRIVER_ACCESS, sorted(agreement.tax_driver_access))}, and who accessed "
            "their data, when and why."),
        say(f"De salarisadministratie ziet {say.word(CATEGORIES, 'trip_summaries')} voor het belastingrapport, "
            "nooit routes of posities van privéritten.",
            f"Finance sees {say.word(CATEGORIES, 'trip_summaries')} for the tax report, never routes or "
            "positions of private trips."),
        say("Leidinggevenden zien niets zonder een goedgekeurde, verlopende toegang (zie verdere doelen).",
            "Managers see nothing without an approved, expiring grant (see further purposes)."),
        say("De ondernemingsraad en de privacyfunctionaris zien de auditlog en de aanvragen, geen ritinhoud "
            "buiten een toegang waarbij zij partij zijn.",
            "The works council and the privacy officer see the audit log and the requests, no trip contents "
            "outside a grant they are party to."),
        say("De beheerder registreert gebruikers, auto's en kastjes en ziet geen ritinhoud.",
            "The administrator registers users, cars and devices and sees no trip contents."),
    ])


def notify_statement(purpose: Purpose, say: Say) -> str:
    if purpose.notify == "at_grant":
        return say("direct bij de toekenning", "at once when access is granted")
    return say(f"wanneer de toegang eindigt, uiterlijk {purpose.notify_within_days} dagen later",
               f"when the access ends, at the latest {purpose.notify_within_days} days later")


def further_purposes_section(document: Document, agreement: Agreement, say: Say) -> None:
    section = document.section(say("Verdere doelen", "Further purposes"))
    if not agreement.purposes:
        section.say(say("Deze regeling staat geen ander doel toe dan de belastingregistratie.",
                        "This regulation allows no purpose other than the tax registration."))
        return
    section.say(say("Een aanvraag noemt één doel hieronder, gronden en een schriftelijke motivering. Twee "
                    "verschillende personen moeten goedkeuren, nooit de aanvrager en nooit de werknemer zelf. Een "
                    "goedkeuring kan de omvang alleen beperken. Elke inzage wordt gelogd.",
                    "A request names one purpose below, grounds and a written motivation. Two different people "
                    "must approve, never the requester and never the employee concerned. An approval can only "
                    "narrow the scope. Every read is logged."))
    for purpose in agreement.purposes.values():
        section.say(f"{purpose.title} ({purpose.id}): {purpose.description}")
        section.table(
            (say("Regel", "Rule"), say("Inhoud", "Content")),
            [(say("Wie mag aanvragen", "Who may request"), say.words(ROLES, sorted(purpose.requester_roles))),
             (say("Gronden", "Grounds"), "; ".join(purpose.grounds_labels.get(g, g) for g in purpose.grounds_categories)),
             (say("Motivering", "Motivation"), say(f"minstens {purpose.motivation_min_chars} tekens",
                                                   f"at least {purpose.motivation_min_chars} characters")),
             (say("Goedkeuring door", "Approved by"), say.words(ROLES, purpose.approver_roles)),
             (say("Gegevens ten hoogste", "Data at most"), say.words(CATEGORIES, sorted(purpose.max_categories))),
             (say("Betreft", "Concerns"), say.words(SUBJECTS, sorted(purpose.subjects))),
             (say("Periode ten hoogste", "Period at most"),
              say(f"{purpose.max_period_days} dagen terug vanaf de aanvraag",
                  f"{purpose.max_period_days} days back from the request")),
             (say("Duur van de toegang ten hoogste", "Duration of access at most"),
              say(f"{purpose.max_grant_days} dagen", f"{purpose.max_grant_days} days")),
             (say("De werknemer wordt geïnformeerd", "The employee is told"), notify_statement(purpose, say))])


def retention_rows(agreement: Agreement, say: Say) -> list[tuple[str, str]]:
    days = agreement.retention_days
    rows = [(say.word(CATEGORIES, "trip_summaries"),
             say(f"{days['trip_summaries']} dagen na afloop van het belastingjaar van de rit, en nooit eerder dan "
                 f"{LEGAL_YEARS} jaar na afloop daarvan (fiscale bewaarplicht)",
                 f"{days['trip_summaries']} days after the end of the trip's tax year, and never before "
                 f"{LEGAL_YEARS} years after its end (tax retention duty)")),
            (say.word(CATEGORIES, "business_tracks"),
             say(f"{days['business_tracks']} dagen na de rit", f"{days['business_tracks']} days after the trip"))]
    if agreement.private_positions == "sealed":
        rows.append((say.word(CATEGORIES, "private_trip_details"),
                     say(f"{days['private_trip_details']} dagen na afloop van het belastingjaar van de rit",
                         f"{days['private_trip_details']} days after the end of the trip's tax year")))
    else:
        rows.append((say.word(CATEGORIES, "private_trip_details"), say("niet vastgelegd", "not recorded")))
    return rows


def retention_section(document: Document, agreement: Agreement, say: Say) -> None:
    section = document.section(say("Bewaartermijnen", "Retention"))
    section.table((say("Gegevens", "Data"), say("Bewaard tot", "Kept until")), retention_rows(agreement, say))
    section.say(say("Een dagelijkse taak verwijdert wat verlopen is en legt elke verwijdering vast. Ritten uit een "
                    "maand die de salarisadministratie nog niet heeft afgesloten, blijven tot die afsluiting.",
                    "A daily job deletes what is due and records every deletion. Trips of a month finance has "
                    "not yet closed are kept until it is closed."))


def rights(say: Say) -> list[str]:
    return [
        say("Inzage: de bestuurder ziet de eigen ritten in de app.", "Access: the driver sees their own trips in the app."),
        say("Kopie: de bestuurder downloadt het eigen ritoverzicht, met de eigen privéadressen.",
            "Copy: the driver downloads their own trip report, with their own private addresses."),
        say("Correctie: binnen de correctietermijn zelf, daarna op verzoek via een gedocumenteerde correctie.",
            "Correction: within the correction window themselves, later on request through a documented correction."),
        say("Wie zag mijn gegevens: de bestuurder ziet elke inzage door een ander, met doel en tijdstip.",
            "Who saw my data: the driver sees every read by someone else, with purpose and time."),
        say("Bezwaar en klacht: bij de privacyfunctionaris, en bij de Autoriteit Persoonsgegevens.",
            "Objection and complaint: to the privacy officer, and to the Dutch Data Protection Authority "
            "(Autoriteit Persoonsgegevens)."),
    ]


def rights_section(document: Document, agreement: Agreement, say: Say) -> None:
    document.section(say("Rechten van de werknemer", "The employee's rights")).list(rights(say))
