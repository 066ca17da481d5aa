"""Running a submission's notebook and keeping it available for calls.

``NotebookRun`` is the one interface between grading and execution: it runs
the cells in order (a failing cell is recorded and the next still runs),
then answers requests. When student code hangs or kills its process, the
run starts a fresh process, replays the cells that worked, and goes on, so a
single bad call costs only the test that made it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from d2lgrade import sandbox
from d2lgrade.notebook import CodeCell
from d2lgrade.results import CellReport
from d2lgrade.transport import MEMORY_LIMIT, ChildTransport, Lender, Transport, TransportDied, TransportTimeout
from d2lgrade.zygote import Zygote

__all__ = ["CellReport", "NotebookRun", "child_run"]

#: Seconds one cell may run before it is stopped.
CELL_TIMEOUT = 60.0


class NotebookRun:
    """One submission's code, run once and then called into by the graders."""

    def __init__(
        self,
        cells: Sequence[CodeCell],
        make_transport: Callable[[], Transport],
        *,
        seed: int,
        cell_timeout: float = CELL_TIMEOUT,
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

    def _run_cell(self, cell: CodeCell) -> CellReport:
        if self.transport is None:
            self._restart()
        try:
            if cell is self.cells[0]:
                self.transport.request(self._seed_request(), timeout=self.cell_timeout)
            answer = self.transport.request({"op": "run_cell", "source": cell.source}, timeout=self.cell_timeout)
        except TransportTimeout:
            self.transport = None
            return CellReport(cell.index, "timeout", "Timeout", f"the cell ran longer than {self.cell_timeout:g} s")
        except TransportDied as exc:
            self.transport = None
            return CellReport(cell.index, "crashed", "ProcessDied", str(exc))
        error = answer.get("error") or {}
        return CellReport(
            cell.index, answer.get("status", "raised"), error.get("ename"), error.get("evalue"), float(answer.get("seconds", 0.0))
        )

    def _restart(self) -> None:
        """A fresh process with the cells that worked before, so later calls can go on."""
        if self.broken:
            raise TransportDied(self.broken)
        self.restarts += 1
        self.transport = self.make_transport()
        good = {report.index for report in self.reports if report.ok}
        try:
            if self.cells:
                self.transport.request(self._seed_request(), timeout=self.cell_timeout)
            for cell in self.cells:
                if cell.index in good:
                    self.transport.request({"op": "run_cell", "source": cell.source}, timeout=self.cell_timeout)
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
            return self.transport.request(message, timeout=timeout, lender=lender)
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
) -> NotebookRun:
    """A NotebookRun whose code runs in confined child processes (see ``ChildTransport``).

    With a ``zygote`` the children are forked from it.
    """
    folder = Path(workdir or tempfile.mkdtemp(prefix="d2lgrade-"))

    def make_transport() -> ChildTransport:
        transport = ChildTransport(folder, zygote=zygote, policy=policy, memory=memory)
        transport.start()
        return transport

    return NotebookRun(cells, make_transport, seed=seed)
