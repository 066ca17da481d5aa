"""The command line: parse arguments, call the library, report."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
from pathlib import Path

# Imported before anything else, to launch the students' zygote first (``_start_zygote_early``).
from d2lgrade.zygote import discard_early, start_early

#: Exit status when any test hit a grader error (the graders need fixing).
EXIT_GRADER_ERROR = 3
ALL_CELLS_HELP = ("run every code cell, as nbgrader does, instead of only those the checks need (the demonstrations are "
                  "skipped by default; scores do not depend on it)")
SUBMISSION_TIMEOUT_HELP = ("seconds a notebook's cells and every call into its code may take in all; when they are spent, its "
                           "process is stopped and the checks left end as errors (default: 20 times what the reference "
                           "notebook takes, at least 120)")


def _autograde(args: argparse.Namespace) -> int:
    from d2lgrade.course import GraderError, find_course
    from d2lgrade.environment import versions
    from d2lgrade.submissions import find_submissions, submission_seed
    from d2lgrade.pool import WorkerError, default_jobs, grade_many
    from d2lgrade.progress import GradingProgress
    from d2lgrade.store import ResultStore, clashes, graded_with
    from d2lgrade.table import print_table

    course = find_course(args.course)
    stream = sys.stderr  # bound now: grading redirects sys.stderr while the graders run
    if args.gradebook is not None and (args.question or args.public_only):
        print("--gradebook records whole gradings only: leave out --question and --public-only", file=stream)
        return 2
    if args.gradebook is not None and args.shard is not None:
        print("--gradebook and --shard do not go together: shards on several machines would write one gradebook at once",
              file=stream)
        return 2
    submissions = find_submissions(args.paths, course=course, assignment=args.assignment)
    if not submissions:
        print("no notebooks found in " + ", ".join(map(str, args.paths)), file=stream)
        return 2
    if clashes(submissions):
        print("more than one notebook for the same student and assignment:\n  " + "\n  ".join(clashes(submissions)), file=stream)
        return 2
    questions = set(args.question) if args.question else None
    # What each assignment is graded with, read once as the run starts: recorded with every result and shard
    graders = {name: course.assignment(name).fingerprint for name in sorted({s.assignment for s in submissions} - {None})}
    libraries = versions()  # this process's: the workers run on the same Python and packages
    shard = None
    if args.shard is not None:
        from d2lgrade.shard import select, shard_record

        shard = shard_record(args.shard, submissions, seed=args.seed, questions=questions, public_only=args.public_only,
                             graders=graders, libraries=libraries)
        everyone, submissions = len(submissions), select(submissions, args.shard)
        print(f"shard {args.shard}: {len(submissions)} of the class's {everyone} submission(s)", file=stream)

    def settings(path, assignment: str | None, seed: int) -> dict:
        return graded_with(path, seed=seed, questions=questions, public_only=args.public_only,
                           graders=graders.get(assignment), libraries=libraries)

    store = ResultStore(args.out)
    kept = {}
    if args.resume:
        kept, regrade = store.resume(submissions, lambda s: settings(s.path, s.assignment, submission_seed(s, args.seed)))
        for reason in regrade:
            print(f"grading again: {reason}", file=stream)
        print(f"resuming: {len(kept)} of {len(submissions)} submission(s) already graded in {args.out}", file=stream)
    elif store.clear():
        print(f"replacing the results of an earlier run in {args.out} (--resume would keep them)", file=stream)
    todo = [s for index, s in enumerate(submissions) if index not in kept]
    print(f"grading {len(todo)} submission(s) with seed {args.seed}", file=stream)

    def record(result) -> None:
        store.save(result, settings(result.path, result.assignment, result.seed))
        progress.finished(result)

    try:
        budgets = _budgets(course, {s.assignment for s in todo} - {None}, args.submission_timeout, stream)
        with GradingProgress(len(todo), stream) as progress:
            fresh = iter(grade_many(todo, course=course, jobs=args.jobs or default_jobs(), seed=args.seed, questions=questions, public_only=args.public_only,
                                    call_timeout=args.timeout, on_start=progress.started, on_result=record, all_cells=args.all_cells,
                                    budgets=budgets))
    except (GraderError, WorkerError) as exc:
        print(f"d2lgrade: {exc}\nthe results so far are kept in {store.folder}: fix the problem and go on with --resume", file=stream)
        return EXIT_GRADER_ERROR
    except KeyboardInterrupt:
        print(f"stopped; the results so far are kept in {store.folder}: go on with --resume", file=stream)
        return 130
    results = [kept[index] if index in kept else next(fresh) for index in range(len(submissions))]
    print_table(results)
    written = store.write_summary(results, shard=shard)
    print("wrote " + ", ".join(map(str, written)))
    if args.gradebook is not None:
        from d2lgrade import gradebook

        problems = gradebook.record(results, course.root, args.gradebook or None)
        print(f"recorded the scores in nbgrader's gradebook {args.gradebook or gradebook.default_db_url(course.root)}")
        for submission, why in problems.items():
            print(f"  {submission}: {why}", file=stream)
    return EXIT_GRADER_ERROR if any(r.grader_errors for r in results) else 0


def _budgets(course, names, seconds: float | None, stream) -> dict:
    """Each assignment's time budget per submission (``d2lgrade.budget``), said as the run starts."""
    from d2lgrade.budget import budgets_for

    def measuring(name: str) -> None:
        print(f"timing the reference notebook of {name} once, for the default --submission-timeout", file=stream)

    budgets = budgets_for(course, sorted(names), seconds, on_measure=measuring)
    for name, budget in budgets.items():
        print(f"each {name} notebook may run for {budget.describe()} in all", file=stream)
    return budgets


