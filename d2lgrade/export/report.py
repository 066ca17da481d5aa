"""The class report: one self-contained HTML page per assignment, for instructors.

``folder/<assignment>.html`` holds a histogram of the total scores, one
histogram per autograded question, a table of the questions, and the most
common failure messages with how many students hit each. The plots are SVG
images embedded as base64 (``d2lgrade.export.histogram``), so the page
needs nothing but itself. Students are counted, never named
(the report may be shown to the class), and hidden tests appear by name
only, as in the feedback.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

from d2lgrade.export.histogram import BAR_COLOUR, PLOT_BACKGROUND, histogram_img  # noqa: F401 (the tests' colours)
from d2lgrade.export.shared import STUDENT_FAILURES, autograded_names, by_assignment, file_name, html_page
from d2lgrade.results import SubmissionResult

#: How many failure messages the report lists.
TOP_FAILURES = 15

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 64rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 1.8rem; border-bottom: 1px solid #ddd; }
.meta { color: #555; margin-top: 0; }
figure { margin: 0; }
img { display: block; }
.grid { display: grid; grid-template-columns: repeat(3, 320px); gap: 12px; }
table { border-collapse: collapse; margin-top: 0.5rem; }
th, td { text-align: left; padding: 0.25rem 0.7rem; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
td.number, th.number { text-align: right; }
pre { white-space: pre-wrap; margin: 0; font-size: 0.85rem; max-width: 44rem; }
.hidden-tag { font-size: 0.8em; background: #eee; border-radius: 3px; padding: 0 0.3em; }
"""


@dataclasses.dataclass(frozen=True)
class Failure:
    """One failure message (or hidden test) and the students who got it."""

    question: str
    text: str
    """a public test's message, or a hidden test's name"""
    hidden: bool
    students: frozenset[str]


