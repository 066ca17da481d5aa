"""The student release: everything students need to check themselves, and no answer anywhere in it.

The leak search reads every file of the release and of its zip (notebooks by
their cells, so that JSON escaping hides nothing) and looks for every
distinctive line of the reference code, the model answers and the hidden
graders, and for every hidden test's name. What counts as distinctive is
decided from the course checkout alone (the stubs, the public graders, the
engine), never from the release being searched.
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from d2lgrade.course import Course, CourseError
from d2lgrade.grade import Submission, grade
from d2lgrade.release import build_release
from d2lgrade.wheel import d2l_wheel_name, wheel_name

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
NAMES = COURSE.assignment_names()
#: Shorter lines are too common to tell anything (``return X, y``, ``import torch``).
MIN_LINE = 25
D2L_WHEEL = d2l_wheel_name(importlib.metadata.version("d2l").split("+")[0])


def _normal(text: str) -> str:
    return " ".join(text.split())


def _readable(name: str, data: bytes) -> str:
    """A file as searchable text: a notebook as its raw JSON plus its cells' sources and outputs."""
    text = data.decode("utf-8", errors="replace")
    if name.endswith(".ipynb"):
        notebook = json.loads(text)
        parts = [text]
        for cell in notebook.get("cells", []):
            parts.append("".join(cell.get("source", "")))
            for output in cell.get("outputs", []):
                parts.append(json.dumps(output, ensure_ascii=False))
                parts.append("".join(output.get("text", "")))
        text = "\n".join(parts)
    return _normal(text)


def _texts(where: str, name: str, data: bytes) -> dict[str, str]:
    """A file as searchable text by where it is; a zip (a wheel) as each of its files."""
    if not name.endswith((".zip", ".whl")):
        return {where: _readable(name, data)}
    texts = {}
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        for member in opened.namelist():
            if not member.endswith("/"):
                texts |= _texts(f"{where}:{member}", member, opened.read(member))
    return texts


def release_texts(folder: Path) -> dict[str, str]:
    """Every file of the release folder, of its wheels and of the zip beside it, by where it is."""
    texts = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            texts |= _texts(str(path.relative_to(folder)), path.name, path.read_bytes())
    archive = folder.parent / f"{folder.name}.zip"
    if archive.exists():
        texts |= _texts(archive.name, archive.name, archive.read_bytes())
    return texts


def _sentences(text: str) -> list[str]:
    """Lines, and the sentences of long lines (a model answer may be one long paragraph)."""
    pieces = []
    for line in text.splitlines():
        pieces.append(line)
        pieces += re.split(r"(?<=[.!?])\s+", line)
    return [piece for piece in dict.fromkeys(map(_normal, pieces)) if len(piece) >= MIN_LINE]


def _checkout_text(paths) -> str:
    return _normal("\n".join(path.read_text(encoding="utf-8") for path in paths))


@functools.cache
def secrets() -> dict[str, list[str]]:
    """What must not be in a release, by where it comes from: the distinctive lines of the
    reference code (book cells included) and of the model answers, and those of the hidden
    graders. A line that a stub shows anyway (the book's code in the narrative, a signature) or
    that d2l's own code holds (every student installs d2l; the release holds it too) is no
    secret, nor is a hidden grader's line that the public graders or the engine share."""
    d2l = importlib.metadata.distribution("d2l")
    book = [Path(d2l.locate_file(file)) for file in d2l.files
            if file.parts[0] == "d2l" and file.suffix == ".py"]
    stubs = [_readable(".ipynb", COURSE.stub(name).read_bytes()) for name in NAMES]
    shown = "\n".join([*stubs, _checkout_text(book)])
    public = shown + _checkout_text([*sorted((ROOT / "graders" / "public").glob("*.py")), *sorted((ROOT / "d2lgrade").rglob("*.py"))])
    found: dict[str, list[str]] = {}
    for assignment in NAMES:
        spec = COURSE.assignment(assignment)
        answers = [cell.source for cell in spec.notebook.cells if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")]
        for kind, sources in (("solution", spec.solution_sources.values()), ("model answer", answers)):
            lines = [line for source in sources for line in _sentences(source)]
            found[f"{assignment} {kind}"] = [line for line in lines if line not in shown]
        hidden = ROOT / "graders" / "hidden" / f"{assignment}.py"
        found[f"hidden graders of {assignment}"] = [line for line in _sentences(hidden.read_text(encoding="utf-8")) if line not in public]
    return found


@functools.cache
def hidden_test_names() -> list[str]:
    public = {name for path in (ROOT / "graders" / "public").glob("*.py") for name in re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE)}
    hidden = {name for path in (ROOT / "graders" / "hidden").glob("*.py") for name in re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE)}
    return sorted(hidden - public)


