"""Results on disk as they come: one file per submission, so that a run that was stopped can resume.

``OUT/submissions/<assignment>/<student>.json`` holds one submission's
result and what it was graded with (the seed, the questions, whether public
checks only, the graders' fingerprint, the notebook's SHA-256, the torch and
numpy versions). Each file is written whole or not at all: into a temporary
file in the same folder, flushed to disk, then renamed over the old one. At
the end ``OUT/results.json`` and ``OUT/grades.csv`` are written from all of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from d2lgrade import notebook as nb
from d2lgrade.environment import GRADE_CHANGING, describe_change, same_series, versions
from d2lgrade.export import write_all
from d2lgrade.submissions import Submission
from d2lgrade.results import SubmissionResult

__all__ = ["FORMAT", "ResultStore", "clashes", "graded_with"]

FORMAT = "d2lgrade-submission/1"
#: What a file is called before it is complete (never read as a result).
TEMPORARY = ".tmp"
#: What ``write_summary`` writes into OUT, and a new run without --resume replaces.
SUMMARIES = ("results.json", "grades.csv", "junit.xml", "feedback", "report")


def graded_with(path: Path | str, *, seed: int, questions: set[str] | None, public_only: bool, graders: str | None,
                libraries: Mapping[str, str | None] | None = None) -> dict:
    """What a result depends on: a stored result is reused only when all of it matches (torch and numpy:
    their major.minor version).

    ``graders``: the assignment's ``Assignment.fingerprint`` (None for a notebook of no assignment).
    ``libraries``: the installed versions (``environment.versions()``; default: read now).
    """
    libraries = versions() if libraries is None else libraries
    try:
        notebook = hashlib.sha256(nb.read_submission(Path(path))).hexdigest()
    except (nb.NotebookError, OSError):  # not a notebook file: graded as an error, kept while it stays one
        notebook = None
    return {"seed": seed, "questions": sorted(questions) if questions is not None else None, "public_only": public_only,
            "graders": graders, "notebook": notebook, **{name: libraries.get(name) for name in GRADE_CHANGING}}


class ResultStore:
    """The results of one output folder."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.folder = self.out / "submissions"

    def path(self, assignment: str | None, student: str) -> Path:
        return self.folder / (assignment or "?") / f"{student}.json"

    def save(self, result: SubmissionResult, settings: dict) -> None:
        """Write one result atomically, replacing an earlier one of the same student and assignment."""
        target = self.path(result.assignment, result.student)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": FORMAT, "graded_with": settings, "result": result.to_dict()}, indent=1, ensure_ascii=False)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{result.student}.", suffix=TEMPORARY)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text + "\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def load(self, assignment: str | None, student: str) -> tuple[SubmissionResult, dict] | None:
        """The stored result and what it was graded with; None when there is none.

        Raises ValueError when the file is not a stored result.
        """
        path = self.path(assignment, student)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} could not be read: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a d2lgrade result")
        try:
            return SubmissionResult.from_dict(data["result"]), data["graded_with"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a d2lgrade result ({exc!r})") from None

    def resume(self, submissions: Sequence[Submission], settings: Callable[[Submission], dict]) -> tuple[dict[int, SubmissionResult], list[str]]:
        """The results already stored for these submissions, by index, when graded as ``settings`` says they
        would be now; and why each other stored result must be graded again."""
        kept: dict[int, SubmissionResult] = {}
        regrade: list[str] = []
        for index, submission in enumerate(submissions):
            try:
                stored = self.load(submission.assignment, submission.student)
            except ValueError as exc:
                regrade.append(f"{submission.student} ({submission.assignment}): {exc}")
                continue
            if stored is None:
                continue
            result, had = stored
            wanted = settings(submission)
            changed = [_change(key, had.get(key), now) for key, now in wanted.items() if not _same(key, had.get(key), now)]
            if changed:
                regrade.append(f"{submission.student} ({submission.assignment}): " + ", ".join(changed))
            else:
                kept[index] = result
        return kept, regrade

    def clear(self) -> int:
        """Remove the results of earlier runs (and nothing else); how many submissions' results there were."""
        removed = 0
        for path in [*self.folder.glob("*/*.json"), *self.folder.glob(f"*/.*{TEMPORARY}")]:
            path.unlink()
            removed += path.suffix == ".json"
        for folder in [*self.folder.glob("*/"), self.folder]:
            with contextlib.suppress(OSError):  # kept when something else is in it
                folder.rmdir()
        for summary in SUMMARIES:
            path = self.out / summary
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        return removed

    def write_summary(self, results: Sequence[SubmissionResult], *, shard: dict | None = None) -> list[Path]:
        """Every export (``d2lgrade.export.write_all``) from every result; the paths written.
        ``shard``: which part of the class the results are, for results.json."""
        return write_all(results, self.out, shard=shard)


def _same(key: str, before: object, now: object) -> bool:
    return same_series(before, now) if key in GRADE_CHANGING else before == now


def _change(key: str, before: object, now: object) -> str:
    if key in GRADE_CHANGING:
        return describe_change(key, before, now)
    if key == "notebook":
        return "the notebook changed"
    if key == "graders":
        return "the graders or the reference changed" if before is not None else "graded by an older d2lgrade that did not record the graders"
    return f"{key.replace('_', ' ')} was {before!r}, now {now!r}"


def clashes(submissions: Sequence[Submission]) -> list[str]:
    """Notebooks that would share one result file: the same student and assignment."""
    seen: dict[tuple, Path] = {}
    found = []
    for submission in submissions:
        key = (submission.assignment, submission.student)
        if key in seen:
            found.append(f"{submission.student} ({submission.assignment or '?'}): {seen[key]} and {submission.path}")
        seen.setdefault(key, submission.path)
    return found
