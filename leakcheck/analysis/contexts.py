"""A resource stored on a per-request context object that nothing in the module ever closes.

`context["db"] = make_session()` (a GraphQL context, a Starlette `request.state`, Flask's `g`)
hands the session to whoever reads the context; someone must close it when the request ends
(a teardown hook, middleware, `finally`). When no code of the module releases anything stored
under that key (`context["db"].close()`, `db = g.pop("db"); db.close()`, `db = getattr(g, "db",
None); db.close()`, `request.state.db.close()`, in any function of the module or one it calls by
name), it is reported as never released, at the acquisition. The framework analyses
(`analysis/frameworks/`) use the same search to tell which hook releases it. Only the module is
searched: a teardown in another module of the project is not read, so a store on a framework's
request context (Flask's `g`) in a module that registers none of its request hooks is not judged
but counted as an assumed hand-off (see docs/semantics.md, "Per-request context objects"). An
attribute of a class (`Trade.session = ...`) is no per-request context: it lives as long as the
process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import libcst as cst

from leakcheck.analysis.facts import Binding, ModuleFacts, Site
from leakcheck.analysis.flow import assume_handoff
from leakcheck.analysis.records import Escape, Origin
from leakcheck.analysis.syntax import receiver_text, walk
from leakcheck.analysis.verdicts import Verdict
from leakcheck.config.catalogue import Kind
from leakcheck.config.lifecycles import HookPair, lifecycles


def stored_on_context(facts: ModuleFacts) -> list[Verdict]:
    """Verdicts for acquisitions stored under a key that the module never releases."""
    found = []
    index: dict[str, list[cst.FunctionDef]] | None = None  # the module's functions, once
    for call, scope, class_name in facts.calls:
        stored = facts.stored_calls.get(id(call))
        if stored is None or isinstance(scope, cst.Module):
            continue
        kind = facts.acquisition(call, class_name)
        if kind is None:
            continue
        text, holder, key = stored
        if _class_attribute(facts, holder):
            continue  # `Trade.session = scoped_session(...)`: kept for the process, not a request
        site = Site(call, kind, scope, class_name, Binding(Origin.STORED, text))
        if index is None:
            index = functions(facts.module)
        if released_anywhere(facts, _last(holder), key, kind, index):
            continue
        pair = _hook_pair(facts, holder)
        if pair is not None and not registered(facts.module, pair):
            hooks_elsewhere(facts, call, text)
            continue
        how = ((f" (stored in `{text}`, and nothing in this module closes it)", None),)
        found.append(Verdict(site, Escape.NEVER, None, how))
    return found


def _hook_pair(facts: ModuleFacts, holder: str) -> HookPair | None:
    """The framework whose request hooks share `holder` (`g` imported from flask: Flask's)."""
    head, dot, rest = holder.partition(".")
    qualified = facts.imports.get(head, head) + dot + rest
    return next((p for p in lifecycles().hooks if qualified in p.holders), None)


def hooks_elsewhere(facts: ModuleFacts, call: cst.Call, stored: str) -> None:
    """`call`'s resource is stored on a framework context (`g.db`) in a module that registers
    no request hook of that framework: the hook that closes it, if any, is registered in another
    module (a `db.py` helper and the app factory's `teardown_appcontext`), which a check of this
    module does not read (`stored`: the store's target, `g.db`). It is not reported as never
    closed; it is counted as an assumed hand-off (the run's "hand-offs assumed"), so the silence
    is not hidden."""
    why = (
        f"stored in `{stored}` by a module that registers no request hook: the hook that "
        "closes it, if any, is registered in another module"
    )
    assume_handoff(facts, call, None, why)


def _class_attribute(facts: ModuleFacts, holder: str) -> bool:
    """Is `holder` a class (`Trade`, of this module, or an imported CapWords name)? What a class
    attribute keeps lives as long as the class, the process: it is set up once (freqtrade's
    `Trade.session = scoped_session(...)` in `init_db()`), not per request."""
    if "." in holder or "[" in holder:
        return False
    if holder in facts.classes and holder not in facts.imports:
        return True
    return holder in facts.imports and holder[:1].isupper() and not holder.isupper()


def _last(text: str) -> str:
    return text.rsplit(".", 1)[-1]


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


def reads_key(expr: cst.BaseExpression, holder_last: str, key: str) -> bool:
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
        if isinstance(node, cst.Assign) and reads_key(node.value, holder_last, key):
            for target in node.targets:
                text = receiver_text(target.target)
                if text:
                    aliases.add(text)
    for call in calls_in(function):
        if releases(facts, call, kind, aliases, lambda e: reads_key(e, holder_last, key)):
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
    if facts.is_closing(call, kind) and any(held(arg.value) for arg in call.args):
        return True  # `with closing(g.db):`
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


def _hook_names(pair: HookPair) -> frozenset[str]:
    return pair.opening | frozenset(pair.closing)


def registered(module: cst.Module, pair: HookPair) -> dict[int, list[str]]:
    """id of each function registered as a hook of `pair` -> the hook names it is registered as
    (decorators `@app.X`, `@app.X()`, and calls `app.X(function)`)."""
    names = _hook_names(pair)
    index = functions(module)
    out: dict[int, list[str]] = {}
    for node in walk(module, into_scopes=True):
        if isinstance(node, cst.FunctionDef):
            for decorator in node.decorators:
                expr = decorator.decorator
                func = expr.func if isinstance(expr, cst.Call) else expr
                if isinstance(func, cst.Attribute) and func.attr.value in names:
                    out.setdefault(id(node), []).append(func.attr.value)
        elif (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value in names
            and node.args
            and isinstance(node.args[0].value, cst.Name)
        ):
            for function in index.get(node.args[0].value.value, ()):
                out.setdefault(id(function), []).append(node.func.attr.value)
    return out