class Haystack:
    """The release's texts, searched for a line: a text holds the (normalised) line only if it holds
    every word of it but the first and the last (which may be cut) as a word of its own, which rules
    most lines out at once."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.words = {word for text in texts.values() for word in text.split(" ")}

    def where(self, line: str) -> list[str]:
        if any(word not in self.words for word in line.split(" ")[1:-1]):
            return []
        return [where for where, text in self.texts.items() if line in text]


def leaks(folder: Path) -> list[str]:
    """Every secret found in the release, as 'where: what'."""
    texts = release_texts(folder)
    haystack = Haystack(texts)
    found = [f"{where}: {kind}: {line!r}" for kind, lines in secrets().items() for line in lines for where in haystack.where(line)]
    for name in hidden_test_names():
        pattern = re.compile(rf"\b{name}\b")
        found += [f"{where}: hidden test name {name}" for where, text in texts.items() if name in text and pattern.search(text)]
    for where in texts:
        if "solutions" in Path(where.split(":")[-1]).parts or "hidden" in Path(where.split(":")[-1]).parts:
            found.append(f"{where}: a solutions/ or hidden/ folder")
    return found


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "d2l-linear-networks"
    build_release(COURSE, NAMES, out, archive=True)
    return out


# --------------------------------------------------------------------------- contents
def test_release_holds_what_students_need(release):
    for name in NAMES:
        assert (release / "assignments" / name / f"{name}.ipynb").is_file()
        assert (release / "graders" / "public" / f"{name}.py").is_file()
    assert (release / "d2lgrade" / "selfcheck.py").is_file() and (release / wheel_name()).is_file()
    assert (release / "requirements.lock").read_bytes() == (ROOT / "requirements.lock").read_bytes()
    with zipfile.ZipFile(release / D2L_WHEEL) as wheel:
        assert {"d2l/__init__.py", "d2l/torch.py"} <= set(wheel.namelist())
    assert not (release / "d2lgrade" / "fill.py").exists() and not (release / "d2lgrade" / "catalogue.py").exists()
    with zipfile.ZipFile(release / wheel_name()) as wheel:
        shipped = {name.removeprefix("d2lgrade/") for name in wheel.namelist() if name.startswith("d2lgrade/")}
    assert shipped == {str(path.relative_to(release / "d2lgrade")) for path in (release / "d2lgrade").rglob("*") if path.is_file()} | {
        f"released/{kind}" for name in NAMES for kind in (f"assignments/{name}/{name}.ipynb", f"graders/public/{name}.py")} | {
        "released/requirements.lock"}
    with zipfile.ZipFile(release.parent / f"{release.name}.zip") as opened:
        members = {name.removeprefix(f"{release.name}/") for name in opened.namelist() if not name.endswith("/")}
    assert members == {str(path.relative_to(release)) for path in release.rglob("*") if path.is_file()}


def test_release_readme_is_for_students(release):
    """Install on each system (the CPU-only torch too), open, work, check, submit; no instructor's text."""
    readme = (release / "README.md").read_text()
    for needed in (f"python -m pip install -c requirements.lock {wheel_name()} {D2L_WHEEL}",
                   "python -m pip install -c requirements.lock torch torchvision",
                   f"%pip install {wheel_name()} {D2L_WHEEL}",
                   "source .venv/bin/activate", r".venv\Scripts\Activate.ps1", "py -m venv .venv",
                   "--index-url https://download.pytorch.org/whl/cpu",
                   "## Open", "jupyter lab", "## Submit", "d2lgrade check", 'check("', "check_all()"):
        assert needed in readme, needed
    for name in NAMES:
        assert f"assignments/{name}/{name}.ipynb" in readme
    for instructors in ("scripts/setup", "d2lgrade release", "nbgrader", "instructor", "solutions/", "hidden graders",
                        "course checkout", "<!--", "requirements.txt", "-e .", "--no-deps"):
        assert instructors not in readme, instructors
    with zipfile.ZipFile(release.parent / f"{release.name}.zip") as opened:
        members = {name.removeprefix(f"{release.name}/") for name in opened.namelist() if not name.endswith("/")}
    assert members == {str(path.relative_to(release)) for path in release.rglob("*") if path.is_file()}


def test_release_refuses_what_it_cannot_do_safely(release, tmp_path):
    with pytest.raises(CourseError, match="not empty"):
        build_release(COURSE, NAMES, release)  # never writes over a folder
    with pytest.raises(CourseError, match="no assignment 'linreg'"):
        build_release(COURSE, ["linreg"], tmp_path / "out")
    with pytest.raises(CourseError, match="already a student release"):
        build_release(Course(release), NAMES, tmp_path / "again")
    assert not (tmp_path / "out").exists() and not (tmp_path / "again").exists()


def test_release_notebooks_are_stubs(release):
    notebooks = sorted(release.rglob("*.ipynb"))
    assert len(notebooks) == len(NAMES)
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                assert ("raise NotImplementedError()" if cell.cell_type == "code" else "YOUR ANSWER HERE") in cell.source, f"{path.name}: {cell.source[:80]}"
        assert "BEGIN SOLUTION" not in path.read_text() and "HIDDEN TESTS" not in path.read_text()


