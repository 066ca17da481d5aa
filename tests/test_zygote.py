"""The zygote: children forked from one process that imported torch once, and what happens when things die.

One zygote serves the module; the tests that close or kill a zygote start
their own.
"""

import os
import signal
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook

import d2lgrade.cli
import d2lgrade.zygote
from d2lgrade import sandbox, wire
from d2lgrade.course import Course
from d2lgrade.grade import Submission, grade
from d2lgrade.lazy import LAZY_MODULES
from d2lgrade.transport import ChildTransport, TransportDied
from d2lgrade.zygote import Zygote, ZygoteError

#: Generous for a zygote's start (importing torch), far below any real limit.
STARTUP = 90.0


def call(transport, name: str, *args, timeout: float = 10.0) -> dict:
    message = {"op": "call", "name": name, "args": wire.encode_argument(list(args)), "seed": 0}
    return transport.request(message, timeout=timeout)


def run_cell(transport, source: str, timeout: float = 10.0) -> dict:
    return transport.request({"op": "run_cell", "source": source}, timeout=timeout)


def value(answer: dict):
    assert answer["status"] == "ok", answer
    return wire.decode(answer["value"])


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append((int(entry.name), fields[0]))
    return found


def _gone(child: ChildTransport, pid: int):
    """A test of whether a process the child started, ``pid`` as the child saw it, has ended."""
    if child.confinement.get("own_processes") is True:  # a pid of its namespace: look for its uid's processes instead
        uid = child.confinement["uid"]
        return lambda: sandbox.processes_of(uid=uid) == []
    return lambda: not running(pid)


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# ------------------------------------------------------------------ children answer like plain children


def test_a_forked_child_runs_cells_and_answers_calls(spawn):
    child = spawn()
    assert child.process is None and child.pid is not None  # forked, not started afresh
    assert run_cell(child, "%matplotlib inline\nimport torch\ndef double(x):\n    return x * 2")["status"] == "ok"
    assert torch.equal(value(call(child, "double", torch.arange(3.0))), torch.tensor([0.0, 2.0, 4.0]))
    answer = run_cell(child, "print('hello')\n1 / 0")
    assert (answer["status"], answer["error"]["ename"]) == ("raised", "ZeroDivisionError")
    assert answer["stdout"].startswith("hello\n")
    assert call(child, "nothing_here") == {"status": "missing"}


def test_a_forked_child_works_in_its_folder_in_its_own_session_with_only_its_pipes(spawn):
    child = spawn()
    run_cell(child, textwrap.dedent("""
        import os
        def where():
            return [os.getcwd(), os.getpid(), os.getsid(0), os.getpgid(0)]
        def descriptors():
            links = []
            for fd in os.listdir("/proc/self/fd"):
                try:
                    links.append(os.readlink(f"/proc/self/fd/{fd}"))
                except OSError:  # the descriptor listdir used
                    pass
            return sorted(links)
        """))
    cwd, pid, sid, pgid = value(call(child, "where"))
    assert cwd == "/home/student"  # a private tmpfs (d2lgrade.sandbox)
    if child.confinement.get("own_processes") is True:  # pid 2 under its namespace's init; its session's leader waits outside
        assert (pid, sid, pgid) == (2, 0, 0)
    else:
        assert pid == sid == pgid == child.pid
    links = value(call(child, "descriptors"))
    assert not [link for link in links if link.startswith("socket:")], links  # the zygote's control socket is gone
    assert sum(link.startswith("pipe:") for link in links) == 2, links  # its request and response pipes only
    run_cell(child, "import os\nos.write(1, b'garbage on fd 1')")
    assert call(child, "where")["status"] == "ok"
    assert "garbage on fd 1" in run_cell(child, "print(open('output.log').read())")["stdout"]


def test_two_children_do_not_share_state(spawn):
    first, second = spawn(), spawn()
    run_cell(first, "SECRET = 41\ndef secret():\n    return SECRET\nimport torch\ntorch.set_default_dtype(torch.float64)")
    run_cell(second, "import torch\ndef secret():\n    return globals().get('SECRET', 'absent')\ndef dtype():\n    return str(torch.get_default_dtype())")
    assert value(call(first, "secret")) == 41
    assert value(call(second, "secret")) == "absent"
    assert value(call(second, "dtype")) == "torch.float32"


