"""Grading a class in parallel: worker processes take submissions from a queue, a few at a time.

The workers start as one process (``python -m d2lgrade.worker``) that forks the others
once it has imported torch, pytest and the engine: one import instead of one per worker,
which is most of a run's start-up on a machine with few cores. Each worker grades a chunk of submissions
of one assignment with one ``grade()`` call, so the graders are collected once per chunk rather than
once per submission. Chunks shrink as the queue empties, so that the
workers finish together. Results travel back as ``SubmissionResult.to_dict()``
JSON, one line each, the moment they are done.

The workers share one zygote, started here as the first workers start
(``Zygote.start(shares=jobs)``): torch and d2l are imported once for all
the students' processes, not once per worker. Should it fail to start, each
worker starts its own.

Every submission's grading depends on its own seed only, so the results do
not depend on the number of workers or on how the submissions were chunked.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import math
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from d2lgrade.book import modules_to_load
from d2lgrade.budget import Budget
from d2lgrade.course import Course, CourseError, GraderError
from d2lgrade.limits import CALL_TIMEOUT
from d2lgrade.results import SubmissionResult
from d2lgrade.submissions import Submission, submission_to_json
from d2lgrade.zygote import Zygote, start_zygote

__all__ = ["MAX_CHUNK", "Pool", "WorkerError", "default_jobs", "grade_many"]

#: The most submissions a worker takes at once: more saves starting a pytest session again (measured at
#: 0.01 to 0.03 s of CPU a session in a worker, a submission taking 1 to 5 s), fewer balances the load.
MAX_CHUNK = 4
#: Seconds a worker may take to stop once it has no more work.
STOP_TIMEOUT = 10.0


class WorkerError(RuntimeError):
    """A grading worker stopped unexpectedly (a bug on our side, not the students')."""


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def grade_many(submissions: Sequence[Submission], *, jobs: int = 1, **options) -> list[SubmissionResult]:
    """``grade()`` spread over ``jobs`` worker processes started for this call (see ``Pool.grade``)."""
    with Pool(jobs) as pool:
        return pool.grade(submissions, **options)


class Pool:
    """Up to ``jobs`` grading workers, started when first needed and kept for every ``grade`` call until
    ``close``; with one job, grading happens in this process."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self.workers: list[_Worker] = []
        self.zygote: Zygote | None = None
        """the students' processes' zygote, shared by the workers (or used here, with one job); started at the first call"""
        self._zygote_failed = False
        self.events: queue.Queue = queue.Queue()
        """(worker, message) as the workers' replies arrive; message None when a worker ended"""

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self, *, kill: bool = False) -> None:
        """Let the workers end (each closes its share of the zygote), or kill them; then end the zygote."""
        for worker in self.workers:
            worker.stop(kill=kill)
        self.workers = []
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    def grade(
        self,
        submissions: Sequence[Submission],
        *,
        course: Course,
        seed: int = 0,
        questions: set[str] | None = None,
        public_only: bool = False,
        on_start: Callable[[Submission], None] | None = None,
        on_result: Callable[[SubmissionResult], None] | None = None,
        call_timeout: float = CALL_TIMEOUT,
        chunk: int | None = None,
        all_cells: bool = False,
        budgets: Mapping[str, Budget] | None = None,
    ) -> list[SubmissionResult]:
        """What ``grade()`` returns for these arguments, graded by the workers.

        Results come back in the submissions' order; ``on_start`` and
        ``on_result`` are called here as each submission starts and ends.
        ``chunk`` fixes how many submissions a worker takes at once (default:
        fewer as the queue empties, at most ``MAX_CHUNK``).
        """
        load = _preloads(course, submissions, questions, all_cells)
        if self.jobs == 1 or (len(submissions) <= 1 and not self.workers):
            zygote = self._zygote(load)  # first: it imports torch while this process does
            from d2lgrade.grade import grade  # here only: it imports torch, which the workers need and this process not

            return grade(submissions, course=course, seed=seed, questions=questions, public_only=public_only, on_start=on_start,
                         on_result=on_result, call_timeout=call_timeout, all_cells=all_cells, budgets=budgets, zygote=zygote)
        options = {"course": str(course.root), "seed": seed, "questions": sorted(questions) if questions is not None else None,
                   "public_only": public_only, "call_timeout": call_timeout, "all_cells": all_cells,
                   "budgets": {name: dataclasses.asdict(budget) for name, budget in (budgets or {}).items()}}
        more = min(self.jobs, len(submissions)) - len(self.workers)
        if more > 0:
            self.workers += _start_workers(self.events, [self._zygote_share(load) for _ in range(more)])
        work = _Queue(submissions, len(self.workers), chunk)
        results: dict[int, SubmissionResult] = {}
        try:
            for worker in self.workers:
                worker.give(work.take(), options)
            # until every result is in and every worker has said it is idle, so that none is left for the next call
            while len(results) < len(submissions) or any(w.busy for w in self.workers):
                worker, message = self.events.get()
                if message is None:
                    grading = ", ".join(sorted({submissions[i].student for i in worker.assigned})) or "nothing"
                    raise WorkerError(f"a grading worker stopped{worker.exit_status()} while grading {grading}{worker.last_words()}")
                if "start" in message:
                    if on_start is not None:
                        on_start(submissions[message["start"]])
                elif "result" in message:
                    result = SubmissionResult.from_dict(message["data"])
                    results[message["result"]] = result
                    worker.assigned.discard(message["result"])
                    if on_result is not None:
                        on_result(result)
                elif "idle" in message:
                    worker.busy = False
                    worker.give(work.take(), options)
                elif "error" in message:
                    kind = {"GraderError": GraderError, "CourseError": CourseError}.get(message["error"], WorkerError)
                    raise kind(message["message"])
        except BaseException:
            self.close(kill=True)
            raise
        return [results[i] for i in range(len(submissions))]


    def _zygote(self, load: tuple[str, ...]) -> Zygote | None:
        """The students' processes' zygote, started at the first call (loading ``load`` from the start),
        with a share for each worker; None when it cannot start (it said why; each worker then starts its own)."""
        if self.zygote is None and not self._zygote_failed:
            self.zygote = start_zygote(shares=self.jobs, load=load)
            self._zygote_failed = self.zygote is None
        return self.zygote

    def _zygote_share(self, load: tuple[str, ...]) -> socket.socket | None:
        """A socket to the shared zygote for one more worker; None when there is none to give."""
        zygote = self._zygote(load)
        return zygote.shares.pop() if zygote is not None and zygote.shares else None


