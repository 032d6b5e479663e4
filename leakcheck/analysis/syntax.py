"""Small, fast helpers over libcst nodes (no metadata providers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import libcst as cst

# Fields that only hold tokens or whitespace: never worth descending into.
_SKIPPED_FIELDS = frozenset(
    {
        "lpar",
        "rpar",
        "comma",
        "semicolon",
        "leading_lines",
        "lines_after_decorators",
        "header",
        "footer",
        "colon",
        "equal",
        "dot",
        "star",
        "lbracket",
        "rbracket",
        "lbrace",
        "rbrace",
        "operator",
        "trailing_whitespace",
        "asynchronous",
        "newline",
        "default_comma",
        "arrow",
        "whitespace_before_colon",
        "indent",
    }
)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(node: cst.CSTNode) -> tuple[str, ...]:
    kind = type(node)
    names = _FIELDS.get(kind)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(node)
            if f.name not in _SKIPPED_FIELDS and not f.name.startswith("whitespace")
        )
        _FIELDS[kind] = names
    return names


_IS_NODE: dict[type, bool] = {}


def _is_node(value: object) -> bool:
    # CSTNode is an ABC, whose isinstance is slow; the answer per concrete type never changes.
    kind = type(value)
    known = _IS_NODE.get(kind)
    if known is None:
        known = _IS_NODE[kind] = isinstance(value, cst.CSTNode)
    return known


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The syntactic children of `node` in source order, skipping whitespace and tokens."""
    out: list[cst.CSTNode] = []
    for name in _child_fields(node):
        value = getattr(node, name)
        kind = type(value)
        if kind is list or kind is tuple:
            out.extend(item for item in value if _is_node(item))
        elif value is not None and _is_node(value):
            out.append(value)
    return out


def walk(node: cst.CSTNode, *, into_scopes: bool = False) -> Iterator[cst.CSTNode]:
    """Yield `node` and its descendants, depth first; nested scopes only when asked."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if not into_scopes and current is not node and type(current) in SCOPE_TYPES:
            continue
        kids = children(current)
        kids.reverse()
        stack.extend(kids)


def referenced_names(node: cst.CSTNode, *, into_scopes: bool = False) -> Iterator[cst.Name]:
    """The names `node` (and its descendants, as `walk`) reads or binds as variables: not an
    attribute's name (`bot.connection` refers to no variable `connection`), nor a keyword
    argument's (`f(conn=x)`)."""
    skip: set[int] = set()
    for current in walk(node, into_scopes=into_scopes):
        if type(current) is cst.Attribute:
            skip.add(id(current.attr))
        elif type(current) is cst.Arg and current.keyword is not None:
            skip.add(id(current.keyword))
        elif type(current) is cst.Name and id(current) not in skip:
            yield current


SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
# libcst's node classes are ABCs, whose `isinstance` is a Python-level call when it fails (a
# tenth of judging a big file); the concrete classes have no subclasses, so in the hottest loops
# an exact type test says the same.
SCOPE_TYPES = frozenset(SCOPES)


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a chain of names and attributes, else None."""
    parts: list[str] = []
    while type(node) is cst.Attribute:
        parts.append(node.attr.value)
        node = node.value
    if type(node) is cst.Name:
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def displayed_values(expr: cst.BaseExpression) -> list[cst.BaseExpression] | None:
    """The values a tuple, list, set or dict display holds (`(a, b)`, `[a, *b]`, `{"k": a}`:
    for a dict, its values; a `**spread` is left out), or None for any other expression."""
    if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
        return [e.value for e in expr.elements]
    if isinstance(expr, cst.Dict):
        return [e.value for e in expr.elements if isinstance(e, cst.DictElement)]
    return None


# `await asyncio.wait_for(pool.acquire(), 5)`, `await asyncio.shield(...)`: the awaited value is
# the wrapped one's (Python docs, asyncio "Timeouts" and "Shielding From Cancellation").
PASS_THROUGH = frozenset({"wait_for", "shield"})
# `loop.run_until_complete(coro)` and `asyncio.run(coro)` return what the coroutine returns
# (Python docs, asyncio "Event Loop" and "Runners"): sync code's `await`. `run` alone is too
# common a name (`subprocess.run`) to count on any receiver.
PASS_THROUGH_METHODS = PASS_THROUGH | {"run_until_complete"}
PASS_THROUGH_CALLS = frozenset({"asyncio.run"})


def unwrap_value(node: cst.BaseExpression) -> cst.BaseExpression:
    """The value under any `await`, `typing.cast(T, value)`, `asyncio.wait_for(value, t)` /
    `asyncio.shield(value)` and `asyncio.run(value)` / `loop.run_until_complete(value)`: what a
    name is really bound to."""
    while True:
        if isinstance(node, cst.Await):
            node = node.expression
        elif (
            isinstance(node, cst.Call)
            and (
                (name := dotted(node.func) or "").rsplit(".", 1)[-1] in PASS_THROUGH_METHODS
                or name in PASS_THROUGH_CALLS
            )
            and node.args
            and node.args[0].keyword is None
            and not node.args[0].star
        ):
            node = node.args[0].value
        elif (
            isinstance(node, cst.Call)
            and (dotted(node.func) or "").rsplit(".", 1)[-1] == "cast"
            and len(node.args) == 2
        ):
            node = node.args[1].value
        else:
            return node


def receiver_text(expr: cst.BaseExpression) -> str | None:
    """A receiver as text: `self.pool`, `get_pool()`, `app.config["POOL"]`; None if too complex."""
    name = dotted(expr)
    if name is not None:
        return name
    if isinstance(expr, cst.Call) and not expr.args:
        inner = receiver_text(expr.func)
        return f"{inner}()" if inner is not None else None
    if (
        isinstance(expr, cst.Subscript)
        and len(expr.slice) == 1
        and isinstance(expr.slice[0].slice, cst.Index)
        and isinstance(expr.slice[0].slice.value, cst.SimpleString)
    ):
        inner = receiver_text(expr.value)
        key = expr.slice[0].slice.value.value
        return f"{inner}[{key}]" if inner is not None else None
    if isinstance(expr, cst.Attribute):
        inner = receiver_text(expr.value)
        return f"{inner}.{expr.attr.value}" if inner is not None else None
    return None


def block_statements(body: cst.BaseSuite) -> tuple[cst.BaseStatement | cst.BaseSmallStatement, ...]:
    """The statements of an indented block or of a one-line suite (`if x: return`)."""
    if isinstance(body, cst.IndentedBlock):
        return tuple(body.body)
    if isinstance(body, cst.SimpleStatementSuite):
        return tuple(body.body)
    return ()


_EMPTY = cst.Module(body=[])


def source_of(node: cst.CSTNode, limit: int = 60) -> str:
    """The code of `node` on one line, shortened for messages."""
    text = " ".join(_EMPTY.code_for_node(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def call_text(call: cst.Call) -> str:
    """`pool.getconn()`, `cur.execute(...)`, `conn.execute(...).fetchall()`: a call as a reader
    recognises it, arguments elided."""
    return f"{_callee(call.func)}({'...' if call.args else ''})"


def _callee(expr: cst.BaseExpression) -> str:
    name = dotted(expr)
    if name is not None:
        return name
    if isinstance(expr, cst.Attribute):
        return f"{_callee(expr.value)}.{expr.attr.value}"
    if isinstance(expr, cst.Call):
        return call_text(expr)
    if isinstance(expr, cst.Subscript):
        return f"{_callee(expr.value)}[...]"
    return source_of(expr, 40)


def bound_names(target: cst.CSTNode) -> set[str]:
    """The names an assignment target binds: `a`, `a, (b, *c)`; none for `obj.attr` or `d[k]`."""
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        out: set[str] = set()
        for element in target.elements:
            out |= bound_names(element.value)
        return out
    if isinstance(target, cst.StarredElement):
        return bound_names(target.value)
    return set()


def scope_locals(node: cst.FunctionDef | cst.Lambda) -> set[str]:
    """The names a function or lambda binds itself: its parameters and, for a function, every
    name bound anywhere in its body (`x = ...`, `with ... as x`, `for x in ...`, `except E as x`,
    `x: T = ...`), which Python makes local to the whole function. Nested scopes not included."""
    params = node.params
    names = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    if isinstance(node, cst.Lambda):
        return names
    declared: set[str] = set()
    for sub in walk(node.body):
        if isinstance(sub, (cst.Global, cst.Nonlocal)):
            declared |= {n.name.value for n in sub.names}
        target: cst.CSTNode | None = None
        if isinstance(sub, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign)):
            target = sub.target
        elif isinstance(sub, cst.AsName):
            target = sub.name
        elif isinstance(sub, cst.For):
            target = sub.target
        elif isinstance(sub, (cst.FunctionDef, cst.ClassDef)) and sub is not node:
            names.add(sub.name.value)
        if target is not None:
            names |= bound_names(target)
    return names - declared


def import_bindings(small: cst.CSTNode) -> list[str]:
    """The names an import statement binds (`import a.b` -> `a`, `from x import y as z` -> `z`);
    [] for `from x import *` and for any other statement."""
    if not isinstance(small, (cst.Import, cst.ImportFrom)) or isinstance(
        small.names, cst.ImportStar
    ):
        return []
    out = []
    for alias in small.names:
        bound = alias.asname.name if alias.asname is not None else alias.name
        text = dotted(bound) if isinstance(bound, cst.BaseExpression) else None
        if text:
            out.append(text.split(".", 1)[0])
    return out
