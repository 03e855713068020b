"""The one way Ritbox rounds and prints a kilometre figure, on every page and in every report
format: Decimal, 0.1 km, ROUND_HALF_UP (30.25 -> 30.3, never the float's 30.2), Dutch decimal
comma, no thousands separator (a tax clerk pastes these into spreadsheets). A trip's km are its
rounded end minus its rounded start odometer: the odometer is the legal norm, so the row's km
always equal the difference of the two figures printed beside it."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

KM = Decimal("0.1")


def round_km(value: float | int | Decimal | str | None) -> Decimal:
    """A figure in km rounded half up to 0.1 (None: 0). Floats go through their shortest repr
    (str), so 30.25 is 30.25 and rounds up, as a person rounding the printed value would."""
    if value is None:
        return Decimal(0)
    if type(value) is not Decimal:
        value = Decimal(str(value))
    return value.quantize(KM, rounding=ROUND_HALF_UP)


def trip_km(start_km: float | Decimal | None, end_km: float | Decimal | None) -> Decimal:
    """A trip's km as printed: rounded end odometer minus rounded start odometer."""
    return round_km(end_km) - round_km(start_km)


def km_nl(value: float | int | Decimal | str | None) -> str:
    """12.25 -> '12,3', 0.5 -> '0,5'; None -> ''. Rounded by round_km."""
    if type(value) is Decimal:  # first: a Decimal compared with "" asks the numbers ABCs (slow)
        text = str(value)
        if text[-2:-1] == ".":
            # already at 0.1 (the report rows: tens of thousands of cells): str() is the figure
            return text.replace(".", ",")
    elif value is None or value == "":
        return ""
    return str(round_km(value)).replace(".", ",")


def metres_km_nl(metres: int | None, signed: bool = False) -> str:
    """An odometer figure kept in metres, printed as the report prints it: 48400123 -> '48400,1'
    (0.1 km, no thousands separator); signed: '+0,4' for a positive correction. None -> '-'."""
    if metres is None:
        return "-"
    value = round_km(Decimal(metres) / 1000)
    text = km_nl(value)
    return f"+{text}" if signed and value > 0 else text


def number_nl(value: float | int | Decimal | None, decimals: int = 1) -> str:
    """Any other figure for people (days, percentages): half up, Dutch decimal comma, no
    thousands separator, like the km figures. None -> ''."""
    if value is None:
        return ""
    quantum = Decimal(1).scaleb(-decimals)
    return str(Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)).replace(".", ",")
