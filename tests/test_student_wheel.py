"""Students anywhere: the self-checks and d2l installed from the two wheels a release holds, and
a stub that says what to install when its kernel has no d2lgrade.

Two fresh virtual environments see this venv's packages (torch, d2l, ipykernel, ...) through
a ``.pth`` file, which does not bring this venv's editable d2lgrade along (Python reads the
``.pth`` files of site folders only, not of folders a ``.pth`` adds). Into one, pip installs
the release's two wheels as the release's README says, offline, finding their dependencies
there already; its own d2l comes before this venv's. The other has no d2lgrade at all. Each
stub then runs top to bottom in a real kernel of each (nbclient), alone in a folder of its
own, with no course around to fall back on.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import importlib.metadata
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

import d2lgrade
from d2lgrade import notebook as nb
from d2lgrade.course import Course, CourseError
from d2lgrade.release import build_release
from d2lgrade.selfcheck import checks_version
from d2lgrade.wheel import DISTRIBUTION, build_d2l_wheel, d2l_wheel_name, wheel_name

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
NAMES = COURSE.assignment_names()
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
BARE = "linreg_concise"
#: Where d2lgrade would come from, and where the d2l that the stub imported came from.
WHERE = ("import importlib.metadata, importlib.util, sys\n"
         "print(importlib.util.find_spec('d2lgrade'))\n"
         "print(sys.modules['d2l'].__file__, importlib.metadata.version('d2l'))")
D2L_VERSION = importlib.metadata.version("d2l").split("+")[0]
#: What Windows lacks of what the sandbox (not the self-checks) needs: the resource module and
#: a C library by the name None. The wheel's kernel goes without them.
LIKE_WINDOWS = """\
import ctypes, sys
sys.modules["resource"] = None

class NoLibc(ctypes.CDLL):
    def __init__(self, name, *args, **kwargs):
        if name is None:
            raise TypeError("no C library by the name None")
        super().__init__(name, *args, **kwargs)

ctypes.CDLL = NoLibc
"""
WITHOUT_POSIX = ("import d2lgrade.sandbox as sandbox\n"
                 "print('without POSIX:', sandbox.resource is None and sandbox._libc is None)")
REMINDER = "The self-checks need d2lgrade: see what the self-check cell at the top printed."


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "release"
    build_release(COURSE, NAMES, out)
    return out


def _venv(folder: Path) -> Path:
    """A new virtual environment that sees this venv's packages but not its d2lgrade; its python."""
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "course-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _install_notes(release: Path) -> list[str]:
    """What the release's README has pip install from the release folder: the two wheels, constrained by the lock."""
    readme = (release / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines()
                if line.startswith("python -m pip install ") and wheel_name() in line)
    return shlex.split(line)[4:]


@pytest.fixture(scope="module")
def pythons(tmp_path_factory, release) -> dict[str, Path]:
    """``student``: the two wheels installed by pip as the release's README says (offline: the
    dependencies are there already); ``bare``: no d2lgrade."""
    root = tmp_path_factory.mktemp("venvs")
    student, bare = _venv(root / "student"), _venv(root / "bare")
    assert _install_notes(release) == ["-c", "requirements.lock", wheel_name(), d2l_wheel_name(D2L_VERSION)]
    subprocess.run([sys.executable, "-m", "pip", "--python", str(student), "install", "--no-index",
                    "--find-links", str(release), "--disable-pip-version-check", "--quiet",
                    *_install_notes(release)], cwd=release, check=True, timeout=300)
    return {"student": student, "bare": bare}


def _text(cell) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return ANSI.sub("", "".join(parts))


