"""The per-student, per-question table printed after grading."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from d2lgrade.results import SubmissionResult
from d2lgrade.sandbox import DESCRIPTIONS


def _cell(score: float, points: float) -> str:
    text = f"{round(score, 2):g}/{points:g}"
    if score >= points:
        return f"[green]{text}[/]"
    return f"[red]{text}[/]" if score == 0 else f"[yellow]{text}[/]"


def print_table(results: Sequence[SubmissionResult], console: Console | None = None) -> None:
    """One table per assignment, then what went wrong for whom."""
    # Off a terminal (a log, CI) rich would cut the table at 80 columns.
    console = console or Console(width=None if sys.stdout.isatty() else 250)
    for assignment in dict.fromkeys(r.assignment for r in results):
        rows = [r for r in results if r.assignment == assignment]
        names = list(dict.fromkeys(q.name for r in rows for q in r.questions if q.autograded))
        table = Table(title=f"{assignment}: autograded points", title_justify="left")
        table.add_column("student")
        for name in names:
            table.add_column(name, justify="right")
        table.add_column("total", justify="right", style="bold")
        for result in rows:
            questions = {q.name: q for q in result.questions}
            table.add_row(
                result.student,
                *(_cell(questions[n].score, questions[n].points) if n in questions else "" for n in names),
                _cell(result.score, result.possible),
            )
        console.print(table)
        for result in rows:
            for line in _notes(result):
                console.print(f"  {result.student}: {line}", highlight=False, markup=False)
    for line in _unconfined(results):
        console.print(f"warning: {line}", highlight=False, markup=False, style="yellow")


def _unconfined(results: Sequence[SubmissionResult]) -> list[str]:
    """One line per protection of the sandbox that did not apply, for staff (see d2lgrade.sandbox)."""
    missing: dict[str, set[str]] = {}
    for result in results:
        for protection, applied in result.sandbox.items():
            if protection not in DESCRIPTIONS and applied is not True:
                missing.setdefault(f"{protection}: {applied}", set()).add(result.student)
    return [f"student code ran without this protection ({why}) for {len(students)} student(s)" for why, students in missing.items()]


def _notes(result: SubmissionResult) -> list[str]:
    notes = []
    if result.error:
        notes.append(f"not graded: {result.error}")
    failed_cells = [c for c in result.cells if not c.ok]
    if failed_cells:
        listed = ", ".join(f"cell {c.index + 1} ({c.ename})" for c in failed_cells[:5])
        notes.append(f"{len(failed_cells)} cell(s) stopped with an error: {listed}")
    if result.over_budget:
        notes.append(f"used all of its {result.budget:g} s: its process was stopped, the checks left ended as errors")
    if result.grader_errors:
        notes.append(f"GRADER ERROR in {len(result.grader_errors)} test(s); see the JSON results")
    return notes
