"""A grouped bar chart as inline SVG, rendered on the server (no script, no chart library): one group per day,
one bar per terminal, a value axis with round ticks.  Colours are attributes, so the page's CSP (no inline
style) holds."""

from __future__ import annotations

from html import escape
from typing import Callable, Mapping, Sequence

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP, MAX_BAR = 640, 240, 64, 36, 16, 40


def _step(span: int) -> int:
    raw = max(1, span // 4)
    magnitude: int = 10 ** (len(str(raw)) - 1)  # a power of ten from 1 up (int ** int is Any to mypy)
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def bar_chart(title: str, groups: Sequence[str], series: Sequence[str], value: Callable[[str, str], int],
              label: Callable[[int], str], *, colours: Mapping[str, str] | None = None) -> str:
    """`value(group, series)`: the bar's height in minor units; `label(v)`: an axis tick's text."""
    colours = colours or {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    values = [value(g, s) for g in groups for s in series] or [0]
    top, bottom = max(0, max(values)), min(0, min(values))
    step = _step(top - bottom or 1)
    top = -(-top // step) * step if top else 0
    bottom = (bottom // step) * step
    span = (top - bottom) or step
    plot_h = HEIGHT - BOTTOM - TOP

    def y(v: int) -> float:
        return TOP + (top - v) * plot_h / span

    out = [f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for tick in range(bottom, top + 1, step):
        out.append(f'<line x1="{LEFT}" x2="{WIDTH}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{escape(label(tick))}</text>')
    group_w = (WIDTH - LEFT) / max(1, len(groups))
    bar_w = min(MAX_BAR, max(2.0, (group_w - 8) / max(1, len(series))))
    for gi, group in enumerate(groups):
        x0 = LEFT + gi * group_w + (group_w - bar_w * len(series)) / 2
        for si, name in enumerate(series):
            v = value(group, name)
            y_top, y_bottom = (y(v), y(0)) if v >= 0 else (y(0), y(v))
            out.append(f'<rect x="{x0 + si * bar_w:.1f}" y="{y_top:.1f}" width="{bar_w - 1:.1f}" '
                       f'height="{max(0.5, y_bottom - y_top):.1f}" fill="{colours[name]}">'
                       f'<title>{escape(group)} {escape(name)}: {escape(label(v))}</title></rect>')
        out.append(f'<text x="{x0 + bar_w * len(series) / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                   f'font-size="11">{escape(group)}</text>')
    for si, name in enumerate(series):
        lx = LEFT + si * 110
        out.append(f'<rect x="{lx}" y="{HEIGHT - 14}" width="10" height="10" fill="{colours[name]}"/>'
                   f'<text x="{lx + 14}" y="{HEIGHT - 5}" font-size="11">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
