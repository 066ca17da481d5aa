"""Slicing a notebook: which cells grading runs, which it may skip, and why."""

import re
import time
from pathlib import Path

import pytest

from d2lgrade.notebook import CodeCell, code_cells, load_notebook
from d2lgrade.slicing import Slice, needed_cells

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ["linear_regression", "linreg_scratch", "linreg_concise"]


def sliced(sources: list[str], graded=("f",)) -> Slice:
    return needed_cells([CodeCell(index, source) for index, source in enumerate(sources)], graded)


def ran(sources: list[str], graded=("f",)) -> set[int]:
    result = sliced(sources, graded)
    assert sorted(result.run + result.skipped) == list(range(len(sources)))
    return set(result.run)


# Each case: the cells' sources, the graded names, and the cells that must run.
CASES = {
    "a demo cell calling train is skipped": (
        ["import torch", "def train(x):\n    return x + 1",
         "losses = train(torch.ones(3))\nprint(losses)"],
        ["train"], {0, 1},
    ),
    "a global read by the function runs, even defined after the def": (
        ["def f(x):\n    return x * lr", "lr = 0.1", "f(3)", "lr_demo = 5"], ["f"], {0, 1},
    ),
    "a global is needed through the functions the graded one calls": (
        ["def f():\n    return g()", "def g():\n    return scale", "scale = 2", "shift = 3"],
        ["f"], {0, 1, 2},
    ),
    "a list the function reads, changed by a method call": (
        ["history = []", "def f():\n    return len(history)", "history.append(1)",
         "other = []\nother.append(2)"],
        ["f"], {0, 1, 2},
    ),
    "any method call on a needed name counts": (
        ["net = make()", "def f():\n    return net", "net.apply(init)", "print(net)",
         "def make(): pass", "init = 0"],
        ["f"], {0, 1, 2, 4, 5},
    ),
    "attribute and item stores and augmented assignments change the object": (
        ["cfg = {}", "def f():\n    return cfg", "cfg['lr'] = 1", "cfg.extra = 2", "cfg |= {}",
         "x = 1\nx += 1"],
        ["f"], {0, 1, 2, 3, 4},
    ),
    "passing a needed object to a call may change it": (
        ["import random", "deck = [1, 2, 3]", "def f():\n    return deck[0]",
         "random.shuffle(deck)", "print(len(deck), deck)"],
        ["f"], {0, 1, 2, 3},
    ),
    "a change through an alias changes the needed object": (
        ["cfg = {'lr': 1}", "def f():\n    return cfg['lr']", "alias = cfg", "alias['lr'] = 2",
         "first = cfg['lr']", "unrelated = {}\nunrelated['lr'] = 3"],
        ["f"], {0, 1, 2, 3},
    ),
    "a call's result may be a global the notebook's function returns": (
        ["CACHE = []", "def get():\n    return CACHE", "def f():\n    return len(CACHE)",
         "get().append(1)", "c = get()\nc.append(2)", "d = f()\nprint(d)"],
        ["f"], {0, 1, 2, 3, 4},
    ),
    "calling a notebook function that changes a needed global": (
        ["seen = []", "def log(x):\n    seen.append(x)", "def f():\n    return len(seen)", "log(3)",
         "print(3)"],
        ["f"], {0, 1, 2, 3},
    ),
    "global inside a function binds the name": (
        ["def f():\n    return counter", "def setup():\n    global counter\n    counter = 1",
         "setup()", "def other():\n    counter = 2\n    return counter", "other()"],
        ["f"], {0, 1, 2},
    ),
    "a class whose base class is in another cell": (
        ["class Base:\n    pass", "class Model(Base):\n    pass", "m = Model()",
         "class Other:\n    pass"],
        ["Model"], {0, 1},
    ),
    "class keywords and methods' free variables are read": (
        ["class A(metaclass=Meta):\n    def m(self):\n        return SCALE * 2",
         "class Meta(type):\n    pass", "SCALE = 2", "a = A()\na.m()"],
        ["A"], {0, 1, 2},
    ),
    "a method does not see the class body's names": (
        ["class A:\n    k = 1\n    def m(self):\n        return k * 2", "k = 2",
         "A().m()"], ["A"], {0, 1},
    ),
    "an instance's method may return a global": (
        ["CACHE = []", "class Store:\n    def get(self):\n        return CACHE",
         "def f():\n    return len(CACHE)", "s = Store()\ns.get().append(1)", "t = Store()"],
        ["f"], {0, 1, 2, 3},
    ),
    "an instance may hold a global that its class stored": (
        ["CACHE = []", "class Holder:\n    def __init__(self):\n        self.items = CACHE",
         "def f():\n    return len(CACHE)", "h = Holder()\nh.items.append(1)", "g = 2"],
        ["f"], {0, 1, 2, 3},
    ),
    "a loop variable shares the objects it iterates over": (
        ["params = [[1]]", "def f():\n    return params", "for p in params:\n    p.clear()",
         "[q.append(0) for q in params]", "for r in range(3):\n    print(r)"],
        ["f"], {0, 1, 2, 3},
    ),
    "a method used as a decorator is a method call": (
        ["registry = []", "def f():\n    return registry", "@registry.append\ndef g():\n    pass",
         "@staticmethod\ndef h():\n    pass"],
        ["f"], {0, 1, 2},
    ),
    "decorators are read": (
        ["def deco(g):\n    return g", "@deco\ndef f():\n    return 1", "f()",
         "def undecorated(): pass"],
        ["f"], {0, 1},
    ),
    "default values and annotations are read": (
        ["SCALE = 2", "def f(x=SCALE, *, y: Kind = None) -> Out:\n    return x", "class Kind: pass",
         "Out = int", "f()", "SCALE_DEMO = 3"],
        ["f"], {0, 1, 2, 3},
    ),
    "a rebinding of a default's name later runs too": (
        ["SCALE = 2", "def f(x=SCALE):\n    return x", "SCALE = 3", "f()"], ["f"], {0, 1, 2},
    ),
    "a lambda assigned at top level": (
        ["k = 3", "f = lambda x: x * k", "g = lambda: 0", "f(2)", "x = 1"], ["f"], {0, 1},
    ),
    "a comprehension's variable is its own": (
        ["n = 3", "def f():\n    return [i * n for i in range(3)]", "i = 10", "f()"], ["f"], {0, 1},
    ),
    "a comprehension's first iterable is read outside it": (
        ["x = [1, 2]", "def f():\n    return [x for x in x]", "y = 3"], ["f"], {0, 1},
    ),
    "a walrus in a top-level comprehension binds the name": (
        ["def f():\n    return total", "total = 0", "[total := total + v for v in values]",
         "values = [1, 2]", "unused = [w for w in values]"],
        ["f"], {0, 1, 2, 3},
    ),
    "for, with and except targets bind": (
        ["def f():\n    return (a, b, e)", "for a in range(3):\n    pass",
         "with open('x') as b:\n    pass", "try:\n    pass\nexcept Exception as e:\n    pass",
         "for z in range(3):\n    pass"],
        ["f"], {0, 1, 2, 3},
    ),
    "tuple unpacking and star targets bind": (
        ["def f():\n    return p + q", "p, *q = [1, 2, 3]", "r, s = 1, 2"], ["f"], {0, 1},
    ),
    "nested functions and closures": (
        ["def f():\n    y = 1\n    def g():\n        return y + z\n    return g()", "y = 5",
         "z = 6"],
        ["f"], {0, 2},
    ),
    "nonlocal names are the enclosing function's": (
        ["def f():\n    count = 0\n    def bump():\n        nonlocal count\n        count += 1\n"
         "    bump()\n    return count", "count = 9"],
        ["f"], {0},
    ),
    "a parameter shadows a global": (
        ["def f(lr):\n    return lr", "lr = 3"], ["f"], {0},
    ),
    "a graded name defined twice: both run": (
        ["def f():\n    return 1", "print(f())", "def f():\n    return 2", "f()"], ["f"], {0, 2},
    ),
    "del of a needed name runs": (
        ["data = [1]", "def f():\n    return data", "del data", "other = 1\ndel other",
         "del data[0]"],
        ["f"], {0, 1, 2, 4},
    ),
    "set-up cells with imports always run": (
        ["import math", "from d2l import torch as d2l\nd2l.use_svg_display()",
         "def f():\n    return 1", "x = 1"],
        ["f"], {0, 1, 2},
    ),
    "an import inside a function body is not a set-up cell": (
        ["def helper():\n    import json\n    return json", "def f():\n    return 1"], ["f"], {1},
    ),
    "calls through a module are queries, setters are not": (
        ["import torch", "def f():\n    return torch.ones(1)", "x = torch.randn(3)\nprint(x.sum())",
         "torch.set_default_dtype(torch.float64)", "torch.manual_seed(0)", "torch.backends.flag = 1",
         "with torch.enable_grad():\n    y = torch.ones(1)",
         "z = torch.nn.functional.relu(torch.ones(2))"],
        ["f"], {0, 1, 3, 5},
    ),
    "rebinding a module name that a function uses runs": (
        ["import numpy as np", "def f():\n    return np.zeros(1)", "np = None", "x = np.ones(3)"],
        ["f"], {0, 1, 2, 3},
    ),
    "a module's attribute store": (
        ["import matplotlib", "def f():\n    return matplotlib.rcParams",
         "matplotlib.rcParams['x'] = 1", "rc = matplotlib.rcParams\nrc['y'] = 2",
         "matplotlib.pyplot.plot([1])"],
        ["f"], {0, 1, 2, 3},
    ),
    "a cell that fails to parse runs": (
        ["def f():\n    return 1", "def g(:\n    pass", "x = 1"], ["f"], {0, 1},
    ),
    "the words of a cell that fails to parse count as read": (
        ["def f():\n    return 1", "f(y +", "y = 2", "z = 3"], ["f"], {0, 1, 2},
    ),
    "a graded name nobody defines": (
        ["x = 1", "print(x)"], ["f"], set(),
    ),
}


