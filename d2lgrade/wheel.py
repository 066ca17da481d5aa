"""The student wheel: the self-checks as one file that pip installs in any kernel.

``build_wheel(course, names, out)`` writes ``d2lgrade_student-<version>-py3-none-any.whl``:
the d2lgrade package as a release ships it (``release.PACKAGE_FILES``), and under
``d2lgrade/released/`` the stubs and public checks of the assignments ``names``, which
``find_course`` falls back on when no course folder is around (Colab, a notebook on its
own), with the course's ``requirements.lock`` (``d2lgrade.environment``). It declares the
student side's dependencies (``pyproject.toml``'s, never the instructor extra) and gives the
``d2lgrade`` command.

``build_d2l_wheel(out)`` writes ``d2l-<version>+d2lgrade-py3-none-any.whl``: the installed d2l
package's files and licence files as they are (d2l is MIT-0), under a local version, declaring
what d2l imports without d2l's exact pins from 2022 (numpy 1.23.5, pandas 2.0.3, ...), which do
not install on current Pythons. With it, a student installs d2l the ordinary way and
``pip check`` finds nothing wrong.

The wheels are written here rather than by a build backend: each is a zip with a few metadata
files (PEP 427), and building them needs neither setuptools nor the network. Its entries carry
one fixed date, so the same course gives the same file.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from d2lgrade import __version__
from d2lgrade.course import Course, CourseError
from d2lgrade.environment import LOCK

__all__ = ["DISTRIBUTION", "PACKAGED_COURSE", "build_d2l_wheel", "build_wheel", "d2l_wheel_name",
           "dependencies", "wheel_name"]

#: The wheel's distribution name (its import name stays ``d2lgrade``).
DISTRIBUTION = "d2lgrade_student"
#: Where, inside the package, the wheel keeps the released assignments.
PACKAGED_COURSE = "released"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: The local version label (PEP 440) of the repackaged d2l: ``1.0.3+d2lgrade``.
D2L_LOCAL = "d2lgrade"
#: d2l's requirements that it does not import, by what it imports of them instead.
D2L_IMPORTS_INSTEAD = {"jupyter": "ipython"}

METADATA = """\
Metadata-Version: 2.1
Name: {name}
Version: {version}
Summary: {summary}
Requires-Python: {python}
{fields}
"""

WHEEL = """\
Wheel-Version: 1.0
Generator: d2lgrade {version}
Root-Is-Purelib: true
Tag: py3-none-any
"""

ENTRY_POINTS = """\
[console_scripts]
d2lgrade = d2lgrade.cli:run
"""


def wheel_name(version: str = __version__) -> str:
    return f"{DISTRIBUTION}-{version}-py3-none-any.whl"


def d2l_wheel_name(version: str) -> str:
    """The repackaged d2l's file name, for the d2l ``version`` it holds (``1.0.3``)."""
    return f"d2l-{version}+{D2L_LOCAL}-py3-none-any.whl"


def dependencies(course: Course) -> list[str]:
    """The student side's requirements: ``[project] dependencies`` of the course's pyproject.toml."""
    source = course.root / "pyproject.toml"
    if not source.is_file():
        raise CourseError(f"{source} is missing: it declares what the student wheel needs")
    return list(tomllib.loads(source.read_text(encoding="utf-8"))["project"].get("dependencies", []))


