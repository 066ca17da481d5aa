"""``d2lgrade export RESULTS.json --out DIR``: every export again from a results file.

cli.py registers it with ``add_export_command(verbs)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_export_command(verbs: argparse._SubParsersAction) -> None:
    export = verbs.add_parser("export", help="write grades.csv, junit.xml, feedback/ and report/ from a results.json")
    export.add_argument("results", type=Path, help="a results.json written by d2lgrade autograde")
    export.add_argument("--out", type=Path, default=None, help="where to write them (default: the folder of RESULTS)")
    export.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    from d2lgrade.export import read_json, write_all

    try:
        results = read_json(args.results)
    except (OSError, ValueError, KeyError) as exc:  # ValueError: not JSON or another format; KeyError: a field missing
        print(f"d2lgrade export: cannot read {args.results}: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.results.parent
    for path in write_all(results, out):
        print(f"wrote {path}")
    return 0
