"""PDF with fpdf2: A4 landscape (the trip table needs the width), on every page a header with
the report, the car(s) and the period and a footer with "pagina X van Y"; the trips table with
its header repeated on each page; totals, the 500 km verdicts, the list of corrections (original
value, author, time, reason) and notes at the end. Dutch text.

The built-in Helvetica keeps rendering fast and the file free of embedded fonts; it covers
Latin-1, so any other character (a name in another script) is reduced to its closest Latin-1
form rather than lost silently."""
from __future__ import annotations

import unicodedata
from typing import BinaryIO

from fpdf import FPDF

from backend.reports import model as m
from backend.reports import texts as t

CONTENT_TYPE = "application/pdf"
EXTENSION = "pdf"

# (label, width mm, align)
TABLE = (("Nr", 9, "R"), ("Datum", 17, "L"), ("Tijd", 19, "L"), ("Bestuurder", 24, "L"),
         ("Begin km", 20, "R"), ("Eind km", 20, "R"), ("Km", 14, "R"), ("Van", 40, "L"), ("Naar", 40, "L"),
         ("Karakter", 18, "L"), ("Afwijking / reden", 25, "L"), ("Privé km", 13, "R"), ("Kenmerken", 18, "L"))
LINE = 4.6
INCOMPLETE = "adres onvolledig"  # the narrow address column: t.incomplete_text() in the legend


def latin1(text: str) -> str:
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        decomposed = unicodedata.normalize("NFKD", text)
        return "".join(ch if ord(ch) < 256 else "?" for ch in decomposed if not unicodedata.combining(ch))


