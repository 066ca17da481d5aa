"""Rules read from a submission's source with ``ast``, in the grading process, never by running it.

A rule looks at a function's own ``def`` and, transitively, every top-level
function of the notebook that it calls by name, so that moving the forbidden
call into a helper does not hide it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from d2lgrade.checks import fail

__all__ = ["called_names", "expect_calls", "expect_loop", "expect_no_calls", "expect_no_loop", "reachable"]

#: Calls that hide which function is really called.
OBFUSCATION = frozenset({"eval", "exec", "getattr", "__import__", "import_module", "compile", "globals", "vars"})


def reachable(name: str, definitions: Mapping[str, ast.AST]) -> list[ast.AST]:
    """The definition of ``name`` and of every top-level function it calls, transitively."""
    seen, order, queue = set(), [], [name]
    while queue:
        current = queue.pop()
        if current in seen or current not in definitions:
            continue
        seen.add(current)
        order.append(definitions[current])
        queue.extend(n.id for n in ast.walk(definitions[current]) if isinstance(n, ast.Name) and n.id in definitions)
    return order


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def called_names(nodes: Iterable[ast.AST]) -> set[str]:
    """Names of what the code calls, imports or reaches by attribute: both
    ``torch.linalg.lstsq`` and ``lstsq``. Plain variables are not included,
    so a variable called ``inv`` is not mistaken for a matrix inverse."""
    names: set[str] = set()
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
                if dotted := _dotted(node):
                    names.add(dotted)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update(alias.name for alias in node.names)
                names.update(alias.name.rsplit(".", 1)[-1] for alias in node.names)
                if isinstance(node, ast.ImportFrom) and node.module:
                    names.update((node.module, node.module.rsplit(".", 1)[-1]))
    return names


def _definition(student, name: str) -> list[ast.AST]:
    __tracebackhide__ = True
    nodes = reachable(name, student.definitions())
    if not nodes:
        fail(f"Could not find `{name}` defined at the top level of your notebook, so its rules cannot be checked; define it with def.")
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
    return any(isinstance(n, (ast.For, ast.While, ast.comprehension)) for root in nodes for n in ast.walk(root))


def expect_loop(student, name: str, hint: str) -> None:
    __tracebackhide__ = True
    if not _loops(_definition(student, name)):
        fail(f"`{name}` has no Python loop. {hint}")


def expect_no_loop(student, name: str, hint: str) -> None:
    __tracebackhide__ = True
    if _loops(_definition(student, name)):
        fail(f"`{name}` uses a Python loop. {hint}")