def _stubs(args: argparse.Namespace) -> int:
    from d2lgrade.course import find_course
    from d2lgrade.nbgrader import generate_stubs

    course = find_course(args.course)
    names = args.assignments or course.assignment_names()
    for path in generate_stubs(course, names, course.root / "assignments"):
        print(f"wrote {path.relative_to(course.root)}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from d2lgrade.book import modules_to_load
    from d2lgrade.course import find_course
    from d2lgrade.submissions import guess_assignment
    from d2lgrade.zygote import start_zygote

    course = find_course(args.course or args.notebook.resolve().parent)
    name = args.assignment or guess_assignment(args.notebook, course)
    assignments = [course.assignment(name)] if name in course.assignment_names() else []
    zygote = start_zygote(load=modules_to_load(assignments, args.question, args.all_cells))  # first: it imports torch while this process does
    try:
        from d2lgrade.selfcheck import check_notebook, wants_colour

        return check_notebook(args.notebook, course=course, assignment=args.assignment, questions=args.question, seed=args.seed,
                              colour=wants_colour(), all_cells=args.all_cells, submission_timeout=args.submission_timeout,
                              zygote=zygote)
    finally:
        if zygote is not None:
            zygote.close()


def _release(args: argparse.Namespace) -> int:
    from d2lgrade.course import find_course
    from d2lgrade.release import build_release

    out = build_release(find_course(args.course), args.assignments, args.out, archive=args.zip)
    print(f"wrote {out}" + (f" and {out.name}.zip beside it" if args.zip else ""))
    return 0


def _merge(args: argparse.Namespace) -> int:
    from d2lgrade.shard import MergeError, merge_into

    try:
        results, written = merge_into(args.results, args.out)
    except MergeError as exc:
        print(f"d2lgrade merge: {exc}", file=sys.stderr)
        return 2
    print(f"merged {len(args.results)} shard(s), {len(results)} submission(s); wrote " + ", ".join(map(str, written)))
    return EXIT_GRADER_ERROR if any(r.grader_errors for r in results) else 0


def _shard(text: str):
    from d2lgrade.shard import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return seconds


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="d2lgrade", description="Autograde d2l Linear Neural Networks notebooks.")
    parser.add_argument("--course", type=Path, default=None, help="course folder (default: found from the working directory)")
    verbs = parser.add_subparsers(dest="verb", required=True)

    auto = verbs.add_parser("autograde", help="grade submitted notebooks")
    auto.add_argument("paths", nargs="+", type=Path, help="notebooks, folders of notebooks, or nbgrader's submitted/ folder")
    auto.add_argument("--assignment", help="the assignment, when it cannot be told from the path or the notebook")
    auto.add_argument("--out", type=Path, default=Path("results"), help="where to write results.json, grades.csv, junit.xml, feedback/, report/ and, as each is graded, "
                           "submissions/<assignment>/<student>.json (default: results)")
    auto.add_argument("--seed", type=int, default=0, help="seed for the graders' inputs and the students' code (default: 0)")
    auto.add_argument("--question", action="append", help="grade only this question (repeatable)")
    auto.add_argument("--public-only", action="store_true", help="run the public checks only")
    auto.add_argument("--timeout", type=float, default=30.0, help="seconds each call into student code may take (default: 30)")
    auto.add_argument("--submission-timeout", type=_seconds, default=None, metavar="SECONDS", help=SUBMISSION_TIMEOUT_HELP)
    auto.add_argument("--all-cells", action="store_true", help=ALL_CELLS_HELP)
    auto.add_argument("--jobs", type=_positive, default=None, metavar="N",
                      help="submissions graded at the same time, each by its own worker process (default: the number of cores)")
    auto.add_argument("--resume", action="store_true",
                      help="keep the results already in --out that were graded with the same seed, questions, --public-only and "
                           "notebook, and grade only the rest; without it, the results of an earlier run in --out are replaced")
    auto.add_argument("--gradebook", nargs="?", const="", metavar="URL",
                      help="also record the scores in nbgrader's gradebook, for formgrader, export and generate_feedback "
                           "(default URL: the course's, from nbgrader_config.py)")
    auto.add_argument("--shard", type=_shard, metavar="K/N",
                      help="grade only shard K of N (K from 0 to N-1, as SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX count): "
                           "each submission is in exactly one shard; join the shards' results.json with `d2lgrade merge`")
    auto.set_defaults(run=_autograde)

    stubs = verbs.add_parser("stubs", help="regenerate assignments/ from solutions/ with nbgrader")
    stubs.add_argument("assignments", nargs="*", help="assignments to regenerate (default: all)")
    stubs.set_defaults(run=_stubs)

    check = verbs.add_parser("check", help="run the public checks on a saved notebook, as grading runs it")
    check.add_argument("notebook", type=Path, help="the notebook to check (the course is found from its folder unless --course says)")
    check.add_argument("--question", action="append", help="check only this function (repeatable)")
    check.add_argument("--assignment", help="the assignment, when it cannot be told from the notebook")
    check.add_argument("--seed", type=int, default=0, help="seed for the checks' inputs and the notebook's code (default: 0)")
    check.add_argument("--all-cells", action="store_true", help=ALL_CELLS_HELP)
    check.add_argument("--submission-timeout", type=_seconds, default=None, metavar="SECONDS", help=SUBMISSION_TIMEOUT_HELP)
    check.set_defaults(run=_check)

    release = verbs.add_parser("release", help="build the student release: stubs, public checks, the engine, a README and the student wheel")
    release.add_argument("assignments", nargs="+", help="the assignments to release")
    release.add_argument("--out", type=Path, required=True, help="the folder to create")
    release.add_argument("--zip", action="store_true", help="also write <out>.zip beside the folder")
    release.set_defaults(run=_release)

    from d2lgrade.export.command import add_export_command
    from d2lgrade.gradescope import add_gradescope_command

    add_export_command(verbs)
    add_gradescope_command(verbs)

    merge = verbs.add_parser("merge", help="join the results.json of every shard of a class graded with --shard K/N")
    merge.add_argument("results", nargs="+", type=Path, help="the results.json of every shard, each once")
    merge.add_argument("--out", type=Path, required=True, help="where to write results.json, grades.csv, junit.xml, feedback/ and report/")
    merge.set_defaults(run=_merge)
    return parser