def test_spawning_ten_children_takes_well_under_three_seconds(spawn, zygote):
    spawn()  # warm: the first fork after a while may be slower
    started = time.perf_counter()
    children = [spawn() for _ in range(10)]
    elapsed = time.perf_counter() - started
    print(f"\n10 children ready in {elapsed:.3f} s: {1000 * elapsed / 10:.0f} ms each")
    assert elapsed < 3.0
    assert len({child.pid for child in children}) == 10
    assert all(child.request({"op": "ping"}, timeout=10.0) == {"status": "ok"} for child in children)


def test_the_zygote_never_initialised_cuda(zygote, spawn):
    assert zygote.info["cuda_initialized"] is False
    # Forking a process with threads is unsafe; jemalloc's background thread (pandas loads it
    # with pyarrow, where installed) is fork-aware.
    threads = [name for name in zygote.info["threads"] if name != "jemalloc_bg_thd"]
    assert len(threads) == 1, zygote.info["threads"]
    child = spawn()
    run_cell(child, "import torch\ndef cuda_state():\n    return [torch.cuda.is_initialized(), torch.cuda._is_in_bad_fork()]")
    assert value(call(child, "cuda_state")) == [False, False]  # a child may still start CUDA itself


# ------------------------------------------------------------------ deaths


def test_a_child_that_dies_is_reaped_and_the_zygote_and_other_children_go_on(zygote, spawn):
    victim, bystander = spawn(), spawn()
    run_cell(victim, "import os, signal\ndef die():\n    os.kill(os.getpid(), signal.SIGKILL)")
    run_cell(bystander, "def inc(x):\n    return x + 1")
    pid = victim.pid
    with pytest.raises(TransportDied, match="ended unexpectedly"):
        call(victim, "die")
    assert victim.pid is None  # the next request would start a fresh child
    assert wait_until(lambda: pid not in {child for child, _ in children_of(zygote.process.pid)})  # reaped, no zombie
    assert value(call(bystander, "inc", 1)) == 2
    fresh = spawn()
    run_cell(fresh, "def inc(x):\n    return x + 1")
    assert value(call(fresh, "inc", 2)) == 3


def test_closing_a_transport_kills_its_child_and_what_the_child_started(zygote, spawn):
    child = spawn()
    run_cell(child, "import subprocess\nsleeper = subprocess.Popen(['sleep', '60'])\ndef sleeper_pid():\n    return sleeper.pid")
    pid, sleeper = child.pid, value(call(child, "sleeper_pid"))
    gone = _gone(child, sleeper)
    child.close()
    assert wait_until(lambda: not running(pid) and gone())
    assert wait_until(lambda: not [state for _, state in children_of(zygote.process.pid) if state == "Z"])


def test_closing_the_zygote_leaves_no_process_behind(tmp_path):
    zygote = Zygote(startup_timeout=STARTUP)
    zygote.start()
    transports = [ChildTransport(tmp_path, zygote=zygote) for _ in range(2)]
    for transport in transports:
        transport.start()
    run_cell(transports[0], "import subprocess\nsleeper = subprocess.Popen(['sleep', '60'])\ndef sleeper_pid():\n    return sleeper.pid")
    sleeper_gone = _gone(transports[0], value(call(transports[0], "sleeper_pid")))
    pids = [zygote.process.pid] + [transport.pid for transport in transports]
    zygote.close()  # the transports are left open on purpose: the zygote ends its children itself
    assert zygote.process.returncode is not None
    assert wait_until(lambda: not any(running(pid) for pid in pids) and sleeper_gone()), [pid for pid in pids if running(pid)]
    with pytest.raises(TransportDied):
        call(transports[0], "sleeper_pid")
    for transport in transports:
        transport.close()
    with pytest.raises(ZygoteError):
        zygote.spawn(tmp_path)


