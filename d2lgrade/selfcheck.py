"""Self-check: the public checks of a question, run before submitting, with messages that teach.

In the stub, a cell after the setup makes the notebook's two check functions::

    from d2lgrade.selfcheck import checks_for
    check, check_all = checks_for("linreg_scratch")

a cell after each graded function runs ``check("squared_loss")``, and the last
cell runs ``check_all()``. They run the public graders in the student's own
kernel (nothing there is secret), through the same wire format and graders as
grading, so they report what the public part of grading will. In Jupyter
their report is an HTML table (``Report``, with the text for front ends that
show no HTML); elsewhere it is printed as text.
``d2lgrade check NOTEBOOK`` (``check_notebook``) prints the same summary for a
saved notebook, run in a separate process exactly as grading runs it.

``run_in_kernel`` is also how nbgrader's hidden test cells grade a question
(``d2lgrade.nbgrader.grade_question``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import html
import io
import os
import re
import sys
import textwrap
import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from d2lgrade import __version__
from d2lgrade.book import lent_functions
from d2lgrade.budget import Budget
from d2lgrade.course import Assignment, Course, find_course
from d2lgrade.environment import lock_warning
from d2lgrade.execute import NotebookRun
from d2lgrade.notebook import CodeCell, top_level_definitions
from d2lgrade.plugin import OpenSubmission, Target, run_graders
from d2lgrade.results import QuestionResult, TestResult
from d2lgrade.rules import reachable
from d2lgrade.student import Reference
from d2lgrade.transport import InProcessTransport
from d2lgrade.zygote import Zygote

__all__ = ["Report", "SelfCheck", "check_notebook", "checks_for", "question_html", "question_report", "run_in_kernel",
           "summary", "summary_html"]

MARKS = {"passed": "✓", "failed": "✗", "error": "✗", "grader_error": "!"}
_ANSI = {"green": "32", "red": "31", "bold": "1"}


# ------------------------------------------------------------------ running the graders
@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No warnings and nothing on stderr: nbgrader scores a test cell that writes to stderr as zero."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave the objects that exist now out of garbage collections until the block ends.

    pytest collects garbage twice per run; in a kernel holding torch and the
    notebook's data each full collection takes about half a second, while the
    run's own garbage is all that needs collecting.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def kernel_definitions(namespace: Mapping[str, Any]) -> dict:
    """What each top-level name of the kernel is bound to, read from the cells it has run (``In``)."""
    history = [source for source in namespace.get("In", []) if isinstance(source, str)]
    return top_level_definitions([CodeCell(i, source) for i, source in enumerate(history)])


def run_in_kernel(
    spec: Assignment,
    namespace: MutableMapping[str, Any],
    *,
    questions: set[str] | None,
    reference: Reference,
    public_only: bool,
    seed: int = 0,
    self_check: bool = True,
) -> list[TestResult]:
    """Run the graders of ``questions`` against the functions in ``namespace``, in this very process.

    In a ``self_check`` a function that is not defined is one whose cell the student has not run yet,
    and the message says so; under ``nbgrader autograde`` every cell has run."""
    with quiet(), frozen_heap():
        run = NotebookRun([], lambda: InProcessTransport(namespace), seed=seed)
        opened = OpenSubmission(run, kernel_definitions(namespace), [], seed, in_kernel=self_check)
        tests, _ = run_graders(spec, [Target("kernel", lambda: opened)], reference=reference, questions=questions, public_only=public_only)
    return tests["kernel"]


def question_results(spec: Assignment, tests: Iterable[TestResult], names: Collection[str] | None = None) -> list[QuestionResult]:
    """The tests grouped by question, for the questions in ``names`` (all when None)."""
    by_question: dict[str, list[TestResult]] = {}
    for test in tests:
        by_question.setdefault(test.question, []).append(test)
    return [
        QuestionResult(q.name, q.points, q.autograded, tuple(by_question.get(q.name, ())))
        for q in spec.questions
        if names is None or q.name in names
    ]


# ------------------------------------------------------------------ the student's own helpers
def helpers_of(spec: Assignment, question: str, definitions: Mapping[str, Any]) -> set[str]:
    """The book's functions that the student's ``question`` calls, directly or through other functions,
    when the checks run them as the student wrote them: in a release, which has none to lend, all of
    them; in the course, those that grading does not lend to ``question`` (``d2lgrade.book``)."""
    reached = {getattr(node, "name", None) for node in reachable(question, definitions)}
    return (reached & spec.lent_names) - {question} - set(lent_functions(spec, question))


def _names(names: Collection[str]) -> str:
    quoted = [f"`{name}`" for name in sorted(names)]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def helper_note(question: str, helpers: Collection[str], failing: Collection[str]) -> str:
    """For a failing ``question`` that ran with the student's own ``helpers``: they may be the cause.
    Empty when it calls none of them."""
    if not helpers:
        return ""
    graded = f"When graded, `{question}` gets the book's versions of them instead, so only its own mistakes count."
    failing = set(failing) & set(helpers)
    if failing:
        one = len(failing) == 1
        return f"Note: `{question}` calls your own {_names(failing)}, whose checks fail too: fix {'it' if one else 'them'} first. {graded}"
    return (f"Note: here `{question}` runs with your own {_names(helpers)}. If `{question}` looks right, "
            f"a mistake in one of them that its own checks miss may be the cause. {graded}")


# ------------------------------------------------------------------ reports
def _paint(text: str, style: str, colour: bool) -> str:
    return f"\033[{_ANSI[style]}m{text}\033[0m" if colour else text


def _mark(outcome: str, colour: bool) -> str:
    return _paint(MARKS[outcome], "green" if outcome == "passed" else "red", colour)


def _shown(question: QuestionResult) -> list[TestResult]:
    """The tests a student sees: a check skipped here (one for CUDA, without a GPU) is left out."""
    return [test for test in question.tests if test.outcome != "skipped"]


def _passed(question: QuestionResult) -> bool:
    shown = _shown(question)
    return bool(shown) and all(test.outcome == "passed" for test in shown)


def _failure_lines(test: TestResult, indent: str, colour: bool) -> list[str]:
    lines = [f"{indent}{_mark(test.outcome, colour)} {test.name}"]
    return lines + textwrap.indent(test.message, indent + "    ").splitlines()


def question_report(question: QuestionResult, *, public: bool = True, note: str = "", colour: bool = False) -> str:
    """One question: how many checks passed and its points, a line per check, and each failure's message."""
    shown = _shown(question)
    kind = "public checks" if public else "checks"
    if not shown:
        return f"{question.name}: no {kind} ran here."
    passed = sum(test.outcome == "passed" for test in shown)
    header = f"{question.name}: {passed} of {len(shown)} {kind} passed ({question.score:g}/{question.points:g} points)"
    lines = [_paint(header, "green" if _passed(question) else "red", colour)]
    for test in shown:
        if test.outcome == "passed":
            lines.append(f"  {_mark('passed', colour)} {test.name}")
        else:
            lines += _failure_lines(test, "  ", colour)
    if note:
        lines.append(f"  {note}")
    return "\n".join(lines)


