"""Server-side SVG: a trip's track on a local plane, and the 500 km counter's chart.

No tile server and no script: lat/lon are projected to a local plane (equirectangular around
the track's middle latitude, good to well under a percent for one trip) and scaled to fit.
Only SVG presentation attributes are used, so the page's CSP (style-src 'self') holds.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

from backend.trips.counter import WARNING_RATIO, Counter

EARTH_RADIUS_M = 6_371_008.8


def project(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """(lat, lon) -> (x east, y north) in metres on a plane around the points' middle."""
    lat0 = math.radians((min(p[0] for p in points) + max(p[0] for p in points)) / 2)
    lon0 = (min(p[1] for p in points) + max(p[1] for p in points)) / 2
    lat_mid = math.degrees(lat0)
    return [(math.radians(lon - lon0) * math.cos(lat0) * EARTH_RADIUS_M,
             math.radians(lat - lat_mid) * EARTH_RADIUS_M) for lat, lon in points]


# Chart text in the viewBox's units: the counter chart is 480 wide, so on a 390 px phone (about
# 360 px for the chart) a label is still 10 px or more; the track's scale bar likewise (640 wide).
CHART_FONT = 14


def _scale_bar(metres: float) -> float:
    """A round length (1, 2 or 5 times a power of ten) of about a fifth of the width."""
    target = max(metres / 5, 1.0)
    power = 10 ** math.floor(math.log10(target))
    return max(step * power for step in (1, 2, 5) if step * power <= target)


def track_svg(points: Sequence[tuple[float, float]], *, label: str, width: int = 640, height: int = 400,
              pad: int = 24) -> Markup:
    """The track as a polyline with start (green) and end (red) markers and a scale bar."""
    if len(points) < 2:
        return Markup("")
    plane = project(points)
    xs, ys = [p[0] for p in plane], [p[1] for p in plane]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    scale = min((width - 2 * pad) / span_x if span_x else math.inf,
                (height - 2 * pad) / span_y if span_y else math.inf)
    if scale is math.inf:
        scale = 1.0
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    screen = [(width / 2 + (x - cx) * scale, height / 2 - (y - cy) * scale) for x, y in plane]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in screen)
    bar_m = _scale_bar((width - 2 * pad) / scale)
    bar_px = bar_m * scale
    bar_text = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    (sx, sy), (ex, ey) = screen[0], screen[-1]
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}" class="track-svg" data-testid="track-svg">'
        f'<title>{escape(label)}</title>'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f6f8fa" stroke="#d0d7de"/>'
        f'<polyline points="{path}" fill="none" stroke="#0969da" stroke-width="3" '
        f'stroke-linejoin="round" stroke-linecap="round"/>'
        f'<circle cx="{sx:.1f}" cy="{sy:.1f}" r="6" fill="#1a7f37"/>'
        f'<circle cx="{ex:.1f}" cy="{ey:.1f}" r="6" fill="#cf222e"/>'
        f'<line x1="{pad}" y1="{height - 10}" x2="{pad + bar_px:.1f}" y2="{height - 10}" stroke="#24292f" '
        f'stroke-width="2"/><text x="{pad}" y="{height - 14}" font-size="18" fill="#24292f">{bar_text}</text>'
        '</svg>')


def counter_svg(counter: Counter, *, labels: dict[str, str], today: date | None = None,
                width: int = 480, height: int = 300) -> Markup:
    """Cumulative private km over the year (a step line) against the pro-rated limit (100%)
    and the 80% warning line. labels: title, limit, warning, months (12 short names)."""
    left, right, top, bottom = 56, 16, 16, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    year_start = date(counter.year, 1, 1)
    days = counter.days_in_year
    top_km = max(counter.limit_km * 1.25, counter.private_km * 1.1, 10.0)

    def x(day: date) -> float:
        return left + plot_w * (day - year_start).days / days

    def y(km: float) -> float:
        return top + plot_h * (1 - km / top_km)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(labels["title"])}" class="counter-svg" '
             f'data-testid="counter-svg"><title>{escape(labels["title"])}</title>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f6f8fa" stroke="#d0d7de"/>']
    for month in range(1, 13):
        mx = x(date(counter.year, month, 1))
        parts.append(f'<line x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" y2="{top + plot_h}" stroke="#d0d7de"/>'
                     f'<text x="{mx + 3:.1f}" y="{height - 12}" font-size="{CHART_FONT}" fill="#57606a">'
                     f'{escape(labels["months"][month - 1])}</text>')
    for km in _ticks(top_km):
        parts.append(f'<text x="{left - 6}" y="{y(km) + 4:.1f}" font-size="{CHART_FONT}" fill="#57606a" '
                     f'text-anchor="end">{km:g}</text>')
    for ratio, colour, key, test_id in ((1.0, "#cf222e", "limit", "limit-line"),
                                        (WARNING_RATIO, "#9a6700", "warning", "warning-line")):
        ly = y(counter.limit_km * ratio)
        parts.append(f'<line x1="{left}" y1="{ly:.1f}" x2="{left + plot_w}" y2="{ly:.1f}" stroke="{colour}" '
                     f'stroke-width="2" stroke-dasharray="6 4" data-testid="{test_id}" '
                     f'data-km="{counter.limit_km * ratio:.1f}"/>'
                     f'<text x="{left + 4}" y="{ly - 4:.1f}" font-size="{CHART_FONT}" fill="{colour}">'
                     f'{escape(labels[key])}</text>')
    # A step line: flat until a day with private km, then up.
    end_day = min(today, date(counter.year, 12, 31)) if today and today.year == counter.year \
        else date(counter.year, 12, 31)
    coords, level = [(x(year_start), y(0))], 0.0
    for day, cumulative in counter.points:
        coords.append((x(day), y(level)))
        level = cumulative
        coords.append((x(day), y(level)))
    coords.append((x(end_day), y(level)))
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#0969da" stroke-width="3" '
                 f'data-testid="private-line" data-km="{counter.private_km:.1f}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _ticks(top_km: float) -> list[float]:
    step = _scale_bar(top_km * 5 / 4)  # about four ticks
    return [i * step for i in range(int(top_km // step) + 1)]
