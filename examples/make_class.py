"""Build the demo class in examples/submitted/ from the stub, the reference and the catalogues.

Run again after a notebook or catalogue change:
    .venv/bin/python examples/make_class.py
"""

from pathlib import Path

import nbformat

from d2lgrade.catalogue import find
from d2lgrade.course import Course
from d2lgrade.fill import filled_stub

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "tests" / "catalogue"

# student -> assignment -> (fill every answer with the reference?, catalogue cases or reference answers to put in)
BOOK_PART = ["synthetic_data", "data_iter", "init_params", "linreg", "squared_loss", "sgd", "train"]
CLASS = {
    "ada": {
        "linear_regression": (True, []),
        "linreg_scratch": (True, []),
        "linreg_concise": (True, []),
    },
    "ben": {
        "linear_regression": (True, ["correct/normal_torch_distributions", "correct/closed_form_normal_equations"]),
        "linreg_scratch": (False, BOOK_PART),
        "linreg_concise": (False, []),
    },
    "cleo": {
        "linreg_scratch": (False, []),
    },
    "dev": {
        "linear_regression": (True, ["wrong/best_constant_median", "wrong/laplace_nll_no_log2"]),
        "linreg_scratch": (True, ["wrong/squared_loss_no_reshape", "wrong/sgd_no_batch_division"]),
        "linreg_concise": (True, ["wrong/equivalent_lr_divides", "wrong/huber_torch_huberloss"]),
    },
    "eli": {
        "linreg_scratch": (True, ["wrong/data_iter_no_shuffle", "wrong/fit_temperature_raw_units"]),
        "linreg_concise": (True, ["wrong/load_array_never_shuffles", "correct/huber_functional_smooth_l1"]),
    },
    "fay": {
        "linear_regression": (True, ["wrong/add_vectorized_loops", "wrong/Timer_cumsum_returns_total"]),
        "linreg_scratch": (True, ["correct/linreg_mm", "correct/data_iter_randperm", "correct/sgd_sub_", "wrong/second_derivative_returns_first"]),
        "linreg_concise": (True, ["wrong/get_grads_weights", "correct/make_net_init_functions"]),
    },
}


def _answer(course: Course, assignment: str, item: str) -> tuple[str, str]:
    """(grade_id, source) of a catalogue case 'kind/name', or of the reference answer 'name'."""
    if "/" not in item:
        return item, course.assignment(assignment).solution_sources[item]
    case = find(CATALOGUE, assignment, *item.split("/"))
    return case.question, case.source


def main() -> None:
    course = Course(ROOT)
    for student, work in CLASS.items():
        for assignment, (fill, items) in work.items():
            notebook = filled_stub(course, assignment, dict(_answer(course, assignment, item) for item in items), fill=fill)
            target = ROOT / "examples" / "submitted" / student / assignment / f"{assignment}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, target)
            print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
