"""Which code cells grading needs to run: a conservative slice of a student's notebook.

Grading runs a submission's code cells, then calls its graded functions and classes. Most of the
time goes to demonstration cells (training runs, a learning-rate sweep, plots) whose results no
grader reads. ``needed_cells`` finds, from the cells' source alone, the cells whose effects a
graded name can see; the rest can be skipped. It is pure: no cell runs and nothing is written.

A cell runs when

* it imports something: set-up cells are cheap and their side effects (``%matplotlib inline``,
  ``d2l.use_svg_display()``) are global;
* it may touch anything: a shell or magic line (``!pip``, ``%time``, ``%%capture``, or a
  one-line cell that IPython runs as a magic as it starts with one's name: ``reset -f``),
  ``exec``, ``eval``, ``compile``, ``globals()``, ``locals()``, ``vars()``, ``__import__``,
  ``importlib``, ``setattr``, ``delattr``, ``from m import *``, ``sys.modules``, ``builtins``,
  ``__main__``, a frame's or a function's globals; or it cannot be parsed (the kernel's Python
  may be newer than ours), and then every word in it counts as read. Names in the code strings
  handed to magics and ``exec`` count as read too;
* it binds a needed name: a top-level ``def``, ``class``, assignment, ``import``, ``del``, a
  ``for``, ``with`` or ``except`` target, a walrus, or ``global`` in a function that assigns it;
* it may change the object a needed name holds: a method call on it (``x.append(...)``,
  ``net.apply(...)``: any method call counts), an attribute or item store (``x.a = 1``,
  ``x[0] = 1``), an augmented assignment, ``del x[0]``, passing it to a call
  (``random.shuffle(x)``; only a few builtins such as ``print`` and ``len`` are known to leave
  their arguments alone), entering it in a ``with``; through an alias (``y = x[0]``, then
  ``y.append(...)``: a call's result may share its arguments, its receiver and whatever globals
  the notebook's function returns); or by calling a notebook function whose body changes or
  rebinds (``global``) a needed global, directly or through the functions it calls.

The graded names are needed, and, transitively, every name a running cell reads: what its
top-level code reads and the free variables of its functions, lambdas and classes (names read in
bodies, defaults, decorators, base classes that are not local to them). A binding in any cell,
earlier or later, counts: a function reads its globals when it is called, after every cell ran.
The cells that run keep their order.

One refinement, or nearly every cell would run: a call through a name that only imports bind
(``torch.randn(...)``, ``d2l.plot(...)``, ``math.isfinite``) is read as a query of the module,
unless the attribute's name says that it changes state (``set_*``, ``use_*``, ``enable*``,
``register*``, ``append``, ``update``...) and no ``with`` undoes the change at its end
(``with torch.no_grad()``); a store into a module (``torch.x = 1``) always counts. Seeding
(``torch.manual_seed``) changes nothing that grading sees: the graders seed every generator before
each check, and skipping any cell that draws random numbers moves the generators anyway.

Why conservative: running a cell too many only costs time; skipping one that mattered is a wrong
grade, unless the engine's fallback (run every cell after a NameError, AttributeError or
ImportError) catches it. Wherever the analysis is unsure, the cell runs. What it cannot see:
a ``for`` loop that exhausts a global iterator, and what code outside the notebook (an imported
module) does with the objects it is handed beyond changing them.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence

from d2lgrade.notebook import CodeCell, nodes_of, parse_cell

__all__ = ["Slice", "needed_cells", "uses_modules"]


@dataclasses.dataclass(frozen=True)
class Slice:
    """The code cells grading runs and those it may skip, by ``CodeCell.index``, in order."""

    run: tuple[int, ...]
    skipped: tuple[int, ...]
    reasons: Mapping[int, str] = dataclasses.field(default_factory=dict, compare=False)
    """why each cell of ``run`` runs, such as ``"binds lr, read by train"``"""


#: Names whose use lets a cell read or rebind any global.
_DYNAMIC_NAMES = frozenset({
    "exec", "eval", "compile", "globals", "locals", "vars", "__import__", "importlib",
    "setattr", "delattr", "builtins", "__builtins__", "__main__", "get_ipython",
})
#: Attributes that reach a frame's or a function's globals.
_DYNAMIC_ATTRIBUTES = frozenset({
    "__globals__", "__builtins__", "f_globals", "f_locals", "_getframe", "currentframe",
})
#: Modules whose import is a way into the globals.
_DYNAMIC_MODULES = frozenset({"importlib", "builtins", "__main__"})
#: Calls through a module that change its state (``torch.set_default_dtype``).
_STATE_CHANGING = re.compile(
    r"(set|use|enable|disable|register|reset|install|patch|add_|__set|__del)\w*"
    r"|update|append|extend|insert|pop|popitem|remove|clear|discard|sort|reverse|apply"
    r"|filterwarnings|simplefilter"
)
#: Builtins that leave their arguments alone, unless a cell rebinds them.
_PURE_BUILTINS = frozenset({
    "print", "len", "isinstance", "issubclass", "type", "id", "repr", "str", "float", "int",
    "bool", "complex", "abs", "round", "hash", "format", "callable", "hasattr", "getattr",
    "range", "super",
})
#: Calls whose string arguments are code that reads names.
_CODE_RUNNERS = frozenset({"exec", "eval", "compile"})
_WORD = re.compile(r"[^\W\d]\w*")
_FIRST_WORD = re.compile(r"([^\W\d]\w*)(.*)", re.DOTALL)
#: Prefix of the name that stands for what a call returns: "()f" for ``f(...)``.
_RESULT = "()"


def needed_cells(cells: Sequence[CodeCell], graded: Collection[str]) -> Slice:
    """Which of ``cells`` grading must run so that the ``graded`` names behave as if all ran."""
    graded = frozenset(graded)
    facts = _read_cells(cells)
    changes = _changes_by_cell(facts)
    needed = dict.fromkeys(graded, "grading")  # name -> who reads it
    reasons: dict[int, str] = {}
    for fact in facts:
        if reason := _unconditional_reason(fact, graded):
            _run(fact, reason, reasons, needed, graded)
    grew = True
    while grew:
        grew = False
        for fact, changed in zip(facts, changes):
            if fact.index not in reasons and (reason := _reason_to_run(fact, changed, needed)):
                _run(fact, reason, reasons, needed, graded)
                grew = True
    run = tuple(cell.index for cell in cells if cell.index in reasons)
    skipped = tuple(cell.index for cell in cells if cell.index not in reasons)
    return Slice(run, skipped, {index: reasons[index] for index in run})


def uses_modules(cells: Sequence[CodeCell], modules: Collection[str]) -> bool:
    """Whether these cells use one of ``modules`` beyond importing it, or might: a name an import of
    it binds is read, a name is imported from it, a cell reaches the globals dynamically or is not
    Python. (A zygote that registered them lazily loads them first, once, when they do.)"""
    trees = [_parse(cell.source) for cell in cells]
    if any(tree is None for tree in trees):
        return True
    bound, read = set(), set()
    for node in (node for tree in trees for node in nodes_of(tree)):
        if isinstance(node, ast.Import):
            bound.update(alias.asname or alias.name.split(".")[0] for alias in node.names
                         if any(_within(module, alias.name) for module in modules))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if any(_within(node.module, module) for module in modules):
                return True  # importing a name from it runs it
            if any(alias.name == "*" for alias in node.names) and any(_within(m, node.module) for m in modules):
                return True
            bound.update(alias.asname or alias.name for alias in node.names
                         if any(_within(module, f"{node.module}.{alias.name}") for module in modules))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            read.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in _DYNAMIC_ATTRIBUTES:
            return True
    # not get_ipython: every setup cell's %matplotlib calls it; a magic that uses the module loads it itself
    return bool(read & (bound | _DYNAMIC_NAMES - {"get_ipython"}))


def _within(name: str, package: str) -> bool:
    """Whether module ``name`` is ``package`` or inside it."""
    return name == package or name.startswith(package + ".")


def _unconditional_reason(fact: _Facts, graded: frozenset[str]) -> str:
    """Why a cell runs whatever else is needed, or ''."""
    reasons = [fact.dynamic] if fact.dynamic else []
    defined = sorted(fact.binds & graded)
    if defined:
        reasons.append("defines " + ", ".join(defined))
    if fact.imports:
        reasons.append("imports " + ", ".join(dict.fromkeys(fact.imports)))
    return "; ".join(reasons)


def _reason_to_run(fact: _Facts, changed: set[str], needed: dict[str, str]) -> str:
    """Why a cell runs given the names needed so far, or ''."""
    for verb, names in (("binds", fact.binds), ("changes", changed)):
        hits = sorted(names & needed.keys())
        if hits:
            return f"{verb} {hits[0]}, read by {needed[hits[0]]}"
    return ""


def _run(fact: _Facts, reason: str, reasons: dict, needed: dict, graded: frozenset) -> None:
    """Keep a cell: what it reads is needed now."""
    reasons[fact.index] = reason
    reader = ", ".join(sorted(fact.binds & graded)) or f"cell {fact.index}"
    for name in fact.reads:
        needed.setdefault(name, reader)


# ------------------------------------------------------------------ across cells


def _changes_by_cell(facts: list[_Facts]) -> list[set[str]]:
    """For each cell, every name whose object running it may change: directly, through the
    notebook functions it may call, and through aliases."""
    binders: dict[str, list[_Facts]] = defaultdict(list)
    links: dict[str, set[str]] = defaultdict(set)  # name -> names it may share objects with
    for fact in facts:
        for name in fact.binds:
            binders[name].append(fact)
            links[_RESULT + name] |= fact.returns
        for name, roots in fact.aliases.items():
            links[name] |= roots
    calls = {name: set().union(*(f.reads for f in found)) for name, found in binders.items()}
    changes = []
    for fact in facts:
        called = _closure(fact.reads_now, calls)
        effects = [f.effects for name in called for f in binders.get(name, ())]
        changes.append(_closure(fact.changes.union(*effects), links))
    return changes


def _closure(names: Iterable[str], links: Mapping[str, Iterable[str]]) -> set[str]:
    """The names, and every name reachable from them through ``links``."""
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(links.get(name, ()))
    return found


# ------------------------------------------------------------------ one cell


@dataclasses.dataclass
class _Facts:
    """What running one cell may do, from its source."""

    index: int
    binds: set[str] = dataclasses.field(default_factory=set)
    reads: set[str] = dataclasses.field(default_factory=set)
    """every name read, while the cell runs or later, when its functions run"""
    reads_now: set[str] = dataclasses.field(default_factory=set)
    """names read while the cell runs: the functions it may call"""
    changes: set[str] = dataclasses.field(default_factory=set)
    """names whose objects change while it runs ("()f": what f returned)"""
    effects: set[str] = dataclasses.field(default_factory=set)
    """globals its functions change or rebind when they are called"""
    returns: set[str] = dataclasses.field(default_factory=set)
    """globals its functions may return"""
    aliases: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    """name -> names whose objects the name's value may share"""
    imports: list[str] = dataclasses.field(default_factory=list)
    dynamic: str = ""
    """why the cell may touch anything, or ''"""


