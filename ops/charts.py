"""Small SVG charts rendered on the server, for the ops dashboard.

No JavaScript and no chart library: each function returns a safe ``<svg>``
string with a ``<title>`` per mark (the browser shows it on hover) and an
``aria-label`` summarising the chart for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

COLORS = {
    "ok": "#2e7d32",
    "warn": "#ef8c00",
    "bad": "#c62828",
    "idle": "#9e9e9e",
    "bar": "#417690",  # the admin's header blue
    "axis": "#bbbbbb",
}


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bars(
    values: Sequence[float],
    *,
    labels: Sequence[str],
    title: str,
    width: int = 192,
    height: int = 36,
    color: str = COLORS["bar"],
) -> SafeString:
    """A bar per value, scaled to the largest; zero bars show as a hairline on the axis."""
    count = max(len(values), 1)
    slot = width / count
    peak = max(values, default=0) or 1
    marks = []
    for index, (value, label) in enumerate(zip(values, labels)):
        h = (height - 2) * value / peak
        marks.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
                _fmt(index * slot + 0.5),
                _fmt(height - 1 - h),
                _fmt(max(slot - 1, 1)),
                _fmt(h),
                color,
                label,
                _fmt(value),
            )
        )
    axis = format_html(
        '<line x1="0" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>',
        height - 0.5,
        width,
        height - 0.5,
        COLORS["axis"],
    )
    total = _fmt(sum(values))
    return format_html(
        '<svg class="gluey-chart" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}: {} in total, peak {}">{}{}</svg>',
        width,
        height,
        width,
        height,
        title,
        total,
        _fmt(max(values, default=0)),
        axis,
        mark_safe("".join(marks)),
    )


def stacked(parts: Sequence[tuple[str, float, str]], *, title: str, width: int = 160, height: int = 14) -> SafeString:
    """One horizontal bar split into (label, value, colour) parts; grey when everything is zero."""
    total = sum(value for _, value, _ in parts)
    marks = []
    if total <= 0:
        marks.append(
            format_html(
                '<rect x="0" y="0" width="{}" height="{}" fill="{}"><title>none</title></rect>',
                width,
                height,
                "#eeeeee",
            )
        )
    else:
        x = 0.0
        for label, value, color in parts:
            if value <= 0:
                continue
            w = width * value / total
            marks.append(
                format_html(
                    '<rect x="{}" y="0" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
                    _fmt(x),
                    _fmt(w),
                    height,
                    color,
                    label,
                    _fmt(value),
                )
            )
            x += w
    summary = ", ".join(f"{escape(label)} {_fmt(value)}" for label, value, _ in parts)
    return format_html(
        '<svg class="gluey-chart" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}: {}">{}</svg>',
        width,
        height,
        width,
        height,
        title,
        mark_safe(summary),
        mark_safe("".join(marks)),
    )


def dot(state: str, *, label: str) -> SafeString:
    """A coloured status dot: ok, warn, bad or idle."""
    return format_html(
        '<svg class="gluey-dot" xmlns="http://www.w3.org/2000/svg" width="12" height="12" viewBox="0 0 12 12" role="img" '
        'aria-label="{}"><circle cx="6" cy="6" r="5" fill="{}"><title>{}</title></circle></svg>',
        label,
        COLORS.get(state, COLORS["idle"]),
        label,
    )


def axis_bars(
    values: Sequence[float],
    *,
    labels: Sequence[str],
    title: str,
    unit: str = "",
    width: int = 260,
    height: int = 70,
    color: str = COLORS["bar"],
) -> SafeString:
    """Bars with their axes written on the chart: the peak value on the y axis, the first, middle
    and last time labels under the x axis, and the total and peak in a caption, so nothing needs
    hovering. ``unit`` follows each value (e.g. "%", " ms")."""
    left, bottom, top = 34, 14, 12
    plot_w, plot_h = width - left - 2, height - bottom - top
    count = max(len(values), 1)
    slot = plot_w / count
    peak = max(values, default=0)
    scale = peak or 1
    parts = [
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>',
            left,
            top,
            left,
            top + plot_h,
            COLORS["axis"],
            left,
            top + plot_h + 0.5,
            width - 2,
            top + plot_h + 0.5,
            COLORS["axis"],
        ),
        format_html(
            '<text x="{}" y="{}" text-anchor="end" class="tick">{}{}</text>'
            '<text x="{}" y="{}" text-anchor="end" class="tick">0</text>',
            left - 3,
            top + 4,
            _fmt(peak),
            unit,
            left - 3,
            top + plot_h,
        ),
    ]
    for index, (value, label) in enumerate(zip(values, labels, strict=False)):
        h = plot_h * value / scale
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}{}</title></rect>',
                _fmt(left + index * slot + 0.5),
                _fmt(top + plot_h - h),
                _fmt(max(slot - 1, 1)),
                _fmt(h),
                color,
                label,
                _fmt(value),
                unit,
            )
        )
    if labels:
        for index, anchor in ((0, "start"), (len(labels) // 2, "middle"), (len(labels) - 1, "end")):
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="{}" class="tick">{}</text>',
                    _fmt(left + index * slot + (slot / 2 if anchor == "middle" else slot if anchor == "end" else 0)),
                    height - 2,
                    anchor,
                    labels[index],
                )
            )
    total = sum(values)
    caption = f"{title}: peak {_fmt(peak)}{unit}" + ("" if unit else f", total {_fmt(total)}")
    parts.append(format_html('<text x="{}" y="9" class="caption">{}</text>', left, caption))
    return format_html(
        '<svg class="gluey-chart axis-chart" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" '
        'viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>',
        width,
        height,
        width,
        height,
        caption,
        mark_safe("".join(str(p) for p in parts)),
    )
