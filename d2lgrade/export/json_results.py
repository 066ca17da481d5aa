"""JSON: every test's outcome, message, time and the seed, for staff and for tools."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from d2lgrade.results import SubmissionResult

FORMAT = "d2lgrade-results/1"


def write_json(results: Sequence[SubmissionResult], path: Path, *, shard: dict | None = None) -> None:
    """``shard``: which part of a class these results are, when it was graded with ``--shard``
    (d2lgrade.shard writes and reads it); an optional top-level field."""
    data = {"format": FORMAT, **({"shard": shard} if shard is not None else {}), "submissions": [result.to_dict() for result in results]}
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    # A lone surrogate (a student's message can hold one) is no UTF-8; written out as
    # its JSON escape \udXXX it reads back as the same string.
    Path(path).write_bytes(text.encode("utf-8", "backslashreplace"))


def read_json(path: Path) -> list[SubmissionResult]:
    return read_json_shard(path)[0]


def read_json_shard(path: Path) -> tuple[list[SubmissionResult], dict | None]:
    """The results, and the shard they are (None when graded without ``--shard``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a d2lgrade results file (format {data.get('format')!r})")
    return [SubmissionResult.from_dict(item) for item in data["submissions"]], data.get("shard")