@pytest.mark.parametrize("sources, graded, expected", CASES.values(), ids=CASES.keys())
def test_slices(sources, graded, expected):
    assert ran(sources, graded) == expected


DYNAMIC = [
    "%time x = 1",
    "%matplotlib inline",
    "!pip install torch",
    "files = !ls",
    "%%capture\nprint(1)",
    "len?",
    "globals()['x'] = 1",
    "exec('x = 1')",
    "eval('1')",
    "code = compile('x = 1', 'c', 'exec')",
    "locals()",
    "vars()['x'] = 1",
    "m = __import__('math')",
    "setattr(obj, 'x', 1)",
    "delattr(obj, 'x')",
    "from math import *",
    "import sys\nsys.modules['torch'] = None",
    "import sys as s\ns.modules['torch'] = None",
    "from sys import modules",
    "builtins.len = None",
    "__builtins__.len = None",
    "import __main__\n__main__.x = 1",
    "def g():\n    return g.__globals__",
    "import inspect\ninspect.currentframe().f_globals['x'] = 1",
    "get_ipython().run_line_magic('who', '')",
    "reset -f",
    "who",
    "xdel(x)",
]


def test_a_line_that_only_starts_like_a_magic_is_python():
    sources = ["import time", "def f():\n    return 1", "time.sleep(0)", "run = 1", "who_demo = 2"]
    assert ran(sources) == {0, 1}