@dataclasses.dataclass(frozen=True)
class _Context:
    """What reading one cell needs to know about the whole notebook."""

    modules: frozenset[str]
    """names that only imports bind: calls through them are queries"""
    pure_calls: frozenset[str]
    """builtins that leave their arguments alone, which no cell rebinds"""
    sys_names: frozenset[str]
    """the names the sys module is imported as"""


def _read_cells(cells: Sequence[CodeCell]) -> list[_Facts]:
    trees = [_parse(cell.source) for cell in cells]
    context = _context([tree for tree in trees if tree is not None])
    return [_read_cell(cell, tree, context) for cell, tree in zip(cells, trees)]


def _parse(source: str) -> ast.Module | None:
    """The cell as Python, IPython's syntax turned into calls (a one-line magic without its %
    too); None if it is neither."""
    if magic := _automagic(source):
        return ast.parse(magic)
    return parse_cell(source)


def _automagic(source: str) -> str:
    """The magic call IPython makes of a one-line cell that starts with a line magic's name,
    such as ``reset -f`` or ``who``, though it parses as Python; else ''. (IPython does so
    when no variable shadows the name; this does so always, to be safe.)"""
    match = _FIRST_WORD.fullmatch(source.strip())
    if not match or "\n" in source.strip() or re.match(r"\s*(\.|=(?!=))", match[2]):
        return ""
    if match[1] not in _line_magics():
        return ""
    return f"get_ipython().run_line_magic({match[1]!r}, {match[2].strip()!r})"


