"""The self-check's HTML, as a browser draws it: ``check()`` and ``check_all()`` the way Jupyter shows them.

Headless Chromium as in ``test_report_render.py`` (skipped where it cannot be
installed). With D2LGRADE_UPDATE_DOCS=1 the README's picture,
docs/self-check.png, is made again.
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image

from d2lgrade.selfcheck import SelfCheck
from test_report_render import _colour, chromium, screenshot  # noqa: F401 (chromium is a fixture)
from test_selfcheck import COURSE, _kernel, _wrong

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "docs" / "self-check.png"
GREEN, RED = "#1a7f37", "#cf222e"
#: JupyterLab's own fonts and size for output, so that the picture looks like the notebook.
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; font-size: 13px;
       margin: 12px; color: #212121; background: #fff; }}
.cell {{ margin-bottom: 18px; }}
.input {{ font-family: "DejaVu Sans Mono", monospace; background: #f5f5f5; border: 1px solid #e0e0e0;
          padding: 6px 8px; margin-bottom: 6px; }}
</style></head><body>{cells}</body></html>"""


def _page(folder: Path, markup: str = "") -> Path:
    """check("squared_loss") and check_all() on a notebook whose squared_loss forgot the / 2 and whose sgd
    is not written yet, as Jupyter shows them under their cells; ``markup`` is a student's function that
    returns HTML."""
    extra = [_wrong("linreg_scratch", "squared_loss_no_half"), "def sgd(params, lr, batch_size):\n    raise NotImplementedError()\n"]
    if markup:
        extra.append(f"def linreg(X, w, b):\n    return {markup!r}\n")
    checker = SelfCheck("linreg_scratch", _kernel("linreg_scratch", *extra), course=COURSE, colour=False, html=True)
    cells = "".join(f'<div class="cell"><div class="input">{source}</div>{report.html}</div>'
                    for source, report in (('check("squared_loss")', checker.report("squared_loss")),
                                           ("check_all()", checker.report_all())))
    page = folder / "check.html"
    page.write_text(PAGE.format(cells=cells), encoding="utf-8")
    return page


def _pixels_of(picture: Image.Image, hex_colour: str) -> int:
    pixels = np.asarray(picture).astype(int)
    return int((np.abs(pixels - _colour(hex_colour)).max(axis=2) <= 40).sum())


def _assert_drawn(picture: Image.Image, name: str) -> None:
    assert _pixels_of(picture, GREEN) > 60, f"{name}: no green ✓ drawn"
    assert _pixels_of(picture, RED) > 200, f"{name}: no red ✗ or header drawn"
    white = (np.asarray(picture) == 255).all(axis=2).mean()
    assert white > 0.6, f"{name} is mostly its white background ({white:.0%} white)"


def test_check_output_draws_marks_and_no_injected_markup(tmp_path, chromium):
    page = _page(tmp_path, markup="<style>body{background:#ff0000 !important}</style>")
    picture = screenshot(chromium, page, tmp_path / "check.png", 1000, 1400)
    _assert_drawn(picture, "the check output")
    assert _pixels_of(picture, "#ff0000") < 50, "a student's <style> in a failure message took effect"


def test_readme_picture_is_a_rendered_check(tmp_path, request):
    if os.environ.get("D2LGRADE_UPDATE_DOCS") == "1":
        page = _page(tmp_path)
        picture = screenshot(request.getfixturevalue("chromium"), page, tmp_path / "check.png", 900, 2000)
        pixels = np.asarray(picture)
        used = np.nonzero((pixels != 255).any(axis=(1, 2)))[0]
        assert used[-1] < pixels.shape[0] - 1, "the page is taller than the window: raise its height"
        picture.crop((0, 0, picture.width, used[-1] + 12)).save(PICTURE, optimize=True)
    assert PICTURE.is_file(), "make it with D2LGRADE_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_check_render.py"
    _assert_drawn(Image.open(PICTURE).convert("RGB"), PICTURE.name)
