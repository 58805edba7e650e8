"""The multi-agency timeline as an inline SVG drawn on the server: one lane per agency, one mark per event
(a bar when the event has an end date), each with its source, date and type in a tooltip and a legend.
No script and nothing loaded from anywhere."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

PALETTE = ("#1f5f8b", "#b5541c", "#2a7f62", "#7b3f8c", "#8a6d00", "#a3324a", "#3d5a80", "#56704a")
INK, GRID = "#222", "#d5d5d5"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    """Text for the SVG: escaped, and without the control characters XML does not allow (a source's free text
    may hold them)."""
    return html.escape(_NOT_XML.sub("", text))


def _day(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def source_colours(sources: list[str]) -> dict[str, str]:
    """A fixed colour per source, in order of the sorted source names."""
    return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sorted(set(sources)))}


def year_ticks(start: dt.date, end: dt.date) -> list[dt.date]:
    """1 January of each year inside ``[start, end]`` (at most ~12, thinned to every n-th year)."""
    years = list(range(start.year + (start > dt.date(start.year, 1, 1)), end.year + 1))
    step = max(1, len(years) // 12 + (len(years) % 12 > 0)) if len(years) > 12 else 1
    return [dt.date(y, 1, 1) for y in years[::step]]


def timeline_svg(events: list[dict[str, Any]], width: int = 900) -> str:
    """``events``: dicts with ``source``, ``event_type``, ``event_date`` and optionally ``end_date``."""
    dated: list[tuple[dict[str, Any], dt.date, dt.date | None]] = []
    for e in events:
        day = _day(e.get("event_date"))
        if day is not None:
            dated.append((e, day, _day(e.get("end_date"))))
    if not dated:
        return ""
    sources = sorted({str(e["source"]) for e, _, _ in dated})
    colours = source_colours(sources)
    start = min(d for _, d, _ in dated)
    end = max(max(d, end or d) for _, d, end in dated)
    if end <= start:
        start, end = start - dt.timedelta(days=30), end + dt.timedelta(days=30)
    span = (end - start).days or 1
    label_w, lane, top = 120, 34, 10
    plot_w = width - label_w - 20
    height = top + lane * len(sources) + 46

    def x(d: dt.date) -> float:
        return label_w + plot_w * (d - start).days / span

    body = []
    for tick in year_ticks(start, end):
        body.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{top + lane * len(sources)}" '
                    f'stroke="{GRID}"/><text x="{x(tick):.1f}" y="{top + lane * len(sources) + 14}" '
                    f'text-anchor="middle" fill="{INK}">{tick.year}</text>')
    for i, src in enumerate(sources):
        y = top + i * lane + lane / 2
        body.append(f'<text x="{label_w - 8}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">{escape(src)}</text>'
                    f'<line x1="{label_w}" y1="{y:.1f}" x2="{width - 20}" y2="{y:.1f}" stroke="{GRID}"/>')
    for e, d, stop in sorted(dated, key=lambda t: t[1]):
        src = str(e["source"])
        y = top + sources.index(src) * lane + lane / 2
        tip = escape(f"{d.isoformat()}{' to ' + stop.isoformat() if stop else ''} · {src} · "
                     f"{e.get('event_type') or 'event'}")
        colour = colours[src]
        if stop and stop > d:
            body.append(f'<rect x="{x(d):.1f}" y="{y - 5:.1f}" width="{max(x(stop) - x(d), 2):.1f}" height="10" '
                        f'rx="3" fill="{colour}" fill-opacity="0.55"><title>{tip}</title></rect>')
        body.append(f'<circle cx="{x(d):.1f}" cy="{y:.1f}" r="5" fill="{colour}" stroke="#fff">'
                    f'<title>{tip}</title></circle>')
    ly = top + lane * len(sources) + 34
    for i, src in enumerate(sources):
        lx = label_w + i * 150
        body.append(f'<circle cx="{lx + 5}" cy="{ly - 4}" r="5" fill="{colours[src]}"/>'
                    f'<text x="{lx + 14}" y="{ly}" fill="{INK}">{escape(src)}</text>')
    title = f"Timeline of {len(dated)} events from {len(sources)} agencies, {start.isoformat()} to {end.isoformat()}"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {width} {height}" width="100%" font-family="system-ui, sans-serif" font-size="12">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")
