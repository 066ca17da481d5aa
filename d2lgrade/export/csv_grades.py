"""CSV: nbgrader's export columns, then one column per autograded question, then the error.

The first columns are exactly those of ``nbgrader export`` (its
CsvExportPlugin), so a spreadsheet or LMS import made for nbgrader reads
this file too. Rows go by assignment, then student, as nbgrader's do.
Scores are the autograded points: written answers are graded by hand in
nbgrader, and neither due dates, submission times, names nor emails are
known here, so those columns stay empty and the late penalty is 0.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from d2lgrade.export.shared import autograded_names, by_assignment, printable
from d2lgrade.results import SubmissionResult

#: ``nbgrader export``'s columns, in its order.
NBGRADER_COLUMNS = [
    "assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
    "raw_score", "late_submission_penalty", "score", "max_score",
]


def write_csv(results: Sequence[SubmissionResult], path: Path) -> None:
    questions = autograded_names(results)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, [*NBGRADER_COLUMNS, *questions, "error"])
        writer.writeheader()
        for rows in by_assignment(results).values():
            for result in sorted(rows, key=lambda r: r.student):
                writer.writerow(_row(result))


def _row(result: SubmissionResult) -> dict[str, str]:
    row = dict.fromkeys(NBGRADER_COLUMNS, "")
    row.update(
        assignment=result.assignment,
        student_id=result.student,
        raw_score=f"{result.score:g}",
        late_submission_penalty="0",
        score=f"{result.score:g}",
        max_score=f"{result.possible:g}",
        error=result.error or "",
    )
    row.update({q.name: f"{q.score:g}" for q in result.questions if q.autograded})
    return {column: printable(value) for column, value in row.items()}
