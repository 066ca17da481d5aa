"""Student code in a real child process (``python -m d2lgrade.child``): answers, hangs, crashes, recovery.

Starting a child costs a couple of seconds (it imports torch), so the tests
that leave their child usable share one; only the tests that must kill a
child start their own.
"""

import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from d2lgrade import wire
from d2lgrade.execute import NotebookRun
from d2lgrade.notebook import CodeCell
from d2lgrade.transport import AnswerTooLarge, ChildTransport, TransportDied, TransportTimeout

#: Generous for a child's start (importing torch), far below any real limit.
STARTUP = 60.0


def started(workdir: Path) -> ChildTransport:
    transport = ChildTransport(workdir, startup_timeout=STARTUP)
    transport.start()
    return transport


def call(transport, name: str, *args, timeout: float = 10.0) -> dict:
    message = {"op": "call", "name": name, "args": wire.encode_argument(list(args)), "seed": 0}
    return transport.request(message, timeout=timeout)


def run_cell(transport, source: str, timeout: float = 10.0) -> dict:
    return transport.request({"op": "run_cell", "source": source}, timeout=timeout)


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[ChildTransport]:
    """One started child for the tests that leave it working."""
    transport = started(tmp_path_factory.mktemp("shared"))
    yield transport
    transport.close()


@pytest.fixture
def fresh(tmp_path) -> Iterator[ChildTransport]:
    """A child of its own, for a test that kills it."""
    transport = started(tmp_path)
    yield transport
    transport.close()


# ------------------------------------------------------------------ ChildTransport


def test_run_cell_then_call(shared):
    answer = run_cell(shared, "import torch\ndef double(x):\n    return x * 2")
    assert answer["status"] == "ok", answer
    answer = call(shared, "double", torch.arange(3.0))
    assert answer["status"] == "ok"
    assert torch.equal(wire.decode(answer["value"]), torch.tensor([0.0, 2.0, 4.0]))


def test_child_works_in_a_private_folder_that_leaves_no_trace(shared):
    run_cell(shared, "import os\ndef where():\n    open('mine.txt', 'w').write('x')\n    return os.getcwd()")
    assert wire.decode(call(shared, "where")["value"]) == "/home/student"
    assert not list(shared.workdir.iterdir())  # its folder is a tmpfs in its own mount namespace


def test_cell_output_and_errors_come_back_as_data(shared):
    answer = run_cell(shared, "print('from a cell')\n1 / 0")
    assert answer["status"] == "raised"
    assert answer["error"]["ename"] == "ZeroDivisionError"
    assert answer["stdout"].startswith("from a cell")


def test_magics_run_in_cells(shared):
    answer = run_cell(shared, "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])")
    assert answer["status"] == "ok", answer


def test_displayed_values_are_shown_as_text_and_never_rendered(shared):
    answer = run_cell(shared, textwrap.dedent("""
        %matplotlib inline
        from d2l import torch as d2l
        d2l.use_svg_display()
        d2l.plot([1, 2], [[1, 4]])

        class Shown:
            def _repr_png_(self):
                print("rendered as png")
            def _repr_html_(self):
                print("rendered as html")
            def __repr__(self):
                return "Shown()"

        Shown()
    """))
    assert answer["status"] == "ok", answer
    assert "<Figure size" in answer["stdout"] and "Shown()" in answer["stdout"]
    assert "rendered" not in answer["stdout"]


def test_writing_to_the_real_stdout_does_not_break_the_pipe(shared):
    answer = run_cell(shared, "import os\nos.write(1, b'garbage on fd 1')\nos.write(2, b'and fd 2')")
    assert answer["status"] == "ok"
    assert call(shared, "double", 2)["status"] == "ok"
    assert "garbage on fd 1" in run_cell(shared, "print(open('output.log').read())")["stdout"]


def test_call_that_loops_forever_times_out_and_the_process_is_gone(fresh):
    run_cell(fresh, "def spin():\n    while True:\n        pass")
    process = fresh.process
    limit = 1.0
    started_at = time.monotonic()
    with pytest.raises(TransportTimeout):
        call(fresh, "spin", timeout=limit)
    assert time.monotonic() - started_at < limit + 2.0
    assert fresh.process is None
    assert process.poll() is not None  # killed and reaped


