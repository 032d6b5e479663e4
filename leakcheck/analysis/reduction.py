"""Less text for libcst: the bodies of functions that cannot matter, blanked out on CPython's tree.

libcst's parse is most of a run's cost (six times CPython's `ast.parse` of the same bytes), and
the analysis walks every node it builds. Most functions of a module that holds an acquisition
have nothing to do with it. `reduce_source` reads the gate's tree (`gate.cpython_parse`) and
replaces the body of each such function (a top-level function, or a method of a top-level class)
by `raise` on its first line and empty lines for the rest: the kept code keeps its lines and
columns, so every position the analysis reports is the same, and libcst parses a smaller text.

Which functions are kept, as a fixpoint over names (the analysis links functions only by name):

- a function whose code names one of `words` (the prefilter's words, taken as plain
  identifiers: any receiver, any package) or a word of the analysis itself (`EXTRA_WORDS`: what
  releases, what the unknown-kind count and the Django rules look at), or a name *relevant*
  code binds (`self.conn = connect()` makes `conn` one), or the name of a kept relevant function
  or class (its callers: `c = get_conn()`);
- a function whose name anything kept or not blankable names (its callees, properties,
  `getattr(self, "name")`), and every dunder method of a class that is named or has a kept
  method (`with self:`, `Foo()` call them without naming them);
- everything outside the blankable bodies (module and class level, decorators, signatures).

A blanked function is then named by no kept code and names nothing kept: no fact about kept code
can change. What a blanked function offers importers can: for a module that is also summarised
(`exports=True`), only methods whose body cannot be quiet are blanked (`raising._body_quiet`:
one with a `raise`, a loop, a `try`, a `with`, an `await`, a `yield`, ...; async, or decorated
other than `classmethod`/`staticmethod`), since a method's one export is whether it is quiet,
and `raise` keeps it not quiet. `__init__` and the other dunders, and top-level functions (whose
parameter effects are exported), are kept.

The reduced text is for judging only: a fix or a finding is never rendered from it (the engine
parses the full text again for a file with any finding, `engine.analyse`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from leakcheck.analysis.django import (
    CONSUMER_TOKENS,
    EXECUTOR_TOKEN,
    ORM_TOKENS,
    SETTINGS_TOKENS,
    SYNC_TO_ASYNC_TOKENS,
    THREAD_TOKENS,
)
from leakcheck.config.catalogue import Kind

# Words the analysis itself looks for in a function, beyond the prefilter's: what a function
# calls to give a value back (`unknown.RELEASES`, the kinds' release methods are in `words`
# when the caller adds them), the unknown-kind count's handle (`unknown.HANDLES`).
EXTRA_WORDS = frozenset({"close", "release", "aclose", "contextmanager", "asynccontextmanager"})
# What the Django rules look at (`django.relevant`), as substrings of a function's bytes.
_DJANGO_BYTES: tuple[bytes, ...] = (
    *SETTINGS_TOKENS,
    *ORM_TOKENS,
    *THREAD_TOKENS,
    *SYNC_TO_ASYNC_TOKENS,
    *CONSUMER_TOKENS,
    EXECUTOR_TOKEN,
)
_IDENTIFIERS = re.compile(r"[A-Za-z_]\w*")
_ANNOTATION_LIKE = re.compile(r"[\w. \[\],|]*")  # as `prefilter.code_only` keeps strings
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# A body with one of these cannot be quiet (`raising._NOT_QUIET`, on CPython's node types).
_NOT_QUIET = (
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.Raise,
    ast.Assert,
    ast.With,
    ast.AsyncWith,
    ast.Delete,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.Try,
    ast.Match,
    *((ast.TryStar,) if hasattr(ast, "TryStar") else ()),
)
_QUIET_DECORATORS = frozenset({"classmethod", "staticmethod"})  # raising.QUIET_DECORATORS


def kind_words(kinds: Iterable[Kind]) -> frozenset[str]:
    """Every name by which `kinds` give a resource back (`<source>.putconn(c)`, `c.close()`,
    `pool.closeall()`): what a function that only releases names, which
    the prefilter's acquisition words leave out."""
    out: set[str] = set()
    for kind in kinds:
        out |= kind.release_methods | kind.self_release_methods | kind.release_all_methods
    return frozenset(out)


@dataclass(frozen=True)
class Reduced:
    """A module's text with some function bodies blanked (`text`, same lines and columns for
    what is kept), and how many functions were blanked of how many could be."""

    text: bytes
    blanked: int
    units: int


@dataclass
class _Unit:
    """One blankable function: its node, its class (None: top level), the names its code uses,
    the names it binds beyond its own scope, and whether it may be blanked at all."""

    node: ast.FunctionDef | ast.AsyncFunctionDef
    cls: ast.ClassDef | None
    names: set[str]
    django: bool
    blankable: bool
    bindings: list[tuple[set[str], set[str]]] = field(default_factory=list)
    gives: bool = True  # it may give a value back (a `return` with a value, a `yield`)
    passes: set[str] = field(default_factory=set)  # what its calls that take a parameter name
    body_names: set[str] = field(default_factory=set)  # `names` but its signature's
    kept: bool = False
    relevant: bool = False