@functools.cache
def _line_magics() -> frozenset[str]:
    """The names of IPython's own line magics."""
    import IPython.core.magics

    classes = [getattr(IPython.core.magics, name) for name in dir(IPython.core.magics)]
    tables = [getattr(cls, "magics", None) for cls in classes]
    lines = [table.get("line", ()) for table in tables if isinstance(table, dict)]
    return frozenset(name for names in lines for name in names)


def _read_cell(cell: CodeCell, tree: ast.Module | None, context: _Context) -> _Facts:
    why = "could not be parsed"
    if tree is not None:
        reader = _CellReader(context)
        try:
            reader.visit(tree)
            return reader.facts(cell.index)
        except RecursionError:
            why = "too deeply nested to read"
    words = set(_WORD.findall(cell.source))
    return _Facts(cell.index, reads=words, reads_now=words, dynamic=why)


def _context(trees: list[ast.Module]) -> _Context:
    imported, other, sys_names = set(), set(), {"sys"}
    for tree in trees:
        for node in nodes_of(tree):
            kind = type(node)
            if kind is ast.Name:  # the commonest node first
                if not isinstance(node.ctx, ast.Load):
                    other.add(node.id)
            elif kind is ast.Import or kind is ast.ImportFrom:
                for alias in node.names:
                    imported.add(alias.asname or alias.name.split(".")[0])
                    if kind is ast.Import and alias.name == "sys" and alias.asname:
                        sys_names.add(alias.asname)
            elif kind in _BINDING_NODES:
                other.update(_names_bound_by(node))
    bound = imported | other
    return _Context(frozenset(imported - other), _PURE_BUILTINS - bound, frozenset(sys_names))


