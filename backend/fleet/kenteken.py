"""Dutch licence plates (kenteken): validation against the RDW sidecodes, normal form, display.

Stored form: upper case without dashes ("GBXJ12"). Displayed form: the dashes of its sidecode
("GB-XJ-12"). A plate is valid when its letter/digit pattern is one of the sidecodes 1-14 in use
for cars; the sidecode is recognised from the pattern alone, whatever dashes were typed.
"""
from __future__ import annotations

import re

# sidecode -> groups ("L" letter, "D" digit), in the order the RDW numbers them.
SIDECODES: dict[int, tuple[str, ...]] = {
    1: ("LL", "DD", "DD"),
    2: ("DD", "DD", "LL"),
    3: ("DD", "LL", "DD"),
    4: ("LL", "DD", "LL"),
    5: ("LL", "LL", "DD"),
    6: ("DD", "LL", "LL"),
    7: ("DD", "LLL", "D"),
    8: ("D", "LLL", "DD"),
    9: ("LL", "DDD", "L"),
    10: ("L", "DDD", "LL"),
    11: ("LLL", "DD", "L"),
    12: ("L", "DD", "LLL"),
    13: ("D", "LL", "DDD"),
    14: ("DDD", "LL", "D"),
}
_BY_PATTERN = {"".join(groups): (code, groups) for code, groups in SIDECODES.items()}
_ALLOWED = re.compile(r"^[A-Z0-9]{6}$")


class KentekenError(ValueError):
    """Not a Dutch licence plate; the message says why."""


def _pattern(plate: str) -> str:
    return "".join("D" if ch.isdigit() else "L" for ch in plate)


def normalise(text: str) -> str:
    """Upper case without dashes or spaces; raises KentekenError unless it fits a sidecode."""
    plate = re.sub(r"[\s-]", "", text or "").upper()
    if not _ALLOWED.match(plate):
        raise KentekenError(f"{text!r} is not a Dutch licence plate: expected 6 letters and digits, "
                            "e.g. GB-XJ-12")
    if _pattern(plate) not in _BY_PATTERN:
        raise KentekenError(f"{text!r} is not a Dutch licence plate: its letters and digits fit no "
                            "sidecode (e.g. 12-ABC-3 or GB-XJ-12)")
    typed_groups = [part for part in re.sub(r"\s", "", text).split("-")]
    if len(typed_groups) > 1:
        # Dashes typed in the wrong places suggest a misread plate: refuse rather than guess.
        expected = [len(group) for group in _BY_PATTERN[_pattern(plate)][1]]
        if [len(part) for part in typed_groups] != expected:
            raise KentekenError(f"{text!r} is not a Dutch licence plate: the dashes do not match its "
                                f"sidecode ({display(plate)})")
    return plate


def sidecode(plate: str) -> int:
    return _BY_PATTERN[_pattern(normalise(plate))][0]


def display(plate: str) -> str:
    """The plate with its sidecode's dashes, e.g. 'GBXJ12' -> 'GB-XJ-12'."""
    normal = normalise(plate)
    groups = _BY_PATTERN[_pattern(normal)][1]
    parts, start = [], 0
    for group in groups:
        parts.append(normal[start:start + len(group)])
        start += len(group)
    return "-".join(parts)
