"""Grading a class on several machines: ``autograde --shard K/N`` grades one part, ``merge`` joins the parts.

K counts from 0 to N-1, as Slurm's ``SLURM_ARRAY_TASK_ID`` does for
``--array=0-<N-1>`` and Kubernetes' ``JOB_COMPLETION_INDEX`` does for an
Indexed Job: ``0/3``, ``1/3`` and ``2/3`` are the three shards of a class.

Who is in which shard: the class's submissions, each known by its
(assignment, student), are put in order by assignment and then by the
SHA-256 of that pair, and dealt out like cards, the first to shard 0, the
next to shard 1, and so on. Every submission is in exactly one shard, each
shard has as many of each assignment as the others give or take one, and the
deal depends on the set of submissions alone: not on the order the paths were
given, the machine, or Python's hash seed.

Each shard's results.json records which shard it is, the class it was dealt
from (how many submissions, and a SHA-256 of all of them), the settings it
was graded with and the Python and library versions it ran on, so that
``merge`` can tell a missing shard, a shard given twice, and shards of another
class, other settings or another torch or numpy apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from d2lgrade.environment import GRADE_CHANGING, series, versions
from d2lgrade.export import write_all
from d2lgrade.export.json_results import read_json_shard
from d2lgrade.submissions import Submission
from d2lgrade.results import SubmissionResult

__all__ = ["MergeError", "Shard", "ShardFile", "class_record", "deal", "merge", "merge_into", "parse_shard", "read_shard", "select",
           "shard_record", "submission_key"]

#: A submission as the class knows it: (assignment, student), "?" for a notebook that matches no assignment.
Key = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class Shard:
    """Shard ``index`` (from 0) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``K/N`` as ``--shard`` takes it; ValueError saying what is wrong otherwise."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip(), flags=re.ASCII)
    if match is None:
        raise ValueError(f"{text!r} is not K/N: two whole numbers such as 0/3, the first of three shards")
    index, count = map(int, match.groups())
    if count < 1:
        raise ValueError(f"{text!r}: N, the number of shards, must be at least 1")
    if index >= count:
        raise ValueError(f"there is no shard {text}: K counts from 0 to N-1 (0/{count} to {count - 1}/{count}), "
                         "as SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX do")
    return Shard(index, count)


def submission_key(submission: Submission) -> Key:
    return (submission.assignment or "?", submission.student)  # grading records no assignment as "?"


def result_key(result: SubmissionResult) -> Key:
    return (result.assignment, result.student)


def _digest(key: Key) -> str:
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def deal(keys: Iterable[Key], count: int) -> dict[Key, int]:
    """The shard of each submission when the class is dealt into ``count`` shards."""
    order = sorted(set(keys), key=lambda key: (key[0], _digest(key)))
    return {key: position % count for position, key in enumerate(order)}


def select(submissions: Sequence[Submission], shard: Shard) -> list[Submission]:
    """The submissions of one shard, in the order given."""
    dealt = deal(map(submission_key, submissions), shard.count)
    return [s for s in submissions if dealt[submission_key(s)] == shard.index]


def class_record(keys: Iterable[Key]) -> dict:
    """What tells one class from another: how many submissions, and a SHA-256 of them all."""
    everyone = sorted(set(keys))
    return {"submissions": len(everyone), "sha256": hashlib.sha256(json.dumps(everyone).encode()).hexdigest()}


def shard_record(shard: Shard, everyone: Sequence[Submission], *, seed: int, questions: set[str] | None, public_only: bool,
                 graders: dict[str, str], libraries: Mapping[str, str | None] | None = None) -> dict:
    """What a shard's results.json records: which shard, of which class, graded how and on what.

    ``graders``: each assignment's ``Assignment.fingerprint``; ``libraries``: the Python and library
    versions it was graded with (``environment.versions()``; default: read now).
    """
    return {
        "index": shard.index,
        "count": shard.count,
        "class": class_record(map(submission_key, everyone)),
        "graded_with": {"seed": seed, "questions": sorted(questions) if questions is not None else None, "public_only": public_only,
                        "graders": graders},
        "environment": dict(versions() if libraries is None else libraries),
    }


# --------------------------------------------------------------------------- merge
class MergeError(Exception):
    """The shards cannot be merged; the message says why."""


@dataclasses.dataclass(frozen=True)
class ShardFile:
    """One shard's results.json, read."""

    path: Path
    shard: Shard
    whole: dict
    """the class it was dealt from, as ``class_record`` describes it"""
    settings: dict
    environment: dict
    """the Python and library versions it was graded with (empty: recorded before they were)"""
    results: list[SubmissionResult]