class _Document(FPDF):
    def __init__(self, report: m.Report):
        super().__init__(orientation="L", unit="mm", format="A4")
        self.report = report
        self.in_table = False
        self.set_auto_page_break(auto=True, margin=14)
        self.set_margins(10, 10, 10)
        self.alias_nb_pages()
        self.set_title(latin1(t.title(report)))
        self.set_creator("Ritbox")

    def header(self) -> None:
        self.set_font("Helvetica", "B", 11)
        self.cell(0, 6, latin1(t.title(self.report)), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 8)
        period = f"Periode {t.day_nl(self.report.period[0])} t/m {t.day_nl(self.report.period[1])} - " \
                 f"{t.VIEW[self.report.view]}"
        self.cell(0, 4, latin1(period), new_x="LMARGIN", new_y="NEXT")
        for line in t.car_lines(self.report):
            self.multi_cell(0, 4, latin1("Auto " + line), new_x="LMARGIN", new_y="NEXT")
        self.ln(2)
        if self.in_table:
            self.table_header()

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("Helvetica", "", 7)
        self.cell(0, 5, latin1(f"Gemaakt {t.moment_nl(self.report.generated_at)} door "
                               f"{self.report.generated_by}"), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Pagina {self.page_no()} van {{nb}}", align="R")

    def table_header(self) -> None:
        self.set_font("Helvetica", "B", 7)
        self.set_fill_color(221, 230, 240)
        for label, width, align in TABLE:
            self.cell(width, LINE + 1, latin1(label), border=1, align=align, fill=True)
        self.ln()
        self.set_font("Helvetica", "", 7)

    def width_of(self, text: str) -> float:
        """String width in mm from the core font's metrics (get_string_width per cell is the
        slowest part of fpdf2 for a long table)."""
        widths = self.current_font.cw
        return sum(widths.get(ch, 600) for ch in text) * self.font_size / 1000

    def wrap(self, text: str, width: float) -> list[str]:
        """The text as lines that fit the column, broken between words (a word longer than the
        column between characters): an inspector reads every address and reason whole."""
        text = latin1(text)
        room = width - 1.5
        width_of = self.width_of
        if width_of(text) <= room:
            return [text]
        space = width_of(" ")
        lines, line, used = [], "", 0.0
        for word in text.split():
            size = width_of(word)
            if line and used + space + size <= room:
                line, used = f"{line} {word}", used + space + size
                continue
            if line:
                lines.append(line)
            while size > room and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and width_of(word[:cut]) > room:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
                size = width_of(word)
            line, used = word, size
        if line:
            lines.append(line)
        return lines

    def table_row(self, cells: list[str], widths=None) -> None:
        """One table row drawn with text() and a rule below it: a fraction of cell()'s cost,
        which matters with thousands of trips. A cell too long for its column wraps onto more
        lines (the row grows); page breaks are taken here, before the row."""
        columns = widths or TABLE
        wrapped = [self.wrap(text, width) if text else () for (_label, width, _align), text in zip(columns, cells)]
        height = LINE * max(1, *(len(lines) for lines in wrapped))
        if self.get_y() + height > self.page_break_trigger:
            style = self.font_style
            self.add_page()
            self.set_font("Helvetica", style, 7)
        y = self.get_y()
        x = self.l_margin
        for (_label, width, align), lines in zip(columns, wrapped):
            for index, text in enumerate(lines):
                offset = width - 0.75 - self.width_of(text) if align == "R" else 0.75
                self.text(x + offset, y + LINE * (index + 0.7), text)
            x += width
        self.line(self.l_margin, y + height, x, y + height)
        self.set_xy(self.l_margin, y + height)


def _cells(row: m.Row) -> list[str]:
    if row.kind == m.TRIP:
        character = t.CHARACTER[row.character] + ("" if row.classified else " (?)")
        deviation = " / ".join(x for x in (row.route_deviation, row.deviation_reason) if x)
        return [str(row.trip_number), t.day_nl(row.day), f"{t.time_nl(row.started_at)}-{t.time_nl(row.ended_at)}",
                row.driver_name, t.decimal_nl(row.odometer_start), t.decimal_nl(row.odometer_end),
                t.decimal_nl(row.distance), _address(row.departure, row),
                _address(row.arrival, row),
                character, deviation, t.decimal_nl(row.private_detour) if row.private_detour else "",
                ", ".join(([f"GPS {t.decimal_nl(row.original_distance)}"] if row.original_distance is not None
                           else []) + t.flag_texts(row.flags))]
    label = t.KIND[row.kind] + (": " + row.note if row.note else "")
    if row.kind in (m.CHAIN_GAP, m.DEVICE_EVENT):
        return ["", t.day_nl(row.day), t.time_nl(row.started_at), "", "", "", "", label, "", "", "", "", ""]
    return ["", t.day_nl(row.day), t.time_nl(row.started_at), "", t.decimal_nl(row.odometer_start),
            t.decimal_nl(row.odometer_end), t.decimal_nl(row.distance), label, "", "", "", "", ""]


def _address(address: m.Address | None, row: m.Row) -> str:
    if address is None:
        if row.addresses_withheld_by_driver:
            return t.WITHHELD_BY_DRIVER_SHORT
        return "afgeschermd" if row.character == m.PRIVATE else ""
    if address.street_level:
        return address.text
    return f"{address.text} - {INCOMPLETE}"  # the legend under the table says what the driver can do


def render(report: m.Report, out: BinaryIO) -> None:
    pdf = _Document(report)
    pdf.add_page()
    pdf.in_table = True
    pdf.table_header()
    current_car = None
    multi_car = len(report.cars) > 1
    for row in report.rows:
        if multi_car and row.kenteken != current_car:
            current_car = row.kenteken
            pdf.set_font("Helvetica", "B", 8)
            pdf.cell(0, LINE + 1, latin1(f"Auto {row.kenteken}"), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 7)
        special = row.kind != m.TRIP
        if special:
            pdf.set_font("Helvetica", "I", 7)
        cells = _cells(row)
        if special:  # the explanation spans the address and later columns
            rest = sum(width for _, width, _ in TABLE[7:])
            pdf.table_row(cells[:8], TABLE[:7] + (("", rest, "L"),))
        else:
            pdf.table_row(cells)
        if special:
            pdf.set_font("Helvetica", "", 7)
    pdf.in_table = False
    pdf.set_font("Helvetica", "", 7)
    pdf.multi_cell(0, LINE, latin1("(?) karakter nog niet door de bestuurder bevestigd; afgeschermd: privérit, adres "
                                   "alleen in de eigen export van de bestuurder; achtergehouden (bestuurder): in "
                                   "privémodus vastgelegd, nu zakelijk, adres niet door de bestuurder vrijgegeven; adres "
                                   "onvolledig: alleen de plaats of de coördinaten bekend, de bestuurder kan straat, "
                                   "huisnummer, postcode en plaats aanvullen op de pagina van de rit (een correctie, "
                                   "met het oorspronkelijke adres in de lijst van correcties)"),
                   new_x="LMARGIN", new_y="NEXT")

    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 5, "Totalen", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    for label, value in t.totals_lines(report.totals):
        pdf.cell(50, 4.5, latin1(label))
        pdf.cell(25, 4.5, t.decimal_nl(value), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(50, 4.5, "Aantal ritten")
    pdf.cell(25, 4.5, str(report.totals.trips), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(50, 4.5, "Niet bevestigd (?)")
    pdf.cell(25, 4.5, str(report.totals.unclassified), align="R", new_x="LMARGIN", new_y="NEXT")

    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 5, "500 km-toets (privégebruik per kalenderjaar)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    for verdict in report.verdicts:
        pdf.multi_cell(0, 4.5, latin1(t.verdict_line(verdict)), new_x="LMARGIN", new_y="NEXT")

    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 5, "Correcties", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    if not report.corrections:
        pdf.cell(0, 4.5, "Geen correcties.", new_x="LMARGIN", new_y="NEXT")
    widths = (22, 14, 30, 45, 45, 35, 28, 58)
    if report.corrections:
        pdf.set_font("Helvetica", "B", 7)
        for label, width in zip(t.CORRECTION_COLUMNS, widths):
            pdf.cell(width, LINE, latin1(label), border="B")
        pdf.ln()
        pdf.set_font("Helvetica", "", 7)
        columns = tuple(("", width, "L") for width in widths)
        for correction in report.corrections:
            pdf.table_row(t.correction_values(correction), columns)

    if report.notes:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(0, 5, "Toelichting", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        for note in report.notes:
            pdf.multi_cell(0, 4.5, latin1(t.NOTES.get(note, note)), new_x="LMARGIN", new_y="NEXT")
    out.write(bytes(pdf.output()))