@pytest.mark.parametrize("source", DYNAMIC)
def test_cells_that_may_touch_anything_run(source):
    result = sliced(["def f():\n    return 1", source, "y = 1"])
    assert result.run == (0, 1)
    assert result.reasons[1].startswith(("magic or shell line", "exec/globals: may touch anything"))


def test_a_dynamic_cell_inside_a_function_body_still_runs():
    assert ran(["def f():\n    return 1", "def g():\n    exec('x = 1')", "y = 1"]) == {0, 1}


def test_names_in_magic_and_exec_code_are_read():
    sources = ["def f():\n    return 1", "%time train(features)", "exec('print(lr)')", "features = 1",
               "lr = 2", "def train(x):\n    return x", "other = 3"]
    assert ran(sources) == {0, 1, 2, 3, 4, 5}


def test_a_with_statement_enters_its_object():
    sources = ["timer = Timer()", "def f():\n    return timer.times", "with timer:\n    pass",
               "class Timer:\n    times = []"]
    assert ran(sources) == {0, 1, 2, 3}


def test_reasons_say_why_each_cell_runs():
    result = sliced(
        ["%matplotlib inline\nimport torch", "def train(x):\n    return x * lr + sgd(x)",
         "lr = 0.1",
         "def sgd(x):\n    return buf", "buf = []", "buf.append(1)", "train(1)"],
        ["train"],
    )
    assert result.run == (0, 1, 2, 3, 4, 5)
    assert result.skipped == (6,)
    assert result.reasons == {
        0: "magic or shell line; imports torch",
        1: "defines train",
        2: "binds lr, read by train",
        3: "binds sgd, read by train",
        4: "binds buf, read by cell 3",
        5: "changes buf, read by cell 3",
    }
    assert sliced(["def f(:"]).reasons[0] == "could not be parsed"
    assert sliced(["exec('')"]).reasons[0] == "exec/globals: may touch anything (exec)"