def _errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def _client(python: Path, folder: Path, notebook) -> NotebookClient:
    """An nbclient for a kernel of ``python`` working in ``folder``, without this checkout on its path."""
    kernels = folder.parent / f"{folder.name}-kernels"
    (kernels / "wheel-test").mkdir(parents=True)
    spec = {"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "language": "python", "display_name": "wheel test"}
    (kernels / "wheel-test" / "kernel.json").write_text(json.dumps(spec))
    manager = KernelManager(kernel_name="wheel-test", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    return NotebookClient(notebook, km=manager, timeout=300, allow_errors=True,
                          resources={"metadata": {"path": str(folder)}})


async def _run(client: NotebookClient, source: str) -> str:
    ran = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    client.nb = ran
    await client.async_execute_cell(ran.cells[0], 0)
    return _text(ran.cells[0])


async def _execute(python: Path, assignments: list[str], folder: Path, *, prelude: str = "") -> dict:
    """Each stub run top to bottom in one kernel of ``python`` (its names cleared in between, torch
    and d2l imported once), in ``folder`` with no course around, after ``prelude``; a last cell says
    where d2lgrade comes from. The executed notebooks, by assignment."""
    folder.mkdir(parents=True)
    notebooks = {}
    for assignment in assignments:
        stub = shutil.copyfile(COURSE.stub(assignment), folder / f"{assignment}.ipynb")
        notebooks[assignment] = nbformat.read(stub, as_version=4)
        notebooks[assignment].cells.append(nbformat.v4.new_code_cell(WHERE))
    client = _client(python, folder, notebooks[assignments[0]])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "D2LGRADE_COURSE")}
    async with client.async_setup_kernel(env=env):
        if prelude:
            await _run(client, prelude)
        for notebook in notebooks.values():
            client.nb = notebook  # nbclient files each executed cell back into its notebook
            for index, cell in enumerate(notebook.cells):
                await client.async_execute_cell(cell, index)
            await _run(client, "%reset -f")
        if prelude:
            notebooks["prelude"] = await _run(client, WITHOUT_POSIX)
    return notebooks


@pytest.fixture(scope="module")
def executed(pythons, tmp_path_factory) -> dict:
    """``student``: every stub, in a kernel with the wheel and without what Windows lacks; ``bare``:
    one stub in a kernel without d2lgrade. The two kernels run at once."""
    root = tmp_path_factory.mktemp("kernels")

    async def both():
        return await asyncio.gather(_execute(pythons["student"], NAMES, root / "student", prelude=LIKE_WINDOWS),
                                    _execute(pythons["bare"], [BARE], root / "bare"))

    student, bare = asyncio.run(both())
    return {"student": student, "bare": bare[BARE]}


def test_the_self_checks_need_nothing_that_windows_lacks(executed):
    assert executed["student"]["prelude"].strip() == "without POSIX: True"


def _check_cells(notebook) -> dict[str, object]:
    """Each check cell by the function it checks (``*`` for check_all, ``setup`` for the first)."""
    found = {}
    for cell in notebook.cells:
        if not nb.is_check_cell(cell):
            continue
        if match := re.fullmatch(r'check\("(\w+)"\)', cell.source):
            found[match[1]] = cell
        elif cell.source == "check_all()":
            found["*"] = cell
        else:
            found["setup"] = cell
    return found


# --------------------------------------------------------------------------- with the wheel
@pytest.mark.parametrize("assignment", NAMES)
def test_each_stub_checks_itself_with_the_wheel_alone(pythons, executed, assignment):
    spec = COURSE.assignment(assignment)
    notebook = executed["student"][assignment]
    d2lgrade_from, d2l_from = _text(notebook.cells[-1]).splitlines()
    student = str(pythons["student"].parent.parent)
    assert student in d2lgrade_from and "site-packages/d2lgrade" in d2lgrade_from, d2lgrade_from
    # the stub's d2l is the release's, not this venv's that the student venv also sees
    assert d2l_from.startswith(student) and d2l_from.endswith(f" {D2L_VERSION}+d2lgrade"), d2l_from
    cells = _check_cells(notebook)
    assert set(cells) == {"setup", "*", *(q.name for q in spec.autograded)}
    assert not _errors(cells["setup"]) and not _text(cells["setup"]), _text(cells["setup"])
    for question in spec.autograded:
        out = _text(cells[question.name])
        assert not _errors(cells[question.name]), out
        assert out.startswith(f"{question.name}: 0 of "), out
        assert f"`{question.name}` is not implemented yet (it raises NotImplementedError)." in out
    possible = sum(q.points for q in spec.autograded)
    summary = _text(cells["*"])
    assert f"total: 0/{possible:g} points from the public checks" in summary, summary
    # the instructor sees which checks ran: the course's own, by version and digest
    assert summary.rstrip().endswith(f"Checked by {checks_version(spec)}."), summary
    assert f"d2lgrade {d2lgrade.__version__}, public checks " in summary


