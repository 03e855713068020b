"""A generated document as PDF (fpdf2, A4 portrait). The core Helvetica covers Latin-1, which
Dutch and English need; anything else is reduced as in the tax report (backend/reports/pdf.py)."""
from __future__ import annotations

from fpdf import FPDF

from backend.agreement_documents.model import Bullets, Document, OpenPoint, Paragraph, Table
from backend.reports.pdf import latin1

LINE = 5


class _Pdf(FPDF):
    def __init__(self, document: Document):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.document = document
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(18, 16, 18)
        self.alias_nb_pages()
        self.set_title(latin1(document.title))
        self.set_creator("Ritbox")

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font("Helvetica", "", 7)
        self.cell(0, 5, latin1(self.document.title)[:110], align="L")
        self.set_x(self.l_margin)
        word = "Pagina" if self.document.language == "nl" else "Page"
        of = "van" if self.document.language == "nl" else "of"
        self.cell(0, 5, f"{word} {self.page_no()} {of} {{nb}}", align="R")


def render(document: Document) -> bytes:
    pdf = _Pdf(document)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 7, latin1(document.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(0, 4, latin1(document.subtitle), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for number, section in enumerate(document.sections, 1):
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(0, 6, latin1(document.heading(number, section)), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9.5)
        for block in section.blocks:
            if isinstance(block, Paragraph):
                pdf.multi_cell(0, LINE, latin1(block.text), new_x="LMARGIN", new_y="NEXT")
                pdf.ln(1)
            elif isinstance(block, Bullets):
                for item in block.items:
                    pdf.set_x(pdf.l_margin + 3)
                    pdf.multi_cell(0, LINE, latin1("- " + item), new_x="LMARGIN", new_y="NEXT")
                pdf.ln(1)
            elif isinstance(block, Table):
                _table(pdf, block)
            elif isinstance(block, OpenPoint):
                pdf.set_fill_color(255, 236, 179)
                pdf.set_font("Helvetica", "B", 9.5)
                pdf.multi_cell(0, LINE, latin1(f"[{document.open_point_label}: {block.text}]"), fill=True,
                               new_x="LMARGIN", new_y="NEXT")
                pdf.set_font("Helvetica", "", 9.5)
                pdf.ln(1)
        pdf.ln(2)
    return bytes(pdf.output())


def _table(pdf: FPDF, table: Table) -> None:
    pdf.set_font("Helvetica", "", 8.5)
    with pdf.table(headings_style=_heading_style(), line_height=4.5, text_align="LEFT") as out:
        row = out.row()
        for cell in table.header:
            row.cell(latin1(cell))
        for values in table.rows:
            row = out.row()
            for cell in values:
                row.cell(latin1(cell))
    pdf.set_font("Helvetica", "", 9.5)
    pdf.ln(2)


def _heading_style():
    from fpdf.fonts import FontFace
    return FontFace(emphasis="BOLD", fill_color=(221, 230, 240))
