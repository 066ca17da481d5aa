"""The report's hand-drawn histograms: the counts numpy would give, round ticks, well-formed SVG."""

import random
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from d2lgrade.export.histogram import BAR_COLOUR, bin_counts, histogram_svg, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("high, bins", [(1.0, 10), (3.0, 3), (2.5, 10), (17.0, 17), (45.5, 20), (0.3, 10)])
def test_bins_count_as_numpy_histogram_does(high, bins):
    rng = random.Random(f"{high}-{bins}")
    edges = list(np.linspace(0, high, bins + 1))
    # values on the edges (where a bin's end is open or closed), between them, and outside the range
    values = edges + [rng.uniform(0, high) for _ in range(200)] + [round(rng.uniform(0, high), 1) for _ in range(50)]
    values += [-0.5, high + 0.5, high * 0.3, high * 0.7]
    assert bin_counts(values, high, bins) == np.histogram(values, bins=np.linspace(0, high, bins + 1))[0].tolist()


@pytest.mark.parametrize("high, whole, expected", [
    (1.0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (3.0, False, [0, 0.5, 1, 1.5, 2, 2.5, 3]),
    (20.0, False, [0, 5, 10, 15, 20]),
    (0.5, False, [0, 0.1, 0.2, 0.3, 0.4, 0.5]),
    (1, True, [0, 1]),
    (4, True, [0, 1, 2, 3, 4]),
    (13, True, [0, 5, 10]),
    (60, True, [0, 20, 40, 60]),
])
def test_ticks_are_round_and_whole_where_asked(high, whole, expected):
    assert nice_ticks(high, most=5 if whole else 6, whole=whole) == expected


def test_svg_has_a_bar_per_filled_bin_in_proportion_and_escapes_its_text():
    values = [0.0, 0.0, 0.0, 1.0, 1.5, 2.0, 3.0]
    svg = ET.fromstring(histogram_svg(values, 3.0, "points <b>", bins=3, title="huber </text><script>x</script>", size=(320, 220)))
    assert (svg.get("width"), svg.get("height")) == ("320", "220")
    bars = sorted((float(r.get("x")), float(r.get("height"))) for r in svg.iter(f"{SVG}rect") if r.get("fill") == BAR_COLOUR)
    assert len(bars) == 3, "a bar for each of the three bins with a value in it"
    heights = [height for _, height in bars]
    assert heights[0] == pytest.approx(3 / 2 * heights[1], abs=0.2) and heights[1] == pytest.approx(heights[2], abs=0.2), \
        "0 has 3 values, the bins [1, 2) and [2, 3] have 2 each (the last bin holds 3)"
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "huber </text><script>x</script>" in texts and "points <b>" in texts
    assert not list(svg.iter(f"{SVG}script"))


def test_an_empty_class_draws_axes_without_bars():
    svg = ET.fromstring(histogram_svg([], 2.0, "points", bins=10, legend=True))
    assert not [r for r in svg.iter(f"{SVG}rect") if r.get("fill") == BAR_COLOUR]


def test_the_tallest_bar_ends_at_or_below_the_top_tick():
    svg = ET.fromstring(histogram_svg([1.0] * 7, 2.0, "points", bins=2))
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert labels == ["0", "2", "4", "6", "8"], "7 students in one bin: the axis goes on to the next round tick"