def reduce_source(
    source: bytes, tree: ast.Module, words: frozenset[str], exports: bool, django: bool = False
) -> Reduced | None:
    """`source` with the bodies of the functions that cannot matter blanked (module docstring), or
    None when nothing is blanked or the text cannot be cut by lines safely (a carriage
    return, an encoding declaration).

    `tree` is `source`'s tree from CPython's parser; `words`, the identifiers that can start an
    acquisition (`prefilter.Words.identifiers`, plus the kinds' release methods); `exports`, the
    module is also summarised for importers (then only methods that cannot be quiet are
    blanked); `django`, the Django rules may look at the module (`django.relevant`): a function
    that mentions what they look at is kept. Never raises for valid Python.
    """
    if b"\r" in source or b"coding" in b"\n".join(source.split(b"\n", 2)[:2]):
        return None
    lines = source.split(b"\n")
    units = list(_units(tree, lines, exports, django))
    if not any(u.blankable for u in units):
        return None
    known = set(words | EXTRA_WORDS)
    named: set[str] = set()  # what the kept code names (its callees)
    named |= _outside_names(tree)
    bindings = _outside_bindings(tree)
    classes_with_kept: set[str] = set()
    changed = True
    while changed:
        changed = False
        for statement_names, bound in bindings:
            if bound - known and statement_names & known:
                known |= bound
                changed = True
        for unit in units:
            relevant = unit.django or bool(unit.names & known)
            if unit.relevant or (unit.kept and not relevant):
                continue
            if relevant:  # what it names, all of it, and (for its callers) its own name
                unit.kept = unit.relevant = changed = True
                named |= unit.names
                bindings.extend(unit.bindings)
                if unit.gives and not _dunder(unit.node.name):
                    known.add(unit.node.name)
                if unit.cls is not None:
                    classes_with_kept.add(unit.cls.name)
                    # `Foo()`, `with Foo():` run them; an owner class acquires in `__init__`,
                    # `connect()` or `open()` (`owners.ACQUIRERS`).
                    acquirer = _dunder(unit.node.name) or unit.node.name in ("connect", "open")
                    if acquirer and (unit.django or unit.body_names & known):
                        known.add(unit.cls.name)
                continue
            dunder = (
                _dunder(unit.node.name)
                and unit.cls is not None
                and (unit.cls.name in named or unit.cls.name in classes_with_kept)
            )
            if unit.node.name in named or dunder or not unit.blankable:
                # Kept for what it tells its callers: its parameter effects (the callees its
                # parameters are passed to) and whether it may raise (all it calls, unless its
                # own body already cannot be quiet).
                unit.kept = changed = True
                named |= unit.passes if _never_quiet(unit.node) else unit.names
                if unit.cls is not None:
                    classes_with_kept.add(unit.cls.name)
    blank = [u for u in units if not u.kept]
    if not blank:
        return None
    for unit in blank:
        first, last = unit.node.body[0].lineno - 1, _end(unit.node) - 1
        indent = lines[first][: unit.node.body[0].col_offset]
        lines[first] = indent + b"raise"
        for number in range(first + 1, last + 1):
            lines[number] = b""
    return Reduced(b"\n".join(lines), len(blank), sum(u.blankable for u in units))


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _end(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    last = node.body[-1]
    return last.end_lineno if last.end_lineno is not None else last.lineno


def _units(tree: ast.Module, lines: list[bytes], exports: bool, django: bool) -> Iterator[_Unit]:
    """Every top-level function and every method of a top-level class, with what it names."""
    for statement in tree.body:
        if isinstance(statement, _FUNCTIONS):
            yield _unit(statement, None, lines, exports, django)
        elif isinstance(statement, ast.ClassDef):
            for member in statement.body:
                if isinstance(member, _FUNCTIONS):
                    yield _unit(member, statement, lines, exports, django)


def _unit(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    cls: ast.ClassDef | None,
    lines: list[bytes],
    exports: bool,
    django: bool,
) -> _Unit:
    body_names: set[str] = set()
    bindings: list[tuple[set[str], set[str]]] = []
    declared: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Global, ast.Nonlocal)):
            declared.update(sub.names)
    for statement in node.body:
        body_names |= _names(statement)
        bindings.extend(_statement_bindings(statement, declared))
    first, last = node.body[0].lineno - 1, _end(node) - 1
    segment = b"\n".join(lines[node.lineno - 1 : last + 1])
    blankable = (
        first > node.lineno - 1
        and not declared
        and lines[first][: node.body[0].col_offset].strip() == b""
        and not lines[first - 1].rstrip().endswith(b"\\")
        and (not exports or (cls is not None and not _dunder(node.name) and _never_quiet(node)))
    )
    mentions = django and any(token in segment for token in _DJANGO_BYTES)
    gives = any(
        isinstance(sub, (ast.Yield, ast.YieldFrom, ast.Await))
        or (isinstance(sub, ast.Return) and sub.value is not None)
        for sub in _walk_scope(node.body)
    )
    names = body_names | _signature_names(node)
    return _Unit(node, cls, names, mentions, blankable, bindings, gives, _passes(node), body_names)


