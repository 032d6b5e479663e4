"""`captured-by-stream`: a handler's session captured by a streaming generator that outlives
the request.

`async def event_gen(): while True: ... db ...; await asyncio.sleep(5)` returned inside a
`StreamingResponse` / `EventSourceResponse` keeps the handler's session (a local, or
`db: Session = Depends(get_db)`) for as long as the client stays connected (incident 2). Reported at
the first use inside the generator. A generator that only iterates the rows of one query (a
deliberate, finite streaming read: `yield_per`, a server-side cursor) is not flagged.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.ownership import STREAM, argument_effect
from leakcheck.analysis.records import Escape, Origin
from leakcheck.analysis.syntax import bound_names, dotted, walk
from leakcheck.analysis.verdicts import Part, Verdict
from leakcheck.analysis.waits import finite_read, loops_or_waits

RESPONSE_SUFFIX = "Response"
# Responses whose body is sent after the handler returns, for as long as the stream lasts.
STREAMING = frozenset({"StreamingResponse", "EventSourceResponse"})
# Hand a request's session to work that runs after the response (FastAPI/Starlette
# BackgroundTasks, asyncio tasks).
LATER_METHODS = frozenset({"add_task", "create_task", "start_soon"})
LATER_CALLABLES = frozenset({"asyncio.create_task", "asyncio.ensure_future"})
ENDS = frozenset({"commit", "rollback", "close"})


def captured(facts: ModuleFacts, sites: list[Site]) -> list[Verdict]:
    found = []
    for info in facts.functions.values():
        outer = info.node
        if not isinstance(outer, cst.FunctionDef):
            continue
        held = {
            site.binding.name: site
            for site in sites
            if site.scope is outer and site.binding.name and site.binding.how != Origin.DISCARDED
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
            found.append(Verdict(site, Escape.CAPTURED_BY_STREAM, None, how, what=what, anchor=use))
        nodes = list(walk(outer.body))  # read once for the rules below
        found += _closed_at_stream_end(facts, outer, held)
        found += _passed_to_streams(facts, info.class_name, outer, held, nodes)
        found += _handed_to_later(facts, outer, held, nodes)
        found += _pinned_dependencies(outer, held, {id(v.site.call) for v in found}, nodes)
    return found


def _closed_at_stream_end(
    facts: ModuleFacts, outer: cst.FunctionDef, held: dict[str, Site]
) -> list[Verdict]:
    """`def gen(): ...; yield row; db.close()` streamed: a client disconnect (GeneratorExit at
    the `yield`) or an error skips the close at the generator's end (`yield`)."""
    found: list[Verdict] = []
    if not any(site.binding.how in (Origin.ASSIGN, Origin.TUPLE) for site in held.values()):
        return found
    for inner in _inner_generators(outer):
        if not _outlives(inner.name.value, outer, inner):
            continue
        shadowed = _locals(inner)
        for name, site in held.items():
            if name in shadowed or site.binding.how not in (Origin.ASSIGN, Origin.TUPLE):
                continue
            release = _release_outside_finally(facts, inner, name, site)
            if release is None:
                continue
            how: tuple[Part, ...] = (
                (
                    f" if the client disconnects or an error is raised at a `yield` of the "
                    f"streaming generator `{inner.name.value}()`: it is closed on line {{line}}, "
                    "at the generator's end, not in `finally`",
                    release,
                ),
            )
            found.append(Verdict(site, Escape.YIELD, release, how, "skipped at a disconnect"))
    return found


def _release_outside_finally(
    facts: ModuleFacts, inner: cst.FunctionDef, name: str, site: Site
) -> cst.Call | None:
    protected: set[int] = set()
    for node in walk(inner.body):
        if isinstance(node, (cst.Try, cst.TryStar)) and node.finalbody is not None:
            protected |= {id(n) for n in walk(node.finalbody)}
    for node in walk(inner.body):
        if isinstance(node, cst.Call) and id(node) not in protected:
            released = facts.released_args(node, site.class_name, site.kind)
            if any(isinstance(a, cst.Name) and a.value == name for a in released):
                return node
    return None


def _outliving_calls(nodes: list[cst.CSTNode]) -> list[cst.Call]:
    """Calls whose result outlives the handler: in a `return`, or passed to a response."""
    out: list[cst.Call] = []
    for node in nodes:
        if isinstance(node, cst.Return) and node.value is not None:
            out += [n for n in walk(node.value) if isinstance(n, cst.Call)]
        elif isinstance(node, cst.Call) and (dotted(node.func) or "").endswith(RESPONSE_SUFFIX):
            out += [n for a in node.args for n in walk(a.value) if isinstance(n, cst.Call)]
    return out


