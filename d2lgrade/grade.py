"""Grading submissions: run them, run the graders, collect results (``d2lgrade.submissions`` finds them)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from d2lgrade import notebook as nb
from d2lgrade import slicing
from d2lgrade.book import modules_to_load
from d2lgrade.budget import Budget
from d2lgrade.course import Assignment, Course
from d2lgrade.environment import grading_environment
from d2lgrade.execute import child_run
from d2lgrade.lazy import LAZY_MODULES, import_lazily
from d2lgrade.plugin import SKIPPED_CELL_ERRORS, OpenSubmission, Target, run_graders
from d2lgrade.results import QuestionResult, SubmissionResult, TestResult
from d2lgrade.student import CALL_TIMEOUT, Reference
from d2lgrade.submissions import Submission, find_submissions, guess_assignment, submission_seed
from d2lgrade.zygote import Zygote, ZygoteError, start_zygote

__all__ = ["Submission", "find_submissions", "grade", "load_reference", "start_zygote", "submission_seed"]


def load_reference(assignment: Assignment) -> Reference:
    """The solution notebook's setup and solution cells, run here: trusted code only.

    ``d2l.torch`` loads only if a grader uses it (``d2lgrade.lazy``): the graded functions do not."""
    for name in LAZY_MODULES:
        import_lazily(name)
    namespace: dict = {"__name__": f"reference_{assignment.name}"}
    for source in assignment.setup_sources:
        exec(compile(source, f"<{assignment.name} setup>", "exec"), namespace)
    for name, source in assignment.solution_sources.items():
        exec(compile(source, f"<{assignment.name} {name}>", "exec"), namespace)
    return Reference(namespace)


def _open(cells: Sequence[nb.CodeCell], seed: int, zygote: Zygote | None = None, graded: Collection[str] | None = None,
          budget: Budget | None = None) -> OpenSubmission:
    """Run a submission's code ``cells``: only those that the checks of ``graded`` need, or every cell when None;
    its cells and the checks' calls within ``budget``, when there is one."""
    needed = slicing.needed_cells(cells, graded) if graded is not None else None
    run_cells = cells if needed is None else [cell for cell in cells if cell.index in needed.run]
    if zygote is not None and slicing.uses_modules(run_cells, LAZY_MODULES):  # the demonstrations use d2l
        with contextlib.suppress(ZygoteError):  # it said why; children then start the slow way
            zygote.load(LAZY_MODULES)
    workdir = Path(tempfile.mkdtemp(prefix="d2lgrade-"))
    run = child_run(run_cells, seed=seed, workdir=workdir, zygote=zygote, budget=budget)
    reports = run.start()
    opened = OpenSubmission(run, nb.top_level_definitions(cells), reports, seed, lambda: shutil.rmtree(workdir, ignore_errors=True))
    opened.skipped = needed.skipped if needed is not None else ()
    opened.suspect = any(report.ename in SKIPPED_CELL_ERRORS for report in reports)
    return opened


def _assemble(submission: Submission, assignment: Assignment, tests: Sequence[TestResult], opened: OpenSubmission | None, seed: int,
              again: bool = False) -> SubmissionResult:
    by_question: dict[str, list[TestResult]] = {}
    for test in tests:
        by_question.setdefault(test.question, []).append(test)
    return SubmissionResult(
        student=submission.student,
        assignment=assignment.name,
        path=str(submission.path),
        seed=seed,
        questions=tuple(QuestionResult(q.name, q.points, q.autograded, tuple(by_question.get(q.name, ()))) for q in assignment.questions),
        cells=tuple(opened.cells) if opened else (),
        skipped_cells=tuple(opened.skipped) if opened else (),
        all_cells_again=again,
        budget=opened.run.budget.seconds if opened and opened.run.budget else None,
        used=round(opened.run.used, 3) if opened else 0.0,
        over_budget=opened.run.over_budget if opened else False,
        seconds=round(sum(c.seconds for c in (opened.cells if opened else ())) + sum(t.seconds for t in tests), 3),
        sandbox={k: v for k, v in opened.run.confinement.items() if k != "uid"} if opened else {},  # the uid changes every run
    )