# --------------------------------------------------------------------------- without it
def test_a_stub_without_d2lgrade_says_what_to_install(executed):
    notebook = executed["bare"]
    assert _text(notebook.cells[-1]).splitlines()[0] == "None", "the bare kernel can import d2lgrade"
    cells = _check_cells(notebook)
    paragraph = _text(cells["setup"])
    assert not _errors(cells["setup"]) and len(paragraph.strip().splitlines()) == 1, paragraph
    for needed in ("d2lgrade_student-", "%pip install d2lgrade_student-*.whl d2l-*.whl", "README.md", "Colab",
                   d2l_wheel_name(D2L_VERSION).replace(D2L_VERSION, "<version>")):
        assert needed in paragraph, needed
    assert "--no-deps" not in paragraph
    for name, cell in cells.items():
        if name != "setup":
            assert not _errors(cell) and _text(cell) == REMINDER + "\n", (name, _text(cell))


def _self_check_cell(assignment: str) -> str:
    return next(c.source for c in nb.load_notebook(COURSE.stub(assignment)).cells if nb.is_check_cell(c))


def _run_cell_missing(source: str, missing: str) -> tuple[dict, str]:
    """The self-check cell run here as if the module ``missing`` could not be imported."""
    real_import = builtins.__import__

    def refusing(name, *args, **kwargs):
        if name.startswith("d2lgrade"):
            raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)
        return real_import(name, *args, **kwargs)

    namespace = {"__builtins__": {**vars(builtins), "__import__": refusing}}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<self-check cell>", "exec"), namespace)
    return namespace, printed.getvalue()


@pytest.mark.parametrize("assignment", NAMES)
def test_the_self_check_cell_only_forgives_a_missing_d2lgrade(assignment):
    source = _self_check_cell(assignment)
    namespace, printed = _run_cell_missing(source, "d2lgrade")
    assert "%pip install d2lgrade_student-*.whl" in printed
    for call in (lambda: namespace["check"]("anything"), namespace["check_all"]):
        reminded = io.StringIO()
        with contextlib.redirect_stdout(reminded):
            call()
        assert reminded.getvalue() == REMINDER + "\n"
    # a missing dependency of an installed d2lgrade is not the same problem: it stays an error
    with pytest.raises(ModuleNotFoundError, match="rich"):
        _run_cell_missing(source, "rich")


# --------------------------------------------------------------------------- what the wheels declare
def _metadata(release: Path, wheel: str, info: str) -> list[str]:
    with zipfile.ZipFile(release / wheel) as opened:
        return opened.read(f"{info}/METADATA").decode().splitlines()


def _requires(metadata: list[str]) -> list[str]:
    return [line.removeprefix("Requires-Dist: ") for line in metadata if line.startswith("Requires-Dist: ")]


def test_the_wheel_needs_the_student_side_only(release):
    metadata = _metadata(release, wheel_name(), f"{DISTRIBUTION}-{d2lgrade.__version__}.dist-info")
    requires = _requires(metadata)
    instructor = PYPROJECT["optional-dependencies"]["instructor"]
    assert requires == PYPROJECT["dependencies"] and {"torch", "ipykernel", "pytest"} <= set(requires)
    assert "nbgrader" in instructor and not set(instructor) & set(requires)
    assert "Requires-Python: >=3.11" in metadata and f"Version: {PYPROJECT['version']}" in metadata
    assert PYPROJECT["version"] == d2lgrade.__version__
    # the course installs all of it (scripts/setup: requirements.txt, then d2lgrade[instructor])
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    listed = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert set(requires) | set(instructor) <= listed