def test_a_shared_zygote_ends_only_the_children_of_a_process_that_goes(tmp_path):
    """Pool workers share a zygote: one that ends (or is killed) takes its students' processes along, no others."""
    zygote = Zygote(startup_timeout=STARTUP)
    zygote.start(shares=2)
    first, second = (Zygote.attach(share.detach(), startup_timeout=STARTUP) for share in zygote.shares)
    zygote.shares.clear()
    mine, its, theirs = (ChildTransport(tmp_path, zygote=handle) for handle in (zygote, first, second))
    try:
        for transport in (mine, its, theirs):
            transport.start()
            run_cell(transport, "def inc(x):\n    return x + 1")
        assert zygote.info["pid"] == first.info["pid"] == second.info["pid"] == zygote.process.pid
        first.close()
        assert wait_until(lambda: not running(its.pid))
        assert value(call(mine, "inc", 1)) == 2 and value(call(theirs, "inc", 1)) == 2
        later = ChildTransport(tmp_path, zygote=second)  # the others still spawn
        later.start()
        second.close()
        assert wait_until(lambda: not running(theirs.pid) and not running(later.pid))
        assert value(call(mine, "inc", 2)) == 3 and zygote.process.poll() is None
    finally:
        for transport in (mine, its, theirs):
            transport.close()
        zygote.close()
    assert zygote.process.returncode is not None


def test_a_killed_zygote_makes_spawn_raise_and_its_children_go_on(tmp_path):
    zygote = Zygote(startup_timeout=STARTUP)
    zygote.start()
    forked = ChildTransport(tmp_path, zygote=zygote)
    try:
        forked.start()
        run_cell(forked, "def inc(x):\n    return x + 1")
        os.kill(zygote.process.pid, signal.SIGKILL)
        zygote.process.wait()
        assert value(call(forked, "inc", 1)) == 2  # a running child does not need its zygote
        with pytest.raises(ZygoteError, match="stopped answering"):
            zygote.spawn(tmp_path)
        started = time.monotonic()
        with pytest.raises(ZygoteError):
            zygote.spawn(tmp_path)  # and keeps saying so, at once
        assert time.monotonic() - started < 1.0
    finally:
        forked.close()
        zygote.close()
    # ChildTransport then starts its child afresh: see test_grade_falls_back_when_its_zygote_is_killed


def test_the_zygote_started_early_serves_the_first_start_zygote_and_loads_what_it_then_asks(tmp_path):
    """The command line launches a zygote before it knows what to load; ``start_zygote`` takes it over,
    closes the shares it does not need, and asks it to load without waiting: the answer is read before
    the first spawn's, so the spawn still works and its child has d2l."""
    d2lgrade.zygote.start_early(shares=3)
    early = d2lgrade.zygote._early
    zygote = d2lgrade.zygote.start_zygote(shares=1, load=LAZY_MODULES)
    try:
        assert zygote is early and d2lgrade.zygote._early is None
        assert len(zygote.shares) == 1 and zygote.info is None, "it neither waited for the zygote nor kept the spare shares"
        child = ChildTransport(tmp_path, zygote=zygote)
        child.start()
        run_cell(child, "import sys, types\ndef d2l_loaded():\n    return type(sys.modules.get('d2l.torch')) is types.ModuleType")
        assert value(call(child, "d2l_loaded")) is True and zygote.loaded == set(LAZY_MODULES)
        child.close()
    finally:
        zygote.close()


def test_a_zygote_started_early_with_too_few_shares_is_stopped_for_a_new_one():
    d2lgrade.zygote.start_early(shares=0)
    early = d2lgrade.zygote._early
    zygote = d2lgrade.zygote.start_zygote(shares=2)
    try:
        assert zygote is not early and len(zygote.shares) == 2
        assert early.process.wait(timeout=5) is not None, "the early zygote was left running"
    finally:
        zygote.close()
    d2lgrade.zygote.start_early()
    early = d2lgrade.zygote._early
    d2lgrade.zygote.discard_early()  # a command that never grades stops it at once, importing or not
    assert early.process.wait(timeout=5) is not None and d2lgrade.zygote._early is None


