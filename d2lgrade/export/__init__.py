"""One module per output format; each reads ``SubmissionResult``s only."""

from d2lgrade.export.csv_grades import write_csv
from d2lgrade.export.json_results import read_json, write_json

__all__ = ["read_json", "write_csv", "write_json"]
