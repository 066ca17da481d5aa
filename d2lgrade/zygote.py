"""A fork server for student processes: import the heavy libraries once, fork a child per submission.

Starting ``python -m d2lgrade.child`` imports torch, numpy, matplotlib,
IPython and d2l, which takes seconds. The zygote (``python -m
d2lgrade.zygote``) imports them once and then forks a child for each spawn
request, in milliseconds. It never initialises CUDA, so a child may still
do so for itself. ``d2l.torch`` (torchvision, pandas: seconds more) is
registered lazily: a child that uses it loads it; grading that runs every
cell, demonstrations included, asks the zygote to load it first
(``Zygote.load``) so that every child after has it.

The grading process and the zygote share a UNIX ``SOCK_SEQPACKET`` socket
pair, made by the grading process and passed to the zygote as an inherited
descriptor. A zygote may serve several grading processes, each with a pair
of its own: ``Zygote.start(shares=N)`` makes N more, which grading workers
inherit and ``Zygote.attach`` (so one zygote, and one import of torch,
serves a whole pool of workers). A spawn request is one packet: a JSON header
(``{"cwd": folder, "policy": sandbox policy}``) with two descriptors attached, the read end of the
child's request pipe and the write end of its response pipe. The zygote
forks; the child starts a new session, moves into the folder, puts the two
pipe ends on descriptors 0 and 1, closes every other descriptor it
inherited, and runs ``d2lgrade.child.main`` exactly as a freshly started
child would: it confines itself (``d2lgrade.sandbox``) before any student
code runs. The zygote answers ``{"pid": pid}``. It reaps its children as
they exit. When a socket closes (its grading process went away) it kills
the children spawned through that socket; when the last one closes, it exits.

Nothing from a student's process ever reaches the zygote: the pipes go
straight between the grading process and the child.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

from d2lgrade.lazy import LAZY_MODULES, import_lazily, load_now
from d2lgrade.sandbox import child_environment

__all__ = ["Zygote", "ZygoteError", "discard_early", "start_early", "start_zygote"]

log = logging.getLogger(__name__)

#: Bytes of one control packet, more than any header or answer needs.
_PACKET = 64 * 1024
#: Seconds the zygote may take to answer one spawn request.
SPAWN_TIMEOUT = 30.0
#: Environment of the zygote and so of every child (as for a child started without one).
CHILD_ENV = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}


class ZygoteError(RuntimeError):
    """The zygote could not start, or is gone: start student processes another way."""


# ====================================================================== the trusted side


class Zygote:
    """The grading process's handle on one zygote process.

    ``start()`` launches it; ``spawn(workdir)`` forks a child working in
    ``workdir`` and returns ``(pid, to_child_fd, from_child_fd)``, the caller
    owning both descriptors and the child (its process group is ``pid``);
    ``close()`` ends the zygote and any child it still has. Calls are
    serialised by a lock.

    ``start(shares=N)`` also makes ``shares``: N sockets to the same zygote
    for other grading processes, which inherit one each and ``attach`` to
    it. Closing an attached handle ends only the children it spawned.
    """

    def __init__(self, *, startup_timeout: float = 120.0, spawn_timeout: float = SPAWN_TIMEOUT) -> None:
        self.startup_timeout = startup_timeout
        self.spawn_timeout = spawn_timeout
        self.process: subprocess.Popen | None = None
        self.info: dict | None = None
        """the zygote's ready message: its pid, and whether CUDA was initialised (it must not be)"""
        self._socket: socket.socket | None = None
        self.shares: list[socket.socket] = []
        """sockets for other processes to ``attach`` through, one each; close yours once it is handed over"""
        self._stderr = None
        self._deadline = 0.0
        self._failure: str | None = None
        self._lock = threading.Lock()
        self.loaded: set[str] = set()
        """the ``LAZY_MODULES`` it was asked to ``load``"""
        self._loads_unanswered = 0
        """``load(wait=False)`` requests sent whose answers are still to be read"""

    # -------------------------------------------------------------- life cycle
    def start(self, *, wait: bool = True, shares: int = 0, load: tuple[str, ...] = ()) -> None:
        """Launch the zygote; with ``wait``, return only once it is ready to spawn.

        Without ``wait`` it loads its libraries while the caller does other
        work, and the first ``spawn`` waits for it. ``shares``: how many
        sockets to make for other processes (``self.shares``). ``load``: the
        ``LAZY_MODULES`` to import from the start, as ``load`` would later.
        Raises ZygoteError when it cannot start (or, with ``wait``, does not
        become ready within ``startup_timeout`` seconds).
        """
        with self._lock:
            if self.process is not None or self._socket is not None or self._failure is not None:
                raise ZygoteError("this zygote was already started")
            pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(1 + shares)]
            theirs = [pair[1].fileno() for pair in pairs]
            self._stderr = tempfile.TemporaryFile(prefix="d2lgrade-zygote-")
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "d2lgrade.zygote", *(f"--load={name}" for name in load), *map(str, theirs)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=self._stderr,
                    pass_fds=theirs,
                    env=child_environment(CHILD_ENV),
                    start_new_session=True,
                )
            except OSError as exc:
                for ours, _ in pairs:
                    ours.close()
                self._fail(f"the zygote could not be launched: {exc}")
                raise ZygoteError(self._failure) from None
            finally:
                for _, their_end in pairs:
                    their_end.close()
            self._socket, self.shares = pairs[0][0], [ours for ours, _ in pairs[1:]]
            self.loaded.update(load)
            self._deadline = time.monotonic() + self.startup_timeout
            if wait:
                self._wait_ready()

    @classmethod
    def attach(cls, fd: int, *, startup_timeout: float = 120.0, spawn_timeout: float = SPAWN_TIMEOUT) -> Zygote:
        """A handle on a zygote another process started, through one of its ``shares`` inherited as ``fd``.

        Nothing waits here; the first ``spawn`` waits for the zygote to be ready.
        """
        zygote = cls(startup_timeout=startup_timeout, spawn_timeout=spawn_timeout)
        zygote._socket = socket.socket(fileno=fd)
        zygote._deadline = time.monotonic() + startup_timeout
        return zygote

    def _wait_ready(self) -> None:
        """Receive the ready message (the lock is held)."""
        if self._failure is not None:
            raise ZygoteError(self._failure)
        if self.info is None:
            self._receive_hello()
        while self._loads_unanswered:
            self._loads_unanswered -= 1
            self._receive_loaded()

    def _receive_hello(self) -> None:
        if self._socket is None:
            raise ZygoteError("the zygote was not started")
        left = self._deadline - time.monotonic()
        if left <= 0 or not select.select([self._socket], [], [], left)[0]:
            self._fail(f"the zygote was not ready within {self.startup_timeout:g} s")
            raise ZygoteError(self._failure)
        try:
            hello = json.loads(self._socket.recv(_PACKET) or b"null")
        except (OSError, ValueError) as exc:
            hello = f"{exc}"
        if not isinstance(hello, dict) or hello.get("status") != "ready":
            self._fail("the zygote did not start" + self._died_because())
            raise ZygoteError(self._failure)
        self.info = hello

    def _died_because(self) -> str:
        """Why the zygote process ended, for an error message (its exit status and last words)."""
        if self.process is None:  # attached: another process started it and hears its last words
            return ""
        try:
            code = self.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            return ""
        said = ""
        if self._stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                self._stderr.seek(0)
                said = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        return f" (exit status {code})" + (f":\n{said}" if said else "")

    def _fail(self, reason: str) -> None:
        """Remember why the zygote is unusable and stop it (the lock is held)."""
        if self._failure is None:
            log.warning("%s; student processes will be started without it", reason)
        self._failure = self._failure or reason
        self._shut_down(grace=0.0)

    def close(self, *, grace: float = 5.0) -> None:
        """End the zygote; it kills the children it still has. After ``grace`` seconds it is killed.
        Safe to call twice."""
        with self._lock:
            self._failure = self._failure or "the zygote was closed"
            self._shut_down(grace=grace)

    def _shut_down(self, grace: float) -> None:
        sock, self._socket = self._socket, None
        shares, self.shares = self.shares, []
        for share in [sock, *shares]:  # the zygote sees each close, kills those children, and exits after the last
            if share is not None:
                share.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> Zygote:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -------------------------------------------------------------- spawning
    def load(self, names: tuple[str, ...] = LAZY_MODULES, *, wait: bool = True) -> None:
        """Have the zygote import ``names`` (of ``LAZY_MODULES``) now, for every child it forks next.

        It starts without them: most children never use them, and the ones that do load them
        themselves. A run of every cell does (the demonstrations plot with d2l), so it asks first.
        Raises ZygoteError when the zygote is gone.
        With ``wait=False`` it returns once the request is sent, even before the zygote is ready:
        the next ``spawn`` or ``load`` reads the answer first.
        """
        with self._lock:
            if set(names) <= self.loaded:
                return
            if wait:
                self._wait_ready()
            elif self._failure is not None or self._socket is None:
                raise ZygoteError(self._failure or "the zygote was not started")
            try:
                self._socket.settimeout(self.startup_timeout)
                self._socket.sendall(json.dumps({"load": list(names)}).encode())
            except OSError as exc:
                self._fail(f"the zygote stopped answering ({exc})")
                raise ZygoteError(self._failure) from None
            self._loads_unanswered += 1
            if wait:
                self._wait_ready()  # reads the answer
            self.loaded.update(names)

    def _receive_loaded(self) -> None:
        """Read the answer to one ``load`` request (the lock is held)."""
        try:
            self._socket.settimeout(self.startup_timeout)
            answer = json.loads(self._socket.recv(_PACKET) or b"null")
        except (OSError, ValueError) as exc:
            self._fail(f"the zygote stopped answering ({exc})")
            raise ZygoteError(self._failure) from None
        if not isinstance(answer, dict) or "loaded" not in answer:
            raise ZygoteError(f"the zygote could not load what it was asked to: {answer!r}")

    def spawn(self, workdir: Path, policy: dict | None = None) -> tuple[int, int, int]:
        """Fork a child working in ``workdir``: ``(pid, to_child_fd, from_child_fd)``.

        ``policy`` (``d2lgrade.sandbox.Policy.to_dict()``) says how the child
        confines itself; without one it is not confined.

        The child speaks the protocol of ``python -m d2lgrade.child`` on the
        two descriptors (it first sends its ready message). Raises
        ZygoteError when the zygote is gone, so the caller can start the child
        another way.
        """
        with self._lock:
            self._wait_ready()
            request_read, request_write = os.pipe()
            response_read, response_write = os.pipe()
            answer = None
            try:
                header = json.dumps({"cwd": os.fspath(Path(workdir).absolute()), "policy": policy}).encode()
                self._socket.settimeout(self.spawn_timeout)
                socket.send_fds(self._socket, [header], [request_read, response_write], socket.MSG_NOSIGNAL)
                answer = json.loads(self._socket.recv(_PACKET) or b"null")
                if not isinstance(answer, dict) or not isinstance(answer.get("pid"), int):
                    raise ZygoteError(f"the zygote refused to spawn a child: {answer!r}")
            except (OSError, ValueError, ZygoteError) as exc:
                os.close(request_write)
                os.close(response_read)
                if isinstance(exc, ZygoteError) and isinstance(answer, dict):  # it answered: still alive
                    raise
                ended = self.process is not None and self.process.poll() is not None
                self._fail("the zygote stopped answering" + (self._died_because() if ended else f" ({exc})"))
                raise ZygoteError(self._failure) from None
            finally:
                os.close(request_read)
                os.close(response_write)
            return answer["pid"], request_write, response_read


