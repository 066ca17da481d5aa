"""How requests reach student code: another process, or (in the student's own kernel) this one.

Both transports pass every request and answer through JSON, so graders see
the same plain values whichever one carries them.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Protocol

from d2lgrade import sandbox
from d2lgrade.child import SANDBOX_ENV, Session
from d2lgrade.framing import ANSWER_BOUNDS, FramingError, ReadTimeout, TooLarge, read_message, write_message
from d2lgrade.zygote import CHILD_ENV, Zygote, ZygoteError

__all__ = [
    "AnswerTooLarge",
    "ChildTransport",
    "InProcessTransport",
    "MEMORY_LIMIT",
    "Transport",
    "TransportDied",
    "TransportTimeout",
]

#: Bytes of memory a student's processes may use together before they are stopped.
MEMORY_LIMIT = 4 * 1024**3
#: Seconds between two looks at that memory while waiting for an answer.
WATCH_INTERVAL = 0.2


#: Seconds a student's process that closed its pipe has to exit before it is killed.
EXIT_GRACE = 2.0


class TransportTimeout(Exception):
    """Student code did not answer within the time limit."""


class TransportDied(Exception):
    """The process running student code ended or broke the protocol."""


class AnswerTooLarge(TransportDied):
    """The student's process sent an answer over ``ANSWER_BOUNDS``; it was stopped, since the
    answer may be left half read in its pipe."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the student's process sent an answer too large to read ({detail})")
        self.detail = detail


#: Answers the student's process may send in the middle of a call: asks for a function grading lends.
LEND = "lend"

Lender = Callable[[dict], dict]
"""Answers a student's process that asks for a lent function (``d2lgrade.book.serve``)."""


def _refuse_lending(message: dict) -> dict:
    return {"status": "raised", "ename": "RuntimeError", "evalue": "no function is lent to this call"}


class Transport(Protocol):
    def request(self, message: Mapping[str, Any], *, timeout: float, lender: Lender | None = None) -> dict:
        """Send one request and return its answer, or raise TransportTimeout/TransportDied.

        Within ``timeout`` the student's process may ask ``lender`` for lent functions, any number of times.
        """

    def close(self) -> None:
        """Release the student's process, if any."""


def _round_trip(value: Any) -> Any:
    return json.loads(json.dumps(value))


