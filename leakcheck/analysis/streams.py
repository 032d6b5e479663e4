"""LC401: a handler's session captured by a streaming generator that outlives the request.

`async def event_gen(): while True: ... db ...; await asyncio.sleep(5)` returned inside a
`StreamingResponse` / `EventSourceResponse` keeps the handler's session (a local, or
`db: Session = Depends(get_db)`) for as long as the client stays connected (incident 2). Reported at
the first use inside the generator. A generator that only iterates the rows of one query (a
deliberate, finite streaming read: `yield_per`, a server-side cursor) is not flagged.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.effects import unbounded_wait
from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import bound_names, dotted, walk
from leakcheck.analysis.verdicts import Verdict

RESPONSE_SUFFIX = "Response"


def captured(facts: ModuleFacts, sites: list[Site]) -> list[Verdict]:
    found = []
    for info in facts.functions.values():
        outer = info.node
        if not isinstance(outer, cst.FunctionDef):
            continue
        held = {
            site.binding.name: site
            for site in sites
            if site.scope is outer and site.binding.name and site.binding.how != "discarded"
        }
        if not held:
            continue
        for inner in _inner_generators(outer):
            use = _first_outer_use(inner, held)
            if use is None or not _outlives(inner.name.value, outer, inner):
                continue
            if not loops_or_waits(inner) or finite_read(inner):
                continue
            site = held[use.value]
            how = (
                (
                    f" is used inside the streaming generator `{inner.name.value}()`, which "
                    "outlives the request: every open stream pins a pooled connection for as long "
                    "as the client stays connected (and where the dependency is closed before the "
                    "response streams, a closed session reconnects outside the pool's accounting)",
                    None,
                ),
            )
            what = f"{site.kind.resource} `{use.value}` of `{outer.name.value}()`"
            found.append(Verdict(site, "captured-by-stream", None, how, what=what, anchor=use))
    return found


def _inner_generators(outer: cst.FunctionDef) -> list[cst.FunctionDef]:
    return [
        node
        for node in walk(outer.body)
        if isinstance(node, cst.FunctionDef)
        and any(isinstance(n, cst.Yield) for n in walk(node.body))
    ]


def _locals(inner: cst.FunctionDef) -> set[str]:
    names = {
        p.name.value
        for p in (*inner.params.posonly_params, *inner.params.params, *inner.params.kwonly_params)
    }
    for node in walk(inner.body):
        # Any binding makes the name local to the whole generator: `x = ...`, `with ... as x`,
        # `for x in ...`, `except E as x`, `x: T = ...`.
        target = None
        if isinstance(node, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign)):
            target = node.target
        elif isinstance(node, cst.AsName):
            target = node.name
        elif isinstance(node, cst.For):
            target = node.target
        if target is not None:
            names |= bound_names(target)
    return names


def _first_outer_use(inner: cst.FunctionDef, held: dict[str, Site]) -> cst.Name | None:
    shadowed = _locals(inner)
    for node in walk(inner.body):
        if isinstance(node, cst.Name) and node.value in held and node.value not in shadowed:
            return node
    return None


def _outlives(name: str, outer: cst.FunctionDef, inner: cst.FunctionDef) -> bool:
    """Returned (`return gen()`), or handed to a response (`StreamingResponse(gen())`)."""
    for node in walk(outer.body):
        if node is inner:
            continue
        if (
            isinstance(node, cst.Return)
            and node.value is not None
            and _is_generator(node.value, name)
        ):
            return True
        if (
            isinstance(node, cst.Call)
            and (dotted(node.func) or "").endswith(RESPONSE_SUFFIX)
            and any(_mentions(arg.value, name) for arg in node.args)
        ):
            return True
    return False


def _is_generator(expr: cst.BaseExpression, name: str) -> bool:
    """`gen` or `gen(...)` itself (also in a tuple), not `list(gen())`, which consumes it now."""
    if isinstance(expr, (cst.Tuple, cst.List)):
        return any(_is_generator(e.value, name) for e in expr.elements)
    if isinstance(expr, cst.Call):
        expr = expr.func
    return isinstance(expr, cst.Name) and expr.value == name


def _mentions(expr: cst.CSTNode, name: str) -> bool:
    return any(isinstance(n, cst.Name) and n.value == name for n in walk(expr))


def loops_or_waits(inner: cst.FunctionDef) -> bool:
    return any(isinstance(n, (cst.For, cst.While, cst.Await)) for n in walk(inner.body))


def finite_read(inner: cst.FunctionDef) -> bool:
    """A deliberate streaming read that ends with its results: `for row in
    db.execute(q).yield_per(500): yield row`, perhaps after a count. No `while` loop, no sleep,
    no wait on the outside world: it runs as long as the query's rows last."""
    for node in walk(inner.body):
        if isinstance(node, cst.While):
            return False
        if isinstance(node, cst.Await) and unbounded_wait(node.expression) is not None:
            return False
        if isinstance(node, cst.Call) and (dotted(node.func) or "").rsplit(".", 1)[-1] == "sleep":
            return False
    return True
