"""d2l.torch loads lazily: in the zygote until grading asks, in the grading process until a grader uses it.

Most children never use d2l (the graded functions do not; the demonstrations do), so the zygote
starts without it and ``grade`` asks it to load d2l only before forking a child whose cells use it
(``slicing.uses_modules``). Scores must not depend on it: a child that uses d2l without the
zygote having loaded it loads it itself.
"""

from __future__ import annotations

import pytest
from test_zygote import call, run_cell, value

from d2lgrade.lazy import LAZY_MODULES
from d2lgrade.notebook import CodeCell
from d2lgrade.slicing import uses_modules
from d2lgrade.zygote import Zygote, ZygoteError

SETUP = "%matplotlib inline\nimport torch\nfrom d2l import torch as d2l"
PROBE = "import sys, types\ndef d2l_loaded():\n    return type(sys.modules['d2l.torch']) is types.ModuleType"

#: (cells, whether they use d2l.torch beyond importing it)
USES = {
    "the setup cell alone": ([SETUP, "def f(x):\n    return x + 1"], False),
    "a function calls d2l": ([SETUP, "def f(x):\n    return d2l.linreg(x, 1, 0)"], True),
    "a demonstration plots": ([SETUP, "d2l.plot([1, 2], [3, 4])"], True),
    "a name imported from it": (["from d2l.torch import Timer"], True),
    "the package imported": (["import d2l.torch", "d2l.torch.Timer()"], True),
    "an alias used": (["import d2l.torch as book", "book.Timer()"], True),
    "an alias never used": (["import d2l.torch as book", "x = 1"], False),
    "a star import": (["from d2l import *"], True),
    "the globals": ([SETUP, "globals()['d2l'].Timer()"], True),
    "a frame's globals": ([SETUP, "import sys\nsys._getframe().f_globals['d2l']"], True),
    "a cell that is not Python": ([SETUP, "def (:"], True),
    "another module only": (["import torch", "torch.ones(2)"], False),
}


@pytest.mark.parametrize("name", USES)
def test_uses_modules_tells_which_cells_need_d2l(name):
    sources, expected = USES[name]
    cells = [CodeCell(index, source) for index, source in enumerate(sources)]
    assert uses_modules(cells, LAZY_MODULES) is expected


def test_a_child_loads_d2l_itself_until_the_zygote_is_asked_to(spawn, zygote):
    before = spawn()
    run_cell(before, SETUP + "\n" + PROBE)
    assert value(call(before, "d2l_loaded")) is False, "the zygote loaded d2l before it was asked"
    assert run_cell(before, "timer = d2l.Timer()")["status"] == "ok"
    assert value(call(before, "d2l_loaded")) is True

    zygote.load(LAZY_MODULES)
    after = spawn()
    run_cell(after, SETUP + "\n" + PROBE)
    assert value(call(after, "d2l_loaded")) is True
    assert zygote.loaded == set(LAZY_MODULES)


def test_the_zygote_loads_nothing_else_on_request(zygote):
    with pytest.raises(ZygoteError, match="can be loaded"):
        zygote.load(("os",))
    assert isinstance(zygote, Zygote) and "os" not in zygote.loaded
