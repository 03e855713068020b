"""Dutch labels and value formatting shared by the renderers. The report is a Dutch tax
document (for payroll and the Belastingdienst), so its text is Dutch whatever the UI locale."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from backend.numbers import km_nl
from backend.reports import model as m

KIND = {m.TRIP: "rit", m.CHAIN_GAP: "ketenonderbreking", m.DEVICE_EVENT: "gebeurtenis kastje",
        m.ODOMETER_GAP: "kilometerstandverschil",
        m.ODOMETER_CORRECTION: "correctierit", m.ODOMETER_READING: "kalibratie"}
CHARACTER = {m.BUSINESS: "zakelijk", m.COMMUTE: "woon-werk", m.PRIVATE: "privé", None: ""}
VIEW = {m.EMPLOYER: "werkgeversoverzicht (privéadressen afgeschermd)",
        m.DRIVER: "eigen export van de bestuurder (met privéadressen)"}
NOTES = {
    "unclassified_trips": "Ritten die de bestuurder nog niet heeft ingedeeld, staan met 'nee' bij Bevestigd (in de "
                          "PDF: '(?)') en tellen als 'niet ingedeeld', nooit als zakelijk; ritten in privéstand zijn "
                          "privé. Kilometers tussen twee kilometerstanden die geen rit verklaart (kastje uit, "
                          "sprong tussen ritten, een aflezing zonder rit ertussen) staan als 'onverklaard'. Niet "
                          "ingedeelde en onverklaarde km tellen mee voor de 500 km-grens tot de bestuurder of "
                          "financiën ze indeelt of met een reden verklaart (dan staan ze als 'verklaard'). Samen "
                          "tellen alle categorieën op tot de eindstand min de beginstand.",
    "calibrated_odometer": "Kilometerstanden zijn gekalibreerd op de dashboardstand: het verschil met de "
                           "GPS-stand is als correctierit geboekt en naar rato over de ritten sinds de vorige "
                           "kalibratie verdeeld; de oorspronkelijke GPS-kilometers staan bij elke rit. Een "
                           "correctierit loopt van de vorige dashboardstand naar de nieuwe; de correctie zit al in "
                           "de ritten en telt niet nog eens mee. Ritten vóór de eerste kalibratie zijn verschoven met "
                           "het verschil dat die eerste aflezing vaststelde (dashboard min kastje).",
    "implausible_motion": "Ritten met het kenmerk 'beweging niet mogelijk voor een auto' (snelheid, versnelling of "
                          "hoogteverandering buiten wat een auto kan, bijvoorbeeld een vliegtuig) moeten door de "
                          "bestuurder of financiën worden beoordeeld voordat ze als zakelijk tellen.",
    "unassigned_trips": "Ritten op dagen waarop de auto aan niemand was toegewezen, staan zonder bestuurder; hun "
                        "privé-kilometers tellen in een eigen 500 km-toets 'zonder bestuurder' (altijd boven de "
                        "grens) tot financiën een toewijzing toevoegt of verlengt die hun dag dekt. Dan krijgen ze "
                        "die bestuurder (vastgelegd in het auditlog) en tellen ze bij diens toets.",
    "trip_numbers": "Ritnummers lopen per auto en kalenderjaar in de volgorde waarin de ritten binnenkwamen en "
                    "veranderen nooit meer: een rit die later binnenkomt krijgt het volgende vrije nummer en kan "
                    "daardoor buiten de datumvolgorde staan.",
    "chain_events_not_included": "Ketenonderbrekingen van het kastje staan alleen in het overzicht van de "
                                 "werkgever; kilometerstandverschillen staan hieronder wel.",
}

# Dutch text for device flags a reader must understand (the others are shown as their code).
FLAGS = {"implausible_motion": "beweging niet mogelijk voor een auto: controleren",
         "odometer_gps_disagree": "kilometerteller van de auto en GPS-km wijken meer dan gewoonlijk af",
         "engine_off": "geëindigd toen de motor uitging",
         "vin_changed": "kastje in een andere auto geplaatst (ander chassisnummer): controleren"}


def flag_texts(flags: tuple[str, ...]) -> list[str]:
    return [FLAGS.get(flag, flag) for flag in flags]


ADDRESS_FIELDS = ("straat", "huisnummer", "postcode", "plaats")
COLUMNS = ("Soort", "Kenteken", "Ritnummer", "Datum", "Vertrek", "Aankomst", "Bestuurder",
           "Beginstand km", "Eindstand km", "Afstand km",
           "Vertrekadres", *(f"Vertrek {name}" for name in ADDRESS_FIELDS),
           "Aankomstadres", *(f"Aankomst {name}" for name in ADDRESS_FIELDS), "Karakter", "Bevestigd", "Afwijkende route",
           "Reden afwijking", "Privé-omrijkilometers", "GPS-km vóór kalibratie", "Opmerking", "Kenmerken")
NUMERIC = {"Beginstand km", "Eindstand km", "Afstand km", "Privé-omrijkilometers", "GPS-km vóór kalibratie"}
CORRECTION_COLUMNS = ("Kenteken", "Ritnummer", "Veld", "Oorspronkelijk", "Gecorrigeerd", "Door", "Tijdstip",
                      "Reden")


decimal_nl = km_nl  # the one rounding and format of every figure (backend/numbers.py)


def day_nl(value: date | None) -> str:
    return f"{value.day:02d}-{value.month:02d}-{value.year}" if value else ""


def time_nl(value: datetime | None) -> str:
    return f"{value.hour:02d}:{value.minute:02d}" if value else ""


def moment_nl(value: datetime | None) -> str:
    return value.strftime("%d-%m-%Y %H:%M") if value else ""


FORMULA_MARKS = "=+-@\t\r"  # a text cell starting with one of these is read as a formula


def safe_text(value: str) -> str:
    """Neutralise spreadsheet formulas: a text cell starting with = + - @ (or a tab/CR that
    some programs strip first) gets a leading apostrophe."""
    if value and value[0] in FORMULA_MARKS:
        return "'" + value
    return value


WITHHELD_BY_DRIVER = "achtergehouden door de bestuurder"
WITHHELD_BY_DRIVER_SHORT = "achtergehouden (bestuurder)"  # the PDF's narrow address column


INCOMPLETE_PLACE = "adres onvolledig (alleen de plaats bekend): de bestuurder kan het aanvullen"
INCOMPLETE_COORDINATES = "adres onvolledig (alleen coördinaten): de bestuurder kan het aanvullen"


def incomplete_text(address: m.Address) -> str:
    """"" for a complete (street-level) address, else what the reader must know about it."""
    if address.street_level:
        return ""
    return INCOMPLETE_PLACE if address.place else INCOMPLETE_COORDINATES


def address_text(address: m.Address | None, withheld_by_driver: bool = False) -> str:
    if address is None:
        return WITHHELD_BY_DRIVER if withheld_by_driver else ""
    if address.street_level:
        return address.text
    return f"{address.text} - {incomplete_text(address)}"


def address_fields(address: m.Address | None) -> tuple[str, str, str, str]:
    """Street, number, postcode and place, each "" when unknown (or withheld)."""
    if address is None:
        return "", "", "", ""
    return address.street or "", address.number or "", address.postcode or "", address.place or ""


def row_values(row: m.Row) -> list[object]:
    """One row as (text | Decimal | None) values in COLUMNS order; text not yet neutralised."""
    return [KIND[row.kind], row.kenteken, row.trip_number, day_nl(row.day), time_nl(row.started_at),
            time_nl(row.ended_at), row.driver_name, row.odometer_start, row.odometer_end,
            row.distance if row.kind not in (m.CHAIN_GAP, m.DEVICE_EVENT) else None,
            address_text(row.departure, row.addresses_withheld_by_driver), *address_fields(row.departure),
            address_text(row.arrival, row.addresses_withheld_by_driver), *address_fields(row.arrival),
            CHARACTER[row.character], ("ja" if row.classified else "nee") if row.kind == m.TRIP else "",
            row.route_deviation, row.deviation_reason,
            row.private_detour if row.kind == m.TRIP else None, row.original_distance, row.note,
            ", ".join(flag_texts(row.flags))]


def car_lines(report: m.Report) -> list[str]:
    lines = []
    for car in report.cars:
        periods = "; ".join(f"{a.driver_name}: {day_nl(a.available_from)} t/m "
                            f"{day_nl(a.available_until) if a.available_until else 'heden'}"
                            for a in car.availability) or "geen terbeschikkingstelling vastgelegd"
        regime = "; ".join(f"{REGIME_NAMES.get(r, r)} vanaf {day_nl(since)}" for since, _kind, r in car.regimes)
        lines.append(f"{car.kenteken} - {car.make} {car.model} - beschikbaar: {periods}"
                     + (f" - regime: {regime}" if regime else ""))
    return lines


REGIME_NAMES = {"car": "auto, volledige rittenregistratie", "van_full": "bestelauto, volledige rittenregistratie",
                "van_simplified": "bestelauto, vereenvoudigde registratie",
                "van_business_only": "bestelauto, uitsluitend zakelijk gebruik (verklaring)"}


def verdict_line(v: m.Verdict) -> str:
    outcome = "binnen de grens" if v.within_limit else "BOVEN de grens"
    scaled = (f", omgerekend naar een heel jaar ({v.available_days} van {v.days_in_year} dagen "
              f"beschikbaar): {decimal_nl(v.projected_km)} km") if v.available_days and \
        v.available_days < v.days_in_year else ""
    open_km = [f"{decimal_nl(km)} km {label}" for km, label in ((v.unclassified_km, "niet ingedeeld"),
                                                                  (v.unexplained_km, "onverklaard")) if km]
    unproven = (f"; daarnaast {' en '.join(open_km)}: niet aangetoond zakelijk, tellen mee voor de grens "
                f"zolang de bestuurder of financiën ze niet heeft ingedeeld of met een reden verklaard") \
        if open_km else ""
    return (f"{v.driver_name}: {decimal_nl(v.private_km)} km privé{scaled} - {outcome} van "
            f"{decimal_nl(v.limit_km)} km per jaar{unproven}{verklaring_text(v)}")


VERKLARING_NAMES = {m.NO_PRIVATE_USE_CAR: "verklaring geen privégebruik auto",
                    m.BUSINESS_ONLY_VAN: "verklaring uitsluitend zakelijk gebruik bestelauto"}


def verklaring_text(v: m.Verdict) -> str:
    """What the verklaringen of the year mean for this verdict (docs/reports.md, "Regimes")."""
    parts = []
    for k in v.verklaringen:
        withdrawn = f", ingetrokken per {day_nl(k.withdrawn_on)}" if k.withdrawn_on else ""
        parts.append(f"{VERKLARING_NAMES.get(k.kind, k.kind)} nr. {k.number} (afgegeven {day_nl(k.issued_on)}"
                     f"{withdrawn})")
    text = f". Verklaringen: {'; '.join(parts)}" if parts else ""
    if v.burden_of_proof:
        text += (". Onder de verklaring geen privégebruik ligt de bewijslast bij de werknemer: deze "
                 "rittenregistratie moet aantonen dat niet meer dan 500 km per jaar privé is gereden")
        if v.km_above_limit:
            text += (f". LET OP: {decimal_nl(v.km_above_limit)} km privé boven het naar tijd herrekende "
                     f"maximum van {decimal_nl(v.pro_rated_limit_km)} km")
    if v.business_only_at_risk:
        text += (f". LET OP: {decimal_nl(v.business_only_km)} km privé of onverklaard op een bestelauto onder "
                 "de verklaring uitsluitend zakelijk gebruik: de verklaring is in gevaar (zij moet vóór "
                 "privégebruik worden ingetrokken)")
    return text


def totals_lines(t: m.Totals) -> list[tuple[str, Decimal]]:
    return [("Totaal zakelijk km", t.business), ("Totaal woon-werk km", t.commute),
            ("Totaal privé km", t.private), ("Totaal niet ingedeeld km", t.unclassified_km),
            ("Totaal onverklaard km", t.unexplained_km),
            ("Totaal verklaard km (geen rit, met reden)", t.explained_km), ("Totaal km", t.total),
            ("waarvan kalibratiecorrectie km (al in de ritten)", t.correction_km)]


def correction_values(c: m.Correction) -> list[str]:
    return [c.kenteken, str(c.trip_number or ""), c.field, c.original, c.corrected, c.author,
            moment_nl(c.at), c.reason]


def title(report: m.Report) -> str:
    who = "bestuurder" if report.subject == m.BY_DRIVER else "auto"
    return f"Rittenregistratie {report.year} - {who} {report.title}"