def _python(course: Course) -> str:
    project = tomllib.loads((course.root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project.get("requires-python", ">=3.11")


def _contents(course: Course, names: Sequence[str],
              package_files: Sequence[tuple[str, Path]]) -> Iterator[tuple[str, bytes]]:
    for name, path in package_files:
        yield f"d2lgrade/{name}", path.read_bytes()
    packaged = f"d2lgrade/{PACKAGED_COURSE}"
    for name in names:
        yield f"{packaged}/assignments/{name}/{name}.ipynb", course.stub(name).read_bytes()
        yield f"{packaged}/graders/public/{name}.py", (course.graders / "public" / f"{name}.py").read_bytes()
    yield f"{packaged}/{LOCK}", (course.root / LOCK).read_bytes()  # what the checks compare a student's libraries with


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(course: Course, names: Sequence[str], out: Path, package_files: Sequence[tuple[str, Path]]) -> Path:
    """Write the student wheel of the assignments ``names`` into the folder ``out``; return its path.
    ``package_files`` are the package's files as (path inside ``d2lgrade/``, file here)."""
    info = f"{DISTRIBUTION}-{__version__}.dist-info"
    metadata = METADATA.format(
        name=DISTRIBUTION.replace("_", "-"),
        version=__version__,
        summary="Self-checks for the d2l Linear Neural Networks assignments: " + ", ".join(names),
        python=_python(course),
        fields="\n".join(f"Requires-Dist: {requirement}" for requirement in dependencies(course)),
    )
    entries = [
        *_contents(course, names, package_files),
        (f"{info}/METADATA", metadata.encode()),
        (f"{info}/entry_points.txt", ENTRY_POINTS.encode()),
    ]
    return _write_wheel(Path(out) / wheel_name(), info, entries)


def build_d2l_wheel(out: Path) -> Path:
    """Write the installed d2l again, without its exact pins, into the folder ``out``; return it."""
    try:
        d2l = importlib.metadata.distribution("d2l")
    except importlib.metadata.PackageNotFoundError:
        raise CourseError("d2l is not installed here, and the release repackages the installed d2l: "
                          "run `pip install --no-deps d2l==1.0.3` first") from None
    if d2l.metadata["License"] != "MIT-0":
        raise CourseError(f"d2l {d2l.version} is licensed {d2l.metadata['License']!r}: the release "
                          "repackages only an MIT-0 d2l (1.0.3 is)")
    version = d2l.version.split("+")[0]  # a d2l repackaged before keeps its version
    info = f"d2l-{version}+{D2L_LOCAL}.dist-info"
    files = [file for file in d2l.files or () if "__pycache__" not in file.parts]
    code = [(file.as_posix(), _installed(d2l, file)) for file in files if file.parts[0] == "d2l"]
    licence_names = d2l.metadata.get_all("License-File") or []
    licences = [(f"{info}/{inside}", _installed(d2l, file)) for file in files
                if file.parts[0].endswith(".dist-info")
                and (inside := "/".join(file.parts[1:])) in licence_names]
    if not code or len(licences) != len(licence_names):
        raise CourseError(f"d2l {d2l.version} at {d2l.locate_file('')} lacks its code or its licences")
    metadata = METADATA.format(
        name="d2l",
        version=f"{version}+{D2L_LOCAL}",
        summary=f"Dive into Deep Learning (d2l.ai): d2l {version} without its pins, from d2lgrade",
        python=d2l.metadata.get("Requires-Python", ">=3"),
        fields="\n".join(["License: MIT-0", *(f"License-File: {name}" for name in licence_names),
                          *(f"Requires-Dist: {name}" for name in d2l_requirements(d2l))]),
    )
    entries = [*code, *licences, (f"{info}/METADATA", metadata.encode())]
    return _write_wheel(Path(out) / d2l_wheel_name(version), info, entries)


def d2l_requirements(d2l: importlib.metadata.Distribution) -> list[str]:
    """The packages d2l imports, by d2l's own requirements with their pins left out."""
    names = [re.match(r"[A-Za-z0-9._-]+", requirement)[0] for requirement in d2l.requires or ()]
    return [D2L_IMPORTS_INSTEAD.get(name, name) for name in names]


def _installed(distribution: importlib.metadata.Distribution, file) -> bytes:
    return Path(distribution.locate_file(file)).read_bytes()


def _write_wheel(path: Path, info: str, entries: list[tuple[str, bytes]]) -> Path:
    """Write the wheel ``path`` of ``entries`` (name in the zip, contents), adding its WHEEL and
    RECORD files to its ``.dist-info`` folder ``info``; return ``path``."""
    entries = [*entries, (f"{info}/WHEEL", WHEEL.format(version=__version__).encode())]
    record = [_record_line(name, data) for name, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries:
            entry = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return path