def _preloads(course: Course, submissions: Sequence[Submission], questions: set[str] | None,
              all_cells: bool) -> tuple[str, ...]:
    """The ``LAZY_MODULES`` that the zygote should load as it starts: those grading will ask it for
    (``grade`` asks again, in case this pool's zygote started for another call)."""
    names = {s.assignment for s in submissions} - {None}
    try:
        return modules_to_load([course.assignment(name) for name in names], questions, all_cells)
    except CourseError:
        return ()  # grading says what is wrong


class _Queue:
    """The submissions still to hand out, as chunks of one assignment each."""

    def __init__(self, submissions: Sequence[Submission], jobs: int, chunk: int | None) -> None:
        by_assignment: dict[str | None, list[int]] = {}
        for index, submission in enumerate(submissions):
            by_assignment.setdefault(submission.assignment, []).append(index)
        self.waiting = collections.deque((index, submissions[index]) for indexes in by_assignment.values() for index in indexes)
        self.jobs = jobs
        self.chunk = chunk

    def take(self) -> list:
        """The next chunk, ``[[index, submission as JSON], ...]``; empty when nothing is left."""
        if not self.waiting:
            return []
        # Guided scheduling: a share of what is left, so that the last chunks are small.
        size = self.chunk or min(MAX_CHUNK, math.ceil(len(self.waiting) / (2 * self.jobs)))
        assignment = self.waiting[0][1].assignment
        taken = []
        while self.waiting and len(taken) < size and self.waiting[0][1].assignment == assignment:
            index, submission = self.waiting.popleft()
            taken.append([index, submission_to_json(submission)])
        return taken


