"""A resource stored on a per-request context object that nothing in the module ever closes.

`context["db"] = make_session()` (a GraphQL context, a Starlette `request.state`, Flask's `g`)
hands the session to whoever reads the context; someone must close it when the request ends
(a teardown hook, middleware, `finally`). When no code of the module releases anything stored
under that key (`context["db"].close()`, `g.pop("db")`, `request.state.db.close()`), it is
reported as never released, at the acquisition. Only the module is searched: a teardown in
another module of the project is not seen (see docs/semantics.md). An attribute of a class
(`Trade.session = ...`) is no per-request context: it lives as long as the process.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import Binding, ModuleFacts, Site
from leakcheck.analysis.records import Escape, Origin
from leakcheck.analysis.syntax import receiver_text, unwrap_value, walk
from leakcheck.analysis.verdicts import Verdict

TAKERS = frozenset({"pop", "get", "setdefault"})


def stored_on_context(facts: ModuleFacts) -> list[Verdict]:
    """Verdicts for acquisitions stored under a key that the module never releases."""
    found = []
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
        if _released_somewhere(facts, holder, key, site):
            continue
        how = ((f" (stored in `{text}`, and nothing in this module closes it)", None),)
        found.append(Verdict(site, Escape.NEVER, None, how))
    return found


def _class_attribute(facts: ModuleFacts, holder: str) -> bool:
    """Is `holder` a class (`Trade`, of this module, or an imported CapWords name)? What a class
    attribute keeps lives as long as the class, the process: it is set up once (freqtrade's
    `Trade.session = scoped_session(...)` in `init_db()`), not per request."""
    if "." in holder or "[" in holder:
        return False
    if holder in facts.classes and holder not in facts.imports:
        return True
    return holder in facts.imports and holder[:1].isupper() and not holder.isupper()


def _getattr_of(call: cst.Call, holder: str, key: str) -> bool:
    """Is `call` `getattr(holder, "key", ...)` (a context like `holder`, same last name)? The
    Flask documentation's teardown reads `g` this way ("Using SQLite 3 with Flask": `db =
    getattr(g, '_database', None)`)."""
    return (
        isinstance(call.func, cst.Name)
        and call.func.value == "getattr"
        and len(call.args) >= 2
        and _last(receiver_text(call.args[0].value) or "") == _last(holder)
        and isinstance(call.args[1].value, cst.SimpleString)
        and call.args[1].value.evaluated_value == key
    )


def _closed_after(facts: ModuleFacts, scope: cst.CSTNode, call: cst.Call, site: Site) -> bool:
    """Is what `call` reads bound to a name (`db = getattr(g, "db", None)`) that the same
    function closes (`db.close()`)? A getter reads the context the same way (`db =
    getattr(g, "_database", None)`, then opens one when it is None) and closes nothing."""
    names: set[str] = set()
    for node in walk(scope):
        if isinstance(node, cst.Assign) and unwrap_value(node.value) is call:
            names.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))
    if not names:
        return False
    for other, where, class_name in facts.calls:
        if where is not scope:
            continue
        func = other.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value in names
            and func.attr.value in site.kind.self_release_methods
        ):
            return True
        released = facts.released_args(other, class_name, site.kind)
        if any(isinstance(a, cst.Name) and a.value in names for a in released):
            return True
    return False


def _last(text: str) -> str:
    return text.rsplit(".", 1)[-1]


def _released_somewhere(facts: ModuleFacts, holder: str, key: str, site: Site) -> bool:
    """Does the module take `key` out of a context like `holder` (same last name: `context`,
    `info.context`; by `pop`, `get`, `setdefault` or `getattr`) to close it, or release what is
    stored there?"""
    stored = {f"{_last(holder)}.{key}", f"{_last(holder)}['{key}']", f'{_last(holder)}["{key}"]'}
    for call, scope, class_name in facts.calls:
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in TAKERS
            and _last(receiver_text(func.value) or "") == _last(holder)
            and call.args
            and isinstance(call.args[0].value, cst.SimpleString)
            and call.args[0].value.evaluated_value == key
        ):
            return True  # `db = g.pop("db", None)` ... `db.close()`
        if _getattr_of(call, holder, key) and _closed_after(facts, scope, call, site):
            return True  # `db = getattr(g, "db", None)` ... `db.close()` (the Flask tutorial's)
        released = facts.released_args(call, class_name, site.kind)
        if facts.is_closing(call, site.kind):
            released = [a.value for a in call.args]
        for arg in released:
            text = receiver_text(arg) or ""
            if any(text == s or text.endswith(f".{s}") for s in stored):
                return True
    return False
