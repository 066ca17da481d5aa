"""The catalogues of known answers: one file per wrong answer or correct alternative.

A case is ``tests/catalogue/<assignment>/{wrong,correct}/<case>.py``: a header
of comment lines, then the new source of one solution cell::

    # question: squared_loss
    # why: returns the mean over the batch instead of one loss per example
    # requires: cuda            (optional: graded only where CUDA is available)
    def squared_loss(y_hat, y):
        ...
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["Case", "CaseError", "KINDS", "discover", "read_case", "read_header"]

KINDS = ("wrong", "correct")
#: Header keys a case may use; ``question`` and ``why`` are required.
HEADER_KEYS = {"question", "why", "requires"}
#: What ``requires:`` may name, and whether this machine has it.
REQUIREMENTS: dict[str, Callable[[], bool]] = {"cuda": torch.cuda.is_available}
_HEADER_LINE = re.compile(r"^#\s*(?P<key>[a-z_]+)\s*:\s*(?P<value>.*?)\s*$")


@dataclasses.dataclass(frozen=True)
class Case:
    """One catalogue file: a solution cell's replacement source and what it is for."""

    assignment: str
    kind: str
    """``wrong`` (must lose points on ``question`` only) or ``correct`` (full marks)"""
    name: str
    """the file's stem"""
    path: Path
    question: str
    why: str
    requires: frozenset[str]
    source: str
    """the cell source: the file without its header"""

    @property
    def id(self) -> str:
        return f"{self.assignment}/{self.kind}/{self.name}"

    @property
    def student(self) -> str:
        return f"{self.kind}-{self.name}"

    def missing(self) -> list[str]:
        """What this machine lacks of the case's requirements."""
        return sorted(need for need in self.requires if need not in REQUIREMENTS or not REQUIREMENTS[need]())


class CaseError(ValueError):
    """A catalogue file whose header cannot be read."""


def read_header(path: Path, keys: set[str], *, error: type[ValueError] = CaseError) -> tuple[dict[str, str], str]:
    """A case file's leading ``# key: value`` lines (``question`` and ``why`` required) and the rest."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header: dict[str, str] = {}
    body_start = 0
    for body_start, line in enumerate(lines):
        match = _HEADER_LINE.match(line)
        if not match or match["key"] not in keys:
            break
        if match["key"] in header:
            raise error(f"{path}: header line {match['key']!r} appears twice")
        header[match["key"]] = match["value"]
    else:
        body_start = len(lines)
    for key in ("question", "why"):
        if not header.get(key):
            raise error(f"{path}: the header needs a '# {key}: ...' line before the code")
    return header, "".join(lines[body_start:])


def read_case(path: Path) -> Case:
    """Parse a case file: leading ``# key: value`` lines, then the cell source."""
    header, body = read_header(path, HEADER_KEYS)
    requires = frozenset(word for word in re.split(r"[,\s]+", header.get("requires", "")) if word)
    unknown = requires - set(REQUIREMENTS)
    if unknown:
        raise CaseError(f"{path}: unknown requirement(s) {sorted(unknown)}; known: {sorted(REQUIREMENTS)}")
    return Case(
        assignment=path.parent.parent.name,
        kind=path.parent.name,
        name=path.stem,
        path=path,
        question=header["question"],
        why=header["why"],
        requires=requires,
        source=body.lstrip("\n"),
    )


def discover(root: Path) -> list[Case]:
    """Every case file under ``root/<assignment>/{wrong,correct}/``, in a stable order."""
    return [read_case(path) for kind in KINDS for path in sorted(root.glob(f"*/{kind}/*.py"))]




def find(root: Path, assignment: str, kind: str, name: str) -> Case:
    """One case by its place, e.g. ``find(root, "linreg_scratch", "wrong", "sgd_no_batch_division")``."""
    return read_case(root / assignment / kind / f"{name}.py")