def _start_workers(events: queue.Queue, shares: list[socket.socket | None]) -> list[_Worker]:
    """A worker for each of ``shares`` (its socket to the shared zygote, or None): one process
    launched, which forks the others after its imports (``python -m d2lgrade.worker --sibling=...``).
    The shares are closed here once the workers have them."""
    requests = [os.pipe() for _ in shares]  # (the worker's stdin, ours to write)
    replies = [os.pipe() for _ in shares]  # (ours to read, the worker's stdout)
    logs = [tempfile.TemporaryFile(prefix="d2lgrade-worker-") for _ in shares]
    theirs = [[request[0], reply[1], log.fileno(), *([] if share is None else [share.fileno()])]
              for request, reply, log, share in zip(requests, replies, logs, shares)]
    first, siblings = theirs[0], theirs[1:]
    command = [sys.executable, "-m", "d2lgrade.worker", *(["--zygote", str(first[3])] if first[3:] else []),
               *(f"--sibling={','.join(map(str, fds))}" for fds in siblings)]
    try:
        process = subprocess.Popen(command, stdin=first[0], stdout=first[1], stderr=first[2],
                                   pass_fds=[fd for fds in siblings for fd in fds] + first[3:])
    except OSError:
        for request, reply, log in zip(requests, replies, logs):
            os.close(request[1])
            os.close(reply[0])
            log.close()
        raise
    finally:
        for request, reply, share in zip(requests, replies, shares):
            os.close(request[0])
            os.close(reply[1])
            if share is not None:
                share.close()  # the worker's copy alone keeps it open: the zygote sees it close when the worker ends
    return [_Worker(events, open(request[1], "w", encoding="utf-8"), open(reply[0], encoding="utf-8"), log,
                    process if index == 0 else None)
            for index, (request, reply, log) in enumerate(zip(requests, replies, logs))]


def _pidfd(pid: int) -> int | None:
    """A descriptor that follows process ``pid``; None when it is gone already, or on a kernel
    older than 5.3 (the pid is used instead)."""
    try:
        return os.pidfd_open(pid)
    except OSError:  # ProcessLookupError, or ENOSYS
        return None


class _Worker:
    """One worker process; a thread reads its replies onto the pool's event queue.

    ``_start_workers`` launches the first of a batch (``process``); it forks the others once it has
    imported torch, pytest and the engine, which then cost one import instead of one per worker.
    A forked worker says its pid first; the pool waits for it and kills it through a pidfd.
    """

    def __init__(self, events: queue.Queue, requests: IO[str], replies: IO[str], log: IO[bytes],
                 process: subprocess.Popen | None) -> None:
        self.requests, self.replies, self.log, self.process = requests, replies, log, process
        self.pid = None if process is None else process.pid
        self._pidfd: int | None = None
        """a forked worker's, once it has said its pid"""
        self.busy = False
        """whether it has a chunk it has not finished"""
        self.assigned: set[int] = set()
        """the indexes of the submissions it was given and has not answered yet"""
        self.stopping = False
        self._reader = threading.Thread(target=self._read, args=(events,), daemon=True)
        self._reader.start()

    def _read(self, events: queue.Queue) -> None:
        try:
            for line in self.replies:
                message = json.loads(line)
                if self.pid is None and "pid" in message:  # a forked worker's first line
                    self._pidfd = _pidfd(message["pid"])
                    self.pid = message["pid"]
                else:
                    events.put((self, message))
        except ValueError:
            pass  # not one of its replies: treated as its end
        finally:
            if not self.stopping:
                events.put((self, None))

    def give(self, chunk: list, options: dict) -> None:
        """Send it a chunk to grade with these options (nothing when the chunk is empty)."""
        if not chunk:
            return
        self.busy = True
        self.assigned.update(index for index, _ in chunk)
        with contextlib.suppress(BrokenPipeError):  # it died: its reader reports that
            self.requests.write(json.dumps({"options": options, "chunk": chunk}) + "\n")
            self.requests.flush()

    def stop(self, *, kill: bool = False) -> None:
        """Close its input, so that it closes its zygote and ends, and wait; or kill it (its zygote then kills
        the students' processes)."""
        self.stopping = True
        with contextlib.suppress(BrokenPipeError):
            self.requests.close()
        if kill:
            self._kill()
        if not self._wait(STOP_TIMEOUT):
            self._kill()
            self._wait(STOP_TIMEOUT)
        if self._pidfd is not None:
            os.close(self._pidfd)
        self.log.close()

    def _kill(self) -> None:
        if self.process is not None:
            self.process.kill()
        elif self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _wait(self, timeout: float) -> bool:
        """Whether it ended within ``timeout`` seconds (a forked worker that never said its pid: whether
        its replies ended)."""
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        self._reader.join(timeout)  # its replies end as it does
        if self._pidfd is None or self._reader.is_alive():
            return not self._reader.is_alive()
        return bool(select.select([self._pidfd], [], [], timeout)[0])

    def exit_status(self) -> str:
        """`` (exit status N)`` once it has ended, where it can be known (not for a forked worker)."""
        return "" if self.process is None else f" (exit status {self.process.wait()})"

    def last_words(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.log.seek(0)
            said = self.log.read()[-3000:].decode("utf-8", "replace").strip()
            return f":\n{said}" if said else ""
        return ""
