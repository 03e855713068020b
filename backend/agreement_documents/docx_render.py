"""A generated document as an editable DOCX (python-docx): the privacy officer completes the DPIA
draft in a word processor. Open points are highlighted so none is overlooked."""
from __future__ import annotations

import io

from docx import Document as DocxDocument
from docx.enum.text import WD_COLOR_INDEX

from backend.agreement_documents.model import Bullets, Document, OpenPoint, Paragraph, Table

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def render(document: Document) -> bytes:
    out = DocxDocument()
    out.core_properties.title = document.title
    out.core_properties.language = document.language
    out.add_heading(document.title, level=0)
    out.add_paragraph(document.subtitle)
    for number, section in enumerate(document.sections, 1):
        out.add_heading(document.heading(number, section), level=1)
        for block in section.blocks:
            if isinstance(block, Paragraph):
                out.add_paragraph(block.text)
            elif isinstance(block, Bullets):
                for item in block.items:
                    out.add_paragraph(item, style="List Bullet")
            elif isinstance(block, Table):
                table = out.add_table(rows=1, cols=len(block.header))
                table.style = "Table Grid"
                for cell, text in zip(table.rows[0].cells, block.header):
                    cell.text = text
                    for run in cell.paragraphs[0].runs:
                        run.bold = True
                for values in block.rows:
                    for cell, text in zip(table.add_row().cells, values):
                        cell.text = text
            elif isinstance(block, OpenPoint):
                run = out.add_paragraph().add_run(f"[{document.open_point_label}: {block.text}]")
                run.bold = True
                run.font.highlight_color = WD_COLOR_INDEX.YELLOW
    buffer = io.BytesIO()
    out.save(buffer)
    return buffer.getvalue()
