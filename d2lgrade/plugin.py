"""The pytest side of grading: fixtures for graders, and what their tests found.

Graders are plain pytest functions marked with the question they check::

    @pytest.mark.question("squared_loss")
    def test_keeps_shape(student, reference, device):
        '''squared_loss keeps the shape of y_hat'''

Fixtures: ``student`` (the submission behind the wire, see
``d2lgrade.student``), ``reference`` (the solution notebook's functions,
trusted) and ``device`` (cpu, and cuda where there is one). Every submission
being graded is a parameter of ``student``, so the graders are collected once
for a whole class.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import dataclasses
import functools
import inspect
import io
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from d2lgrade import book
from d2lgrade.child import seed_everything
from d2lgrade.course import Assignment, CourseError, GraderError
from d2lgrade.execute import CellReport, NotebookRun
from d2lgrade.results import TestResult
from d2lgrade.rules import RuleBroken
from d2lgrade.student import CALL_TIMEOUT, Missing, OverBudget, Raised, Reference, Student, StudentFault, derive_seed

__all__ = ["GraderError", "OpenSubmission", "Target", "run_graders"]

GRADER_BROKE = "The grader could not check this answer because of a problem on our side; your instructor has been told."


#: Errors that a cell left unrun could explain: such a submission is graded again with every cell.
SKIPPED_CELL_ERRORS = frozenset({"NameError", "UnboundLocalError", "AttributeError", "ImportError", "ModuleNotFoundError", "KeyError"})


@dataclasses.dataclass
class OpenSubmission:
    """A submission whose notebook has run and can be called into."""

    run: NotebookRun
    functions: dict[str, ast.AST]
    cells: list[CellReport]
    seed: int = 0
    """the seed of this submission's grading"""
    cleanup: Callable[[], None] = lambda: None
    """removes what the run left on disk"""
    skipped: tuple[int, ...] = ()
    """the code cells grading did not run, since no check depends on them (``d2lgrade.slicing``)"""
    suspect: bool = False
    """a check failed in a way that one of the skipped cells could explain"""
    in_kernel: bool = False
    """the student's own kernel (the self-check), not a run of the saved notebook"""
    _copies: dict[str, bool] = dataclasses.field(default_factory=dict, repr=False)

    def copies_d2l(self, name: str) -> bool:
        """Whether the submission's ``name`` is d2l's own function (``book.copied_from_d2l``), read from
        its source once per name rather than before every call of every test."""
        if name not in self._copies:
            self._copies[name] = book.copied_from_d2l(name, self.functions)
        return self._copies[name]

    def close(self) -> None:
        self.run.close()
        self.cleanup()

    def missing_hint(self) -> str:
        failed = [c for c in self.cells if not c.ok]
        if not failed:
            return ""
        first = failed[0]
        return f" (cell {first.index + 1} of the notebook stopped with {first.ename}: {first.evalue})"


@dataclasses.dataclass(frozen=True)
class Target:
    """One submission to grade: a key and how to open it."""

    key: str
    open: Callable[[], OpenSubmission]


