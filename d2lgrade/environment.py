"""The libraries a grade depends on: recorded with every result, compared with the course's lock.

``requirements.lock`` (written by ``scripts/lock``) holds the exact version of every package the
graders were checked with, as a pip constraints file. Grading records the versions it ran with
in each result (read here, in the grading process, from the installed packages' metadata: never
from anything a student's process says), and treats results graded on another torch or numpy
major.minor version as graded differently. Students are told in one line when their torch,
numpy or d2l is not the lock's.

Versions are read with ``importlib.metadata``, which costs no import of torch.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from d2lgrade import __version__

__all__ = ["GRADE_CHANGING", "LOCK", "STUDENT_LOCKED", "describe_change", "grading_environment", "installed",
           "lock_mismatches", "lock_warning", "public", "read_lock", "same_series", "series", "versions"]

#: The course's constraints file, at the root of a checkout or a release (and in the student wheel's course).
LOCK = "requirements.lock"
#: What a result records, besides the device: d2lgrade's own version comes from the package itself.
RECORDED = ("torch", "numpy", "d2l", "nbgrader")
#: Libraries whose major.minor version decides whether two gradings are comparable.
GRADE_CHANGING = ("torch", "numpy")
#: What a student is warned about when it is not the lock's version.
STUDENT_LOCKED = ("torch", "numpy", "d2l")


def installed(name: str) -> str | None:
    """The installed version of the distribution ``name``; None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def public(version: str) -> str:
    """A version without its local label (PEP 440): ``2.14.1`` for ``2.14.1+cpu``, ``1.0.3`` for ``1.0.3+d2lgrade``."""
    return version.split("+")[0]


def series(version: str | None) -> tuple[str, ...] | None:
    """A version's major.minor, as a tuple; None for no version."""
    return None if version is None else tuple(public(version).split(".")[:2])


def same_series(before: str | None, now: str | None) -> bool:
    return series(before) == series(now)


def versions() -> dict[str, str | None]:
    """Python's and the recorded libraries' versions in this process's environment (None: not installed)."""
    found = {name: installed(name) for name in RECORDED}
    return {"python": platform.python_version(), **found, "d2lgrade": __version__}


def _device() -> str:
    """The devices the graders test on, as their ``device`` fixture does: cpu, and cuda where there is one.
    (Without the GPU's name: reading it would start CUDA in the grading process.)"""
    import torch  # the grading process has it imported already

    return "cpu and cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def _versions_once() -> dict[str, str | None]:
    return versions()


def grading_environment() -> dict[str, str | None]:
    """What a result records: ``versions()`` and the graders' ``device``, read in the grading process."""
    return {**_versions_once(), "device": _device()}


def describe_change(name: str, before: str | None, now: str | None) -> str:
    """Why results graded with ``before`` and ``now`` of ``name`` are not comparable, in one sentence."""
    if before is None:
        return f"it was graded by an older d2lgrade that did not record the {name} version (now {name} {now})"
    return (f"it was graded with {name} {before} and {name} is {now} now, "
            "another major or minor version that can change results")


# ---------------------------------------------------------------- the lock
def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """The lock's exact versions by canonical package name (``name==version`` lines; comments ignored).

    Raises ValueError naming the line that is not ``name==version``.
    """
    locked = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
        if match is None:
            raise ValueError(f"{path}, line {number}: {line!r} is not name==version")
        locked[_canonical(match[1])] = match[2]
    return locked


def lock_mismatches(locked: Mapping[str, str], have: Callable[[str], str | None] = installed,
                    names: tuple[str, ...] | None = None) -> dict[str, tuple[str | None, str]]:
    """``{package: (installed version or None, locked version)}`` for the locked packages (of ``names``, when
    given) whose installed version is not the lock's; local labels (``+cpu``, ``+d2lgrade``) do not count."""
    wanted = locked if names is None else {name: locked[name] for name in names if name in locked}
    found = {name: have(name) for name in wanted}
    return {name: (found[name], version) for name, version in wanted.items()
            if found[name] is None or public(found[name]) != public(version)}


def lock_warning(root: Path, have: Callable[[str], str | None] = installed) -> str | None:
    """One line for a student whose torch, numpy or d2l is not the one in the course's lock under
    ``root``, with the pip command that installs the lock's; None when they match or there is no lock."""
    path = Path(root) / LOCK
    try:
        locked = read_lock(path)
    except (OSError, ValueError):
        return None  # no lock (an older release): nothing to compare with
    mismatches = lock_mismatches(locked, have, STUDENT_LOCKED)
    if not mismatches:
        return None
    yours = ", ".join(f"{name} {found}" if found else f"no {name}" for name, (found, _) in mismatches.items())
    theirs = ", ".join(f"{name} {version}" for name, (_, version) in mismatches.items())
    install = " ".join(_requirement(name, version) for name, (_, version) in mismatches.items())
    return (f"Note: this Python has {yours}, but the checks were made with {theirs}; results may differ. "
            f"To install those: python -m pip install {install}")


def _requirement(name: str, version: str) -> str:
    if name == "d2l":  # the release's d2l wheel: d2l from PyPI brings its pins from 2022
        from d2lgrade.wheel import d2l_wheel_name  # here: the wheel module names the lock from this one

        return d2l_wheel_name(public(version))
    return f"{name}=={version}"
