"""Waits on the outside world: awaits and loops that last as long as a client, a queue or a
timer says, not as long as the code does. Syntax alone decides (no facts of the module).

A resource held across one is pinned for as long as the wait lasts; a generator that loops or
waits with a resource it was given streams it (`ownership.STREAM`).
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.syntax import dotted, walk

SLEEPS = frozenset({"sleep"})
WAITS = frozenset({"wait", "wait_closed"})
RECEIVES = ("receive", "recv", "iter_text", "iter_bytes", "iter_json")


def unbounded_wait(expr: cst.BaseExpression) -> str | None:
    """Does awaiting `expr` wait on the outside world? "sleep" (unbounded when repeated in a
    loop), "wait" (a websocket message, a queue item, an event), or None."""
    if not isinstance(expr, cst.Call):
        return None
    func = expr.func
    name = dotted(func) or ""
    last = name.rsplit(".", 1)[-1] if name else ""
    if name in ("asyncio.wait_for", "wait_for") and expr.args:
        return unbounded_wait(expr.args[0].value)  # a long poll: `wait_for(event.wait(), 30)`
    if last in SLEEPS:
        return "sleep"
    if not isinstance(func, cst.Attribute):
        return None
    method = func.attr.value
    receiver = (dotted(func.value) or "").lower()
    if method in WAITS or method.startswith(RECEIVES):
        return "wait"
    if method == "get" and "queue" in receiver:
        return "wait"
    return None


def unbounded_iteration(expr: cst.BaseExpression) -> bool:
    """`async for message in websocket.iter_text()`: each step waits for a client."""
    call = expr if isinstance(expr, cst.Call) else None
    func = call.func if call is not None else expr
    if isinstance(func, cst.Attribute):
        if func.attr.value.startswith(RECEIVES):
            return True
        func = func.value
    text = (dotted(func) or "").lower()
    return any(word in text for word in ("websocket", "pubsub", "queue"))


def loops_or_waits(inner: cst.FunctionDef) -> bool:
    """Does the generator `inner` loop or await anywhere (it may run on for as long as that)?"""
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
