"""Histograms for the class report, drawn as SVG by hand.

A report has a plot for the totals and one per question. Drawn with
matplotlib they cost about 1.5 s of every grading run (importing it, a
layout pass and a PNG per plot); as SVG text they cost milliseconds, look
the same at every zoom and stay as small. Each plot is an ``<img>`` of a
base64 ``data:image/svg+xml`` URL, so the page still needs nothing but
itself, and nothing in a plot can run or style the page.
"""

from __future__ import annotations

import base64
import bisect
import math
import statistics
from html import escape

__all__ = ["bin_counts", "histogram_img", "histogram_svg", "nice_ticks"]

#: Colours of the plots: one background shared by plot and axes, one for the bars, one for the mean.
PLOT_BACKGROUND = "#f4f6fa"
BAR_COLOUR = "#3b6ea5"
MEAN_COLOUR = "#c0392b"
AXIS_COLOUR = "#333333"
FONT = "font-family='DejaVu Sans, Arial, sans-serif' font-size='11'"
#: Pixels between the plot's edge and its axes: left (tick labels, y label), right, top, bottom (x label).
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 48, 14, 10, 38
#: Room above the axes for a title.
TITLE_HEIGHT = 20


def bin_counts(values: list[float], high: float, bins: int) -> list[int]:
    """How many values fall in each of ``bins`` equal bins from 0 to ``high``: each bin holds its left
    edge, the last one ``high`` too, and values outside are left out (as numpy's histogram counts)."""
    edges = [i * (high / bins) for i in range(bins)] + [high]  # as numpy.linspace makes them
    counts = [0] * bins
    for value in values:
        if 0 <= value <= high:
            counts[min(bisect.bisect_right(edges, value) - 1, bins - 1)] += 1
    return counts


def nice_ticks(high: float, *, most: int = 6, whole: bool = False) -> list[float]:
    """Ticks from 0 to at most ``high`` at a round step (1, 2, 2.5 or 5 times a power of ten), at most
    ``most`` + 1 of them; with ``whole``, whole numbers only."""
    if high <= 0:
        return [0.0]
    rough = high / most
    power = 10 ** math.floor(math.log10(rough))
    step = next(power * m for m in (1, 2, 2.5, 5, 10) if power * m >= rough * (1 - 1e-9) and not (whole and power * m % 1))
    if whole:
        step = max(step, 1)
    count = math.floor(high / step + 1e-9)
    return [round(step * i, 10) for i in range(count + 1)]


def histogram_svg(values: list[float], high: float, xlabel: str, *, bins: int, title: str = "",
                  size: tuple[int, int] = (640, 300), legend: bool = False) -> str:
    """An SVG document: the histogram of ``values`` over 0 .. ``high`` with a dashed line at their mean."""
    width, height = size
    top = MARGIN_TOP + (TITLE_HEIGHT if title else 0)
    left, right, bottom = MARGIN_LEFT, width - MARGIN_RIGHT, height - MARGIN_BOTTOM
    counts = bin_counts(values, high, bins)
    y_ticks = nice_ticks(max(max(counts), 1), most=5, whole=True)
    if y_ticks[-1] < max(counts):  # the tallest bar ends below the next round tick
        y_ticks.append(2 * y_ticks[-1] - y_ticks[-2])
    y_top = y_ticks[-1]

    def x(value: float) -> float:
        return left + (right - left) * value / high

    def y(count: float) -> float:
        return bottom - (bottom - top) * count / y_top

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>",
             f"<rect width='{width}' height='{height}' fill='{PLOT_BACKGROUND}'/>"]
    for index, count in enumerate(counts):
        if count:
            x0, x1 = x(high * index / bins), x(high * (index + 1) / bins)
            parts.append(f"<rect x='{x0:.1f}' y='{y(count):.1f}' width='{x1 - x0:.1f}' height='{bottom - y(count):.1f}' "
                         f"fill='{BAR_COLOUR}' stroke='{PLOT_BACKGROUND}'/>")
    if values:
        mean = x(statistics.fmean(values))
        parts.append(f"<line x1='{mean:.1f}' y1='{top}' x2='{mean:.1f}' y2='{bottom}' stroke='{MEAN_COLOUR}' "
                     "stroke-width='1.2' stroke-dasharray='5 3'/>")
    parts.append(f"<rect x='{left}' y='{top}' width='{right - left}' height='{bottom - top}' fill='none' stroke='{AXIS_COLOUR}'/>")
    parts += _x_axis(nice_ticks(high), x, bottom, xlabel, (left + right) / 2, height)
    parts += _y_axis(y_ticks, y, left, (top + bottom) / 2)
    if title:
        parts.append(f"<text x='{(left + right) / 2:.1f}' y='{MARGIN_TOP + 12}' text-anchor='middle' {FONT} "
                     f"fill='{AXIS_COLOUR}'>{escape(title)}</text>")
    if legend and values:
        parts.append(f"<line x1='{left + 8}' y1='{top + 12}' x2='{left + 28}' y2='{top + 12}' stroke='{MEAN_COLOUR}' "
                     f"stroke-width='1.2' stroke-dasharray='5 3'/><text x='{left + 34}' y='{top + 16}' {FONT} "
                     f"fill='{AXIS_COLOUR}'>mean</text>")
    parts.append("</svg>")
    return "".join(parts)


def _x_axis(ticks: list[float], x, bottom: float, label: str, middle: float, height: int) -> list[str]:
    parts = []
    for tick in ticks:
        parts.append(f"<line x1='{x(tick):.1f}' y1='{bottom}' x2='{x(tick):.1f}' y2='{bottom + 4}' stroke='{AXIS_COLOUR}'/>"
                     f"<text x='{x(tick):.1f}' y='{bottom + 16}' text-anchor='middle' {FONT} fill='{AXIS_COLOUR}'>{tick:g}</text>")
    parts.append(f"<text x='{middle:.1f}' y='{height - 6}' text-anchor='middle' {FONT} fill='{AXIS_COLOUR}'>{escape(label)}</text>")
    return parts


def _y_axis(ticks: list[float], y, left: float, middle: float) -> list[str]:
    parts = []
    for tick in ticks:
        parts.append(f"<line x1='{left - 4}' y1='{y(tick):.1f}' x2='{left}' y2='{y(tick):.1f}' stroke='{AXIS_COLOUR}'/>"
                     f"<text x='{left - 7}' y='{y(tick) + 4:.1f}' text-anchor='end' {FONT} fill='{AXIS_COLOUR}'>{tick:g}</text>")
    parts.append(f"<text transform='translate(13 {middle:.1f}) rotate(-90)' text-anchor='middle' {FONT} "
                 f"fill='{AXIS_COLOUR}'>students</text>")
    return parts


def histogram_img(values: list[float], high: float, xlabel: str, *, alt: str, **options) -> str:
    """A ``<figure>`` holding ``histogram_svg(...)`` as an image, at its natural size."""
    svg = histogram_svg(values, high, xlabel, **options)
    width, height = options.get("size", (640, 300))
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<figure><img src="data:image/svg+xml;base64,{data}" width="{width}" height="{height}" alt="{escape(alt)}"></figure>'
