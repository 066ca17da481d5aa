"""CSV: one row per submission, one column per autograded question."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from d2lgrade.results import SubmissionResult


def write_csv(results: Sequence[SubmissionResult], path: Path) -> None:
    questions: list[str] = []
    for result in results:
        for question in result.questions:
            if question.autograded and question.name not in questions:
                questions.append(question.name)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["student", "assignment", "score", "max_score", *questions, "error"])
        for result in results:
            scores = {q.name: q.score for q in result.questions if q.autograded}
            writer.writerow([
                result.student, result.assignment, f"{result.score:g}", f"{result.possible:g}",
                *(f"{scores[q]:g}" if q in scores else "" for q in questions),
                result.error or "",
            ])
