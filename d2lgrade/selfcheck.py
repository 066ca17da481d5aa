"""Self-check: the public checks of a question, run before submitting, with messages that teach.

In the stub, a cell after the setup makes the notebook's two check functions::

    from d2lgrade.selfcheck import checks_for
    check, check_all = checks_for("linreg_scratch")

a cell after each graded function runs ``check("squared_loss")``, and the last
cell runs ``check_all()``. They run the public graders in the student's own
kernel (nothing there is secret), through the same wire format and graders as
grading, so they report what the public part of grading will.
``d2lgrade check NOTEBOOK`` (``check_notebook``) prints the same summary for a
saved notebook, run in a separate process exactly as grading runs it.

``run_in_kernel`` is also how nbgrader's hidden test cells grade a question
(``d2lgrade.nbgrader.grade_question``).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import sys
import textwrap
import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from d2lgrade.book import lent_functions
from d2lgrade.budget import Budget
from d2lgrade.course import Assignment, Course, find_course
from d2lgrade.execute import NotebookRun
from d2lgrade.notebook import CodeCell, top_level_definitions
from d2lgrade.plugin import OpenSubmission, Target, run_graders
from d2lgrade.results import QuestionResult, TestResult
from d2lgrade.rules import reachable
from d2lgrade.student import Reference
from d2lgrade.transport import InProcessTransport

__all__ = ["SelfCheck", "check_notebook", "checks_for", "question_report", "run_in_kernel", "summary"]

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
) -> list[TestResult]:
    """Run the graders of ``questions`` against the functions in ``namespace``, in this very process."""
    with quiet(), frozen_heap():
        run = NotebookRun([], lambda: InProcessTransport(namespace), seed=seed)
        opened = OpenSubmission(run, kernel_definitions(namespace), [], seed)
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


def wants_colour() -> bool:
    """ANSI colours for a terminal or a Jupyter kernel (whose front end shows them), unless ``NO_COLOR`` is set."""
    if os.environ.get("NO_COLOR"):
        return False
    shell = None
    with contextlib.suppress(ImportError):
        from IPython import get_ipython

        shell = get_ipython()
    if type(shell).__name__ == "ZMQInteractiveShell":
        return True
    return sys.stdout.isatty()


# ------------------------------------------------------------------ in the notebook
class SelfCheck:
    """The public checks of one assignment, against the functions of a notebook's namespace."""

    def __init__(self, assignment: str, namespace: MutableMapping[str, Any], *, course: Course | None = None,
                 colour: bool | None = None, seed: int = 0) -> None:
        self.spec = (course or find_course()).assignment(assignment)
        self.namespace = namespace
        self.colour = wants_colour() if colour is None else colour
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

    def report(self, question: str) -> str:
        """What ``check(question)`` prints."""
        known = [q.name for q in self.spec.autograded]
        if question not in known:
            return f"{self.spec.name} has no graded function {question!r}; the functions checked are: {', '.join(known)}."
        (result,) = self.results({question})
        note = ""
        if not _passed(result) and (helpers := helpers_of(self.spec, question, kernel_definitions(self.namespace))):
            note = helper_note(question, helpers, _failing(self.results(helpers)))
        return question_report(result, note=note, colour=self.colour)

    def report_all(self) -> str:
        """What ``check_all()`` prints."""
        results = self.results()
        return summary(self.spec.name, results, notes=_notes(self.spec, results, kernel_definitions(self.namespace)), colour=self.colour)

    def check(self, question: str) -> None:
        """Run the public checks of ``question`` and print what they found."""
        print(self.report(question))

    def check_all(self) -> None:
        """Run every public check and print a line per question with its public points."""
        print(self.report_all())


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
                   seed: int = 0, colour: bool = False, all_cells: bool = False, submission_timeout: float | None = None) -> int:
    """``d2lgrade check``: grade a saved notebook with the public checks, exactly as grading runs it,
    within ``submission_timeout`` seconds in all (default: as grading's, ``d2lgrade.budget``),
    and print the summary and the time it used. Returns the exit status: 0 only when every public check passed."""
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
    budgets = budgets_for(course, [spec.name], submission_timeout)
    (result,) = grade([submission], course=course, seed=seed, questions=run, public_only=True, all_cells=all_cells, budgets=budgets)
    if result.error:
        print(f"{path.name} could not be checked: {result.error}")
        return 1
    failed_cells = [cell for cell in result.cells if not cell.ok]
    if failed_cells:
        listed = ", ".join(f"cell {c.index + 1} ({c.ename})" for c in failed_cells[:5]) + (", ..." if len(failed_cells) > 5 else "")
        print(f"{len(failed_cells)} cell(s) of {path.name} stopped with an error: {listed}")
    shown = [q for q in result.questions if wanted is None or q.name in wanted]
    notes = _notes(spec, result.questions, definitions)
    if wanted is not None and len(shown) == 1:
        print(question_report(shown[0], note=notes.get(shown[0].name, ""), colour=colour))
    else:
        print(summary(spec.name, shown, notes=notes, colour=colour))
    print(time_used(result.used, budgets[spec.name], result.over_budget))
    graded = [q for q in shown if q.autograded]
    return 0 if graded and all(_passed(q) for q in graded) else 1