class GradingPlugin:
    lean = True
    """run the tests that need only this plugin's fixtures the lean way
    (``pytest_runtest_protocol_lean``); False: every test pytest's way"""

    def __init__(self, *, assignment: Assignment, targets: Sequence[Target], reference: Reference, questions: set[str] | None, on_done: Callable[[str, list[TestResult], OpenSubmission], None] | None = None, call_timeout: float = CALL_TIMEOUT) -> None:
        self.on_done = on_done
        self.call_timeout = call_timeout
        self.assignment = assignment
        self.targets = list(targets)
        self._reference = reference
        self.questions = questions
        self.known = {q.name for q in assignment.autograded}
        self.results: dict[str, list[TestResult]] = {t.key: [] for t in self.targets}
        self.broken: dict[str, dict[str, str]] = {t.key: {} for t in self.targets}
        """``key -> {question: message}`` of the rules (``rules.RuleBroken``) each submission broke"""
        self.opened: dict[str, OpenSubmission] = {}
        self._current: tuple[Target, OpenSubmission | Exception | None] | None = None
        """the target whose tests run now, and its notebook (or why it could not be opened)"""
        self._lent = functools.cache(functools.partial(book.lent_functions, assignment))
        self.library_pycache = sys.pycache_prefix
        """where bytecode is read from outside the graders' collection"""

    # ------------------------------------------------------------ set-up
    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "question(name): the question a grader test checks")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # The graders are imported: what the tests import from now on (torch._dynamo at the first
        # torch.optim step, a lazy d2l) comes from the libraries' own bytecode, not compiled afresh
        # into the private folder (seconds each time a process grades).
        sys.pycache_prefix = self.library_pycache

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "_submission" in metafunc.fixturenames:
            metafunc.parametrize("_submission", self.targets, indirect=True, scope="session", ids=[t.key for t in self.targets])

    @pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by submission
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep = []
        for item in items:
            marker = item.get_closest_marker("question")
            if marker is None or marker.args[0] not in self.known:
                named = marker.args[0] if marker else None
                raise CourseError(f"{item.nodeid}: marks question {named!r}; known questions: {sorted(self.known)}")
            if self.questions is None or marker.args[0] in self.questions:
                item.repr_failure = _no_traceback  # messages come from the exceptions; pytest's report of one costs ~1 ms
                keep.append(item)
        deselected = [item for item in items if item not in keep]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = keep
        self._order(items)

    def _order(self, items: list[pytest.Item]) -> None:
        """One submission after another, and in each, a question that grading lends to others is
        tested before them (``d2lgrade.book.test_rank``)."""
        rank = book.test_rank(self.assignment)
        target = {t.key: i for i, t in enumerate(self.targets)}
        position = {id(item): i for i, item in enumerate(items)}

        def order(item: pytest.Item) -> tuple[int, int, int]:
            submission = item.callspec.params["_submission"].key
            return target[submission], rank[item.get_closest_marker("question").args[0]], position[id(item)]

        items.sort(key=order)

    # ------------------------------------------------------------ fixtures
    @pytest.fixture(scope="session")
    def _submission(self, request: pytest.FixtureRequest) -> OpenSubmission:
        return self._open(request.param)  # closed by pytest_runtest_protocol after its last test

    @pytest.fixture
    def student(self, _submission: OpenSubmission, request: pytest.FixtureRequest) -> Student:
        """The submission being graded, behind the wire format."""
        return self._student(_submission, request.node)

    @pytest.fixture(scope="session")
    def reference(self) -> Reference:
        """The reference functions from the solution notebook."""
        return self._reference

    @pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
    def device(self, request: pytest.FixtureRequest) -> torch.device:
        """The device under test: cpu, and cuda when this machine has one."""
        return _device(request.param)

    @pytest.fixture(autouse=True)
    def _seeded(self, _submission: OpenSubmission, request: pytest.FixtureRequest) -> None:
        """The grader's own random inputs depend on the seed and the test only."""
        seed_everything(derive_seed(_submission.seed, _test_key(request.node)))

    def _student(self, opened: OpenSubmission, item: pytest.Item) -> Student:
        question = item.get_closest_marker("question").args[0]
        if opened.run.over_budget:  # its process was stopped: every check left ends at once, with the reason
            if "device" in item.fixturenames:
                _device(item.callspec.params["device"])  # but a device this machine lacks skips, as always
            raise OverBudget(question, opened.run.budget)
        return _ProxyWithHint(
            opened.run,
            functions=opened.functions,
            lent=self._lent(question),
            reference=self._reference,
            copies_d2l=opened.copies_d2l,
            seed=opened.seed,
            test=_test_key(item),
            timeout=self.call_timeout,
            hint=opened.missing_hint(),
            kernel=opened.in_kernel,
        )

    # ------------------------------------------------------------ one submission after another
    def _open(self, target: Target) -> OpenSubmission:
        """The target's notebook, run when its first test asks for it; if it cannot be opened, each of its
        tests fails with the reason."""
        if self._current is None or self._current[0] is not target:
            self._current = (target, None)
            try:
                self._current = (target, target.open())
            except Exception as exc:
                self._current = (target, exc)
                raise
            self.opened[target.key] = self._current[1]
        opened = self._current[1]
        if isinstance(opened, Exception):
            raise opened
        return opened

    def _close(self) -> None:
        """The open target's last test is done: stop its process and hand its results on."""
        current, self._current = self._current, None
        if current is None or not isinstance(current[1], OpenSubmission):
            return  # never opened, or its opening failed: grade() reports it without on_done
        target, opened = current
        try:
            opened.close()
        finally:
            forfeit(self.results[target.key], self.broken[target.key])
            if self.on_done is not None:
                self.on_done(target.key, self.results[target.key], opened)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
        try:
            return (yield)
        finally:
            target = item.callspec.params["_submission"]
            if nextitem is None or nextitem.callspec.params["_submission"] is not target:
                self._close()

    def pytest_sessionfinish(self) -> None:
        self._close()  # what an interrupted session left open

    # ------------------------------------------------------------ running a test
    @pytest.hookimpl(tryfirst=True, specname="pytest_runtest_protocol")
    def pytest_runtest_protocol_lean(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        """Run a test that needs only this plugin's fixtures without pytest's per-test machinery (fixture
        requests, three reports and their hooks: ~1.5 ms a test, 86 tests a submission); leave any other
        test to pytest.

        A passed test is recorded here; a failed or skipped one goes through pytest_runtest_makereport,
        as pytest's own run would report it."""
        if not self.lean or not _lean(item, self._fixture_functions):
            return None
        setup = pytest.CallInfo.from_call(functools.partial(self._arguments, item), "setup", reraise=_RERAISE)
        if setup.excinfo is not None:
            item.ihook.pytest_runtest_makereport(item=item, call=setup)
            return True
        test = functools.partial(item.obj, **setup.result)
        call = pytest.CallInfo.from_call(test, "call", reraise=_RERAISE)
        if call.excinfo is not None:
            item.ihook.pytest_runtest_makereport(item=item, call=call)
        else:
            self._add(item, seconds=call.duration)
        return True

    def _arguments(self, item: pytest.Item) -> dict[str, Any]:
        """What the fixtures would give the test, in pytest's order: the submission, the seeds, then its
        arguments."""
        opened = self._open(item.callspec.params["_submission"])
        seed_everything(derive_seed(opened.seed, _test_key(item)))
        arguments = {}
        for name in item._fixtureinfo.argnames:
            if name == "student":
                arguments[name] = self._student(opened, item)
            elif name == "reference":
                arguments[name] = self._reference
            elif name == "device":
                arguments[name] = _device(item.callspec.params["device"])
            else:
                arguments[name] = item.callspec.params[name]
        return arguments

    @functools.cached_property
    def _fixture_functions(self) -> dict[str, Callable]:
        return {name: getattr(type(self), name)._get_wrapped_function() for name in _OWN_FIXTURES}

    # ------------------------------------------------------------ outcomes
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
        # Recorded at the end of "call" (or of a setup that failed or skipped), not at teardown.
        report = yield
        if call.when == "call" or (call.when == "setup" and not report.passed):
            self._add(item, seconds=report.duration, skipped=_skip_reason(report) if report.skipped else None,
                      excinfo=call.excinfo if report.failed else None, failed=report.failed)
        return report

    def _add(self, item: pytest.Item, *, seconds: float, skipped: str | None = None, failed: bool = False,
             excinfo: pytest.ExceptionInfo | None = None) -> None:
        """Record a test's result: passed, ``skipped`` for that reason, or ``failed`` with ``excinfo``."""
        target = item.callspec.params["_submission"]
        if excinfo is not None and _could_be_a_skipped_cell(excinfo.value) and target.key in self.opened:
            self.opened[target.key].suspect = True
        outcome, message, detail = "passed", "", ""
        if skipped is not None:
            outcome, message = "skipped", skipped
        elif failed:
            outcome, message, detail = _classify(excinfo)
            if excinfo is not None and isinstance(excinfo.value, RuleBroken):
                self.broken[target.key].setdefault(item.get_closest_marker("question").args[0], message)
        title = (item.function.__doc__ or item.originalname).strip().splitlines()[0]
        params = {k: v for k, v in item.callspec.params.items() if k not in ("_submission", "device")}
        if params:
            title += " (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"
        if "device" in item.callspec.params:
            title += f" (on {item.callspec.params['device']})"
        self.results[target.key].append(
            TestResult(
                question=item.get_closest_marker("question").args[0],
                name=title,
                test_id=_test_key(item),
                outcome=outcome,
                message=message,
                seconds=round(seconds, 4),
                hidden=Path(str(item.path)).parent.name == "hidden",
                staff_detail=detail,
            )
        )


#: The fixtures this plugin gives graders; a test that needs no other runs the lean way
#: (``GradingPlugin.pytest_runtest_protocol_lean``).
_OWN_FIXTURES = ("_submission", "_seeded", "student", "reference", "device")
#: Marks the lean way honours; a test with any other (skipif, xfail, usefixtures, ...) runs pytest's way.
_LEAN_MARKS = frozenset({"question", "parametrize", "cuda"})
#: What stops a test run rather than fail a test, as in pytest's own runner.
_RERAISE = (pytest.exit.Exception, KeyboardInterrupt)


def _lean(item: pytest.Item, own: Mapping[str, Callable]) -> bool:
    """Whether ``item`` is a plain test function whose fixtures are this plugin's and its own parameters only."""
    if not isinstance(item, pytest.Function) or not isinstance(item.parent, pytest.Module):
        return False
    function = item.obj
    if not inspect.isfunction(function) or inspect.iscoroutinefunction(function) or inspect.isgeneratorfunction(function):
        return False
    if any(mark.name not in _LEAN_MARKS for mark in item.iter_markers()):
        return False
    definitions = item._fixtureinfo.name2fixturedefs
    for name in item._fixtureinfo.names_closure:
        if name == "request":
            continue
        last = definitions[name][-1] if definitions.get(name) else None
        if name in own:
            if last is None or getattr(last.func, "__func__", last.func) is not own[name]:
                return False  # overridden by the graders' own fixture of that name
        elif name not in item.callspec.params or last is None or last.func.__name__ != "get_direct_param_fixture_func":
            return False  # a fixture of the graders' own, or another plugin's
    return "request" not in item._fixtureinfo.argnames


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    return torch.device(name)


class _ProxyWithHint(Student):
    """A Student whose "not defined" message names the cell that failed, or, in the student's own
    kernel, asks for the cell that defines the function to be run."""

    def __init__(self, *args: Any, hint: str = "", kernel: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hint = hint
        self._kernel = kernel

    def _reworded(self, exc: Missing) -> Missing:
        if self._kernel:
            return Missing(exc.function, exc.detail, kernel=True)
        if self._hint and not exc.detail:
            return Missing(exc.function, self._hint)
        return exc

    def call(self, name: str, /, *args: Any, **kwargs: Any):
        try:
            return super().call(name, *args, **kwargs)
        except Missing as exc:
            raise self._reworded(exc) from None

    def run(self, function: str, code: Any, **kwargs: Any) -> Any:
        try:
            return super().run(function, code, **kwargs)
        except Missing as exc:
            raise self._reworded(exc) from None


def forfeit(tests: list[TestResult], broken: Mapping[str, str]) -> None:
    """Fail, in place, every passed test of a question whose rule was broken (``broken``: question -> the
    rule's message), as every test of a function copied from d2l fails: right answers that break the rule
    earn nothing."""
    for index, test in enumerate(tests):
        if test.outcome == "passed" and test.question in broken:
            message = f"The answer was right, but it earns nothing: {broken[test.question]}"
            tests[index] = dataclasses.replace(test, outcome="failed", message=message)


def _could_be_a_skipped_cell(error: BaseException) -> bool:
    return isinstance(error, Missing) or (isinstance(error, Raised) and error.ename in SKIPPED_CELL_ERRORS)


def _no_traceback(excinfo: pytest.ExceptionInfo) -> str:
    return f"{excinfo.typename}: {excinfo.value}"


_TEST_KEY = pytest.StashKey[str]()


def _test_key(item: pytest.Item) -> str:
    """A test's identity without the submission, so every student gets the same inputs."""
    key = item.stash.get(_TEST_KEY, None)  # asked for three times a test
    if key is None:
        params = getattr(getattr(item, "callspec", None), "params", {})
        extra = ",".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "_submission")
        key = item.stash[_TEST_KEY] = f"{item.path.parent.name}/{item.path.stem}::{item.originalname}[{extra}]"
    return key


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]).removeprefix("Skipped: ") if isinstance(longrepr, tuple) else ""


