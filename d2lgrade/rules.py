"""Rules on how a submission computes, not what: read from its source, or seen while it runs.

A source rule reads the submission with ``ast``, in the grading process,
never by running it. It looks at a function's own ``def`` and, transitively,
every top-level function of the notebook that it calls by name, so that
moving the forbidden call into a helper does not hide it.

A run-time rule reads what the student's process reported about one call
made with ``student.call(..., observe=True)`` (``d2lgrade.observe``): which
functions it reached, however they were named, whether its backward passes
were used to learn, how often its own loops ran. The report is a claim from
untrusted code, so these rules only ever take points away; the source rules
stay as well.

The loop rules (``expect_loop``, ``expect_no_loop``, ``expect_loop_over_elements``,
``expect_vectorized``) raise ``RuleBroken``: a dead loop, a loop over nothing or a loop
beside the vectorised answer gets right answers everywhere else, so breaking the rule
costs the whole question (the grading plugin fails every test of it), as a copy of d2l does.

``expect_gradients_flow`` runs a backward pass through a function's result on
the student's side: a result with the right values but no graph behind it
(``.detach()``, ``.data``, ``.item()``, a numpy round trip) fails on its own
question, not only in the training that needs its gradient.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping

import pytest
import torch

from d2lgrade.checks import describe, expect, expect_close, fail
from d2lgrade.notebook import dotted, nodes_of, reachable
from d2lgrade.wire import Code

__all__ = [
    "RuleBroken",
    "called_names",
    "expect_calls",
    "expect_gradients_flow",
    "expect_learns_with_autograd",
    "expect_loop",
    "expect_loop_over_elements",
    "expect_no_calls",
    "expect_no_calls_at_run_time",
    "expect_no_loop",
    "expect_vectorized",
    "reachable",
    "run_time_words",
]

#: Backward passes that an optimisation step must have used before a call counts as learning with
#: autograd: L-BFGS on a well-scaled problem can be done after three or four.
MIN_LEARNING_STEPS = 2

#: Torch functions that may see a whole tensor in a loop that adds one element at a time: they read its
#: size, layout or elements, copy or convert it, or build an empty one like it, but compute nothing with it.
ELEMENT_ACCESS = frozenset({
    "__getitem__", "__setitem__", "__len__", "__iter__", "__format__", "__repr__", "__array__", "unbind", "dim", "ndim",
    "shape", "size", "numel", "element_size", "device", "dtype", "layout", "is_cuda", "requires_grad", "is_floating_point",
    "is_contiguous", "tolist", "numpy", "item", "cpu", "cuda", "to", "detach", "clone", "contiguous", "reshape", "view",
    "flatten", "data", "zeros_like", "empty_like", "ones_like", "full_like", "new_zeros", "new_empty", "new_full", "new_tensor",
    "result_type", "is_tensor", "is_complex", "get_device",
})

class RuleBroken(pytest.fail.Exception):
    """``function`` broke a rule of how it must compute: its question earns nothing, however right its answers."""

    def __init__(self, function: str, message: str) -> None:
        super().__init__(f"{message} Until `{function}` follows this rule, its question earns no points, "
                         "even for right answers.", pytrace=False)
        self.function = function


def _broke(name: str, message: str) -> None:
    __tracebackhide__ = True
    raise RuleBroken(name, message)


#: Calls that hide which function is really called.
OBFUSCATION = frozenset({"eval", "exec", "getattr", "__import__", "import_module", "compile", "globals", "vars"})


def called_names(nodes: Iterable[ast.AST]) -> set[str]:
    """Names of what the code calls, imports or reaches by attribute: both
    ``torch.linalg.lstsq`` and ``lstsq``. Plain variables are not included,
    so a variable called ``inv`` is not mistaken for a matrix inverse."""
    names: set[str] = set()
    for root in nodes:
        for node in nodes_of(root):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
                if path := dotted(node):
                    names.add(path)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update(alias.name for alias in node.names)
                names.update(alias.name.rsplit(".", 1)[-1] for alias in node.names)
                if isinstance(node, ast.ImportFrom) and node.module:
                    names.update((node.module, node.module.rsplit(".", 1)[-1]))
    return names


def _definition(student, name: str, *, costs_question: bool = False) -> list[ast.AST]:
    """``name``'s def and the helpers it reaches; with ``costs_question``, a rule that cannot be checked
    (``add_loop = _helper``) costs the whole question, as the rule broken would."""
    __tracebackhide__ = True
    nodes = reachable(name, student.definitions())
    if not nodes:
        (functools.partial(_broke, name) if costs_question else fail)(f"Could not find `{name}` defined at the top level of your notebook, so its rules cannot be checked; define it with def.")
    return nodes


def expect_no_calls(student, name: str, forbidden: Iterable[str], hint: str) -> None:
    """``name`` (and the helpers it calls) must use none of ``forbidden`` nor obfuscated calls."""
    __tracebackhide__ = True
    used = called_names(_definition(student, name))
    bad = sorted(used & (set(forbidden) | OBFUSCATION))
    if bad:
        fail(f"`{name}` uses {', '.join(bad)}, which this exercise does not allow. {hint}")


def expect_calls(student, name: str, any_of: Iterable[str], hint: str) -> None:
    """``name`` (or a helper it calls) must use at least one of ``any_of``."""
    __tracebackhide__ = True
    if not called_names(_definition(student, name)) & set(any_of):
        fail(f"`{name}` does not use {' or '.join(sorted(any_of))}. {hint}")


def _loops(nodes: Iterable[ast.AST]) -> bool:
    return any(isinstance(n, (ast.For, ast.While, ast.comprehension)) for root in nodes for n in nodes_of(root))


def expect_loop(student, name: str, hint: str) -> None:
    __tracebackhide__ = True
    if not _loops(_definition(student, name, costs_question=True)):
        _broke(name, f"`{name}` has no Python loop. {hint}")


def expect_no_loop(student, name: str, hint: str) -> None:
    __tracebackhide__ = True
    if _loops(_definition(student, name, costs_question=True)):
        _broke(name, f"`{name}` uses a Python loop. {hint}")


# --------------------------------------------------------------------------- rules seen at run time


def run_time_words(name: str) -> set[str]:
    """What a forbidden word is matched against in a reported name such as ``aten.linalg_inv_ex``:
    each dotted prefix and part, and each part without a leading ``_``, torch's ``linalg_`` or ``_ex``."""
    parts = name.split(".")
    words = {".".join(parts[: end]) for end in range(1, len(parts) + 1)}
    for part in parts:
        words.update({part, part.removeprefix("_").removeprefix("linalg_").removesuffix("_ex")})
    return words