def read_shard(path: Path) -> ShardFile:
    try:
        results, record = read_json_shard(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # not there, not JSON, not results
        raise MergeError(f"cannot read {path}: {exc}") from None
    if record is None:
        raise MergeError(f"{path} is not a shard: it was graded without --shard")
    try:
        shard = parse_shard(f"{record['index']}/{record['count']}")
        whole = {"submissions": int(record["class"]["submissions"]), "sha256": str(record["class"]["sha256"])}
        settings = {key: record["graded_with"][key] for key in ("seed", "questions", "public_only")}
        settings["graders"] = record["graded_with"].get("graders")  # None: recorded before graders were
        environment = dict(record.get("environment", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise MergeError(f"{path}: its shard record is damaged ({exc})") from None
    return ShardFile(Path(path), shard, whole, settings, environment, results)


def merge(files: Sequence[ShardFile]) -> list[SubmissionResult]:
    """The whole class's results from all its shards, by assignment and student; MergeError when they
    are not exactly the shards of one class graded one way."""
    if not files:
        raise MergeError("no shards to merge")
    _refuse_differences(files, "are of different classes", lambda f: f"a class of {f.whole['submissions']} submission(s), fingerprint {f.whole['sha256'][:12]}")
    _refuse_differences(files, "were graded with different settings", _describe_settings)
    _refuse_differences(files, "were graded with different graders (or reference notebooks)", _describe_graders)
    _refuse_other_libraries(files)
    _refuse_differences(files, "split the class differently", lambda f: f"{f.shard.count} shards")
    _refuse_overlaps(files)
    _refuse_missing(files)
    owner = _owners(files)
    _refuse_misplaced(owner, files[0].shard.count)
    return sorted((result for file in files for result in file.results), key=result_key)


def _refuse_differences(files: Sequence[ShardFile], what: str, describe: Callable[[ShardFile], str]) -> None:
    groups: dict[str, list[str]] = {}
    for file in files:
        groups.setdefault(describe(file), []).append(str(file.path))
    if len(groups) > 1:
        raise MergeError(f"the shards {what}:\n" + "\n".join(f"  {', '.join(paths)}: {described}" for described, paths in groups.items()))


def _describe_settings(file: ShardFile) -> str:
    questions = file.settings["questions"]
    return (f"seed {file.settings['seed']}, " + (f"questions {', '.join(questions)}" if questions is not None else "every question")
            + (", public checks only" if file.settings["public_only"] else ", public and hidden checks"))


def _describe_graders(file: ShardFile) -> str:
    graders = file.settings["graders"]
    if graders is None:
        return "graders not recorded"
    return ", ".join(f"{assignment} {fingerprint[:12]}" for assignment, fingerprint in sorted(graders.items())) or "no assignment"


def _refuse_other_libraries(files: Sequence[ShardFile]) -> None:
    """Refuse shards graded on another torch or numpy major.minor version (another patch is fine)."""
    def on(file: ShardFile) -> str:
        return " and ".join(f"{name} {file.environment.get(name) or '(not recorded)'}" for name in GRADE_CHANGING)

    if len({tuple(series(file.environment.get(name)) for name in GRADE_CHANGING) for file in files}) > 1:
        raise MergeError("the shards were graded on different torch or numpy versions, which can change results: "
                         + ", ".join(f"{file.path} on {on(file)}" for file in files)
                         + "; grade every shard on one install")


def _refuse_overlaps(files: Sequence[ShardFile]) -> None:
    by_shard: dict[Shard, list[str]] = {}
    for file in sorted(files, key=lambda f: f.shard.index):
        by_shard.setdefault(file.shard, []).append(str(file.path))
    twice = [f"shard {shard} is given {len(paths)} times: {', '.join(paths)}" for shard, paths in by_shard.items() if len(paths) > 1]
    if twice:
        raise MergeError("overlapping shards:\n  " + "\n  ".join(twice))


def _refuse_missing(files: Sequence[ShardFile]) -> None:
    count = files[0].shard.count
    missing = sorted(set(range(count)) - {file.shard.index for file in files})
    if missing:
        raise MergeError(f"missing shard(s) {', '.join(f'{k}/{count}' for k in missing)}: "
                         f"grade them with `d2lgrade autograde ... --shard K/{count}` and merge again")


def _owners(files: Sequence[ShardFile]) -> dict[Key, ShardFile]:
    """The shard file each submission's result is in, when that is every submission of the class once."""
    owner: dict[Key, ShardFile] = {}
    twice = []
    for file in files:
        for key in map(result_key, file.results):
            if key in owner:
                twice.append(f"{key[1]} ({key[0]}) is in both {owner[key].path} and {file.path}")
            owner.setdefault(key, file)
    if twice:
        raise MergeError("the shards overlap:\n  " + "\n  ".join(twice))
    whole = files[0].whole
    if class_record(owner) != whole:
        raise MergeError(f"the shards hold {len(owner)} submission(s), not the {whole['submissions']} of the class they were dealt from: "
                         "was a results.json edited, or taken from another run?")
    return owner


def _refuse_misplaced(owner: dict[Key, ShardFile], count: int) -> None:
    dealt = deal(owner, count)
    misplaced = [f"{key[1]} ({key[0]}) is in {file.path}, shard {file.shard}, but is dealt to shard {dealt[key]}/{count}"
                 for key, file in owner.items() if dealt[key] != file.shard.index]
    if misplaced:
        raise MergeError("results in the wrong shard (was a results.json edited?):\n  " + "\n  ".join(misplaced))


def merge_into(paths: Sequence[Path], out: Path) -> tuple[list[SubmissionResult], list[Path]]:
    """Merge the shards' results.json files and write every export into ``out``: the results and the paths written."""
    target = (Path(out) / "results.json").resolve()
    for path in paths:
        if Path(path).resolve() == target:
            raise MergeError(f"merging into {out} would overwrite the shard {path}: merge into another folder")
    results = merge([read_shard(path) for path in paths])
    return results, write_all(results, out)
