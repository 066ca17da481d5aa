"""The command line: parse arguments, call the library, report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from d2lgrade.course import CourseError, find_course

#: Exit status when any test hit a grader error (the graders need fixing).
EXIT_GRADER_ERROR = 3


def _autograde(args: argparse.Namespace) -> int:
    from d2lgrade.export import write_csv, write_json
    from d2lgrade.grade import find_submissions, grade
    from d2lgrade.table import print_table

    course = find_course(args.course)
    submissions = find_submissions(args.paths, course=course, assignment=args.assignment)
    if not submissions:
        print("no notebooks found in " + ", ".join(map(str, args.paths)), file=sys.stderr)
        return 2
    progress = sys.stderr  # bound now: grading redirects sys.stderr while the graders run
    print(f"grading {len(submissions)} submission(s) with seed {args.seed}", file=progress)
    results = grade(
        submissions,
        course=course,
        seed=args.seed,
        questions=set(args.question) if args.question else None,
        public_only=args.public_only,
        call_timeout=args.timeout,
        on_result=lambda r: print(f"  graded {r.student} ({r.assignment}): {r.score:g}/{r.possible:g}", file=progress, flush=True),
    )
    print_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(results, args.out / "results.json")
    write_csv(results, args.out / "grades.csv")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'grades.csv'}")
    return EXIT_GRADER_ERROR if any(r.grader_errors for r in results) else 0


def _stubs(args: argparse.Namespace) -> int:
    from d2lgrade.nbgrader import generate_stubs

    course = find_course(args.course)
    names = args.assignments or course.assignment_names()
    for path in generate_stubs(course, names, course.root / "assignments"):
        print(f"wrote {path.relative_to(course.root)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="d2lgrade", description="Autograde d2l Linear Neural Networks notebooks.")
    parser.add_argument("--course", type=Path, default=None, help="course folder (default: found from the working directory)")
    verbs = parser.add_subparsers(dest="verb", required=True)

    auto = verbs.add_parser("autograde", help="grade submitted notebooks")
    auto.add_argument("paths", nargs="+", type=Path, help="notebooks, folders of notebooks, or nbgrader's submitted/ folder")
    auto.add_argument("--assignment", help="the assignment, when it cannot be told from the path or the notebook")
    auto.add_argument("--out", type=Path, default=Path("results"), help="where to write results.json and grades.csv (default: results)")
    auto.add_argument("--seed", type=int, default=0, help="seed for the graders' inputs and the students' code (default: 0)")
    auto.add_argument("--question", action="append", help="grade only this question (repeatable)")
    auto.add_argument("--public-only", action="store_true", help="run the public checks only")
    auto.add_argument("--timeout", type=float, default=30.0, help="seconds each call into student code may take (default: 30)")
    auto.set_defaults(run=_autograde)

    stubs = verbs.add_parser("stubs", help="regenerate assignments/ from solutions/ with nbgrader")
    stubs.add_argument("assignments", nargs="*", help="assignments to regenerate (default: all)")
    stubs.set_defaults(run=_stubs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CourseError as exc:
        print(f"d2lgrade: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