#: The zygote a command launched as it began (``start_early``), until ``start_zygote`` takes it.
_early: Zygote | None = None


def start_early(shares: int = 0) -> None:
    """Launch a zygote now, for this process's first ``start_zygote`` call (with at most ``shares``).

    The command line calls this before it imports anything else: the zygote's import of torch
    takes seconds, and the command spends half a second reading the course and the notebooks
    before it knows what its zygote should load, which ``start_zygote`` then asks for.
    """
    global _early
    discard_early()
    zygote = Zygote()
    with contextlib.suppress(ZygoteError):  # start_zygote tries again, and says why
        zygote.start(wait=False, shares=shares)
        _early = zygote


def discard_early() -> None:
    """Stop the zygote ``start_early`` launched, if no ``start_zygote`` call took it."""
    global _early
    zygote, _early = _early, None
    if zygote is not None:
        zygote.close(grace=0.0)  # it may be importing still, and would only see its sockets close after


def _take_early(shares: int, load: tuple[str, ...]) -> Zygote | None:
    """The zygote ``start_early`` launched, if it has enough shares (the others are closed) and takes
    the request to ``load``; None otherwise."""
    global _early
    zygote, _early = _early, None
    if zygote is None:
        return None
    try:
        if len(zygote.shares) < shares:
            raise ZygoteError(f"it has {len(zygote.shares)} shares, not {shares}")
        for unused in zygote.shares[shares:]:
            unused.close()
        del zygote.shares[shares:]
        if load:
            zygote.load(load, wait=False)
    except ZygoteError:
        zygote.close(grace=0.0)
        return None
    return zygote


