"""The student release: exactly what students get, and nothing that gives an answer away.

``build_release(course, names, out)`` writes::

    out/
      README.md                          install, fill in, check (the course README's "For students")
      requirements.txt                   what the notebooks and their checks need
      pyproject.toml                     so that `pip install -e .` gives the `d2lgrade` command
      assignments/<name>/<name>.ipynb    the stubs
      graders/public/<name>.py           the public checks
      d2lgrade/                          the engine the checks run on (public code)

and, with ``archive=True``, ``out.zip`` beside it. No solutions, no hidden graders,
no book sources: ``tests/test_release.py`` searches a release for every
distinctive line of them.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Sequence
from pathlib import Path

from d2lgrade.course import Course, CourseError

__all__ = ["build_release"]

#: Modules of the package that only the project's own tests use: they build
#: submissions from the reference answers and the catalogue of known mistakes.
TEST_ONLY_MODULES = ("fill.py", "catalogue.py")
#: Packages of requirements.txt that only instructors need.
INSTRUCTOR_PACKAGES = {"nbgrader", "nbclient", "nbconvert"}
#: Text a stub must never contain: nbgrader's markers around solutions and hidden tests.
ANSWER_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "d2lgrade"
version = "{version}"
description = "Self-checks for the d2l Linear Neural Networks assignments"
requires-python = "{python}"
dependencies = [{dependencies}]

[project.scripts]
d2lgrade = "d2lgrade.cli:main"

[tool.setuptools.packages.find]
include = ["d2lgrade*"]
"""

REQUIREMENTS_HEADER = """\
# What the notebooks and their checks need. d2l itself goes in separately,
# without its own pins (they need numpy 1.23 and do not install on current
# Pythons):  pip install --no-deps d2l==1.0.3
"""


def build_release(course: Course, names: Sequence[str], out: Path, *, archive: bool = False) -> Path:
    """Write the release of the assignments ``names`` into the new folder ``out`` (and, when
    ``archive``, ``out.zip`` beside it); return ``out``."""
    if course.released:
        raise CourseError(f"{course.root} is already a student release")
    if not names:
        raise CourseError("name the assignments to release")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CourseError(f"{out} already exists and is not empty; remove it or choose another folder")
    for name in names:
        course.assignment(name)  # an unknown name fails here, listing the known ones
        _check_stub(course.stub(name))

    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        _copy(course.stub(name), out / "assignments" / name / f"{name}.ipynb")
        _copy(course.graders / "public" / f"{name}.py", out / "graders" / "public" / f"{name}.py")
    package = Path(__file__).resolve().parent
    shutil.copytree(package, out / "d2lgrade", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *TEST_ONLY_MODULES))
    (out / "requirements.txt").write_text(_requirements(course), encoding="utf-8")
    (out / "pyproject.toml").write_text(_pyproject(course), encoding="utf-8")
    (out / "README.md").write_text(_readme(course, names), encoding="utf-8")
    if archive:
        shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name)
    return out


def _copy(source: Path, target: Path) -> None:
    if not source.is_file():
        raise CourseError(f"{source} is missing")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _check_stub(stub: Path) -> None:
    """A stub that still holds nbgrader's answer markers was not generated: refuse to hand it out."""
    if not stub.is_file():
        raise CourseError(f"{stub} is missing; run `d2lgrade stubs`")
    text = stub.read_text(encoding="utf-8")
    if any(marker in text for marker in ANSWER_MARKERS):
        raise CourseError(f"{stub} holds solution or hidden-test markers; regenerate it with `d2lgrade stubs`")


def _requirements(course: Course) -> str:
    """The course's requirements.txt without comments and without what only instructors need."""
    source = course.root / "requirements.txt"
    if not source.is_file():
        raise CourseError(f"{source} is missing")
    lines = [line.strip() for line in source.read_text(encoding="utf-8").splitlines()]
    kept = [line for line in lines if line and not line.startswith("#") and re.split(r"[<>=!~\[ ;]", line)[0] not in INSTRUCTOR_PACKAGES]
    return REQUIREMENTS_HEADER + "\n".join(kept) + "\n"


def _pyproject(course: Course) -> str:
    """The package's metadata, from the course's pyproject.toml, without what only the course needs."""
    project = tomllib.loads((course.root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return PYPROJECT.format(
        version=project["version"],
        python=project.get("requires-python", ">=3.11"),
        dependencies=", ".join(f'"{dependency}"' for dependency in project.get("dependencies", [])),
    )


def student_section(readme: str) -> str:
    """The "For students" section of the course README, without its heading."""
    match = re.search(r"^## For students\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    if match is None:
        raise CourseError("the course README has no '## For students' section")
    return match.group(1).strip()


def _readme(course: Course, names: Sequence[str]) -> str:
    listed = "\n".join(f"- `assignments/{name}/{name}.ipynb`" for name in names)
    section = student_section((course.root / "README.md").read_text(encoding="utf-8"))
    return (
        "# d2l Linear Neural Networks: assignments\n\n"
        "Exercises on the *Linear Neural Networks* chapter of [*Dive into Deep Learning*](https://d2l.ai),\n"
        "with checks you can run yourself before you submit. The notebooks:\n\n"
        f"{listed}\n\n{section}\n\n"
        "Content adapted from *Dive into Deep Learning* by Zhang, Lipton, Li and Smola (d2l.ai, CC BY-SA 4.0).\n"
    )