def write_report(results: Sequence[SubmissionResult], folder: Path) -> list[Path]:
    """Write one report per assignment; return the paths written."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    written = []
    for assignment, rows in by_assignment(results).items():
        path = Path(folder) / f"{file_name(assignment)}.html"
        path.write_text(report_html(assignment, rows), encoding="utf-8")
        written.append(path)
    return written


def report_html(assignment: str, results: Sequence[SubmissionResult]) -> str:
    title = f"{assignment}: class report"
    names = autograded_names(results)
    possible = max((r.possible for r in results), default=0.0)
    body = [f"<h1>{escape(title)}</h1>", _summary_html(results)]
    if possible > 0:
        totals = [r.score for r in results]
        plot = histogram_img(totals, possible, "total autograded points", bins=_total_bins(possible), legend=True,
                             alt="distribution of total scores")
        body += ["<h2>Total scores</h2>", plot]
    if names:
        body.append("<h2>Scores per question</h2><p class=meta>The dashed line is the class mean.</p>")
        body.append('<div class="grid">' + "".join(_question_figure(results, name) for name in names) + "</div>")
        body += ["<h2>Questions</h2>", _questions_table(results, names)]
    body += ["<h2>Most common failures</h2>", _failures_table(common_failures(results), len(results))]
    return html_page(title, STYLE, body)


def common_failures(results: Sequence[SubmissionResult], limit: int = TOP_FAILURES) -> list[Failure]:
    """The failures most students hit: public ones by message, hidden ones by test.

    The cases of one parametrised hidden test (``T=1000``, ``T=3000``, on cpu
    and on cuda) are one row: they are one mistake.
    """
    found: dict[tuple[str, str, bool], tuple[set[str], set[str]]] = {}  # key: (students, test names)
    for result in results:
        for question in result.questions:
            for test in question.tests:
                if test.outcome in STUDENT_FAILURES:
                    key = (question.name, test.test_id.split("[")[0], True) if test.hidden else (question.name, test.message, False)
                    students, names = found.setdefault(key, (set(), set()))
                    students.add(result.student)
                    names.add(test.name)
    failures = [
        Failure(question, _common_name(names) if hidden else message, hidden, frozenset(students))
        for (question, message, hidden), (students, names) in found.items()
    ]
    failures.sort(key=lambda f: -len(f.students))  # stable: ties keep the order of the questions
    return failures[:limit]


def _common_name(names: set[str]) -> str:
    """What the cases of one test share: ``finds T (T=1000)`` and ``finds T (T=3000)`` give ``finds T (2 cases)``."""
    if len(names) == 1:
        return next(iter(names))
    shared = os.path.commonprefix(sorted(names))
    shared = shared[: shared.rfind(" (")] if " (" in shared else shared
    return f"{shared.strip() or sorted(names)[0]} ({len(names)} cases)"


# ------------------------------------------------------------------ tables


def _summary_html(results: Sequence[SubmissionResult]) -> str:
    totals = [r.score for r in results]
    possible = max((r.possible for r in results), default=0.0)
    parts = [f"{len(results)} submission(s)"]
    if totals:
        parts.append(
            f"mean {statistics.fmean(totals):.2f}, median {statistics.median(totals):.2f}, "
            f"lowest {min(totals):g}, highest {max(totals):g} of {possible:g} autograded points"
        )
    not_graded = sum(1 for r in results if r.error)
    if not_graded:
        parts.append(f"{not_graded} could not be graded (scored 0)")
    slow = [r for r in results if r.over_budget]
    if slow:
        parts.append(f"{len(slow)} used all of their time ({_seconds(r.budget for r in slow)}) before every check ran")
    broken = [r for r in results if r.grader_errors]
    if broken:
        parts.append(f"grader errors in {len(broken)} submission(s): see results.json")
    seeds = sorted({r.seed for r in results})
    parts.append("seed " + ", ".join(map(str, seeds)))
    return f'<p class="meta">{escape("; ".join(parts))}.</p>'


def _seconds(budgets: Iterable[float | None]) -> str:
    return ", ".join(f"{budget:g} s" for budget in sorted({b for b in budgets if b is not None}))


def _questions_table(results: Sequence[SubmissionResult], names: list[str]) -> str:
    rows = []
    for name in names:
        questions = [q for r in results for q in r.questions if q.name == name]
        points = questions[0].points
        scores = [q.score for q in questions]
        full = sum(score >= points for score in scores)
        zero = sum(score == 0 for score in scores)
        rows.append(
            f"<tr><td>{escape(name)}</td><td class=number>{points:g}</td>"
            f"<td class=number>{statistics.fmean(scores):.2f}</td><td class=number>{full}</td><td class=number>{zero}</td></tr>"
        )
    head = "<tr><th>question</th><th class=number>points</th><th class=number>mean</th><th class=number>full marks</th><th class=number>zero</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _failures_table(failures: list[Failure], class_size: int) -> str:
    if not failures:
        return "<p>No test failed.</p>"
    rows = []
    for failure in failures:
        if failure.hidden:
            what = f'<span class="hidden-tag">hidden test</span> {escape(failure.text)}'
        else:
            what = f"<pre>{escape(failure.text)}</pre>"
        rows.append(
            f"<tr><td class=number>{len(failure.students)} of {class_size}</td>"
            f"<td>{escape(failure.question)}</td><td>{what}</td></tr>"
        )
    head = "<tr><th class=number>students</th><th>question</th><th>message</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


# ------------------------------------------------------------------ plots


def _question_figure(results: Sequence[SubmissionResult], name: str) -> str:
    questions = [q for r in results for q in r.questions if q.name == name]
    points = questions[0].points
    if points <= 0:
        return f"<p>{escape(name)}: worth no points</p>"
    return histogram_img([q.score for q in questions], points, "points", bins=10, title=f"{name} ({points:g} pt)",
                         size=(320, 220), alt=f"scores on {name}")


def _total_bins(possible: float) -> int:
    """One bin per point when the total is a whole number of at most 40 points, else 20."""
    return int(possible) if possible == int(possible) and possible <= 40 else 20