def summary(title: str, questions: Sequence[QuestionResult], *, notes: Mapping[str, str] | None = None, colour: bool = False) -> str:
    """Every question on one line with its public points; under a failing one, its failures."""
    notes = notes or {}
    graded = [q for q in questions if q.autograded]
    width = max((len(q.name) for q in graded), default=0)
    lines = [_paint(f"{title}: public checks", "bold", colour)]
    for question in graded:
        shown = _shown(question)
        passed = sum(test.outcome == "passed" for test in shown)
        outcome = "passed" if _passed(question) else "failed"
        points = f"{question.score:g}/{question.points:g} points"
        counts = f"{passed} of {len(shown)} checks passed" if shown else "no public checks ran here"
        lines.append(f"  {_mark(outcome, colour)} {question.name:<{width}}  {points:>13}  ({counts})")
        for test in shown:
            if test.outcome != "passed":
                lines += _failure_lines(test, "      ", colour)
        if notes.get(question.name):
            lines.append(f"      {notes[question.name]}")
    score, possible = sum(q.score for q in graded), sum(q.points for q in graded)
    total = f"  total: {round(score, 2):g}/{possible:g} points from the public checks"
    lines.append(_paint(total, "green" if score >= possible else "bold", colour))
    written = sum(q.points for q in questions if not q.autograded)
    if written:
        lines.append(f"  The written answers ({written:g} points) are graded by hand.")
    lines.append("  Grading also runs hidden checks, so passing these is necessary, not sufficient.")
    return "\n".join(lines)


def time_used(used: float, budget: Budget, over: bool) -> str:
    """How long the notebook ran against what grading allows it, so that a slow one is seen before it is submitted."""
    if over:
        return budget.sentence()
    reference = f"; the reference takes about {budget.reference:.2g} s" if budget.reference else ""
    return f"Your notebook ran for {used:.1f} s of the {budget.seconds:g} s grading allows it{reference}."


