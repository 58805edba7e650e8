"""Inline SVG charts drawn by hand (no scripts, no external resources): histogram, diverging bars, waterfall."""

from __future__ import annotations

import math
from html import escape

from matching.prior import probability as weight_to_probability

POS, NEG, NEUTRAL, INK, GRID = "#2a7f62", "#c0392b", "#7f8c8d", "#222", "#ddd"
STATUS_COLOURS = {"linked": "#2a7f62", "review": "#e67e22"}


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'font-family="system-ui, sans-serif" font-size="12"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def _fmt(v: float) -> str:
    return f"{v:+.1f}" if v else "0"


def histogram(rows: list[dict], title: str = "Match weight of scored pairs") -> str:
    """Stacked histogram of ``rows`` = [{status, bin, pairs}] (bin = floor(weight))."""
    if not rows:
        return '<p class="muted">No scored pairs in this run.</p>'
    bins = sorted({int(r["bin"]) for r in rows})
    lo, hi = bins[0], bins[-1]
    statuses = sorted({r["status"] for r in rows})
    counts = {(r["status"], int(r["bin"])): int(r["pairs"]) for r in rows}
    totals = {b: sum(counts.get((s, b), 0) for s in statuses) for b in range(lo, hi + 1)}
    peak = max(totals.values()) or 1
    width, height, left, bottom, top = 760, 260, 50, 40, 20
    n = hi - lo + 1
    bw = (width - left - 10) / n
    plot_h = height - bottom - top
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="{INK}"/>']
    for frac in (0.5, 1.0):
        y = height - bottom - plot_h * frac
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="{GRID}"/>'
                    f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{round(peak * frac):,}</text>')
    for i, b in enumerate(range(lo, hi + 1)):
        y = height - bottom
        for s in statuses:
            c = counts.get((s, b), 0)
            if not c:
                continue
            h = plot_h * c / peak
            y -= h
            body.append(f'<rect x="{left + i * bw + 1:.1f}" y="{y:.1f}" width="{max(bw - 2, 1):.1f}" '
                        f'height="{h:.1f}" fill="{STATUS_COLOURS.get(s, NEUTRAL)}">'
                        f'<title>{escape(s)}: {c:,} pairs with weight {b} to {b + 1}</title></rect>')
        step = max(1, n // 15)
        if (b - lo) % step == 0:
            body.append(f'<text x="{left + (i + 0.5) * bw:.1f}" y="{height - bottom + 14}" '
                        f'text-anchor="middle">{b}</text>')
    body.append(f'<text x="{(width + left) / 2:.0f}" y="{height - 6}" text-anchor="middle">match weight '
                '(higher = stronger evidence that the two records are the same child)</text>')
    x = left + 8
    for s in statuses:
        body.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{STATUS_COLOURS.get(s, NEUTRAL)}"/>'
                    f'<text x="{x + 16}" y="14">{escape(s)}</text>')
        x += 90
    return _svg(width, height, body, title)


def weight_bars(levels: list[dict], title: str) -> str:
    """Diverging horizontal bars: one per comparison level, positive weights right (green), negative left."""
    shown = [lv for lv in levels if lv.get("weight") is not None]
    if not shown:
        return '<p class="muted">No estimated weights for this comparison.</p>'
    span = max(abs(lv["weight"]) for lv in shown) or 1.0
    label_w, width, row = 330, 760, 20
    mid = label_w + (width - label_w) / 2
    half = (width - label_w) / 2 - 40
    height = row * len(shown) + 10
    body = [f'<line x1="{mid}" y1="0" x2="{mid}" y2="{height}" stroke="{INK}"/>']
    for i, lv in enumerate(shown):
        y = 4 + i * row
        w = half * abs(lv["weight"]) / span
        x = mid if lv["weight"] >= 0 else mid - w
        colour = POS if lv["weight"] >= 0 else NEG
        label = escape(lv["label"][:52])
        body.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{label}</text>'
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{max(w, 1):.1f}" height="{row - 6}" fill="{colour}"/>'
                    f'<text x="{(x + w + 4) if lv["weight"] >= 0 else (x - 4):.1f}" y="{y + 13}" '
                    f'text-anchor="{"start" if lv["weight"] >= 0 else "end"}">{_fmt(lv["weight"])}</text>')
    return _svg(width, height, body, title)


def waterfall(prior: float, items: list[dict], title: str = "How the evidence adds up") -> str:
    """Waterfall of match weights: the prior, then each comparison's weight, ending at the total.

    ``items`` = [{comparison, level, match_weight}]; items without a numeric weight are skipped.
    """
    steps = [("starting point (prior): two random records", prior, "prior")]
    for it in items:
        w = it.get("match_weight")
        if isinstance(w, int | float) and math.isfinite(w) and it.get("comparison") != "model_score":
            steps.append((f"{it.get('comparison', '')}: {it.get('level', '')}", float(w), "step"))
    total = sum(s[1] for s in steps)
    steps.append(("total match weight", total, "total"))
    running, spans = 0.0, []
    for label, w, kind in steps:
        if kind == "total":
            spans.append((label, 0.0, total, kind, w))
        else:
            spans.append((label, running, running + w, kind, w))
            running += w
    lo = min(0.0, *(min(a, b) for _, a, b, _, _ in spans))
    hi = max(0.0, *(max(a, b) for _, a, b, _, _ in spans))
    rng = (hi - lo) or 1.0
    label_w, width, row = 380, 760, 20
    plot_w = width - label_w - 50
    height = row * len(spans) + 24

    def sx(v: float) -> float:
        return label_w + plot_w * (v - lo) / rng

    body = [f'<line x1="{sx(0):.1f}" y1="0" x2="{sx(0):.1f}" y2="{height - 20}" stroke="{INK}"/>',
            f'<text x="{sx(0):.1f}" y="{height - 6}" text-anchor="middle">0</text>']
    for i, (label, a, b, kind, w) in enumerate(spans):
        y = 2 + i * row
        x0, x1 = sorted((sx(a), sx(b)))
        colour = NEUTRAL if kind == "prior" else (POS if w >= 0 else NEG) if kind == "step" else "#34495e"
        weight_txt = _fmt(w)
        bold = ' font-weight="bold"' if kind == "total" else ""
        body.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end"'
                    f'{bold}>{escape(label[:60])}</text>'
                    f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 1.5):.1f}" height="{row - 6}" '
                    f'fill="{colour}"><title>{escape(label)}: {weight_txt}</title></rect>'
                    f'<text x="{x1 + 4:.1f}" y="{y + 13}">{weight_txt}</text>')
    return _svg(width, height, body, title)


def probability(total_weight: float) -> float:
    """Match probability from a total match weight (prior included)."""
    return float(weight_to_probability(total_weight))