@pytest.mark.parametrize(("argv", "shares"), [
    (["--course", "course", "check", "nb.ipynb", "--question", "sgd"], 0),
    (["autograde", "submitted", "--jobs", "64"], 64),
    (["autograde", "submitted", "--jobs=65"], 65),
    (["autograde", "submitted"], os.cpu_count()),
    (["--course", "check", "export", "results"], None),  # a course folder named like a command
    (["autograde", "--help"], None),
    (["release", "linreg_scratch"], None),
])
def test_the_commands_that_grade_start_their_zygote_first_with_a_share_per_worker(monkeypatch, argv, shares):
    started = []
    monkeypatch.setattr(d2lgrade.cli, "start_early", lambda shares=0: started.append(shares))
    d2lgrade.cli._start_zygote_early(argv)
    assert started == ([] if shares is None else [shares])


def test_a_zygote_that_cannot_start_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    (tmp_path / "matplotlib").mkdir()  # the first library the zygote loads
    (tmp_path / "matplotlib" / "__init__.py").write_text("raise ImportError('matplotlib is broken here')")
    zygote = Zygote(startup_timeout=STARTUP)
    with pytest.raises(ZygoteError, match="(?s)did not start.*matplotlib is broken here"):
        zygote.start()
    zygote.close()
    assert zygote.process.returncode not in (None, 0)


def test_a_zygote_that_does_not_get_ready_in_time_is_stopped():
    zygote = Zygote(startup_timeout=0.01)
    with pytest.raises(ZygoteError, match="not ready within"):
        zygote.start()
    assert zygote.process.returncode is not None


# ------------------------------------------------------------------ grade()

GRADER = '''
import pytest
from d2lgrade.checks import expect_close

@pytest.mark.question("double")
def test_double(student):
    """double(2) is 4"""
    expect_close("`double(2)`", student.double(2.0), 4.0)
'''


def _toy(root: Path) -> tuple[Course, Path]:
    meta = {"nbgrader": {"grade": False, "grade_id": "double", "locked": False, "schema_version": 3, "solution": True, "task": False}}
    test = {"nbgrader": {"grade": True, "grade_id": "test_double", "locked": True, "points": 1, "schema_version": 3, "solution": False, "task": False}}
    notebook = new_notebook(cells=[
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n", metadata=meta),
        new_code_cell("# checks", metadata=test),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (root / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(notebook, root / "solutions" / "toy" / "toy.ipynb")
    (root / "graders" / "public").mkdir(parents=True)
    (root / "graders" / "public" / "toy.py").write_text(textwrap.dedent(GRADER))
    nbformat.write(notebook, root / "submitted.ipynb")
    return Course(root), root / "submitted.ipynb"


def test_grade_falls_back_when_its_zygote_is_killed(tmp_path, monkeypatch):
    made = []

    class KilledZygote(Zygote):
        """Killed as soon as it is launched (killed once ready: see the test above)."""

        def start(self, *, wait: bool = True, **options) -> None:
            super().start(wait=False, **options)
            os.kill(self.process.pid, signal.SIGKILL)
            made.append(self)

    monkeypatch.setattr(d2lgrade.zygote, "Zygote", KilledZygote)  # start_zygote makes grade's zygote
    course, path = _toy(tmp_path)
    [result] = grade([Submission("s", "toy", path)], course=course)
    assert (result.score, result.possible) == (1, 1), result
    [zygote] = made
    assert zygote.process.returncode == -signal.SIGKILL
    with pytest.raises(ZygoteError):
        zygote.spawn(tmp_path)


def test_a_forked_child_has_the_limits_and_the_zygote_does_not(zygote, spawn):
    from d2lgrade.limits import LIMITS

    child = spawn()
    answer = run_cell(child, "import resource\nprint(resource.getrlimit(resource.RLIMIT_FSIZE)[0])")
    assert answer["stdout"].strip() == str(LIMITS["RLIMIT_FSIZE"])
    zygote_limits = Path(f"/proc/{zygote.process.pid}/limits").read_text().splitlines()
    file_size = next(line for line in zygote_limits if line.startswith("Max file size"))
    assert str(LIMITS["RLIMIT_FSIZE"]) not in file_size  # set in the child after the fork, not before