def start_zygote(shares: int = 0, load: tuple[str, ...] = ()) -> Zygote | None:
    """A zygote loading its libraries (and ``load``) in the background, or None when it cannot start
    (children then start the slow way). Start it before importing torch here: the two imports
    then run side by side. The one ``start_early`` launched, if any, serves the first call."""
    early = _take_early(shares, load)
    if early is not None:
        return early
    zygote = Zygote()
    try:
        zygote.start(wait=False, shares=shares, load=load)
    except ZygoteError:
        return None
    return zygote


# ====================================================================== the zygote process


def _preload(load: list[str]) -> dict:
    """Import what every child needs, and ``load`` of ``LAZY_MODULES``, without touching CUDA; describe the result."""
    for name, value in CHILD_ENV.items():
        os.environ.setdefault(name, value)
    import matplotlib
    import matplotlib.pyplot  # noqa: F401
    import matplotlib_inline.backend_inline  # noqa: F401 - what %matplotlib inline loads
    import numpy  # noqa: F401
    import torch

    for name in LAZY_MODULES:  # loaded here when grading asks (``Zygote.load``), else by the children that use it
        import_lazily(name)
    _load(load)
    from IPython.core import completer, history, magics, oinspect, pylabtools  # noqa: F401
    from IPython.core.interactiveshell import InteractiveShell  # noqa: F401

    import d2lgrade.child  # noqa: F401
    import d2lgrade.framing  # noqa: F401
    import d2lgrade.wire  # noqa: F401

    return {
        "cuda_initialized": bool(torch.cuda.is_initialized()),
        "threads": _thread_names(),
        "backend": matplotlib.get_backend(),
    }