def _passed_to_streams(
    facts: ModuleFacts,
    class_name: str | None,
    outer: cst.FunctionDef,
    held: dict[str, Site],
    nodes: list[cst.CSTNode],
) -> list[Verdict]:
    """`return StreamingResponse(export_rows(db))` where `export_rows` (here or in another module
    of the project) is a generator that streams from its parameter: `captured-by-stream` at the
    argument."""
    found = []
    seen: set[int] = set()
    for call in _outliving_calls(nodes):
        if id(call) in seen:
            continue
        seen.add(id(call))
        for arg in call.args:
            value = arg.value
            if not (isinstance(value, cst.Name) and value.value in held):
                continue
            if argument_effect(facts, call, arg, class_name) != STREAM:
                continue
            site = held[value.value]
            callee = dotted(call.func) or "the generator"
            how = (
                (
                    f" is passed to the streaming generator `{callee}()`, which outlives the "
                    "request: every open stream pins a pooled connection for as long as the "
                    "client stays connected",
                    None,
                ),
            )
            what = f"{site.kind.resource} `{value.value}` of `{outer.name.value}()`"
            found.append(
                Verdict(site, Escape.CAPTURED_BY_STREAM, None, how, what=what, anchor=value)
            )
    return found


def _dependency(site: Site) -> str | None:
    """For `db: Session = Depends(get_db)` (also inside `Annotated[...]`): `get_db`, unless the
    dependency is scoped to the function (`Depends(get_db, scope="function")`, FastAPI >= 0.121,
    exits before the response is sent)."""
    param = site.anchor
    if site.binding.how != Origin.PARAM or not isinstance(param, cst.Param):
        return None
    for node in walk(param):
        if (
            isinstance(node, cst.Call)
            and (dotted(node.func) or "").rsplit(".", 1)[-1] in ("Depends", "Security")
            and node.args
        ):
            for arg in node.args:
                if (
                    arg.keyword is not None
                    and arg.keyword.value == "scope"
                    and isinstance(arg.value, cst.SimpleString)
                    and arg.value.evaluated_value == "function"
                ):
                    return None
            return dotted(node.args[0].value)
    return None


def _handed_to_later(
    facts: ModuleFacts, outer: cst.FunctionDef, held: dict[str, Site], nodes: list[cst.CSTNode]
) -> list[Verdict]:
    """A request's dependency session given to `background_tasks.add_task(...)` or to
    `asyncio.create_task(work(db))`: it runs after the response, when the dependency has closed
    the session (FastAPI >= 0.106) or keeps it open for the task's whole life (`handed-to-task`)."""
    found: list[Verdict] = []
    if not any(_dependency(site) for site in held.values()):
        return found
    for node in nodes:
        if not isinstance(node, cst.Call):
            continue
        func = node.func
        later = (isinstance(func, cst.Attribute) and func.attr.value in LATER_METHODS) or (
            facts.qualify(func) in LATER_CALLABLES
        )
        if not later:
            continue
        for sub in walk(node):
            if isinstance(sub, cst.Name) and sub.value in held:
                site = held[sub.value]
                provider = _dependency(site)
                if provider is None:
                    continue
                how = (
                    (
                        f" is handed to `{dotted(func) or 'a task'}()`, which runs after the "
                        f"response: `{provider}` closes it when the request ends (FastAPI >= "
                        "0.106), or the task keeps its pooled connection for its whole life; "
                        "open a session inside the task instead",
                        None,
                    ),
                )
                what = f"request {site.kind.resource} `{sub.value}` of `{outer.name.value}()`"
                found.append(Verdict(site, Escape.HANDED_TO_TASK, None, how, what=what, anchor=sub))
                break
    return found


def _pinned_dependencies(
    outer: cst.FunctionDef, held: dict[str, Site], reported: set[int], nodes: list[cst.CSTNode]
) -> list[Verdict]:
    """A yield-dependency session used by a handler that returns a streaming response: since
    FastAPI 0.118 the dependency's exit code runs after the response is sent (as before 0.106),
    so the session, and the pooled connection its last query checked out, stay pinned while the
    stream lasts (`pinned-by-stream`)."""
    if not any(_dependency(site) for site in held.values()):
        return []
    streaming = next(
        (
            node
            for node in nodes
            if isinstance(node, cst.Call)
            and (dotted(node.func) or "").rsplit(".", 1)[-1] in STREAMING
        ),
        None,
    )
    if streaming is None:
        return []
    found = []
    for name, site in held.items():
        provider = _dependency(site)
        if provider is None or id(site.call) in reported:
            continue
        last = _last_use(nodes, name)
        if last is None or last.attr.value in ENDS:
            continue  # unused, or its transaction ended: no connection is checked out
        how = (
            (
                f" stays checked out while the `{dotted(streaming.func)}` on line {{line}} "
                f"streams: `{provider}` closes it only after the response is sent (FastAPI >= "
                "0.118, and before 0.106); use `Depends("
                f'{provider}, scope="function")` (FastAPI >= 0.121) or commit before returning',
                streaming,
            ),
        )
        what = f"{site.kind.resource} `{name}` of `{outer.name.value}()`"
        found.append(
            Verdict(
                site, Escape.PINNED_BY_STREAM, streaming, how, "streams here", what, site.anchor
            )
        )
    return found


def _last_use(nodes: list[cst.CSTNode], name: str) -> cst.Attribute | None:
    """The last `name.method` the handler itself (not a nested function) reaches, in order."""
    last = None
    for node in nodes:
        if (
            isinstance(node, cst.Attribute)
            and isinstance(node.value, cst.Name)
            and node.value.value == name
        ):
            last = node
    return last


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
