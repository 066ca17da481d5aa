"""The student wheel: the self-checks as one file that pip installs in any kernel.

``build_wheel(course, names, out)`` writes ``d2lgrade_student-<version>-py3-none-any.whl``:
the d2lgrade package as a release ships it (``release.PACKAGE_FILES``), and under
``d2lgrade/released/`` the stubs and public checks of the assignments ``names``, which
``find_course`` falls back on when no course folder is around (Colab, a notebook on its
own). It declares the student side's dependencies (``pyproject.toml``'s, never the
instructor extra) and gives the ``d2lgrade`` command.

The wheel is written here rather than by a build backend: it is a zip with four metadata
files (PEP 427), and building it needs neither setuptools nor the network. Its entries carry
one fixed date, so the same course gives the same file.
"""

from __future__ import annotations

import base64
import hashlib
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from d2lgrade import __version__
from d2lgrade.course import Course, CourseError

__all__ = ["DISTRIBUTION", "PACKAGED_COURSE", "build_wheel", "dependencies", "wheel_name"]

#: The wheel's distribution name (its import name stays ``d2lgrade``).
DISTRIBUTION = "d2lgrade_student"
#: Where, inside the package, the wheel keeps the released assignments.
PACKAGED_COURSE = "released"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

METADATA = """\
Metadata-Version: 2.1
Name: {name}
Version: {version}
Summary: Self-checks for the d2l Linear Neural Networks assignments: {assignments}
Requires-Python: {python}
{requires}
"""

WHEEL = """\
Wheel-Version: 1.0
Generator: d2lgrade {version}
Root-Is-Purelib: true
Tag: py3-none-any
"""

ENTRY_POINTS = """\
[console_scripts]
d2lgrade = d2lgrade.cli:main
"""


def wheel_name(version: str = __version__) -> str:
    return f"{DISTRIBUTION}-{version}-py3-none-any.whl"


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
        assignments=", ".join(names),
        python=_python(course),
        requires="\n".join(f"Requires-Dist: {requirement}" for requirement in dependencies(course)),
    )
    entries = [
        *_contents(course, names, package_files),
        (f"{info}/METADATA", metadata.encode()),
        (f"{info}/WHEEL", WHEEL.format(version=__version__).encode()),
        (f"{info}/entry_points.txt", ENTRY_POINTS.encode()),
    ]
    record = [_record_line(name, data) for name, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    path = Path(out) / wheel_name()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries:
            entry = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return path
