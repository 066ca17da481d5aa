"""JSON: every test's outcome, message, time and the seed, for staff and for tools."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from d2lgrade.results import SubmissionResult

FORMAT = "d2lgrade-results/1"


def write_json(results: Sequence[SubmissionResult], path: Path) -> None:
    data = {"format": FORMAT, "submissions": [result.to_dict() for result in results]}
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> list[SubmissionResult]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a d2lgrade results file (format {data.get('format')!r})")
    return [SubmissionResult.from_dict(item) for item in data["submissions"]]
