"""What the exporters share: how a test is shown to students, printable text, an HTML page.

Hidden tests are shown by name and outcome only. A hidden test's message
can say what the test fed in and what it expected, which is the test
itself, so no export a student may read (feedback, JUnit in a student's CI,
the class report) carries it: students get a fixed sentence for its outcome
instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape

from d2lgrade.results import CellReport
from d2lgrade.results import SubmissionResult, TestResult

#: One word for each outcome, as students read it.
OUTCOME_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "error": "error",
    "grader_error": "not checked",
    "skipped": "skipped",
}

#: What a student is told about a hidden test instead of its message (its name says what it checks).
HIDDEN_OUTCOME_NOTES = {
    "passed": "",
    "failed": "Hidden test: your answer was not right here; its details are not shown.",
    "error": "Hidden test: your code raised an error, ran too long or was missing here; its details are not shown.",
    "grader_error": "Hidden test: the grader could not check this because of a problem on our side; your instructor has been told.",
    "skipped": "",
}

#: Characters no export should carry as they are: control characters other than newline and
#: tab (an ANSI escape would reach the terminal of whoever prints a feedback file) and lone
#: surrogates, which UTF-8 cannot encode.
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

#: Outcomes that cost the student points (a grader error is the graders' fault, not the student's).
STUDENT_FAILURES = ("failed", "error")


def shown_message(test: TestResult) -> str:
    """The message a student may read: a public test's own, a fixed note for a hidden one."""
    if test.hidden:
        return HIDDEN_OUTCOME_NOTES.get(test.outcome, "Hidden test: its details are not shown.")
    return test.message


def printable(text: str) -> str:
    """``text`` with control characters written out (``\\x1b``) and lone surrogates replaced."""
    return UNPRINTABLE.sub(_written_out, text.replace("\r\n", "\n"))


def _written_out(match: re.Match) -> str:
    character = match.group()
    return "\ufffd" if "\ud800" <= character <= "\udfff" else f"\\x{ord(character):02x}"


def points_text(score: float, points: float) -> str:
    """``0.67/1``: a score rounded for reading, out of the points."""
    return f"{round(score, 2):g}/{points:g}"


def cell_problem(cell: CellReport) -> str:
    """``cell 44: NotImplementedError: ...``, numbered from 1 like the table."""
    what = cell.ename or cell.status
    return f"cell {cell.index + 1}: {what}: {cell.evalue}" if cell.evalue else f"cell {cell.index + 1}: {what}"


def cell_problems(result: SubmissionResult) -> list[str]:
    return [cell_problem(cell) for cell in result.cells if not cell.ok]


def by_assignment(results: Iterable[SubmissionResult]) -> dict[str, list[SubmissionResult]]:
    """Results grouped by assignment, assignments and students in the order they came."""
    groups: dict[str, list[SubmissionResult]] = {}
    for result in results:
        groups.setdefault(result.assignment, []).append(result)
    return groups


def autograded_names(results: Sequence[SubmissionResult]) -> list[str]:
    """The autograded questions of these results, in the order they first appear."""
    return list(dict.fromkeys(q.name for r in results for q in r.questions if q.autograded))


def file_name(name: str) -> str:
    """``name`` itself, refusing one that would leave its folder (a results file can be edited by hand)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{name!r} cannot be used as a file name")
    return name


def html_page(title: str, style: str, body: Iterable[str]) -> str:
    """A whole HTML page: ``body`` is markup already escaped, ``title`` plain text; nothing is fetched."""
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    return printable(page)