def _failing(questions: Iterable[QuestionResult]) -> set[str]:
    return {q.name for q in questions if q.autograded and not _passed(q)}


def _notes(spec: Assignment, questions: Sequence[QuestionResult], definitions: Mapping[str, Any]) -> dict[str, str]:
    failing = _failing(questions)
    return {name: note for name in failing if (note := helper_note(name, helpers_of(spec, name, definitions), failing))}


def checks_version(spec: Assignment) -> str:
    """Which checks ran: d2lgrade's version and a digest of the assignment's public checks, the same
    in the course, its release and the student wheel, for an instructor reading a notebook's output."""
    public = spec.graders / "public" / f"{spec.name}.py"
    digest = hashlib.sha256(public.read_bytes()).hexdigest()[:8] if public.is_file() else "none"
    return f"d2lgrade {__version__}, public checks {digest}"


def in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel, whose front end shows HTML (JupyterLab, Notebook, VS Code, Colab)."""
    shell = None
    with contextlib.suppress(ImportError):
        from IPython import get_ipython

        shell = get_ipython()
    return type(shell).__name__ == "ZMQInteractiveShell"


def wants_colour() -> bool:
    """ANSI colours for a terminal or a Jupyter kernel (whose front end shows them), unless ``NO_COLOR`` is set."""
    if os.environ.get("NO_COLOR"):
        return False
    return in_jupyter() or sys.stdout.isatty()


# ------------------------------------------------------------------ reports as HTML, for Jupyter
_GREEN, _RED = "#1a7f37", "#cf222e"
_TABLE = "border-collapse:collapse;margin:0.2em 0;text-align:left"
_CELL = "padding:0.15em 0.6em;vertical-align:top;text-align:left;border-bottom:1px solid rgba(128,128,128,0.25)"


def _html_mark(outcome: str) -> str:
    colour = _GREEN if outcome == "passed" else _RED
    return f'<span style="color:{colour};font-weight:bold;font-size:1.15em">{MARKS[outcome]}</span>'


def _html_message(message: str) -> str:
    """A failure's message: its sentence with `names` as code, then any table under it, kept aligned.
    Everything is escaped: a message can quote what the student's code returned."""
    sentence, _, table = message.partition("\n")
    words = re.sub(r"`([^`<>]+)`", r"<code>\1</code>", html.escape(sentence))
    shown = f"<div>{words}</div>"
    if table:
        shown += f'<pre style="margin:0.2em 0;padding:0;background:none">{html.escape(table)}</pre>'
    return shown


def _html_failures(tests: Iterable[TestResult]) -> str:
    return "".join(f'<div style="margin:0.15em 0">{_html_mark(t.outcome)} {html.escape(t.name)}'
                   f'<div style="margin-left:1.4em">{_html_message(t.message)}</div></div>'
                   for t in tests if t.outcome != "passed")


def _html_note(note: str) -> str:
    return f'<div style="margin-top:0.3em;font-style:italic">{html.escape(note)}</div>' if note else ""


def question_html(question: QuestionResult, *, public: bool = True, note: str = "") -> str:
    """``question_report`` as a small HTML table: a row per check with ✓ or ✗, each failure's message under it."""
    shown = _shown(question)
    kind = "public checks" if public else "checks"
    name = f"<code>{html.escape(question.name)}</code>"
    if not shown:
        return f"<div>{name}: no {kind} ran here.</div>"
    passed = sum(test.outcome == "passed" for test in shown)
    colour = _GREEN if _passed(question) else _RED
    head = (f'<div style="color:{colour};font-weight:bold">{name}: {passed} of {len(shown)} {kind} passed '
            f"({question.score:g}/{question.points:g} points)</div>")
    rows = "".join(
        f'<tr><td style="{_CELL}">{_html_mark(t.outcome)}</td><td style="{_CELL}">{html.escape(t.name)}'
        + ("" if t.outcome == "passed" else f'<div style="margin-top:0.2em">{_html_message(t.message)}</div>')
        + "</td></tr>"
        for t in shown
    )
    return f'<div class="d2lgrade-check">{head}<table style="{_TABLE}">{rows}</table>{_html_note(note)}</div>'


