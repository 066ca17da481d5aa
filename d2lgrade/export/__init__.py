"""One module per output format; each reads ``SubmissionResult``s only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from d2lgrade.export.csv_grades import write_csv
from d2lgrade.export.feedback import write_feedback
from d2lgrade.export.json_results import read_json, write_json
from d2lgrade.export.junit import write_junit
from d2lgrade.export.report import write_report
from d2lgrade.results import SubmissionResult

__all__ = ["read_json", "write_all", "write_csv", "write_feedback", "write_json", "write_junit", "write_report"]


def write_all(results: Sequence[SubmissionResult], out: Path, *, shard: dict | None = None) -> list[Path]:
    """Every export into ``out``: results.json, grades.csv, junit.xml, feedback/, report/.

    ``shard``: which part of a class the results are (see d2lgrade.shard), recorded in results.json.

    Returns the files and folders written, for the command to name.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(results, out / "results.json", shard=shard)
    write_csv(results, out / "grades.csv")
    write_junit(results, out / "junit.xml")
    write_feedback(results, out / "feedback")
    write_report(results, out / "report")
    return [out / name for name in ("results.json", "grades.csv", "junit.xml", "feedback", "report")]
