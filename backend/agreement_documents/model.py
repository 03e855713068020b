"""A generated document as data: sections of paragraphs, bullet lists, tables and open points.
One model, several outputs (plain text for the hash, HTML, PDF, DOCX), so they cannot differ."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class OpenPoint:
    """Something the privacy officer must still fill in or decide; marked as such in every output."""
    text: str


Block = Paragraph | Bullets | Table | OpenPoint


@dataclass
class Section:
    heading: str
    blocks: list[Block] = field(default_factory=list)

    def say(self, text: str) -> Section:
        self.blocks.append(Paragraph(text))
        return self

    def list(self, items) -> Section:
        self.blocks.append(Bullets(tuple(items)))
        return self

    def table(self, header, rows) -> Section:
        self.blocks.append(Table(tuple(header), tuple(tuple(row) for row in rows)))
        return self

    def open_point(self, text: str) -> Section:
        self.blocks.append(OpenPoint(text))
        return self


@dataclass
class Document:
    kind: str  # regeling, notice, dpia, register
    language: str
    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)
    open_point_label: str = "OPEN POINT"
    numbered: bool = True  # False when the headings carry their own numbers (the DPIA's A.1 ...)

    def heading(self, number: int, section: Section) -> str:
        return f"{number}. {section.heading}" if self.numbered else section.heading

    def section(self, heading: str) -> Section:
        self.sections.append(Section(heading))
        return self.sections[-1]

    def open_points(self) -> list[str]:
        return [block.text for s in self.sections for block in s.blocks if isinstance(block, OpenPoint)]

    def text(self) -> str:
        """The canonical plain text: what is hashed, shown beside the hash, and compared later."""
        lines = [self.title, self.subtitle, ""]
        for number, section in enumerate(self.sections, 1):
            lines.append(self.heading(number, section))
            for block in section.blocks:
                if isinstance(block, Paragraph):
                    lines.append(block.text)
                elif isinstance(block, Bullets):
                    lines.extend(f"- {item}" for item in block.items)
                elif isinstance(block, Table):
                    lines.append(" | ".join(block.header))
                    lines.extend(" | ".join(row) for row in block.rows)
                else:
                    lines.append(f"[{self.open_point_label}: {block.text}]")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def sha256(self) -> str:
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest()
