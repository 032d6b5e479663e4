"""Middleware that wraps the rest of the request: a resource stored on the request
(`request.state.db = SessionLocal()`), the request handed on (`await call_next(request)`), and the
release after it. Code after the call runs only when the call returns: a release not in the
`finally` of a `try` around the call is skipped on every error.

The shapes are data (`rules/lifecycles.toml`, `Middleware`): Starlette's and FastAPI's
`@app.middleware("http")` functions and `BaseHTTPMiddleware.dispatch` methods.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.contexts import functions, released_anywhere, releases
from leakcheck.analysis.django.drafts import Draft
from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.frameworks.common import never_released
from leakcheck.analysis.syntax import call_text, receiver_text, unwrap_value, walk
from leakcheck.checks import middleware_release_not_in_finally
from leakcheck.config.catalogue import Kind
from leakcheck.config.lifecycles import Middleware


def dispatchers(facts: ModuleFacts, shape: Middleware) -> list[cst.FunctionDef]:
    """The module's middleware functions: decorated `@<app>.middleware(...)`, or `dispatch` of a
    class whose base is one of `shape.bases` (however imported)."""
    found = []
    for node in walk(facts.module, into_scopes=True):
        if isinstance(node, cst.FunctionDef):
            for decorator in node.decorators:
                expr = decorator.decorator
                func = expr.func if isinstance(expr, cst.Call) else expr
                if isinstance(func, cst.Attribute) and func.attr.value == shape.decorator:
                    found.append(node)
                elif isinstance(func, cst.Name) and _imported_from(
                    facts.qualify(func), shape.modules, shape.decorator
                ):
                    found.append(node)  # `from aiohttp.web import middleware`
        elif isinstance(node, cst.ClassDef):
            if not any(facts.qualify(base.value) in shape.bases for base in node.bases):
                continue
            body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
            for item in body:
                if isinstance(item, cst.FunctionDef) and item.name.value == shape.method != "":
                    found.append(item)
    return found


def _imported_from(qualified: str, modules: tuple[str, ...], name: str) -> bool:
    """Is `qualified` the name `name` of one of `modules` or of a submodule of one?"""
    root = qualified.split(".", 1)[0]
    return root in modules and qualified.rsplit(".", 1)[-1] == name and "." in qualified


def _released_elsewhere(facts: ModuleFacts, stored: str, kind: Kind) -> bool:
    """Does a function of the module release `stored`'s key (`request.state.db.close()` in an
    exception handler)?"""
    head, _, key = stored.rpartition(".")
    if not key or "[" in stored:
        head, _, key = stored.partition("[")
        key = key.rstrip("]").strip("'\"")
    holder_last = head.rsplit(".", 1)[-1]
    return released_anywhere(facts, holder_last, key, kind, functions(facts.module))


def _request(function: cst.FunctionDef) -> str:
    """The name of the middleware's request parameter: its first, after `self`."""
    params = [p.name.value for p in function.params.params]
    params = [p for p in params if p not in ("self", "cls")]
    return params[0] if params else ""


def _stores(
    function: cst.FunctionDef, facts: ModuleFacts, shape: Middleware
) -> list[tuple[cst.Call, set[str]]]:
    """Acquisitions stored on the request (`request.state.db = Session()`, or bound to a name
    that is then stored): the call and the texts that hold it (with the name, when bound)."""
    request = _request(function)
    bound: dict[str, cst.Call] = {}
    out: dict[int, tuple[cst.Call, set[str]]] = {}
    for node in walk(function.body):
        if not isinstance(node, cst.Assign):
            continue
        value = unwrap_value(node.value)
        for target in node.targets:
            text = receiver_text(target.target) or ""
            if isinstance(value, cst.Call) and facts.acquisition(value, None) is not None:
                if isinstance(target.target, cst.Name):
                    bound[text] = value
                elif shape.stored(text, request):
                    out.setdefault(id(value), (value, set()))[1].add(text)
            elif (
                isinstance(value, cst.Name) and value.value in bound and shape.stored(text, request)
            ):
                call = bound[value.value]
                out.setdefault(id(call), (call, set()))[1].update({text, value.value})
    return list(out.values())


def _protected(function: cst.FunctionDef, release: cst.Call, handoff: cst.Call) -> bool:
    """Is `release` in the `finally` of a `try` whose body holds `handoff`?"""
    for node in walk(function.body):
        if not isinstance(node, cst.Try) or node.finalbody is None:
            continue
        if any(n is release for n in walk(node.finalbody)) and any(
            n is handoff for n in walk(node.body)
        ):
            return True
    return False


def middleware_drafts(facts: ModuleFacts, shape: Middleware) -> list[Draft]:
    """`middleware-release-not-in-finally` for each resource a middleware stores on the request
    and releases after handing the request on, outside `finally`."""
    drafts = []
    for function in dispatchers(facts, shape):
        handoffs = [
            n
            for n in walk(function.body)
            if isinstance(n, cst.Call)
            and isinstance(n.func, cst.Name)
            and n.func.value == shape.next
        ]
        if not handoffs:
            continue
        handoff = handoffs[0]
        for call, holders in _stores(function, facts, shape):
            kind = facts.acquisition(call, None)
            if kind is None:
                continue
            found = [
                n
                for n in walk(function.body)
                if isinstance(n, cst.Call) and releases(facts, n, kind, holders)
            ]
            request = _request(function)
            stored = sorted(h for h in holders if shape.stored(h, request))[0]
            if not found and len(holders) > 1 and not _released_elsewhere(facts, stored, kind):
                # Bound to a name, then stored: the shared analysis sees a hand-off.
                never = never_released(call, kind, stored, function)
                drafts.extend([never] if never is not None else [])
                continue
            if not found or any(_protected(function, r, handoff) for r in found):
                continue  # nothing releases it (`never-closed`), or `finally` does
            drafts.append(
                Draft(
                    middleware_release_not_in_finally.RULE.code,
                    call,
                    {
                        "what": f"{kind.resource.capitalize()} from `{call_text(call)}`",
                        "stored": stored,
                        "released": kind.released,
                        "next": call_text(handoff),
                    },
                    function.name.value,
                    call_text(call),
                    related=handoff,
                    related_label="if this raises, the release after it is skipped",
                )
            )
    return drafts