def test_os_exit_inside_a_call_is_a_died_transport(fresh):
    run_cell(fresh, "import os\ndef leave():\n    os._exit(3)")
    process = fresh.process
    with pytest.raises(TransportDied, match="exited \\(status 3\\)"):
        call(fresh, "leave")
    assert process.poll() == 3
    assert fresh.process is None  # the next request would start a fresh child


# ------------------------------------------------------------------ NotebookRun

CELLS = [
    CodeCell(0, "import os\ndef inc(x):\n    return x + 1\ndef crash():\n    os._exit(1)"),
    CodeCell(2, "raise ValueError('a broken cell')"),
    CodeCell(5, "LATER = inc(41)\ndef later():\n    return LATER"),
]


def notebook_run(cells, workdir: Path) -> NotebookRun:
    run = NotebookRun(cells, lambda: started(workdir), seed=3, cell_timeout=1.0)
    run.start()
    return run


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> Iterator[NotebookRun]:
    """A notebook with a good cell, a failing one, and a good one that uses the first."""
    run = notebook_run(CELLS, tmp_path_factory.mktemp("notebook"))
    yield run
    run.close()


def test_a_failing_cell_is_recorded_and_the_next_still_runs(notebook):
    assert [(r.index, r.status) for r in notebook.reports] == [(0, "ok"), (2, "raised"), (5, "ok")]
    raised = notebook.reports[1]
    assert (raised.ename, raised.evalue) == ("ValueError", "a broken cell")
    assert not raised.ok
    assert wire.decode(call(notebook, "later")["value"]) == 42


def test_after_a_call_crashes_the_next_call_works(notebook):
    with pytest.raises(TransportDied):
        call(notebook, "crash")
    answer = call(notebook, "inc", 9)  # a new child, with the good cells replayed
    assert answer["status"] == "ok", answer
    assert wire.decode(answer["value"]) == 10
    assert wire.decode(call(notebook, "later")["value"]) == 42


def test_after_a_call_times_out_the_next_call_works(notebook):
    run_cell(notebook, "def spin():\n    while True:\n        pass")
    with pytest.raises(TransportTimeout):
        call(notebook, "spin", timeout=0.5)
    answer = call(notebook, "inc", 1)
    assert answer["status"] == "ok", answer
    assert call(notebook, "spin") == {"status": "missing"}  # only the notebook's good cells come back


HANGING = [
    CodeCell(0, "def inc(x):\n    return x + 1"),
    CodeCell(3, "while True:\n    pass"),
    CodeCell(5, "LATER = inc(41)\ndef later():\n    return LATER"),
]


@pytest.fixture(scope="module")
def hung(tmp_path_factory) -> Iterator[NotebookRun]:
    """A notebook whose middle cell never ends (stopped after ``cell_timeout``)."""
    run = notebook_run(HANGING, tmp_path_factory.mktemp("hung"))
    yield run
    run.close()


def test_a_hanging_cell_is_recorded_as_timeout(hung):
    assert [r.status for r in hung.reports][:2] == ["ok", "timeout"]
    assert hung.reports[1].ename == "Timeout"
    assert "1 s" in hung.reports[1].evalue


def test_cells_after_a_hanging_one_run_with_the_cells_before_it(hung):
    assert hung.reports[2].status == "ok", hung.reports[2]
    answer = call(hung, "later")
    assert answer["status"] == "ok", answer
    assert wire.decode(answer["value"]) == 42


def test_calls_after_a_hanging_cell_reach_earlier_cells(hung):
    answer = call(hung, "inc", 1)
    assert answer["status"] == "ok", answer
    assert wire.decode(answer["value"]) == 2