_BINDING_NODES = frozenset({
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.arg, ast.Global, ast.Nonlocal,
    ast.ExceptHandler, ast.MatchAs, ast.MatchStar, ast.MatchMapping,
})


def _names_bound_by(node: ast.AST) -> list[str]:
    """The names a node of ``_BINDING_NODES`` binds, in any scope."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return node.names
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return [node.name] if node.name else []
    if isinstance(node, ast.MatchMapping):
        return [node.rest] if node.rest else []
    return []


class _Scope:
    """The names one module, function, class or comprehension body reads, binds and changes."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "module", "function", "class" or "comprehension"
        self.stores: set[str] = set()
        self.parameters: set[str] = set()
        self.global_names: set[str] = set()
        self.nonlocal_names: set[str] = set()
        self.loads: set[str] = set()  # read when the body runs
        self.later_loads: set[str] = set()  # read when functions defined in it run
        self.changes: set[str] = set()
        self.effects: set[str] = set()  # changed when functions defined in it run
        self.returns: set[str] = set()
        self.aliases: dict[str, set[str]] = {}

    def is_local(self, name: str) -> bool:
        name = name.removeprefix(_RESULT)
        if self.kind not in ("function", "comprehension") or name in self.global_names:
            return False
        return name in self.stores or name in self.nonlocal_names