def test_order_and_indexes_are_the_notebooks():
    cells = [CodeCell(7, "demo = f()"), CodeCell(3, "def f():\n    return k"), CodeCell(12, "k = 1")]
    result = needed_cells(cells, {"f"})
    assert result == Slice(run=(3, 12), skipped=(7,))


def test_an_empty_notebook():
    assert needed_cells([], {"f"}) == Slice(run=(), skipped=())


def test_a_deeply_nested_cell_runs():
    deep = "x = " + "[" * 3000 + "]" * 3000
    assert ran(["def f():\n    return 1", deep, "y = 1"]) == {0, 1}


# ------------------------------------------------------------------ the real notebooks


def _notebook(kind: str, assignment: str):
    """The code cells grading runs and the graded names (the solution cells' grade_ids)."""
    notebook = load_notebook(ROOT / kind / assignment / f"{assignment}.ipynb")
    graded = {
        cell.metadata["nbgrader"]["grade_id"]
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution", False)
    }
    return notebook, code_cells(notebook), graded


def _tags(notebook, index: int) -> list[str]:
    return notebook.cells[index].metadata.get("tags", [])


def _defines(source: str, names: set[str]) -> bool:
    match = re.match(r"(def|class) (\w+)", source)
    return match is not None and match[2] in names


@pytest.mark.parametrize("kind", ["solutions", "assignments"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_real_notebooks_run_set_up_and_graded_cells_and_skip_demos(kind, assignment):
    notebook, cells, graded = _notebook(kind, assignment)
    result = needed_cells(cells, graded)
    print(f"{kind}/{assignment}: skipped {result.skipped}")
    for cell in cells:
        if "setup" in _tags(notebook, cell.index) or _defines(cell.source, graded):
            assert cell.index in result.run, cell.source
    assert not any("check" in _tags(notebook, index) for index in result.run)
    assert len(result.skipped) >= 6


@pytest.mark.parametrize("kind", ["solutions", "assignments"])
def test_linreg_scratch_skips_the_sweep_and_the_training_runs(kind):
    notebook, cells, graded = _notebook(kind, "linreg_scratch")
    result = needed_cells(cells, graded)
    sweep = [cell.index for cell in cells if "lr_sweep(features, labels, [0.001" in cell.source]
    training = [cell.index for cell in cells if "train(features, labels" in cell.source
                and not _defines(cell.source, graded)]
    defining = [cell.index for cell in cells if _defines(cell.source, graded)]
    setup = [cell.index for cell in cells if "setup" in _tags(notebook, cell.index)]
    assert len(sweep) == 1 and len(training) == 2 and len(setup) == 1
    assert len(defining) == len(graded)
    assert set(sweep + training) <= set(result.skipped)
    assert set(defining + setup) <= set(result.run)
    assert all(result.reasons[index].startswith("defines ") for index in defining)


def test_slicing_is_fast():
    _, cells, graded = _notebook("solutions", "linreg_scratch")
    sources = [cell.source for cell in cells]
    many = [CodeCell(index, sources[index % len(sources)]) for index in range(90)]
    needed_cells(many, graded)  # IPython's transformer is imported on first use
    start = time.perf_counter()
    needed_cells(many, graded)
    assert time.perf_counter() - start < 0.5
