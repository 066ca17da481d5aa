"""Running a submission's notebook and keeping it available for calls.

``NotebookRun`` is the one interface between grading and execution: it runs
the cells in order (a failing cell is recorded and the next still runs),
then answers requests. When student code hangs or kills its process, the
run starts a fresh process, replays the cells that worked, and goes on, so a
single bad call costs only the test that made it. With a ``Budget``, the cells
and every request together may take at most its seconds (``d2lgrade.budget``):
once they are spent, the process is stopped and every later request raises
``BudgetSpent`` at once.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from d2lgrade import sandbox
from d2lgrade.budget import Budget
from d2lgrade.notebook import CodeCell
from d2lgrade.results import CellReport
from d2lgrade.transport import MEMORY_LIMIT, ChildTransport, Lender, Transport, TransportDied, TransportTimeout
from d2lgrade.zygote import Zygote

__all__ = ["BudgetSpent", "CellReport", "NotebookRun", "child_run"]

#: Seconds one cell may run before it is stopped.
CELL_TIMEOUT = 60.0


class BudgetSpent(Exception):
    """The submission's code has used all of its time budget; its process was stopped."""

    def __init__(self, budget: Budget) -> None:
        super().__init__(budget.sentence())
        self.budget = budget


class NotebookRun:
    """One submission's code, run once and then called into by the graders."""

    def __init__(
        self,
        cells: Sequence[CodeCell],
        make_transport: Callable[[], Transport],
        *,
        seed: int,
        cell_timeout: float = CELL_TIMEOUT,
        budget: Budget | None = None,
    ) -> None:
        self.cells = list(cells)
        self.make_transport = make_transport
        self.seed = seed
        self.cell_timeout = cell_timeout
        self.reports: list[CellReport] = []
        self.transport: Transport | None = None
        self.broken: str | None = None
        """why the student's process cannot be restarted, once that happens"""
        self.faults: dict[str, str] = {}
        """what each function that hung or stopped the process did, so its later calls fail at once"""
        self.restarts = 0
        self.confinement: dict = {}
        """what confined the first student's process (``ChildTransport.confinement``)"""
        self.budget = budget
        """the seconds the cells and every request may take together; None: no bound but each one's own"""
        self.used = 0.0
        """the seconds the student's process has spent answering, cells and replays included"""
        self.over_budget = False
        """whether the budget ran out: the process was stopped, and nothing more runs"""

    def start(self) -> list[CellReport]:
        """Run every cell in order and return what happened to each."""
        self.transport = self.make_transport()
        self.confinement = dict(getattr(self.transport, "confinement", {}))
        self.reports = []
        for cell in self.cells:  # appended one by one: a restart replays the good cells so far
            self.reports.append(self._run_cell(cell))
        return self.reports

    def _seed_request(self) -> dict:
        source = f"import d2lgrade.child as _c; _c.seed_everything({int(self.seed)}); del _c"
        return {"op": "run_cell", "source": source}

    @property
    def _cell_limit(self) -> float:
        return self.cell_timeout if self.budget is None else min(self.cell_timeout, self.budget.cell_limit)

    def _run_cell(self, cell: CodeCell) -> CellReport:
        limit = self._cell_limit
        try:
            if self.transport is None:
                self._restart()
            if cell is self.cells[0]:
                self._ask(self._seed_request(), limit)
            answer = self._ask({"op": "run_cell", "source": cell.source}, limit)
        except BudgetSpent as exc:
            return CellReport(cell.index, "timeout", "Timeout", str(exc))
        except TransportTimeout:
            self.transport = None
            why = f", the most one cell may take of the notebook's {self.budget.seconds:g} s" if limit < self.cell_timeout else ""
            return CellReport(cell.index, "timeout", "Timeout", f"the cell ran longer than {limit:g} s{why}")
        except TransportDied as exc:
            self.transport = None
            return CellReport(cell.index, "crashed", "ProcessDied", str(exc))
        error = answer.get("error") or {}
        return CellReport(
            cell.index, answer.get("status", "raised"), error.get("ename"), error.get("evalue"), float(answer.get("seconds", 0.0))
        )

    def _ask(self, message: Mapping[str, Any], timeout: float, lender: Lender | None = None) -> dict:
        """One request, within ``timeout`` and what is left of the budget; raises ``BudgetSpent`` when that
        is what ran out, and TransportTimeout/TransportDied as the transport does."""
        if self.over_budget:
            raise BudgetSpent(self.budget)
        left = timeout if self.budget is None else self.budget.seconds - self.used
        if left <= 0:
            self._spent()
        started = time.monotonic()
        try:
            return self.transport.request(message, timeout=min(timeout, left), lender=lender)
        except TransportTimeout:
            if self.budget is None or left > timeout:
                raise
            self._spent()
        finally:
            self.used += time.monotonic() - started

    def _spent(self) -> None:
        self.over_budget = True
        self.close()
        raise BudgetSpent(self.budget) from None

    def _restart(self) -> None:
        """A fresh process with the cells that worked before, so later calls can go on."""
        if self.over_budget:
            raise BudgetSpent(self.budget)
        if self.broken:
            raise TransportDied(self.broken)
        self.restarts += 1
        self.transport = self.make_transport()
        good = {report.index for report in self.reports if report.ok}
        try:
            if self.cells:
                self._ask(self._seed_request(), self._cell_limit)
            for cell in self.cells:
                if cell.index in good:
                    self._ask({"op": "run_cell", "source": cell.source}, self._cell_limit)
        except (TransportTimeout, TransportDied) as exc:
            self.broken = f"the notebook could not be run again after an earlier failure ({exc})"
            self.transport = None
            raise TransportDied(self.broken) from None

    def request(self, message: Mapping[str, Any], *, timeout: float, lender: Lender | None = None) -> dict:
        """Send a request to the student's code; a hang or crash is raised, then recovered from.
        ``lender`` answers the student's code when it calls a function grading lends."""
        if self.transport is None:
            self._restart()
        try:
            return self._ask(message, timeout, lender)
        except (TransportTimeout, TransportDied):
            self.close()
            raise

    def close(self) -> None:
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.close()


def child_run(
    cells: Sequence[CodeCell],
    *,
    seed: int,
    workdir: Path | None = None,
    zygote: Zygote | None = None,
    policy: sandbox.Policy = sandbox.Policy(),
    memory: int = MEMORY_LIMIT,
    budget: Budget | None = None,
) -> NotebookRun:
    """A NotebookRun whose code runs in confined child processes (see ``ChildTransport``).

    With a ``zygote`` the children are forked from it; with a ``budget``, all they run is bounded by it.
    """
    folder = Path(workdir or tempfile.mkdtemp(prefix="d2lgrade-"))

    def make_transport() -> ChildTransport:
        transport = ChildTransport(folder, zygote=zygote, policy=policy, memory=memory)
        transport.start()
        return transport

    return NotebookRun(cells, make_transport, seed=seed, budget=budget)