def _verb(argv: list[str]) -> str | None:
    """The command's verb, read before the parser is built: the first word that is neither an option
    nor the value of ``--course``."""
    words = iter(argv)
    for word in words:
        if word == "--course":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _start_zygote_early(argv: list[str]) -> None:
    """For the commands that grade, launch the students' zygote before this process imports what it
    needs to read the course: the zygote's import of torch is the longest wait of a check, and
    starting it half a second earlier saves that half second. The grading takes it over."""
    verb = _verb(argv)
    if verb not in ("autograde", "check") or "-h" in argv or "--help" in argv:
        return
    given = [word for before, word in zip(argv, argv[1:]) if before == "--jobs"]
    given += [word.removeprefix("--jobs=") for word in argv if word.startswith("--jobs=")]
    jobs = [int(value) for value in given if value.isdigit()]
    # Shares enough for the workers, whatever --jobs defaults to; those not needed are closed.
    start_early(shares=max(jobs + [os.cpu_count() or 1]) if verb == "autograde" else 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _start_zygote_early(argv)
    try:
        from d2lgrade.course import CourseError

        args = build_parser().parse_args(argv)
        try:
            return args.run(args)
        except CourseError as exc:
            print(f"d2lgrade: {exc}", file=sys.stderr)
            return 2
    finally:
        discard_early()


def run() -> None:
    """The ``d2lgrade`` command: ``main``, then a quick exit.

    After its last line, Python's own exit would tear down every module, torch's and pytest's
    among them: a second or more (``d2lgrade check`` took 5.5 s, 1.1 s of it after printing). This
    runs what that exit runs first (the ``atexit`` functions: temporary folders, logging), flushes
    the output and leaves. An exception out of ``main`` takes Python's usual way.
    """
    status = main()
    atexit._run_exitfuncs()
    with contextlib.suppress(OSError):  # a reader that has gone (`| head`) misses nothing it wanted
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(int(status or 0))  # as sys.exit would take main's int, or None


if __name__ == "__main__":
    run()