def grade(
    submissions: Sequence[Submission],
    *,
    course: Course,
    seed: int = 0,
    questions: set[str] | None = None,
    public_only: bool = False,
    on_start: Callable[[Submission], None] | None = None,
    on_result: Callable[[SubmissionResult], None] | None = None,
    call_timeout: float = CALL_TIMEOUT,
    zygote: Zygote | None = None,
    all_cells: bool = False,
    budgets: Mapping[str, Budget] | None = None,
) -> list[SubmissionResult]:
    """Grade every submission; a broken one becomes a result with its reason, never a crash.

    Only the cells that the checks need run (``d2lgrade.slicing``), unless
    ``all_cells``; a submission whose checks fail in a way that a skipped
    cell could explain is graded again with every cell, so that the slice
    never changes a score.

    ``on_start(submission)`` is called as a submission's notebook starts to
    run, ``on_result(result)`` as its grading ends. ``call_timeout`` is the
    seconds each call into student code may take; ``budgets``, by assignment,
    the seconds a submission's cells and calls may take in all (``d2lgrade.budget``;
    none: no such bound); a submission graded again gets its budget afresh. ``zygote`` forks the
    students' processes and stays open afterwards; without one, ``grade``
    starts its own for this call. ``d2lgrade.pool.grade_many`` spreads
    submissions over several processes.
    """
    results: dict[int, SubmissionResult] = {}
    cells_of: dict[int, list[nb.CodeCell]] = {}  # each notebook's code cells, read once, until it is graded

    def done(index: int, result: SubmissionResult) -> None:
        result = dataclasses.replace(result, environment=grading_environment())
        results[index] = result
        cells_of.pop(index, None)
        if on_result is not None:
            on_result(result)

    groups: dict[str, list[int]] = {}
    for index, submission in enumerate(submissions):
        if submission.assignment is None:
            done(index, SubmissionResult.from_error(student=submission.student, assignment="?", path=str(submission.path), seed=submission_seed(submission, seed),
                                                    error="This notebook does not match any assignment of the course."))
            continue
        groups.setdefault(submission.assignment, []).append(index)

    # One zygote for the whole call: it loads its libraries while the graders are collected, then forks
    # a child per submission. Without it (it failed to start, or died) children start the slow way.
    own_zygote = zygote is None and bool(groups)
    if own_zygote:
        zygote = start_zygote(load=modules_to_load(map(course.assignment, groups), questions, all_cells))

    def start(index: int, graded: Collection[str] | None) -> OpenSubmission:
        submission = submissions[index]
        if on_start is not None and index not in again:
            on_start(submission)
        budget = (budgets or {}).get(submission.assignment)  # afresh for each run, the second with every cell too
        return _open(cells_of[index], submission_seed(submission, seed), zygote, graded, budget)

    again: set[int] = set()  # graded again with every cell

    try:
        for name, indexes in groups.items():
            assignment = course.assignment(name)
            graded = None if all_cells else questions or {q.name for q in assignment.autograded}
            targets = []
            for index in indexes:
                submission = submissions[index]
                try:
                    cells_of[index] = nb.code_cells(nb.load_notebook(submission.path))
                except nb.NotebookError as exc:
                    done(index, SubmissionResult.from_error(student=submission.student, assignment=name, path=str(submission.path),
                                                            seed=submission_seed(submission, seed), error=str(exc), questions=assignment.questions))
                    continue
                targets.append(Target(str(index), functools.partial(start, index, graded)))
            if not targets:
                continue
            if zygote is not None and (load := modules_to_load([assignment], questions, all_cells)):
                with contextlib.suppress(ZygoteError):  # it said why; children then start the slow way
                    zygote.load(load)  # once, for every child, rather than by each child
            reference = load_reference(assignment)

            def finished(key: str, found: list[TestResult], opened: OpenSubmission | None) -> None:
                index = int(key)
                if opened is not None and opened.skipped and opened.suspect and index not in again:
                    again.add(index)  # graded again below, with every cell
                    return
                submission = submissions[index]
                done(index, _assemble(submission, assignment, found, opened, submission_seed(submission, seed), index in again))

            def grade_targets(targets: list[Target], deferred: set[int]) -> None:
                tests, opened = run_graders(assignment, targets, reference=reference, questions=questions, public_only=public_only,
                                            on_done=finished, call_timeout=call_timeout)
                for key, found in tests.items():
                    if int(key) not in results and int(key) not in deferred:  # its notebook never opened: no on_done
                        finished(key, found, opened.get(key))

            grade_targets(targets, again)
            retry = [Target(t.key, functools.partial(start, int(t.key), None)) for t in targets if int(t.key) in again]
            if retry:
                grade_targets(retry, set())
    finally:
        if own_zygote and zygote is not None:
            zygote.close()
    return [results[i] for i in sorted(results)]