def summary_html(title: str, questions: Sequence[QuestionResult], *, notes: Mapping[str, str] | None = None) -> str:
    """``summary`` as an HTML table: a row per function with ✓ or ✗, its points and checks, its failures under it."""
    notes = notes or {}
    graded = [q for q in questions if q.autograded]
    columns = (("", ""), ("function", ""), ("points", ";text-align:right"), ("public checks", ""))
    head = "".join(f'<th style="{_CELL}{align}">{label}</th>' for label, align in columns)
    rows = []
    for question in graded:
        shown = _shown(question)
        passed = sum(test.outcome == "passed" for test in shown)
        counts = f"{passed} of {len(shown)} passed" if shown else "none ran here"
        rows.append(f'<tr><td style="{_CELL}">{_html_mark("passed" if _passed(question) else "failed")}</td>'
                    f'<td style="{_CELL}"><code>{html.escape(question.name)}</code></td>'
                    f'<td style="{_CELL};text-align:right">{question.score:g}/{question.points:g}</td>'
                    f'<td style="{_CELL}">{counts}</td></tr>')
        details = _html_failures(shown) + _html_note(notes.get(question.name, ""))
        if details:
            rows.append(f'<tr><td style="{_CELL}"></td><td colspan="3" style="{_CELL}">{details}</td></tr>')
    score, possible = sum(q.score for q in graded), sum(q.points for q in graded)
    colour = _GREEN if score >= possible else "inherit"
    total = f"total: {round(score, 2):g}/{possible:g} points from the public checks"
    foot = [f'<div style="color:{colour};font-weight:bold">{total}</div>']
    written = sum(q.points for q in questions if not q.autograded)
    if written:
        foot.append(f"<div>The written answers ({written:g} points) are graded by hand.</div>")
    foot.append("<div>Grading also runs hidden checks, so passing these is necessary, not sufficient.</div>")
    table = f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return (f'<div class="d2lgrade-check"><div style="font-weight:bold">{html.escape(title)}: public checks</div>'
            f'{table}{"".join(foot)}</div>')


@dataclasses.dataclass(frozen=True)
class Report:
    """What ``check()`` or ``check_all()`` shows: ``text`` in a terminal, ``html`` where Jupyter renders it."""

    text: str
    """the report as lines of text (with ANSI colours when asked for)"""
    html: str
    """the same report as an HTML fragment"""

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)


# ------------------------------------------------------------------ in the notebook
class SelfCheck:
    """The public checks of one assignment, against the functions of a notebook's namespace."""

    def __init__(self, assignment: str, namespace: MutableMapping[str, Any], *, course: Course | None = None,
                 colour: bool | None = None, html: bool | None = None, seed: int = 0) -> None:
        course = course or find_course()
        self.spec = course.assignment(assignment)
        self.lock_note = lock_warning(course.root)
        """a line for a student whose torch, numpy or d2l is not the course's, shown with the first report"""
        self.namespace = namespace
        self.colour = wants_colour() if colour is None else colour
        self.html = in_jupyter() if html is None else html
        self.seed = seed
        self._reference: Reference | None = None

    @property
    def reference(self) -> Reference:
        if self._reference is None:  # loaded once per kernel: the setup cells (and, in a checkout, the solutions)
            from d2lgrade.grade import load_reference

            with quiet():
                self._reference = load_reference(self.spec)
        return self._reference

    def results(self, names: Collection[str] | None = None) -> list[QuestionResult]:
        """The public checks of ``names`` (every question when None), run now."""
        wanted = None if names is None else set(names)
        tests = run_in_kernel(self.spec, self.namespace, questions=wanted, reference=self.reference, public_only=True, seed=self.seed)
        return question_results(self.spec, tests, wanted)

    def report(self, question: str) -> Report:
        """What ``check(question)`` shows."""
        known = [q.name for q in self.spec.autograded]
        if question not in known:
            text = f"{self.spec.name} has no graded function {question!r}; the functions checked are: {', '.join(known)}."
            return Report(text, f"<div>{html.escape(text)}</div>")
        (result,) = self.results({question})
        note = ""
        if not _passed(result) and (helpers := helpers_of(self.spec, question, kernel_definitions(self.namespace))):
            note = helper_note(question, helpers, _failing(self.results(helpers)))
        return Report(question_report(result, note=note, colour=self.colour), question_html(result, note=note))

    def report_all(self) -> Report:
        """What ``check_all()`` shows."""
        results = self.results()
        notes = _notes(self.spec, results, kernel_definitions(self.namespace))
        checked = f"Checked by {checks_version(self.spec)}."
        return Report(f"{summary(self.spec.name, results, notes=notes, colour=self.colour)}\n  {checked}",
                      f"{summary_html(self.spec.name, results, notes=notes)}<div style=\"opacity:0.7\">{html.escape(checked)}</div>")

    def show(self, report: Report) -> None:
        """As HTML in Jupyter (with the text for front ends that show no HTML), else as text; the first
        time, after the note on the libraries when they are not the course's."""
        if self.lock_note:
            print(self.lock_note)
            self.lock_note = None
        if self.html:
            from IPython.display import display

            display(report)
        else:
            print(report.text)

    def check(self, question: str) -> None:
        """Run the public checks of ``question`` and show what they found."""
        self.show(self.report(question))

    def check_all(self) -> None:
        """Run every public check and show a line per question with its public points."""
        self.show(self.report_all())


