"""The class report as a browser draws it: headless Chromium from the system's packages.

Chromium is installed with apt-get the first time it is needed, when the
tests run as root (as CI does); elsewhere these tests skip, saying why.
With D2LGRADE_UPDATE_DOCS=1 the README's picture, docs/class-report.png,
is made again from the demo class (examples/submitted, graded afresh).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from d2lgrade.course import Course
from d2lgrade.export import read_json, write_report
from d2lgrade.export.report import BAR_COLOUR, PLOT_BACKGROUND
from test_exports import _images, class_results

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "docs" / "class-report.png"
PICTURE_ASSIGNMENT = "linreg_scratch"
BROWSERS = ("chromium", "chromium-browser")
PACKAGES = ("chromium", "fonts-dejavu-core")


@pytest.fixture(scope="session")
def chromium():
    """The Chromium binary, installed with apt-get when missing and this is root; else skip."""
    found = next(filter(None, map(shutil.which, BROWSERS)), None)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"Chromium is not installed and cannot be installed here (needs root and apt-get): apt-get install {' '.join(PACKAGES)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120", *PACKAGES]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.skip(f"{' '.join(command)} took longer than 10 minutes")
        if done.returncode != 0:
            pytest.skip(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    found = next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        pytest.skip("apt-get installed chromium but no chromium binary is on PATH")
    return found


def screenshot(chromium: str, page: Path, picture: Path, width: int, height: int) -> Image.Image:
    """The page drawn at one CSS pixel per pixel in a window of width x height."""
    profile = picture.parent / f".{picture.stem}-profile"
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
        "--no-first-run", "--force-device-scale-factor=1", f"--user-data-dir={profile}",
        f"--window-size={width},{height}", f"--screenshot={picture}", page.resolve().as_uri(),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0 and picture.is_file(), f"chromium failed: {done.stderr[-2000:]}"
    return Image.open(picture).convert("RGB")


def _colour(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def plots_in(picture: Image.Image) -> list[tuple[int, int, int, int, int]]:
    """Each plot drawn in the picture: ``(top, left, height, width, bar pixels)``.

    A plot is a region of the plots' own background colour at least
    150 x 100 pixels that no larger such region encloses (the axes inside a
    figure are one too); its bar pixels are those of the bars' colour.
    """
    pixels = np.asarray(picture).astype(int)
    background = np.abs(pixels - _colour(PLOT_BACKGROUND)).max(axis=2) <= 2
    bars = np.abs(pixels - _colour(BAR_COLOUR)).max(axis=2) <= 2
    labels, _ = ndimage.label(background)
    boxes = [(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in ndimage.find_objects(labels)
             if s[0].stop - s[0].start >= 100 and s[1].stop - s[1].start >= 150]
    outer = [b for b in boxes if not any(o != b and o[0] <= b[0] and o[1] <= b[1] and o[2] >= b[2] and o[3] >= b[3] for o in boxes)]
    return sorted((top, left, bottom - top, right - left, int(bars[top:bottom, left:right].sum())) for top, left, bottom, right in outer)


def _image_sizes(html: str) -> list[tuple[int, int]]:
    return sorted((int(i["height"]), int(i["width"])) for i in _images(html))


def test_class_report_draws_every_plot_with_bars_and_no_injected_markup(tmp_path, chromium):
    results = class_results()
    page = next(p for p in write_report(results, tmp_path) if p.stem == "linreg_scratch")
    html = page.read_text(encoding="utf-8")
    picture = screenshot(chromium, page, tmp_path / "report.png", 1100, 1600)

    plots = plots_in(picture)
    assert len(plots) == html.count("<img ") == 3, f"plots found in the screenshot: {plots}"
    assert sorted((height, width) for _, _, height, width, _ in plots) == _image_sizes(html), "each plot drawn whole, at its size"
    for top, left, height, width, bar_pixels in plots:
        assert bar_pixels > 0.01 * height * width, f"the plot at ({left}, {top}) has no bars"
    pixels = np.asarray(picture).astype(int)
    red = (np.abs(pixels - _colour("#ff0000")).max(axis=2) <= 8).sum()
    assert red == 0, "a student's <style> in a failure message took effect"
    white = (pixels == 255).all(axis=2).mean()
    assert white > 0.5, f"the page is mostly its white background ({white:.0%} white)"


def test_readme_picture_is_a_rendered_demo_report(tmp_path, request):
    if os.environ.get("D2LGRADE_UPDATE_DOCS") == "1":
        _update_picture(tmp_path, request.getfixturevalue("chromium"))
    assert PICTURE.is_file(), "make it with D2LGRADE_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_report_render.py"
    questions = Course(ROOT).assignment(PICTURE_ASSIGNMENT).autograded
    plots = plots_in(Image.open(PICTURE).convert("RGB"))
    assert len(plots) == 1 + len(questions), f"the picture shows {len(plots)} plots, not the total and one per question of {PICTURE_ASSIGNMENT}"
    for top, left, height, width, bar_pixels in plots:
        assert bar_pixels > 0.01 * height * width, f"the plot at ({left}, {top}) in {PICTURE.name} has no bars"


def _update_picture(tmp_path: Path, chromium: str) -> None:
    """Grade the demo class afresh, render its report for PICTURE_ASSIGNMENT and save it, cropped, as PICTURE."""
    d2lgrade = Path(sys.executable).parent / "d2lgrade"
    done = subprocess.run([str(d2lgrade), "autograde", str(ROOT / "examples" / "submitted"), "--out", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [r for r in read_json(tmp_path / "demo" / "results.json") if r.assignment == PICTURE_ASSIGNMENT]
    page = write_report(results, tmp_path / "report")[0]
    picture = screenshot(chromium, page, tmp_path / "report.png", 1100, 4000)
    pixels = np.asarray(picture)
    used = np.nonzero((pixels != 255).any(axis=(1, 2)))[0]
    assert used[-1] < pixels.shape[0] - 1, "the report is taller than the window: raise its height"
    cropped = picture.crop((0, 0, picture.width, used[-1] + 24))
    PICTURE.parent.mkdir(exist_ok=True)
    cropped.save(PICTURE, optimize=True)
