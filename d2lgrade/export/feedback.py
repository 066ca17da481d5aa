"""Feedback: one self-contained HTML page and one plain-text file per student and assignment.

``folder/<assignment>/<student>.html`` (inline CSS, nothing fetched) and
``.txt`` (for email or an LMS comment): the autograded total, why the
notebook could not be graded or which cells stopped with an error, then
each question with its points and each test with its outcome. A public
test shows its message; a hidden test shows its name and outcome only.
Everything that comes from a result is escaped: a student's exception
message is text, never markup, and its control characters are written out.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from d2lgrade.export.shared import OUTCOME_WORDS, cell_problems, file_name, html_page, points_text, printable, shown_message
from d2lgrade.results import QuestionResult, SubmissionResult, TestResult

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 0.4rem; display: flex; justify-content: space-between; border-bottom: 1px solid #ddd; }
.meta { color: #666; margin-top: 0; }
.total { font-size: 1.2rem; }
.box { border-left: 4px solid #c0392b; background: #fdf0ef; padding: 0.5rem 1rem; margin: 1rem 0; }
ul.tests { list-style: none; padding-left: 0; }
ul.tests li { margin: 0.35rem 0; padding-left: 1.6rem; text-indent: -1.6rem; }
.mark { display: inline-block; width: 1.6rem; text-indent: 0; font-weight: bold; }
.passed .mark { color: #1e8449; }
.failed .mark, .error .mark { color: #c0392b; }
.skipped .mark, .grader_error .mark { color: #888; }
.outcome { color: #666; font-size: 0.9em; }
.hidden-tag { font-size: 0.8em; background: #eee; border-radius: 3px; padding: 0 0.3em; }
code { white-space: pre-wrap; }
pre { white-space: pre-wrap; text-indent: 0; background: #f6f6f6; padding: 0.4rem 0.6rem; margin: 0.2rem 0 0; font-size: 0.9em; }
"""

CELLS_STOPPED = "These cells stopped with an error when your notebook ran (what came after the error in each did not run):"
def cells_run(result: SubmissionResult) -> str:
    """Which of the notebook's cells grading ran, in a sentence; empty when it ran them all."""
    if result.all_cells_again:
        return "Every cell of your notebook ran: a check failed in a way a skipped cell could have explained, so it was graded again."
    if not result.skipped_cells:
        return ""
    cells = ", ".join(str(index + 1) for index in result.skipped_cells)
    return (f"{len(result.skipped_cells)} cell(s) that no check needs did not run (cells {cells}, counting every cell "
            "from the top); your score does not depend on them.")


def budget_note(result: SubmissionResult) -> str:
    """Why the checks after some point did not run, when the notebook used all of its time; else empty."""
    if not result.over_budget:
        return ""
    return (f"Your notebook used all of the {result.budget:g} s it may run, so the checks after that point did not run: "
            "look for a loop that runs far longer than the book's.")


MARKS = {"passed": "✓", "failed": "✗", "error": "✗", "grader_error": "?", "skipped": "–"}


def write_feedback(results: Sequence[SubmissionResult], folder: Path) -> list[Path]:
    """Write both files for every result; return the paths written."""
    written = []
    for result in results:
        stem = Path(folder) / file_name(result.assignment) / file_name(result.student)
        stem.parent.mkdir(parents=True, exist_ok=True)
        html_path, text_path = stem.with_name(stem.name + ".html"), stem.with_name(stem.name + ".txt")
        html_path.write_text(feedback_html(result), encoding="utf-8")
        text_path.write_text(feedback_text(result), encoding="utf-8")
        written += [html_path, text_path]
    return written


# ------------------------------------------------------------------ HTML


def feedback_html(result: SubmissionResult) -> str:
    title = f"{result.assignment}: feedback for {result.student}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">Graded with seed {result.seed}. Written answers are graded by hand and are not in this total.</p>',
        f'<p class="total">Autograded score: <b>{points_text(result.score, result.possible)}</b></p>',
    ]
    if ran := cells_run(result):
        body.append(f'<p class="meta">{escape(ran)}</p>')
    if slow := budget_note(result):
        body.append(f'<div class="box">{escape(slow)}</div>')
    if result.error:
        body.append(f'<div class="box"><b>Your notebook could not be graded.</b><pre>{escape(result.error)}</pre></div>')
    problems = cell_problems(result)
    if problems:
        items = "".join(f"<li><code>{escape(problem)}</code></li>" for problem in problems)
        body.append(f'<div class="box"><b>{CELLS_STOPPED}</b><ul>{items}</ul></div>')
    body += [_question_html(question) for question in result.questions]
    return html_page(title, STYLE, body)


def _question_html(question: QuestionResult) -> str:
    name = escape(question.name)
    if not question.autograded:
        return f"<h2><span>{name}</span><span>graded by hand, {question.points:g} point(s)</span></h2>"
    heading = f"<h2><span>{name}</span><span>{points_text(question.score, question.points)}</span></h2>"
    if not question.tests:
        return heading + "<p>No tests ran for this question.</p>"
    return heading + '<ul class="tests">' + "".join(map(_test_html, question.tests)) + "</ul>"


def _test_html(test: TestResult) -> str:
    hidden = ' <span class="hidden-tag">hidden</span>' if test.hidden else ""
    message = shown_message(test)
    shown = f"<pre>{escape(message)}</pre>" if message else ""
    return (
        f'<li class="{escape(test.outcome)}"><span class="mark">{MARKS.get(test.outcome, "?")}</span>'
        f'{escape(test.name)}{hidden} <span class="outcome">({OUTCOME_WORDS.get(test.outcome, escape(test.outcome))})</span>'
        f"{shown}</li>"
    )


# ------------------------------------------------------------------ text


def feedback_text(result: SubmissionResult) -> str:
    lines = [
        f"{result.assignment}: feedback for {result.student}",
        f"Autograded score: {points_text(result.score, result.possible)}",
        f"(graded with seed {result.seed}; written answers are graded by hand and are not in this total)",
    ]
    if ran := cells_run(result):
        lines += [ran]
    if slow := budget_note(result):
        lines += [slow]
    if result.error:
        lines += ["", "Your notebook could not be graded:", *_indented(result.error)]
    problems = cell_problems(result)
    if problems:
        lines += ["", CELLS_STOPPED]
        for problem in problems:
            lines += _indented(problem)
    for question in result.questions:
        lines += ["", *_question_lines(question)]
    return printable("\n".join(lines) + "\n")


def _question_lines(question: QuestionResult) -> list[str]:
    if not question.autograded:
        return [f"{question.name}: graded by hand, {question.points:g} point(s)"]
    lines = [f"{question.name}: {points_text(question.score, question.points)}"]
    if not question.tests:
        return lines + ["  no tests ran for this question"]
    for test in question.tests:
        hidden = "hidden, " if test.hidden else ""
        lines.append(f"  [{hidden}{OUTCOME_WORDS.get(test.outcome, test.outcome)}] {test.name}")
        message = shown_message(test)
        if message:
            lines += _indented(message, "      ")
    return lines


def _indented(text: str, prefix: str = "    ") -> list[str]:
    return [prefix + line for line in text.splitlines()] or [prefix]
