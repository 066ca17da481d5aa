"""Build the demo class in examples/submitted/ from the stub, the reference and the catalogues.

Run again after a notebook or catalogue change:
    .venv/bin/python examples/make_class.py
"""

from pathlib import Path

import nbformat

from d2lgrade.course import Course
from d2lgrade.fill import filled_stub

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "tests" / "catalogue"

# student -> (assignment, fill every answer with the reference?, catalogue cases or reference answers to put in)
CLASS = {
    "ada": ("linreg_scratch", True, []),
    "ben": ("linreg_scratch", False, ["synthetic_data", "data_iter", "init_params", "linreg", "squared_loss", "sgd", "train"]),
    "cleo": ("linreg_scratch", False, []),
    "dev": ("linreg_scratch", True, ["wrong/squared_loss_no_reshape", "wrong/sgd_no_batch_division"]),
    "eli": ("linreg_scratch", True, ["wrong/data_iter_no_shuffle", "wrong/fit_temperature_raw_units"]),
    "fay": ("linreg_scratch", True, ["correct/linreg_mm", "correct/data_iter_randperm", "correct/sgd_sub_", "wrong/second_derivative_returns_first"]),
}


def _answer(course: Course, assignment: str, item: str) -> tuple[str, str]:
    """(grade_id, source) of a catalogue case 'kind/name', or of the reference answer 'name'."""
    if "/" not in item:
        return item, course.assignment(assignment).solution_sources[item]
    text = (CATALOGUE / assignment / f"{item}.py").read_text(encoding="utf-8")
    question = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("# question:"))
    return question, text


def main() -> None:
    course = Course(ROOT)
    for student, (assignment, fill, items) in CLASS.items():
        notebook = filled_stub(course, assignment, dict(_answer(course, assignment, item) for item in items), fill=fill)
        target = ROOT / "examples" / "submitted" / student / assignment / f"{assignment}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