def _observation(outcome, name: str):
    __tracebackhide__ = True
    observed = outcome.observed
    if observed is None:
        raise ValueError(f"a run-time rule needs student.call({name!r}, ..., observe=True)")
    if observed.unavailable:  # the engine's failure, shown to staff as a grader error
        raise RuntimeError(f"the student's process could not observe `{name}`: {observed.unavailable}")
    if not observed.intact:
        fail(f"The grader could not watch `{name}` run to the end: something in it switched off or flooded "
             "the grader's observation (sys.setprofile, torch function modes). Leave those alone.")
    return observed


def _readable(name: str) -> str:
    """``name`` as a student would write it: ``numpy.linalg._linalg.lstsq`` is ``numpy.linalg.lstsq``."""
    *where, last = name.split(".")
    return ".".join([part for part in where if not part.startswith("_")] + [last])


def _shown(names: list[str], forbidden: set[str], most: int = 3) -> str:
    """A few of ``names``, readable; those a forbidden word names by themselves (``lstsq``, not just
    ``numpy.linalg``) if any, else the public ones if any."""
    named = [name for name in names if run_time_words(name.rsplit(".", 1)[-1]) & forbidden]
    public = [name for name in names if not name.rsplit(".", 1)[-1].startswith("_")]
    ordered = sorted({_readable(name) for name in named or public or names})
    more = f" and {len(ordered) - most} more" if len(ordered) > most else ""
    return ", ".join(ordered[:most]) + more


def expect_no_calls_at_run_time(outcome, name: str, forbidden: Iterable[str], hint: str) -> None:
    """The observed call of ``name`` reached none of ``forbidden`` (words, see ``run_time_words``)."""
    __tracebackhide__ = True
    observed, forbidden = _observation(outcome, name), set(forbidden)
    bad = sorted(called for called in observed.calls if run_time_words(called) & forbidden)
    if bad:
        fail(f"While it ran, `{name}` called {_shown(bad, forbidden)}, which this exercise does not allow "
             f"under any name. {hint}")


def _function_word(name: str) -> str:
    """``shape`` for ``torch.Tensor.shape.__get__``, ``add`` for ``torch.Tensor.add``."""
    parts = name.split(".")
    return parts[-2] if parts[-1] in ("__get__", "__set__") and len(parts) > 1 else parts[-1]


