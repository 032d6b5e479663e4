"""What the framework analyses share: the module's functions by name, and whether a function
releases an expression (or a name bound from it) of a kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import libcst as cst

from leakcheck.analysis.django.drafts import Draft
from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.records import Escape
from leakcheck.analysis.syntax import call_text, receiver_text, walk
from leakcheck.checks import rule_for
from leakcheck.config.catalogue import Kind

# Ways a hook takes a stored value out of a context to close it: `g.pop("db", None)`,
# `g.get("db")`, `getattr(g, "db", None)`.
TAKERS = frozenset({"pop", "get", "setdefault"})


def functions(module: cst.Module) -> dict[str, list[cst.FunctionDef]]:
    """Every function of the module (nested ones and methods too) by name, in source order."""
    found: dict[str, list[cst.FunctionDef]] = {}
    for node in walk(module, into_scopes=True):
        if isinstance(node, cst.FunctionDef):
            found.setdefault(node.name.value, []).append(node)
    return found


def calls_in(function: cst.FunctionDef) -> Iterator[cst.Call]:
    """The calls of `function`'s own body (not of functions nested in it)."""
    for node in walk(function.body):
        if isinstance(node, cst.Call):
            yield node


def _key_of(expr: cst.BaseExpression, holder_last: str, key: str) -> bool:
    """Does `expr` read `key` from a context named `holder_last` (`g.db`, `g.pop("db")`,
    `getattr(g, "db", None)`, `g.get("db")`)?"""
    text = receiver_text(expr) or ""
    written = (f"{holder_last}.{key}", f"{holder_last}['{key}']", f'{holder_last}["{key}"]')
    if text.endswith(written):
        return True
    if not isinstance(expr, cst.Call):
        return False
    func, args = expr.func, expr.args
    if (
        isinstance(func, cst.Attribute)
        and func.attr.value in TAKERS
        and (receiver_text(func.value) or "").endswith(holder_last)
        and args
    ):
        first = args[0].value
        return isinstance(first, cst.SimpleString) and first.evaluated_value == key
    if isinstance(func, cst.Name) and func.value == "getattr" and len(args) >= 2:
        second = args[1].value
        return (
            (receiver_text(args[0].value) or "").endswith(holder_last)
            and isinstance(second, cst.SimpleString)
            and second.evaluated_value == key
        )
    return False


def releases_key(
    facts: ModuleFacts,
    function: cst.FunctionDef,
    holder_last: str,
    key: str,
    kind: Kind,
    index: dict[str, list[cst.FunctionDef]],
    seen: set[int] | None = None,
) -> bool:
    """Does `function` (or a module function it calls by name) release what is stored under
    `key` on a context named `holder_last`: `g.db.close()`, `db = g.pop("db"); db.close()`,
    `pool.putconn(g.db)`?"""
    seen = seen if seen is not None else set()
    if id(function) in seen:
        return False
    seen.add(id(function))
    aliases: set[str] = set()
    for node in walk(function.body):
        if isinstance(node, cst.Assign) and _key_of(node.value, holder_last, key):
            for target in node.targets:
                text = receiver_text(target.target)
                if text:
                    aliases.add(text)
    for call in calls_in(function):
        if releases(facts, call, kind, aliases, lambda e: _key_of(e, holder_last, key)):
            return True
        if isinstance(call.func, cst.Name):
            for callee in index.get(call.func.value, ()):
                if releases_key(facts, callee, holder_last, key, kind, index, seen):
                    return True
    return False


def releases(
    facts: ModuleFacts,
    call: cst.Call,
    kind: Kind,
    names: set[str],
    matches: Callable[[cst.BaseExpression], bool] | None = None,
) -> bool:
    """Is `call` a release of a resource of `kind` held in one of `names` (or in an expression
    `matches(expr)` accepts): `x.close()`, `pool.putconn(x)`, `closing(x)`?"""

    def held(expr: cst.BaseExpression) -> bool:
        text = receiver_text(expr) or ""
        return text in names or (matches is not None and matches(expr))

    func = call.func
    if (
        isinstance(func, cst.Attribute)
        and func.attr.value in kind.self_release_methods
        and held(func.value)
    ):
        return True
    released = facts.released_args(call, None, kind)
    return any(held(arg) for arg in released)


def released_anywhere(
    facts: ModuleFacts,
    holder_last: str,
    key: str,
    kind: Kind,
    index: dict[str, list[cst.FunctionDef]],
) -> bool:
    """Does any function of the module release what is stored under `key` on a context named
    `holder_last` (`releases_key`)?"""
    return any(
        releases_key(facts, function, holder_last, key, kind, index)
        for named in index.values()
        for function in named
    )


def never_released(
    call: cst.Call, kind: Kind, stored: str, function: cst.FunctionDef
) -> Draft | None:
    """The never-released finding (`never-closed`, `pool-connection-never-returned`) for an
    acquisition bound to a name and then stored on a context (`db = connect()`,
    `g.db = db`) that nothing in the module releases: the shared analysis takes the store for
    a hand-off and says nothing (`analysis/contexts.py` judges only direct stores)."""
    rule = rule_for(kind.family, Escape.NEVER.value)
    if rule is None:
        return None
    return Draft(
        rule.code,
        call,
        {
            "what": f"{kind.resource.capitalize()} from `{call_text(call)}`",
            "released": kind.released,
            "how": f" (stored in `{stored}`, and nothing in this module closes it)",
        },
        function.name.value,
        call_text(call),
    )
