"""How far a grading run is: a live bar on a terminal, one line per graded submission anywhere else."""

from __future__ import annotations

import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from d2lgrade.submissions import Submission
from d2lgrade.results import SubmissionResult

__all__ = ["GradingProgress"]

#: Students named in the bar at most; the rest are counted.
SHOWN = 3


class GradingProgress:
    """``started(submission)`` and ``finished(result)`` as grading goes; use it as a context manager.

    ``stream`` is bound when it is made: grading redirects ``sys.stderr``
    while the graders run.
    """

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.running: dict[str, list[float]] = {}
        """the students being graded, with when each of their submissions started"""
        self.spent = 0.0
        """seconds the finished submissions took, together"""
        self.at_once = 1
        """the most submissions graded at the same time so far"""
        self.bar: Progress | None = None
        if stream.isatty():
            self.bar = Progress(
                TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[left]}"),
                TextColumn("[dim]{task.fields[current]}"), console=Console(file=stream),
            )
            self.task = self.bar.add_task("grading", total=total, current="", left="")

    def __enter__(self) -> GradingProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.stop()

    def started(self, submission: Submission) -> None:
        self.running.setdefault(submission.student, []).append(time.monotonic())
        self.at_once = max(self.at_once, sum(map(len, self.running.values())))
        self._show()

    def finished(self, result: SubmissionResult) -> None:
        self.done += 1
        began = self.running.get(result.student)
        if began:  # a notebook that could not be read never started
            self.spent += time.monotonic() - began.pop(0)
            if not began:
                del self.running[result.student]
        if self.bar is not None:
            self.bar.advance(self.task)
            self._show()
            return
        left = self.time_left()
        note = f" (about {_duration(left)} left)" if left is not None else ""
        score = "not graded" if result.error else f"{round(result.score, 2):g}/{result.possible:g}"
        print(f"[{self.done}/{self.total}] {result.student} {result.assignment} {score}{note}", file=self.stream, flush=True)

    def time_left(self) -> float | None:
        """Seconds until the rest are graded, at the pace so far; None when none is left or it is too early to tell."""
        if self.done >= self.total or not self.spent:
            return None
        return self.spent / self.done * (self.total - self.done) / self.at_once

    def _show(self) -> None:
        if self.bar is not None:
            names = list(self.running)
            current = ", ".join(names[:SHOWN]) + (f" +{len(names) - SHOWN}" if len(names) > SHOWN else "")
            left = self.time_left()
            self.bar.update(self.task, current=current, left=f"about {_duration(left)} left" if left is not None else "")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