def _passes(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """What the calls of `node` that are given one of its parameters (not `self` or `cls`)
    name: the callees that decide its parameter effects (`ownership.param_effects`)."""
    arguments = node.args
    params = {
        a.arg
        for a in (
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            *((arguments.vararg,) if arguments.vararg else ()),
            *((arguments.kwarg,) if arguments.kwarg else ()),
        )
    } - {"self", "cls"}
    out: set[str] = set()
    if not params:
        return out
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            given = (*sub.args, *(k.value for k in sub.keywords))
            if any(isinstance(n, ast.Name) and n.id in params for g in given for n in ast.walk(g)):
                out |= _names(sub)
    return out


def _never_quiet(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether `raising.quiet_functions` can never count `node` quiet, whatever it calls."""
    if isinstance(node, ast.AsyncFunctionDef):
        return True
    if any(_dotted(d) not in _QUIET_DECORATORS for d in node.decorator_list):
        return True
    return any(isinstance(sub, _NOT_QUIET) for sub in _walk_scope(node.body))


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else ""
    return ""


def _walk_scope(statements: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """The nodes of `statements`, not entering nested functions, classes or lambdas (as
    `syntax.walk` does not)."""
    stack = list(statements)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _names(node: ast.AST) -> set[str]:
    """Every identifier `node`'s code uses or defines (names, attributes, arguments, keywords,
    imports, and the words of strings that may be annotations or attribute names)."""
    out: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr)
        elif isinstance(sub, (*_FUNCTIONS, ast.ClassDef)):
            out.add(sub.name)
        elif isinstance(sub, (ast.arg, ast.keyword)):
            out.update(() if sub.arg is None else (sub.arg,))
        elif isinstance(sub, ast.alias):
            out.update(_IDENTIFIERS.findall(sub.name))
            if sub.asname:
                out.add(sub.asname)
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            out.update(sub.names)
        elif isinstance(sub, ast.ImportFrom) and sub.module:
            out.update(_IDENTIFIERS.findall(sub.module))
        elif (
            isinstance(sub, ast.Constant)
            and isinstance(sub.value, str)
            and _ANNOTATION_LIKE.fullmatch(sub.value)
        ):
            out.update(_IDENTIFIERS.findall(sub.value))
        elif isinstance(sub, ast.MatchAs | ast.MatchStar) and sub.name:
            out.add(sub.name)
    return out


def _outside_names(tree: ast.Module) -> set[str]:
    """What the code outside the blankable bodies names: module and class level statements,
    decorators, signatures."""
    out: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, _FUNCTIONS):
            out |= _signature_names(statement)
        elif isinstance(statement, ast.ClassDef):
            for part in (*statement.bases, *statement.keywords, *statement.decorator_list):
                out |= _names(part)
            for member in statement.body:
                if isinstance(member, _FUNCTIONS):
                    out |= _signature_names(member)
                else:
                    out |= _names(member)
        else:
            out |= _names(statement)
    return out


def _signature_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """What a function's decorators, parameters (defaults, annotations) and return annotation
    name; not its own name, which it binds."""
    out: set[str] = set()
    for part in (*node.decorator_list, node.args, *((node.returns,) if node.returns else ())):
        out |= _names(part)
    return out


def _outside_bindings(tree: ast.Module) -> list[tuple[set[str], set[str]]]:
    """(names used, names bound) of each module- and class-level statement."""
    out: list[tuple[set[str], set[str]]] = []
    for statement in tree.body:
        if isinstance(statement, _FUNCTIONS):
            continue
        members = statement.body if isinstance(statement, ast.ClassDef) else [statement]
        for member in members:
            if not isinstance(member, _FUNCTIONS):
                out.extend(_statement_bindings(member, None))
    return out


def _statement_bindings(
    statement: ast.stmt, declared: set[str] | None
) -> Iterator[tuple[set[str], set[str]]]:
    """(names used, names bound) for each binding inside `statement`: attribute targets always
    (`self.conn = ...`), plain names at module or class level (`declared` None) or when the
    function declares them global or nonlocal."""
    for sub in ast.walk(statement):
        targets: list[ast.expr] = []
        if isinstance(sub, ast.Assign):
            targets = list(sub.targets)
        elif isinstance(sub, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.AsyncFor)):
            targets = [sub.target]
        elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
            targets = [sub.optional_vars]
        if not targets:
            continue
        bound: set[str] = set()
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute):
                    bound.add(part.attr)
                elif isinstance(part, ast.Name) and (declared is None or part.id in declared):
                    bound.add(part.id)
        if bound:
            yield _names(sub), bound