class _TimeLimit(BaseException):
    """Raised inside student code when an in-process call runs out of time."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Interrupt the main thread after ``seconds`` (no limit elsewhere)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise _TimeLimit()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class InProcessTransport:
    """Student code in this very process: only for the student's own kernel.

    Under ``nbgrader autograde`` the graders run inside the student's kernel,
    where nothing can be hidden from student code; the values still cross the
    wire format, so graders behave exactly as they do against a child.
    """

    def __init__(self, namespace: MutableMapping[str, Any]) -> None:
        self.session = Session(namespace, ask=self._ask)
        self._lender: Lender = _refuse_lending

    def _ask(self, message: dict) -> dict:
        return _round_trip(self._lender(_round_trip(message)))

    def request(self, message: Mapping[str, Any], *, timeout: float, lender: Lender | None = None) -> dict:
        message = _round_trip(message)
        self._lender = lender or _refuse_lending
        try:
            with _alarm(timeout):
                answer = self.session.handle(message)
        except _TimeLimit:
            raise TransportTimeout(f"no answer within {timeout:g} s") from None
        if answer.get("status") == "raised" and answer["error"]["ename"] == _TimeLimit.__name__:
            raise TransportTimeout(f"no answer within {timeout:g} s")
        return _round_trip(answer)

    def close(self) -> None:
        pass


class ChildTransport:
    """Student code in a child process (``python -m d2lgrade.child``) built on the empty folder ``workdir``.

    With a ``zygote`` (``d2lgrade.zygote.Zygote``) the child is forked from it
    instead of started afresh; when the zygote is gone, it is started afresh after all.
    The child confines itself as ``policy`` says (``d2lgrade.sandbox``; confined,
    its files live in a private tmpfs, not in ``workdir``), and is stopped when
    its processes use more than ``memory`` bytes.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        startup_timeout: float = 120.0,
        zygote: Zygote | None = None,
        policy: sandbox.Policy = sandbox.Policy(),
        memory: int = MEMORY_LIMIT,
    ) -> None:
        self.workdir = Path(workdir)
        self.startup_timeout = startup_timeout
        self.zygote = zygote
        self.policy = policy
        self.memory = memory
        self.confinement: dict = {}
        """what the child said it applied of ``policy``, before any student code ran"""
        self.process: subprocess.Popen | None = None
        """the child, when it was started without the zygote"""
        self.pid: int | None = None
        """the child's pid, which is also its process group, while it runs"""
        self._fds: tuple[int, int] | None = None
        """(requests to the child, answers from it) while it runs"""

    def start(self) -> None:
        forked = None
        if self.zygote is not None:
            try:
                forked = self.zygote.spawn(self.workdir, self.policy.to_dict())
            except ZygoteError:
                pass  # the zygote said why once; start this child the slow way
        if forked is not None:
            self.pid, to_child, from_child = forked
            self._fds = (to_child, from_child)
        else:
            env = sandbox.child_environment({**CHILD_ENV, SANDBOX_ENV: json.dumps(self.policy.to_dict())})
            self.process = subprocess.Popen(
                [sys.executable, "-m", "d2lgrade.child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )
            self.pid = self.process.pid
            self._fds = (self.process.stdin.fileno(), self.process.stdout.fileno())
        hello = self._receive(self.startup_timeout)
        if hello.get("status") != "ready":
            raise TransportDied("the student's process did not start")
        self.confinement = hello.get("sandbox") or {}

    def request(self, message: Mapping[str, Any], *, timeout: float, lender: Lender | None = None) -> dict:
        if self._fds is None:
            self.start()
        deadline = time.monotonic() + timeout
        self._send(message)
        while (answer := self._receive(timeout, deadline)).get("status") == LEND:
            self._send((lender or _refuse_lending)(answer))
        return answer

    def _send(self, message: Mapping[str, Any]) -> None:
        try:
            write_message(self._fds[0], message)
        except (BrokenPipeError, FramingError, OSError) as exc:
            self.close()
            raise TransportDied(f"could not reach the student's process: {exc}") from None

    def _receive(self, timeout: float, deadline: float | None = None) -> dict:
        """The next answer; ``timeout`` is what the caller allowed, ``deadline`` when it runs out."""
        deadline = deadline or time.monotonic() + timeout
        if deadline <= time.monotonic():
            self.close()
            raise TransportTimeout(f"no answer within {timeout:g} s")
        self._wait_watching_memory(deadline)
        try:
            answer = read_message(self._fds[1], max(deadline - time.monotonic(), 0.001), ANSWER_BOUNDS)
        except TooLarge as exc:  # even one read whole: a process that sends such answers is not worth keeping
            self.close()
            raise AnswerTooLarge(exc.detail) from None
        except ReadTimeout:
            self.close()
            raise TransportTimeout(f"no answer within {timeout:g} s") from None
        except (FramingError, OSError) as exc:
            self.close()
            raise TransportDied(f"the student's process broke the protocol: {exc}") from None
        if answer is None:
            forked = self.process is None
            if not forked:  # ended by itself: let the processes of its sandbox pass its exit status on before the kill
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=EXIT_GRACE)
            code = self.close()
            raise TransportDied("the student's process ended unexpectedly" if forked else _exit_description(code))
        if not isinstance(answer, dict):
            self.close()
            raise TransportDied("the student's process sent something that is not an answer")
        return answer

    def _wait_watching_memory(self, deadline: float) -> None:
        """Wait until the child starts answering or time is up; stop it if it uses too much memory."""
        while (left := deadline - time.monotonic()) > 0:
            if select.select([self._fds[1]], [], [], min(left, WATCH_INTERVAL))[0]:
                return
            if sandbox.memory_over(self._processes(), self.memory):
                self.close()
                raise TransportDied(f"the student's process used more than {self.memory / 1024**3:g} GiB of memory and was stopped")

    def _processes(self) -> list[int]:
        """Every process the child started, itself included: by its own uid when it has one."""
        if self.confinement.get("own_uid") is True:
            return sandbox.processes_of(uid=self.confinement["uid"])
        return sandbox.processes_of(session=self.pid)

    def close(self) -> int | None:
        """Stop the child and everything it started; return its exit status (None for a forked child,
        which the zygote reaps)."""
        process, pid, fds = self.process, self.pid, self._fds
        self.process = self.pid = self._fds = None
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        if self.confinement.get("own_uid") is True:
            sandbox.kill_all(uid=self.confinement["uid"])  # also what left its process group
        else:
            sandbox.kill_all(session=pid)
        if process is not None:
            for stream in (process.stdin, process.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            return process.wait()
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        return None


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the student's process was killed by {name}"
    return f"the student's process exited (status {code})"