@contextlib.contextmanager
def _no_gpu_probe(torch):
    """Make ``torch.cuda.device_count()`` answer 0 without asking the driver.

    ``from d2l import torch`` evaluates ``d2l.try_all_gpus()`` as a default
    argument (of ``train_ch13``, chapter 13). Answered for real, that either
    starts the CUDA runtime, after which no forked child can use CUDA
    (where NVML is missing), or loads NVML, which leaves a driver thread and
    a jemalloc thread behind (seen on an H200), and a process with threads
    is not safe to fork. So in children forked after ``Zygote.load``,
    ``train_ch13``'s default ``devices`` is ``[]``; everything else asks
    torch afresh (and a child that loads d2l itself asks for real).
    """
    real = torch.cuda.device_count
    torch.cuda.device_count = lambda: 0
    try:
        yield
    finally:
        torch.cuda.device_count = real


def _thread_names() -> list[str] | None:
    """The names of this process's threads (forking is only safe with one, bar fork-aware helpers)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    names = []
    for task in tasks:
        with contextlib.suppress(OSError):
            names.append(Path(f"/proc/self/task/{task}/comm").read_text().strip())
    return names


def _reap(children: dict[int, int]) -> None:
    """Collect every child that has exited, so none stays a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.pop(pid, None)


def _close_inherited() -> None:
    """Close every descriptor above 2."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        return
    for fd in fds:
        if fd > 2:
            with contextlib.suppress(OSError):
                os.close(fd)


def _become_child(controls: list[socket.socket], header: dict, requests: int, responses: int, mask: set) -> None:
    """In the forked child: detach from the zygote, then serve like ``python -m d2lgrade.child``."""
    status = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.setsid()
        for control in controls:
            control.detach()  # closed below with the rest, and never by these objects
        os.chdir(header["cwd"])
        os.dup2(requests, 0)
        os.dup2(responses, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        _close_inherited()
        from d2lgrade import child

        child.main(policy=header.get("policy"))
        status = 0
    except BaseException:  # noqa: B902 - whatever happens, never return into the zygote's loop
        pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(status)


def _serve(controls: list[socket.socket], children: dict[int, int]) -> None:
    """Answer spawn requests until every grading process has closed its end; kill the children of each
    one that does. ``children``: pid -> index of the socket it was spawned through."""
    listening = dict(enumerate(controls))
    while listening:
        _reap(children)
        readable, _, _ = select.select(list(listening.values()), [], [])
        for control in readable:
            owner = next(index for index, sock in listening.items() if sock is control)
            if not _answer(control, owner, controls, children):
                del listening[owner]
                control.close()
                # list() copies at once: the SIGCHLD handler may reap (and pop) in between two Python steps
                _kill_children([pid for pid, spawner in list(children.items()) if spawner == owner])


def _answer(control: socket.socket, owner: int, controls: list[socket.socket], children: dict[int, int]) -> bool:
    """Answer one spawn request on ``control``; False when its grading process has gone."""
    try:
        data, fds, _flags, _address = socket.recv_fds(control, _PACKET, 2)
    except ConnectionError:
        return False
    if not data:
        return False
    try:
        header = json.loads(data)
        if isinstance(header, dict) and "load" in header and not fds:
            return _send(control, _load(header["load"]))
        if len(fds) != 2 or not isinstance(header, dict) or not isinstance(header.get("cwd"), str):
            raise ValueError("a spawn request needs a JSON header with 'cwd' and two descriptors")
        if not os.path.isdir(header["cwd"]):
            raise ValueError(f"no such folder: {header['cwd']}")
        # SIGCHLD waits until the pid is recorded, or a child that ends at once would be reaped first
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            pid = os.fork()
            if pid == 0:
                _become_child(controls, header, fds[0], fds[1], mask)
            children[pid] = owner
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        answer = {"pid": pid}
    except (ValueError, OSError) as exc:
        answer = {"error": str(exc)}
    finally:
        for fd in fds:
            os.close(fd)
    return _send(control, answer)


def _send(control: socket.socket, answer: dict) -> bool:
    try:
        control.sendall(json.dumps(answer).encode())
    except OSError:
        return False
    return True


def _load(names) -> dict:
    """Import these of ``LAZY_MODULES`` for real, once, so that the children forked next have them
    already: what the demonstrations and the d2l functions grading lends use."""
    if not isinstance(names, list) or not set(names) <= set(LAZY_MODULES):
        return {"error": f"only {', '.join(LAZY_MODULES)} can be loaded on request"}
    import torch

    new = [name for name in names if type(sys.modules.get(name)) is not types.ModuleType]
    with _no_gpu_probe(torch):
        for name in new:
            load_now(name)
    if new:
        gc.collect()
        gc.freeze()
    return {"loaded": names}


def _kill_children(pids: list[int]) -> None:
    """Kill these children and their process groups; the SIGCHLD handler reaps them."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _kill_and_wait(children: dict[int, int]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _kill_children(list(children))
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    load = [arg.removeprefix("--load=") for arg in argv if arg.startswith("--load=")]
    fds = [arg for arg in argv if not arg.startswith("--load=")]
    if not fds or not all(arg.isdigit() for arg in fds) or not set(load) <= set(LAZY_MODULES):
        sys.exit("usage: python -m d2lgrade.zygote [--load=MODULE ...] FD [FD ...]  (each FD an inherited "
                 f"SOCK_SEQPACKET UNIX socket; MODULE one of {', '.join(LAZY_MODULES)})")
    controls = [socket.socket(fileno=int(arg)) for arg in fds]
    children: dict[int, int] = {}
    try:
        info = _preload(load)
        gc.collect()
        gc.freeze()  # children then leave the zygote's objects alone: fewer pages copied, faster collections
        signal.signal(signal.SIGCHLD, lambda signum, frame: _reap(children))
        for control in controls:
            with contextlib.suppress(OSError):  # a grading process that has gone already
                control.sendall(json.dumps({"status": "ready", "pid": os.getpid(), **info}).encode())
        _serve(controls, children)
    finally:
        _kill_and_wait(children)


if __name__ == "__main__":
    main()
    # Nothing is left to flush or close but stderr, and the interpreter's teardown of torch takes 0.3 s.
    sys.stderr.flush()
    os._exit(0)
