"""The student release: exactly what students get, and nothing that gives an answer away.

``build_release(course, names, out)`` writes::

    out/
      README.md                          for students: install, open, work, check, submit
      requirements.lock                  the versions the checks were made with (pip install -c)
      d2lgrade_student-<version>-py3-none-any.whl
                                         the self-checks as one file for pip (``d2lgrade.wheel``)
      d2l-<version>+d2lgrade-py3-none-any.whl
                                         d2l as installed here, without its exact pins
      assignments/<name>/<name>.ipynb    the stubs
      graders/public/<name>.py           the public checks
      d2lgrade/                          the engine the checks run on (public code)

and, with ``archive=True``, ``out.zip`` beside it. No solutions, no hidden graders,
no book sources: ``tests/test_release.py`` searches a release, its wheel and its zip
for every distinctive line of them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from d2lgrade.course import Course, CourseError
from d2lgrade.environment import LOCK
from d2lgrade.wheel import build_d2l_wheel, build_wheel

__all__ = ["build_release", "package_files"]

#: Modules of the package that only the project's own tests use: they build
#: submissions from the reference answers and the catalogue of known mistakes.
TEST_ONLY_MODULES = ("fill.py", "catalogue.py")
#: Text a stub must never contain: nbgrader's markers around solutions and hidden tests.
ANSWER_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
#: The part of the course README's "For students" that the release's README shows as it is.
SHARED_PART = re.compile(r"<!-- release README: from here -->\n(.*?)<!-- release README: to here -->", re.DOTALL)


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
    _copy(course.root / LOCK, out / LOCK)
    shipped = package_files()
    for name, path in shipped:
        _copy(path, out / "d2lgrade" / name)
    wheel = build_wheel(course, names, out, shipped)
    d2l_wheel = build_d2l_wheel(out)
    readme = _readme(course, names, wheel.name, d2l_wheel.name)
    (out / "README.md").write_text(readme, encoding="utf-8")
    if archive:
        shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name)
    return out


def package_files() -> list[tuple[str, Path]]:
    """The files of the d2lgrade package that students get, as (path inside the package, file
    here): all but the test-only modules and bytecode."""
    package = Path(__file__).resolve().parent
    return [
        (path.relative_to(package).as_posix(), path)
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        and path.name not in TEST_ONLY_MODULES
    ]


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


# ------------------------------------------------------------------ the students' README
README = """\
# d2l Linear Neural Networks: assignments

Exercises on the *Linear Neural Networks* chapter of [*Dive into Deep Learning*](https://d2l.ai),
with checks you can run yourself before you submit. This folder holds

{notebooks}
- `{wheel}`: the self-checks, as one file that pip installs;
- `{d2l_wheel}`: the book's d2l package, as d2l.ai publishes it but without its exact pins from 2022;
- `requirements.lock`: the versions of torch, numpy and the rest that the checks were made with;
- `graders/public/` and `d2lgrade/`: the public checks and the code that runs them (no need to open them).

## Install

Once, with Python 3.11 or newer (from python.org; on Windows, tick "Add python.exe to PATH"
in its installer). Open a terminal (on Windows, PowerShell) in this folder and make an
environment for the course:

| Linux and macOS | Windows (PowerShell) |
| --- | --- |
| `python3 -m venv .venv` | `py -m venv .venv` |
| `source .venv/bin/activate` | `.venv\\Scripts\\Activate.ps1` |

(If PowerShell refuses to run the script, run `Set-ExecutionPolicy -Scope CurrentUser RemoteSigned`
once; in `cmd.exe` the second line is `.venv\\Scripts\\activate.bat`.) Then, on every system:

```sh
python -m pip install --upgrade pip
python -m pip install -c requirements.lock torch torchvision --index-url https://download.pytorch.org/whl/cpu   # optional, see below
python -m pip install -c requirements.lock {wheel} {d2l_wheel}
python -m pip install jupyterlab
```

- The third line installs the checks, d2l and what the notebooks need (torch, matplotlib,
  pandas, ...). Its d2l is the book's own code; d2l from PyPI pins the versions of 2022
  (numpy 1.23.5, pandas 2.0.3, ...), which do not install on current Pythons.
  `python -m pip check` then finds nothing wrong. `-c requirements.lock` makes pip pick the versions
  the checks were made with, so that your checks pass or fail as grading's do; if your torch, numpy or
  d2l is another one, the checks say so in one line, with the command that installs the right one.
- Skip `jupyterlab` if you open notebooks in VS Code or another editor.

**CPU-only torch.** These exercises run in seconds on a CPU. On Linux and Windows, pip's default
torch brings NVIDIA's CUDA libraries, several GB; the optional second line installs torch's CPU
build first (a few hundred MB), which the third line then keeps. Skip it if you want to use an
NVIDIA GPU, and on macOS, where pip's torch has no CUDA anyway.

**Colab, or a notebook on its own.** The notebook and the two `.whl` files are all you need:
upload them (in Colab, the Files pane on the left), run this line in a new cell at the top,

```
%pip install {wheel} {d2l_wheel}
```

and restart the kernel (in Colab, Runtime > Restart session). Colab keeps its own torch; when it is
not the one the checks were made with, they say so in one line, and they still run. Without the
checks' wheel, the notebook's self-check cell says what to install, and its checks only print a
reminder.

## Open

Each time, activate the environment in this folder (the second line of the table above) and run
`jupyter lab`. In VS Code, open this folder, then a notebook, and choose `.venv` with "Select
Kernel" (top right).

{shared}

## Submit

Hand in each notebook as your course asks, under its own name
(`{example}.ipynb`), saved after your last change. Before you do, run it on the command line
(`d2lgrade check ...`, above): it runs the saved file from the top, as grading will. That command
confines the notebook's process the way grading does, which Windows cannot: there, restart the
kernel, run every cell from the top and read `check_all()` instead. Grading runs the public checks
you ran and hidden ones, and your written answers are read by hand.

Content adapted from *Dive into Deep Learning* by Zhang, Lipton, Li and Smola (d2l.ai, CC BY-SA 4.0).
"""


def shared_part(readme: str) -> str:
    """The part of the course README's "For students" between its two ``release README`` markers:
    how to work, check as you go and check on the command line."""
    match = SHARED_PART.search(readme)
    if match is None:
        raise CourseError("the course README has no '<!-- release README: from here -->' ... "
                          "'<!-- release README: to here -->' part for the students' README")
    return match.group(1).strip()


def _readme(course: Course, names: Sequence[str], wheel: str, d2l_wheel: str) -> str:
    notebooks = "\n".join(f"- `assignments/{name}/{name}.ipynb`, the notebook of `{name}`;" for name in names)
    shared = shared_part((course.root / "README.md").read_text(encoding="utf-8"))
    return README.format(notebooks=notebooks, wheel=wheel, d2l_wheel=d2l_wheel, shared=shared,
                         example=names[0])
