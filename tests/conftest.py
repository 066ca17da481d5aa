"""Fixtures shared by the tests that fork student processes from a zygote, and the order of the test files."""

from collections.abc import Iterator

import pytest

from d2lgrade.pool import Pool
from d2lgrade.transport import ChildTransport
from d2lgrade.zygote import Zygote

#: Generous for the zygote's start (importing torch), far below any real limit.
ZYGOTE_STARTUP = 90.0
#: The test files that take longest, longest first (``pytest --durations``: 10 to 100 s each on two cores).
#: The tests run in three processes (pytest-xdist, pyproject.toml), each taking a whole file at a time in
#: this order: a long file handed out last would keep one process busy on its own at the end.
LONGEST_FIRST = ("test_catalogue.py", "test_bench.py", "test_nbgrader.py", "test_exploits.py", "test_pool.py",
                 "test_all_cells.py", "test_walkthrough.py", "test_bad_input.py", "test_transport.py", "test_release.py",
                 "test_gradescope.py", "test_shard.py", "test_student_wheel.py", "test_selfcheck.py", "test_engine.py",
                 "test_zygote.py", "test_gradebook.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    with Zygote(startup_timeout=ZYGOTE_STARTUP) as started:
        yield started


@pytest.fixture
def spawn(zygote, tmp_path) -> Iterator:
    """Start children from the module's zygote (options go to ChildTransport); they are closed after the test."""
    made = []

    def start(name: str = "child", **options) -> ChildTransport:
        folder = tmp_path / f"{name}{len(made)}"
        folder.mkdir()
        transport = ChildTransport(folder, zygote=zygote, **options)
        transport.start()
        made.append(transport)
        return transport

    yield start
    for transport in made:
        transport.close()


@pytest.fixture(scope="session")
def grading_zygote() -> Iterator[Zygote]:
    """One zygote for the tests that only grade (``grade(..., zygote=grading_zygote)``), started once
    instead of once per call. It may have loaded d2l.torch for an earlier test: tests of what the
    zygote itself does use ``zygote``, a fresh one per module."""
    with Zygote(startup_timeout=ZYGOTE_STARTUP) as started:
        yield started


@pytest.fixture(scope="session")
def grading_pool() -> Iterator[Pool]:
    """Two grading workers and their zygote, kept for the session by the tests that grade many
    notebooks (the catalogues, the all-cells comparison): their start-up is paid once."""
    with Pool(2) as workers:
        yield workers


@pytest.fixture
def cli_on_grading_zygote(grading_zygote, monkeypatch) -> Zygote:
    """In-process runs of the command line (``main([...])`` grading in this process: ``--jobs 1``, or
    ``check``) fork their students' processes from ``grading_zygote`` instead of starting a zygote
    each, which costs seconds of CPU importing torch: for the tests of what the command does with
    results, not of how it starts (those of tests/test_zygote.py and tests/test_selfcheck.py's
    early start do not take this)."""
    monkeypatch.setattr("d2lgrade.cli.start_early", lambda **_: None)

    def borrow(shares: int, load: tuple[str, ...]) -> Zygote:
        grading_zygote.load(load)
        return grading_zygote

    # Every start_zygote, however it was imported, first takes the early zygote: the session's here.
    monkeypatch.setattr("d2lgrade.zygote._take_early", borrow)
    monkeypatch.setattr(grading_zygote, "close", lambda **_: None)  # the session's, closed at its end

    def refuse(*_, **__):
        raise AssertionError("the command started a zygote of its own: cli_on_grading_zygote missed a way in")

    monkeypatch.setattr(Zygote, "start", refuse)
    return grading_zygote