class _CellReader(ast.NodeVisitor):
    """Walks one cell's syntax tree, scope by scope, collecting its ``_Facts``."""

    def __init__(self, context: _Context) -> None:
        self.context = context
        self.module = _Scope("module")
        self.scopes = [self.module]
        self.binds: set[str] = set()
        self.global_binds: set[str] = set()  # rebound by functions through ``global``
        self.imports: list[str] = []
        self.dynamic = ""
        self.scoped_calls: set[int] = set()  # calls whose state change a ``with`` undoes

    def facts(self, index: int) -> _Facts:
        module = self.module
        return _Facts(
            index, binds=self.binds, reads=module.loads | module.later_loads,
            reads_now=module.loads, changes=module.changes,
            effects=module.effects | self.global_binds, returns=module.returns,
            aliases=module.aliases, imports=self.imports, dynamic=self.dynamic,
        )

    @property
    def scope(self) -> _Scope:
        return self.scopes[-1]

    # -------------------------------------------------------------- scopes

    def _enter(self, kind: str) -> None:
        self.scopes.append(_Scope(kind))

    def _enter_function(self, arguments: ast.arguments) -> None:
        self._enter("function")
        self.scope.parameters = {parameter.arg for parameter in _parameters(arguments)}
        self.scope.stores.update(self.scope.parameters)

    def _leave(self) -> None:
        """Hand what a finished scope does to non-local names on to its parent: a function's
        reads and changes happen later, when it is called; a class's or a comprehension's now."""
        scope = self.scopes.pop()
        parent, later = self.scope, scope.kind == "function"

        def free(names: Iterable[str]) -> set[str]:
            return {name for name in names if not scope.is_local(name)}

        def free_through_aliases(names: set[str]) -> set[str]:
            return free(_closure(names, scope.aliases))

        (parent.later_loads if later else parent.loads).update(free(scope.loads))
        parent.later_loads.update(free(scope.later_loads))
        (parent.effects if later else parent.changes).update(free_through_aliases(scope.changes))
        parent.effects.update(free_through_aliases(scope.effects))
        # what it returns, or stores in its arguments' objects (``self.items = CACHE``)
        stored = [scope.aliases.get(name, ()) for name in scope.parameters]
        handed_out = scope.returns.union(*stored)
        parent.returns.update(free_through_aliases(handed_out))

    def _store(self, name: str, roots: Iterable[str] = (), scope: _Scope | None = None) -> None:
        scope = scope or self.scope
        if scope is self.module or name in scope.global_names:
            self.binds.add(name)
            if scope is not self.module:
                self.global_binds.add(name)
            scope = self.module
        scope.stores.add(name)
        if roots:
            scope.aliases.setdefault(name, set()).update(roots)

    def _bind(self, target: ast.expr, roots: set[str]) -> None:
        """Assign to ``target`` a value that may share the objects of ``roots``."""
        if isinstance(target, ast.Name):
            self._store(target.id, roots)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._bind(element, roots)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, roots)
        else:  # an attribute or an item: the object it belongs to changes
            self.visit(target)
            root = _chain_root(target)
            if root:
                self.scope.changes.add(root)
                self.scope.aliases.setdefault(root, set()).update(roots)

    def _flag(self, what: str) -> None:
        if not self.dynamic and what == "get_ipython":
            self.dynamic = "magic or shell line"
        elif not self.dynamic:
            self.dynamic = f"exec/globals: may touch anything ({what})"

    # -------------------------------------------------------------- definitions

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        returns = [node.returns] if node.returns else []
        self._decorate(node.decorator_list)
        for expression in [*_defaults(node.args), *returns]:
            self.visit(expression)
        for parameter in _parameters(node.args):
            if parameter.annotation:
                self.visit(parameter.annotation)
        self._store(node.name)
        self._enter_function(node.args)
        for statement in node.body:
            self.visit(statement)
        self._leave()

    visit_AsyncFunctionDef = visit_FunctionDef

    def _decorate(self, decorators: list[ast.expr]) -> None:
        """Decorators are called: ``@registry.add`` is a method call on registry."""
        for decorator in decorators:
            self.visit(decorator)
            if isinstance(decorator, (ast.Attribute, ast.Subscript)):
                self._method_call(decorator, scoped=False)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in _defaults(node.args):
            self.visit(default)
        self._enter_function(node.args)
        self.scope.returns.update(self._roots(node.body))
        self.visit(node.body)
        self._leave()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        keywords = [keyword.value for keyword in node.keywords]
        self._decorate(node.decorator_list)
        for expression in [*node.bases, *keywords]:
            self.visit(expression)
        self._enter("class")
        for statement in node.body:
            self.visit(statement)
        self._leave()
        self._store(node.name)

    def _visit_comprehension(self, node: ast.expr, *results: ast.expr) -> None:
        generators = node.generators  # type: ignore[attr-defined]
        self.visit(generators[0].iter)  # evaluated in the enclosing scope
        self._enter("comprehension")
        for number, generator in enumerate(generators):
            if number:
                self.visit(generator.iter)
            self._bind(generator.target, self._roots(generator.iter))
            for condition in generator.ifs:
                self.visit(condition)
        for result in results:
            self.visit(result)
        self._leave()

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        self._visit_comprehension(node, node.elt)

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._visit_comprehension(node, node.key, node.value)

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.global_names.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.scope.nonlocal_names.update(node.names)

    # -------------------------------------------------------------- imports

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(alias.name)
            self._imported(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._check_module(module)
        for alias in node.names:
            if alias.name == "*":
                self._flag(f"from {module} import *")
                continue
            if alias.name in _DYNAMIC_NAMES | _DYNAMIC_ATTRIBUTES:
                self._flag(alias.name)
            elif module == "sys" and alias.name == "modules":
                self._flag("sys.modules")
            self._imported(alias.asname or alias.name)

    def _check_module(self, module: str) -> None:
        if module.split(".")[0] in _DYNAMIC_MODULES:
            self._flag(module)

    def _imported(self, name: str) -> None:
        self._store(name)
        if all(scope.kind != "function" for scope in self.scopes):  # it runs with the cell
            self.imports.append(name)

    # -------------------------------------------------------------- bindings

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        roots = self._roots(node.value)
        for target in node.targets:
            self._bind(target, roots)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.annotation)
        roots = set()
        if node.value:
            self.visit(node.value)
            roots = self._roots(node.value)
        self._bind(node.target, roots)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):  # rebound, and maybe changed in place
            self.scope.loads.add(node.target.id)
            self.scope.changes.add(node.target.id)
        self._bind(node.target, self._roots(node.value))

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        scope = next(scope for scope in reversed(self.scopes) if scope.kind != "comprehension")
        self._store(node.target.id, self._roots(node.value), scope)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._bind(target, set())

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self._bind(node.target, self._roots(node.iter))
        for statement in [*node.body, *node.orelse]:
            self.visit(statement)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.scoped_calls.add(id(item.context_expr))
            self.visit(item.context_expr)
            root = _chain_root(item.context_expr)  # entering it may change it (a timer)
            if root and root not in self.context.modules:
                self.scope.changes.add(root)
            if item.optional_vars:
                self._bind(item.optional_vars, self._roots(item.context_expr))
        for statement in node.body:
            self.visit(statement)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._store(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs | ast.MatchStar) -> None:
        if node.name:
            self._store(node.name)
        self.generic_visit(node)

    visit_MatchStar = visit_MatchAs

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self._store(node.rest)
        self.generic_visit(node)

    # -------------------------------------------------------------- expressions

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in _DYNAMIC_NAMES:
            self._flag(node.id)
        if isinstance(node.ctx, ast.Load):
            self.scope.loads.add(node.id)
        else:
            self._store(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _DYNAMIC_ATTRIBUTES:
            self._flag(node.attr)
        value = node.value
        if node.attr == "modules" and isinstance(value, ast.Name):
            if value.id in self.context.sys_names:
                self._flag("sys.modules")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func, arguments = node.func, _arguments(node)
        if isinstance(func, (ast.Attribute, ast.Subscript)):
            self._method_call(func, scoped=id(node) in self.scoped_calls)
        if not (isinstance(func, ast.Name) and func.id in self.context.pure_calls):
            for argument in arguments:
                self.scope.changes.update(self._roots(argument) - self.context.modules)
        if _runs_code(func):
            for argument in arguments:
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    self.scope.loads.update(_WORD.findall(argument.value))
        self.generic_visit(node)

    def _method_call(self, func: ast.Attribute | ast.Subscript, scoped: bool) -> None:
        """A method call may change its receiver; a call through a module only when its name
        says so and no ``with`` undoes it (``with torch.no_grad()``)."""
        receivers = self._roots(func)
        if scoped or not _changes_state(func):
            receivers -= self.context.modules
        self.scope.changes.update(receivers)

    def visit_Return(self, node: ast.Return | ast.Yield | ast.YieldFrom) -> None:
        if node.value:
            self.scope.returns.update(self._roots(node.value))
        self.generic_visit(node)

    visit_Yield = visit_YieldFrom = visit_Return

    def _roots(self, expression: ast.expr) -> set[str]:
        """The names whose objects the value of ``expression`` may share (``x`` for ``x[0].T``),
        with "()f" for whatever ``f(...)`` returned."""
        if isinstance(expression, ast.Name):
            return {expression.id}
        if isinstance(expression, (ast.Attribute, ast.Subscript, ast.Starred, ast.Await)):
            return self._roots(expression.value)
        if isinstance(expression, ast.NamedExpr):
            return self._roots(expression.value) | {expression.target.id}
        if isinstance(expression, ast.Call):
            return self._result_roots(expression)
        return set().union(*map(self._roots, _parts(expression)))

    def _result_roots(self, call: ast.Call) -> set[str]:
        """What a call's result may share: its arguments, its receiver, what the function returns
        (never a module: ``torch.randn(3)`` is a new tensor)."""
        func = call.func
        roots = {_RESULT + func.id} if isinstance(func, ast.Name) else self._roots(func)
        for argument in _arguments(call):
            roots |= self._roots(argument)
        return roots - self.context.modules


def _parameters(arguments: ast.arguments) -> list[ast.arg]:
    extra = [arg for arg in (arguments.vararg, arguments.kwarg) if arg]
    return [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, *extra]


def _defaults(arguments: ast.arguments) -> list[ast.expr]:
    return [*arguments.defaults, *(default for default in arguments.kw_defaults if default)]


def _arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(keyword.value for keyword in call.keywords)]


def _parts(expression: ast.expr) -> list[ast.expr]:
    """The parts of a container or a choice whose objects its value holds."""
    if isinstance(expression, (ast.Tuple, ast.List, ast.Set)):
        return expression.elts
    if isinstance(expression, ast.Dict):
        return [*(key for key in expression.keys if key), *expression.values]
    if isinstance(expression, ast.IfExp):
        return [expression.body, expression.orelse]
    if isinstance(expression, ast.BoolOp):
        return expression.values
    return []


def _chain_root(expression: ast.expr) -> str | None:
    """The name an attribute and item chain starts from (``x`` for ``x.a[0].b``), if any."""
    while isinstance(expression, (ast.Attribute, ast.Subscript)):
        expression = expression.value
    return expression.id if isinstance(expression, ast.Name) else None


def _changes_state(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and _STATE_CHANGING.fullmatch(func.attr) is not None


def _runs_code(func: ast.expr) -> bool:
    """``exec``, ``eval``, ``compile``, or a method of ``get_ipython()`` (magics, shell lines)."""
    if isinstance(func, ast.Name):
        return func.id in _CODE_RUNNERS
    ipython = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
    return ipython and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"