def test_the_students_process_cannot_write_huge_files(tmp_path):
    from d2lgrade.limits import LIMITS

    transport = ChildTransport(tmp_path)
    transport.start()
    try:
        source = (
            "import resource\n"
            f"print(resource.getrlimit(resource.RLIMIT_FSIZE)[0] == {LIMITS['RLIMIT_FSIZE']})\n"
            "try:\n"
            "    with open('big.bin', 'wb') as f:\n"
            "        f.write(b'x' * (65 * 1024 * 1024))\n"
            "except OSError as exc:\n"
            "    print('refused', exc.errno)\n"
        )
        answer = transport.request({"op": "run_cell", "source": source}, timeout=60)
        assert answer["status"] == "ok"
        assert "True" in answer["stdout"] and "refused 27" in answer["stdout"]  # EFBIG
        size = run_cell(transport, "import os\nprint(os.path.getsize('big.bin'))")["stdout"]
        assert int(size) <= LIMITS["RLIMIT_FSIZE"]
    finally:
        transport.close()


# ------------------------------------------------------------------ a function that hangs or crashes, called again

SLOW_CELLS = [
    CodeCell(0, "import os, time\ntime.sleep(0.3)\ndef inc(x):\n    return x + 1"),
    CodeCell(1, "time.sleep(0.3)\ndef die():\n    os._exit(3)"),
    CodeCell(2, "time.sleep(0.3)\ndef spin():\n    while True:\n        pass"),
]


def test_a_function_that_crashed_or_hung_fails_at_once_afterwards(tmp_path):
    """Its later calls neither wait for the limit again nor replay the notebook; other functions go on."""
    from d2lgrade.student import Crashed, FailedBefore, Student, TimedOut

    run = notebook_run(SLOW_CELLS, tmp_path)
    student = Student(run, timeout=1.0)
    try:
        with pytest.raises(Crashed):
            student.die()
        started = time.monotonic()
        for _ in range(3):
            with pytest.raises(FailedBefore, match="stopped the notebook's process"):
                student.die()
        assert time.monotonic() - started < 0.5 and run.restarts == 0
        assert student.inc(1) == 2 and run.restarts == 1  # one replay for the functions that still work
        with pytest.raises(TimedOut):
            student.spin()
        started = time.monotonic()
        with pytest.raises(FailedBefore, match="did not finish within 1 s"):
            student.spin()
        assert time.monotonic() - started < 0.5 and run.restarts == 1
    finally:
        run.close()


# ------------------------------------------------------------------ answers too large to read

#: A function whose process then sends every answer as ``count`` empty lists, by replacing the
#: ``json.dumps`` that ``framing.write_message`` calls.
SWELL = """
import json
def swell(count):
    forged = '{"status":"ok","value":[' + '[],' * (count - 1) + '[]],"args":[],"kwargs":{"$type":"dict","items":[]}}'
    json.dumps = lambda message, **kwargs: forged
"""


@pytest.mark.parametrize(
    "count, detail",
    [(13_300_000, "over 32 MiB"), (5_000_000, "over 1,000,000 values")],
    ids=["over the size bound, left unread", "under it, read but not parsed"],
)
def test_a_forged_huge_answer_is_refused_quickly_and_its_process_stopped(fresh, count, detail):
    assert run_cell(fresh, SWELL)["status"] == "ok"
    process = fresh.process
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(AnswerTooLarge) as caught:
            call(fresh, "swell", count)
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.detail == detail
    assert seconds < 5.0  # the student's process builds 40 MB of text first; parsing it took 22 s
    assert peak < 20 * 2**20  # at most the 15 MB body; its 5 million lists would be 320 MB
    assert fresh.process is None and process.poll() is not None


def test_a_student_whose_answer_is_too_large_is_told_so_and_the_next_call_works(notebook):
    from d2lgrade.student import Student, TooLarge

    run_cell(notebook, SWELL)
    student = Student(notebook)
    with pytest.raises(TooLarge) as caught:
        student.swell(13_300_000)
    assert caught.value.feedback.startswith("The answer of `swell` was too large for the grader to read (over 32 MiB); ")
    assert student.inc(1) == 2  # a fresh process, with the notebook's good cells and not the forgery