# --------------------------------------------------------------------------- the leak search
def test_the_search_has_secrets_to_look_for():
    found = secrets()
    for assignment in NAMES:
        for kind in ("solution", "model answer"):
            assert len(found[f"{assignment} {kind}"]) >= 5, f"too few distinctive lines in the {assignment} {kind}s"
        assert len(found[f"hidden graders of {assignment}"]) >= 50
    assert len(hidden_test_names()) >= 30


def test_release_leaks_nothing(release):
    found = leaks(release)
    assert not found, "the release gives answers away:\n" + "\n".join(found[:20])


def _plant_in_notebook(copy: Path, text: str) -> None:
    path = copy / "assignments" / NAMES[0] / f"{NAMES[0]}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[-1].source += "\n" + text  # JSON escapes it: quotes, backslashes, newlines
    nbformat.write(notebook, path)


def _plant_in_file(copy: Path, text: str) -> None:
    path = copy / "graders" / "public" / f"{NAMES[-1]}.py"
    path.write_text(path.read_text() + f"\n#   {text}\n")


def _plant_in_zip(copy: Path, text: str) -> None:
    with zipfile.ZipFile(copy.parent / f"{copy.name}.zip", "a") as opened:
        opened.writestr(f"{copy.name}/notes.txt", text)


def _plant_in_wheel(copy: Path, text: str) -> None:
    with zipfile.ZipFile(copy / wheel_name(), "a") as opened:
        opened.writestr("d2lgrade/released/graders/public/notes.py", f"# {text}\n")


def _plant_in_d2l_wheel(copy: Path, text: str) -> None:
    with zipfile.ZipFile(copy / D2L_WHEEL, "a") as opened:
        opened.writestr("d2l/notes.py", f"# {text}\n")


@pytest.mark.parametrize("plant", [_plant_in_notebook, _plant_in_file, _plant_in_zip, _plant_in_wheel,
                                   _plant_in_d2l_wheel])
@pytest.mark.parametrize("kind", ["solution", "model answer", "hidden graders", "hidden test name"])
def test_the_search_finds_a_planted_secret(release, tmp_path, plant, kind):
    if kind == "hidden test name":
        secret = hidden_test_names()[0]
    else:
        key = next(key for key in secrets() if key.startswith(kind) or key.endswith(kind))
        secret = secrets()[key][0]
    copy = tmp_path / release.name
    shutil.copytree(release, copy)
    shutil.copyfile(release.parent / f"{release.name}.zip", tmp_path / f"{release.name}.zip")
    assert not leaks(copy)
    plant(copy, secret)
    assert leaks(copy), f"planting {secret!r} went unnoticed"


# --------------------------------------------------------------------------- the stubs against the public checks
def test_every_public_check_fails_on_the_stub_as_not_implemented(release, grading_zygote):
    course = Course(release)
    assert course.released
    results = grade([Submission(name, name, course.stub(name)) for name in NAMES], course=course, public_only=True,
                    zygote=grading_zygote)
    for result in results:
        assert result.error is None, result.error
        for question in result.questions:
            if not question.autograded:
                continue
            ran = [t for t in question.tests if t.outcome != "skipped"]
            assert ran, f"{result.assignment}: {question.name} has no public check"
            for test in ran:
                assert test.outcome == "error" and test.message.endswith("is not implemented yet (it raises NotImplementedError)."), (
                    f"{result.assignment}: {test.name}: {test.outcome}: {test.message} {test.staff_detail[-500:]}"
                )


@pytest.mark.slow
def test_check_command_runs_from_the_release_alone(release, tmp_path):
    """The release's own d2lgrade, with no course checkout to fall back on, checks a stub."""
    stub = release / "assignments" / "linreg_scratch" / "linreg_scratch.ipynb"
    probe = "import sys, d2lgrade; from d2lgrade.cli import main; print(d2lgrade.__file__); sys.exit(main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k != "D2LGRADE_COURSE"} | {"PYTHONPATH": str(release)}
    done = subprocess.run([sys.executable, "-c", probe, "check", str(stub), "--question", "squared_loss"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    where, *lines = done.stdout.splitlines()
    assert Path(where).is_relative_to(release)
    header = "squared_loss: 0 of 3 public checks passed (0/1 points)"
    assert header in lines, done.stdout
    report = lines[lines.index(header):]
    assert report[1:3] == [
        "  ✗ squared_loss is (y_hat - y)**2 / 2 for each example",
        "      `squared_loss` is not implemented yet (it raises NotImplementedError).",
    ], done.stdout
    # a release has no reference to time: the time allowed is the least default
    assert re.fullmatch(r"Your notebook ran for \d+\.\d s of the 120 s grading allows it\.", lines[-1]), done.stdout