def checks_for(assignment: str, namespace: MutableMapping[str, Any] | None = None, **options: Any):
    """``(check, check_all)`` for ``assignment``, checking the functions of the notebook that calls this.

    The namespace is the IPython kernel's (or, outside IPython, the caller's globals).
    """
    if namespace is None:
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else sys._getframe(1).f_globals
    checker = SelfCheck(assignment, namespace, **options)
    return checker.check, checker.check_all


# ------------------------------------------------------------------ on the command line
def check_notebook(path: Path, *, course: Course, assignment: str | None = None, questions: Collection[str] | None = None,
                   seed: int = 0, colour: bool = False, all_cells: bool = False, submission_timeout: float | None = None,
                   zygote: Zygote | None = None) -> int:
    """``d2lgrade check``: grade a saved notebook with the public checks, exactly as grading runs it,
    within ``submission_timeout`` seconds in all (default: as grading's, ``d2lgrade.budget``),
    and print the summary and the time it used. Returns the exit status: 0 only when every public check passed.
    ``zygote``: one to fork the notebook's process from (default: ``grade`` starts its own)."""
    from d2lgrade import notebook as nb
    from d2lgrade.budget import budgets_for
    from d2lgrade.grade import find_submissions, grade

    (submission,) = find_submissions([path], course=course, assignment=assignment)
    if submission.assignment is None:
        print(f"{path.name} matches no assignment of this course ({', '.join(course.assignment_names())}); name it with --assignment.")
        return 2
    spec = course.assignment(submission.assignment)
    known = {q.name for q in spec.autograded}
    unknown = set(questions or ()) - known
    if unknown:
        print(f"{spec.name} has no graded function {', '.join(sorted(unknown))}; the functions checked are: {', '.join(q.name for q in spec.autograded)}.")
        return 2
    wanted = set(questions) if questions else None
    try:
        definitions = nb.top_level_definitions(nb.code_cells(nb.load_notebook(path)))
    except nb.NotebookError:
        definitions = {}  # grading reports why
    # A question's helpers are checked too, to tell whether they are why it fails.
    run = None if wanted is None else wanted.union(*(helpers_of(spec, name, definitions) for name in wanted))
    if note := lock_warning(course.root):
        print(note)
    print(f"checking {path.name}: running it in a sandbox from the top, as grading does, then the public checks "
          "(a few seconds) ...", file=sys.stderr, flush=True)
    budgets = budgets_for(course, [spec.name], submission_timeout)
    (result,) = grade([submission], course=course, seed=seed, questions=run, public_only=True, all_cells=all_cells, budgets=budgets,
                      zygote=zygote)
    if result.error:
        print(f"{path.name} could not be checked: {result.error}")
        return 1
    failed_cells = [cell for cell in result.cells if not cell.ok]
    if failed_cells:
        listed = ", ".join(f"cell {c.index + 1} ({c.ename})" for c in failed_cells[:5]) + (", ..." if len(failed_cells) > 5 else "")
        print(f"{len(failed_cells)} cell(s) of {path.name} stopped with an error: {listed}. A cell that uses a function "
              "not written yet fails until it is; the checks below say which functions need work.")
    shown = [q for q in result.questions if wanted is None or q.name in wanted]
    notes = _notes(spec, result.questions, definitions)
    if wanted is not None and len(shown) == 1:
        print(question_report(shown[0], note=notes.get(shown[0].name, ""), colour=colour))
    else:
        print(summary(spec.name, shown, notes=notes, colour=colour))
    print(time_used(result.used, budgets[spec.name], result.over_budget))
    graded = [q for q in shown if q.autograded]
    return 0 if graded and all(_passed(q) for q in graded) else 1