def _classify(excinfo: pytest.ExceptionInfo | None) -> tuple[str, str, str]:
    """(outcome, student message, staff detail) for a failed phase."""
    if excinfo is None:
        return "grader_error", GRADER_BROKE, "failed without an exception"
    error = excinfo.value
    if isinstance(error, StudentFault):
        return "error", error.feedback, ""
    if isinstance(error, pytest.fail.Exception):
        return "failed", str(error.msg), ""
    if isinstance(error, AssertionError):
        return "failed", str(error) or "The answer is not right.", ""
    detail = "".join(traceback.format_exception(error))[-4000:]
    return "grader_error", GRADER_BROKE, detail


def _forget_grader_modules() -> None:
    """Drop grader modules imported before, so graders edited since (or another course's) are read afresh.

    pytest imports ``graders/public/<assignment>.py`` as ``public.<assignment>``.
    """
    for name in list(sys.modules):
        if name.split(".", 1)[0] in ("public", "hidden"):
            del sys.modules[name]


@functools.cache
def _private_pycache() -> str:
    """A bytecode folder of this process's own, so a .pyc planted beside the graders is never loaded."""
    folder = tempfile.mkdtemp(prefix="d2lgrade-pycache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _pytest_args(files: Sequence[Path], graders: Path) -> list[str]:
    return [
        *map(str, files),
        "--rootdir", str(graders),
        "-c", os.devnull,
        "-p", "no:cacheprovider",
        "-p", "no:unraisableexception",  # its garbage collections cost ~0.5 s per session with torch loaded
        "-p", "no:logging",  # ~1.5 ms a test, and graders do not log
        "-p", "no:xdist",  # where it is installed: the project's own tests run in parallel, the graders never
        "--assert=plain",
        "--capture=sys",
        "--import-mode=importlib",
        "-o", "python_files=*.py",
        "-q",
        "--tb=no",  # the failures' summary at the end scanned every report for each failure
        "-rN",
    ]


def run_graders(
    assignment: Assignment,
    targets: Sequence[Target],
    *,
    reference: Reference,
    questions: set[str] | None = None,
    public_only: bool = False,
    on_done: Callable[[str, list[TestResult], OpenSubmission], None] | None = None,
    call_timeout: float = CALL_TIMEOUT,
) -> tuple[dict[str, list[TestResult]], dict[str, OpenSubmission]]:
    """Run the assignment's graders against every target in one pytest session.

    ``on_done(key, tests, opened)`` is called as each target's grading ends.
    Returns each target's test results and what its notebook run reported.
    """
    files = assignment.grader_files(public_only=public_only)
    if not files:
        raise GraderError(f"no graders for {assignment.name} in {assignment.graders}")
    plugin = GradingPlugin(assignment=assignment, targets=targets, reference=reference, questions=questions, on_done=on_done, call_timeout=call_timeout)
    log = io.StringIO()
    _forget_grader_modules()
    # Hidden checks may import helpers from the public ones: `from public.<assignment> import ...`.
    sys.path.insert(0, str(assignment.graders))
    # while pytest collects (imports) the graders; the plugin puts the libraries' back after
    pycache_prefix, sys.pycache_prefix = sys.pycache_prefix, _private_pycache()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            status = pytest.main(_pytest_args(files, assignment.graders), plugins=[plugin])
    finally:
        sys.path.remove(str(assignment.graders))
        sys.pycache_prefix = pycache_prefix
    if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise GraderError(f"the graders of {assignment.name} could not run (pytest exit {int(status)}):\n{log.getvalue()[-4000:]}")
    return plugin.results, plugin.opened
