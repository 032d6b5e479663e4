"""The project's own context-manager helpers, when their shape is obvious.

```python
@contextmanager
def pooled():
    conn = pool.getconn()
    try:
        yield conn
    finally:
        pool.putconn(conn)
```

A module-level `@contextmanager` / `@asynccontextmanager` function without required parameters
that acquires one resource, yields it bare, and gives it back on every path (the judge finds no
leak in it): `with pooled() as conn:` can stand for `conn = pool.getconn()` ... `putconn`. What it
does besides (`conn.commit()` after the `yield`, a `rollback()` in `except`) is named, because a
fix through it then changes behaviour. The answer is a `records.Manager`: plain data, so that it
travels in module summaries.
"""

from __future__ import annotations

import weakref

import libcst as cst

from leakcheck.analysis.records import Manager, Origin
from leakcheck.analysis.sites import SiteFacts
from leakcheck.analysis.syntax import dotted, walk
from leakcheck.analysis.verdicts import judge

__all__ = ["Manager", "arguments", "managers"]

_FOUND: weakref.WeakKeyDictionary[SiteFacts, dict[str, Manager]] = weakref.WeakKeyDictionary()


def managers(facts: SiteFacts) -> dict[str, Manager]:
    """The module's obvious helpers, by function name (computed once per `facts`)."""
    found = _FOUND.get(facts)
    if found is None:
        found = _FOUND[facts] = _managers(facts)
    return found


def _managers(facts: SiteFacts) -> dict[str, Manager]:
    out: dict[str, Manager] = {}
    wanted = [
        info
        for info in facts.functions.values()
        if info.is_context_manager
        and isinstance(info.node, cst.FunctionDef)
        and "." not in info.key
        and not _required_params(info.node)
    ]
    if not wanted:
        return out
    sites = facts.sites(managed=True)
    for info in wanted:
        node = info.node
        assert isinstance(node, cst.FunctionDef)
        own = [s for s in sites if s.scope is node]
        if len(own) != 1:
            continue
        site = own[0]
        name = site.binding.name
        if site.binding.how not in (Origin.ASSIGN, Origin.WITH) or name is None:
            continue
        if not _yields_only(node, name) or judge(site, facts):
            continue  # not the resource it yields, or not given back on every path
        func = site.call.func
        receiver = func.value if isinstance(func, cst.Attribute) else func
        source = dotted(receiver)
        if source is None or source.split(".", 1)[0] in ("self", "cls"):
            continue
        head = source.split(".", 1)[0]
        local = head not in facts.imports
        qualified = source if local else facts.qualify(receiver)
        out[info.key] = Manager(
            site.kind.name,
            qualified,
            local,
            node.asynchronous is not None,
            _extra(node, name),
            arguments(site.call),
        )
    return out


def arguments(call: cst.Call) -> str:
    """The arguments of `call` in one spelling (`timeout=settings.db_timeout`), to compare an
    acquisition's with a helper's: a helper that drops them acquires differently."""
    empty = cst.Module(body=[])
    parts = []
    for arg in call.args:
        keyword = f"{arg.keyword.value}=" if arg.keyword is not None else ""
        parts.append(f"{arg.star}{keyword}{empty.code_for_node(arg.value)}")
    return ", ".join(parts)


def _required_params(node: cst.FunctionDef) -> bool:
    params = node.params
    return any(
        p.default is None for p in (*params.posonly_params, *params.params, *params.kwonly_params)
    ) or isinstance(params.star_arg, cst.Param)


def _yields_only(node: cst.FunctionDef, name: str) -> bool:
    """One `yield`, of the resource itself."""
    found = [n for n in walk(node.body) if isinstance(n, cst.Yield)]
    return len(found) == 1 and isinstance(found[0].value, cst.Name) and found[0].value.value == name


def _extra(node: cst.FunctionDef, name: str) -> str:
    """What the helper does to the resource besides acquiring, yielding and giving it back."""
    methods = {
        n.func.attr.value
        for n in walk(node.body)
        if isinstance(n, cst.Call)
        and isinstance(n.func, cst.Attribute)
        and isinstance(n.func.value, cst.Name)
        and n.func.value.value == name
    }
    if "commit" in methods:
        return "commits"
    if "rollback" in methods:
        return "rolls back on error"
    statements = sum(1 for n in walk(node.body) if isinstance(n, cst.SimpleStatementLine))
    # The acquisition, the `yield` and the release: anything more is something else it does.
    docstring = 1 if _has_docstring(node) else 0
    return "runs other statements" if statements - docstring > 3 else ""


def _has_docstring(node: cst.FunctionDef) -> bool:
    return node.get_docstring() is not None
