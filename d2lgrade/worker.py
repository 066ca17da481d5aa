"""A grading worker: grades the chunks of submissions that ``d2lgrade.pool`` sends it.

Started as ``python -m d2lgrade.worker [--zygote FD] [--sibling=IN,OUT,ERR[,FD] ...]``, it first
forks a worker for each sibling (``pool._start_workers``). Each is a grading
process like the one it works for: it runs the graders, and student code
only in children forked from a zygote, which serves every chunk it grades:
the pool's shared one through the inherited socket FD, else its own.

It reads one JSON line per chunk on stdin: ``{"options": {...}, "chunk":
[[index, submission], ...]}``, the options being ``grade()``'s (``course``,
``seed``, ``questions``, ``public_only``, ``call_timeout``, ``all_cells``, ``budgets`` as
``{assignment: {"seconds": ..., "reference": ...}}``). It answers JSON
lines on stdout: ``{"start": index}`` as a submission starts, ``{"result":
index, "data": SubmissionResult.to_dict()}`` as its grading ends, ``{"idle":
true}`` when the chunk is done, and ``{"error": kind, "message": text}``
(then it ends) when the graders cannot run at all. It ends when stdin closes. A forked worker
first says ``{"pid": N}``: the pool did not start it, and waits for it through its pid.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
from pathlib import Path
from typing import TextIO

from d2lgrade.budget import Budget
from d2lgrade.course import Course, CourseError
from d2lgrade.grade import grade, start_zygote
from d2lgrade.plugin import GraderError
from d2lgrade.submissions import Submission, submission_from_json, submission_seed, submission_to_json
from d2lgrade.zygote import Zygote

__all__ = ["main", "serve", "submission_from_json", "submission_to_json"]


def _grade_chunk(chunk: list, options: dict, zygote: Zygote | None, say) -> None:
    indexes = [index for index, _ in chunk]
    submissions = [submission_from_json(data) for _, data in chunk]
    index_of = {id(s): i for i, s in zip(indexes, submissions)}
    # A result names its student, notebook and seed; identical ones are graded alike, so any of their indexes will do.
    waiting: dict[tuple, list[int]] = {}
    for index, submission in zip(indexes, submissions):
        waiting.setdefault((submission.student, str(submission.path), submission_seed(submission, options["seed"])), []).append(index)
    grade(
        submissions,
        course=Course(Path(options["course"])),
        seed=options["seed"],
        questions=set(options["questions"]) if options["questions"] is not None else None,
        public_only=options["public_only"],
        call_timeout=options["call_timeout"],
        all_cells=options.get("all_cells", False),
        budgets={name: Budget(**budget) for name, budget in options.get("budgets", {}).items()},
        zygote=zygote,
        on_start=lambda s: say(start=index_of[id(s)]),
        on_result=lambda r: say(result=waiting[(r.student, r.path, r.seed)].pop(0), data=r.to_dict()),
    )


def serve(requests: TextIO, replies: TextIO, zygote_fd: int | None = None) -> None:
    zygote = Zygote.attach(zygote_fd) if zygote_fd is not None else start_zygote()

    def say(**message) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    try:
        for number, line in enumerate(requests):
            request = json.loads(line)
            try:
                _grade_chunk(request["chunk"], request["options"], zygote, say)
            except (GraderError, CourseError) as exc:
                say(error=type(exc).__name__, message=str(exc))
                return
            if number == 0:
                # What the first chunk loaded (torch, d2l, the graders) lives as long as the worker: frozen, the
                # full collections pytest runs at the end of every session skip it (0.5 s a chunk otherwise).
                gc.collect()
                gc.freeze()
            say(idle=True)
    finally:
        if zygote is not None:
            zygote.close()


def _fork_siblings(siblings: list[list[int]], zygote_fd: int | None) -> int | None:
    """Fork a worker for each of ``siblings`` (descriptors for its stdin, stdout and stderr, and its
    zygote share if it has one), which it takes as its own and says its pid on; the forked worker
    shares this one's imports. Returns the zygote share of the worker this process now is.

    Forking here is as safe as multiprocessing's fork: nothing has touched CUDA yet (the graders'
    ``device`` fixture does, in each worker), and the one other thread, OpenBLAS's, is fork-aware.
    """
    for fds in siblings:
        if os.fork() == 0:
            for fd, standard in zip(fds, (0, 1, 2)):
                os.dup2(fd, standard)
            share = os.dup(fds[3]) if len(fds) > 3 else None
            for fd in {fd for other in siblings for fd in other} | {zygote_fd} - {None}:
                os.close(fd)
            print(json.dumps({"pid": os.getpid()}), flush=True)
            return share
    for fd in {fd for fds in siblings for fd in fds}:
        os.close(fd)
    return zygote_fd


def _arguments(argv: list[str]) -> tuple[int | None, list[list[int]]] | None:
    """(``--zygote FD``, every ``--sibling=FD,FD,FD[,FD]``); None when they are not that."""
    zygote_fd, siblings, words = None, [], iter(argv)
    for word in words:
        if word == "--zygote" and (fd := next(words, "")).isdigit():
            zygote_fd = int(fd)
        elif word.startswith("--sibling=") and (fds := word.removeprefix("--sibling=").split(",")):
            if len(fds) not in (3, 4) or not all(fd.isdigit() for fd in fds):
                return None
            siblings.append([int(fd) for fd in fds])
        else:
            return None
    return zygote_fd, siblings


def main(argv: list[str] | None = None) -> None:
    parsed = _arguments(sys.argv[1:] if argv is None else argv)
    if parsed is None:
        sys.exit("usage: python -m d2lgrade.worker [--zygote FD] [--sibling=IN,OUT,ERR[,FD] ...]  (FD: a socket to a"
                 " zygote's share; each sibling, a worker to fork with those descriptors as its own)")
    zygote_fd = _fork_siblings(parsed[1], parsed[0])
    # The replies get stdout's descriptor to themselves: anything else that writes to stdout
    # (a library, a grader) ends up on stderr instead of in the middle of a reply.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        serve(sys.stdin, replies, zygote_fd)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the pool reports it
        sys.exit(130)


if __name__ == "__main__":
    main()
    # Every reply is flushed and the zygote closed: skip the interpreter's teardown of torch and pytest
    # (0.3 s), but not the atexit functions (the graders' private bytecode folder goes with them).
    atexit._run_exitfuncs()
    sys.stderr.flush()
    os._exit(0)