def expect_loop_over_elements(outcome, name: str, elements: int, hint: str) -> None:
    """The observed call of ``name`` on tensors of ``elements`` elements ran a line of its own code at least
    ``elements`` times, and gave no torch function a whole tensor to compute with (``ELEMENT_ACCESS`` aside)."""
    __tracebackhide__ = True
    observed = _observation(outcome, name)
    whole = sorted(called for called, width in observed.widest.items()
                   if width >= elements and _function_word(called) not in ELEMENT_ACCESS)
    if whole:
        _broke(name, f"While it ran, `{name}` computed with whole tensors at once ({_shown(whole, set())}), so its result "
             f"does not come from a loop over the elements. {hint}")
    if observed.line_runs < elements:
        runs = observed.line_runs
        _broke(name, f"For tensors of {elements} elements, no line of `{name}` ran more than {runs} time{'s' * (runs != 1)}: "
             f"its loop does not go over the elements one at a time. {hint}")


def expect_vectorized(outcome, name: str, elements: int, hint: str) -> None:
    """The observed call of ``name`` on tensors of ``elements`` elements gave a torch function a whole tensor to
    compute with (``ELEMENT_ACCESS`` aside), and ran no line of its own code ``elements`` times."""
    __tracebackhide__ = True
    observed = _observation(outcome, name)
    if observed.line_runs >= elements:
        _broke(name, f"For tensors of {elements} elements, a line of `{name}` ran {observed.line_runs} times: it loops over the "
             f"elements in Python. {hint}")
    if not any(width >= elements and _function_word(called) not in ELEMENT_ACCESS for called, width in observed.widest.items()):
        _broke(name, f"`{name}` never computed with a whole tensor at once: it works one element at a time. {hint}")


def expect_learns_with_autograd(
    outcome, name: str, hint: str, *, min_steps: int = MIN_LEARNING_STEPS
) -> None:
    """The observed call of ``name`` ran backward passes and updated what they differentiated."""
    __tracebackhide__ = True
    observed = _observation(outcome, name)
    passes, steps = observed.backward_passes, observed.learning_steps
    if passes == 0:
        fail(f"`{name}` ran without a single backward pass (loss.backward() or torch.autograd.grad), so it "
             f"did not learn with autograd. {hint}")
    ran = f"`{name}` ran {passes} backward pass{'es' * (passes != 1)}"
    if steps == 0:
        fail(f"{ran}, but what it differentiated never changed afterwards: no optimisation step used the "
             f"gradients. {hint}")
    if steps < min_steps:
        fail(f"{ran}, but the parameters changed after only {steps} of them: that is not learning by "
             f"gradient descent. {hint}")


# --------------------------------------------------------------------------- gradients

#: Calls the student's function on copies of its inputs that require grad, and differentiates the sum of
#: what it returns with respect to the inputs in ``wrt``.
GRADIENTS = """
import torch as _torch
_inputs = [value.detach().clone().requires_grad_(name in wrt) for name, value in inputs]
_result = {name}(*_inputs)
_targets = [tensor for (name, _), tensor in zip(inputs, _inputs) if name in wrt]
if isinstance(_result, _torch.Tensor) and _result.requires_grad:
    out = {{"grads": list(_torch.autograd.grad(_result.sum(), _targets, allow_unused=True))}}
else:
    out = {{"type": type(_result).__name__, "tensor": isinstance(_result, _torch.Tensor)}}
"""


def expect_gradients_flow(student, name: str, inputs: Mapping[str, torch.Tensor], gradients: Mapping[str, torch.Tensor],
                          hint: str) -> None:
    """``name(*inputs.values())`` summed and differentiated on the student's side gives ``gradients``
    (by input name): its result is built from its inputs by operations autograd can follow."""
    __tracebackhide__ = True
    wrt = list(gradients)
    call = f"`{name}({', '.join(inputs)})`"
    code = Code(GRADIENTS.format(name=name), result="out", inputs={"inputs": list(inputs.items()), "wrt": wrt})
    out = student.run(name, code)
    expect(isinstance(out, dict), f"Could not differentiate {call}: it gave {describe(out)}.", hint)
    if "grads" not in out:
        what = "a tensor that does not require grad" if out.get("tensor") else f"a {out.get('type', 'value')}, not a tensor"
        fail(f"{call} returned {what}, so no gradient reaches {' or '.join(wrt)}. {hint}")
    grads = out["grads"]
    expect(isinstance(grads, list) and len(grads) == len(wrt), f"Could not differentiate {call}.", hint)
    for input_name, grad in zip(wrt, grads):
        expect(grad is not None, f"The result of {call} does not depend on {input_name} for autograd: no gradient reaches it.", hint)
        expect_close(f"the gradient of sum({call[1:-1]}) with respect to {input_name}", grad, gradients[input_name],
                     hint="A gradient follows from the formula: once the values are right, it will be too.")