#: Import names that are not the distribution's name.
IMPORT_NAMES = {"pillow": "PIL", "ipython": "IPython"}


def _third_party_imports(source: str) -> set[str]:
    """The top-level modules a module imports at its top, but the standard library's."""
    found = set(re.findall(r"^(?:import|from) (\w+)", source, re.MULTILINE))
    return found - set(sys.stdlib_module_names)


def test_the_d2l_wheel_is_d2l_without_its_pins(release):
    """The installed d2l's code and licence files as they are, under a local version, requiring
    what d2l.torch imports (with the student wheel) and no exact version of anything."""
    installed = importlib.metadata.distribution("d2l")
    info = f"d2l-{D2L_VERSION}+d2lgrade.dist-info"
    with zipfile.ZipFile(release / d2l_wheel_name(D2L_VERSION)) as opened:
        files = {name: opened.read(name) for name in opened.namelist()}
    code = {file.as_posix() for file in installed.files if file.parts[0] == "d2l" and file.suffix == ".py"}
    assert {"d2l/__init__.py", "d2l/torch.py"} <= code and code <= set(files)
    for name in code:
        assert files[name] == Path(installed.locate_file(name)).read_bytes(), name
    for licence in ("LICENSE", "LICENSE-SAMPLECODE", "LICENSE-SUMMARY"):
        assert files[f"{info}/{licence}"] == Path(installed.locate_file(
            f"d2l-{installed.version}.dist-info/{licence}")).read_bytes()
    assert b"Permission is hereby granted, free of charge" in files[f"{info}/LICENSE-SAMPLECODE"]
    metadata = _metadata(release, d2l_wheel_name(D2L_VERSION), info)
    assert f"Version: {D2L_VERSION}+d2lgrade" in metadata and "License: MIT-0" in metadata
    requires = _requires(metadata)
    assert requires and all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in requires), requires
    # d2l.torch's imports: d2l's own needs from the d2l wheel, torch's world from the student wheel
    provided = {IMPORT_NAMES.get(name, name.replace("-", "_"))
                for name in requires + PYPROJECT["dependencies"]}
    imported = _third_party_imports(files["d2l/torch.py"].decode())
    assert {"numpy", "torch", "pandas", "IPython", "matplotlib_inline", "PIL"} <= imported
    assert imported <= provided, imported - provided


def test_the_d2l_wheel_is_refused_without_d2l(tmp_path, monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(CourseError, match="d2l is not installed here"):
        build_d2l_wheel(tmp_path)
    assert not list(tmp_path.iterdir())


def test_pip_check_finds_nothing_wrong_in_a_student_install(pythons):
    """pip's own check in the environment made as the release's README says: nothing at all."""
    pip = [sys.executable, "-m", "pip", "--python", str(pythons["student"])]
    done = subprocess.run([*pip, "check", "--disable-pip-version-check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "No broken requirements found.\n", done.stdout + done.stderr


def test_the_wheel_carries_the_lock_its_checks_compare_with(pythons, tmp_path):
    """In a kernel with no course around, the checks find the release's lock inside the wheel: a student
    whose torch is another one is told so."""
    program = ("from d2lgrade.course import find_course; from d2lgrade.environment import LOCK, lock_warning\n"
               "root = find_course().root\n"
               "print((root / LOCK).read_text() == open(LOCK).read(), lock_warning(root), sep='\\n')\n"
               "print(lock_warning(root, lambda name: {'torch': '1.13.1'}.get(name, __import__('importlib.metadata').metadata.version(name))))")
    env = {key: value for key, value in os.environ.items() if key not in ("D2LGRADE_COURSE", "PYTHONPATH")}
    shutil.copy(ROOT / "requirements.lock", tmp_path / "requirements.lock")  # to compare with; no course in tmp_path
    done = subprocess.run([pythons["student"], "-c", program], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    same, matching, other = done.stdout.splitlines()
    assert (same, matching) == ("True", "None")
    torch = importlib.metadata.version("torch").split("+")[0]
    assert other.startswith("Note: this Python has torch 1.13.1, but the checks were made with torch ") and f"torch=={torch}" in other
