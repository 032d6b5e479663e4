"""Acquisitions behind a callable value: `conn = retry(lambda: pymysql.connect(**cfg))`,
`conn = with_backoff(open_conn)()`, `await loop.run_in_executor(None, open_conn)`.

A *callable that acquires* is a lambda whose body acquires, a name of a function (or method)
that returns a fresh resource, an acquiring callable itself (`pymysql.connect`), or
`functools.partial(f, ...)` of one. A *calling wrapper* calls the callable it is given and
returns its result: a function of the project whose every `return` is a call of one of its
parameters (`def retry(fn): ... return fn()`), or one whose every `return` gives back a nested
function (or lambda) that does (`def with_backoff(fn): def run(*a): return fn(*a); return run`),
and the library callables listed in `rules/ownership.toml` (`calling-callables`,
`calling-methods`). The wrapper's call (or the call of the callable it returns) acquires what
the callable acquires.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from leakcheck.analysis.records import FunctionInfo
from leakcheck.analysis.syntax import unwrap_value, walk
from leakcheck.config.catalogue import Kind
from leakcheck.config.ownership import ownership

Acquire = Callable[[cst.Call], Kind | None]
# A callee -> the forms in which it calls its argument, and the argument's position (see
# `rules/ownership.toml`, `calling-callables`)
Wrapping = Callable[[cst.BaseExpression], dict[str, int]]

_DEPTH = 3


def positional(call: cst.Call, index: int) -> cst.BaseExpression | None:
    """The positional argument number `index` of `call`, if plainly there."""
    args = [a for a in call.args if a.keyword is None]
    if any(a.star for a in args[: index + 1]) or index >= len(args):
        return None
    return args[index].value


def callable_kind(
    value: cst.BaseExpression, acquire: Acquire, wrapping: Wrapping, depth: int = 0
) -> Kind | None:
    """The kind a call of the callable `value` acquires, if it does (see the module's doc)."""
    if depth > _DEPTH:
        return None
    value = unwrap_value(value)
    if isinstance(value, cst.Lambda):
        body = unwrap_value(value.body)
        return acquire(body) if isinstance(body, cst.Call) else None
    if isinstance(value, (cst.Name, cst.Attribute)):
        return acquire(cst.Call(func=value))
    if isinstance(value, cst.Call):
        return returned_callable(value, acquire, wrapping, depth + 1)
    return None


def returned_callable(
    call: cst.Call, acquire: Acquire, wrapping: Wrapping, depth: int = 0
) -> Kind | None:
    """The kind acquired by calling what `call` returns: `with_backoff(open_conn)`,
    `functools.partial(pymysql.connect, **cfg)`, `tenacity.retry(stop=...)(open_conn)`."""
    forms = wrapping(call.func)
    index = forms.get("decorator")
    if index is not None:
        inner = positional(call, index)
        if inner is None:
            return None
        if index == 0 and isinstance(inner, (cst.Name, cst.Attribute)):
            # `partial(f, a, k=v)`: the call it makes is `f(a, k=v)`.
            rest = [a for a in call.args if a.value is not inner]
            return acquire(cst.Call(func=inner, args=rest))
        return callable_kind(inner, acquire, wrapping, depth)
    if isinstance(call.func, cst.Call) and "decorator-factory" in wrapping(call.func.func):
        inner = positional(call, wrapping(call.func.func)["decorator-factory"])
        return callable_kind(inner, acquire, wrapping, depth) if inner is not None else None
    return None


def through_wrapper(
    call: cst.Call, acquire: Acquire, wrapping: Wrapping, awaited: bool
) -> Kind | None:
    """The kind `call` acquires through a calling wrapper: `retry(lambda: connect())`,
    `Retrying(...)(open_conn)`, `await loop.run_in_executor(None, open_conn)` (`awaited`: the
    call is under an `await`; the "await" form gives the result only then), or the call of a
    callable a wrapper returns (`with_backoff(open_conn)()`)."""
    func = call.func
    if not call.args and not isinstance(func, cst.Call):
        return None
    if isinstance(func, cst.Call):
        made = returned_callable(func, acquire, wrapping)
        if made is not None:
            return made
        index = wrapping(func.func).get("instance-call")
        if index is not None:
            inner = positional(call, index)
            return callable_kind(inner, acquire, wrapping) if inner is not None else None
    forms = wrapping(func)
    index = forms.get("call")
    if index is not None:
        inner = positional(call, index)
        return callable_kind(inner, acquire, wrapping) if inner is not None else None
    if not awaited:
        return None
    index = forms.get("await")
    if index is None and isinstance(func, cst.Attribute):
        index = ownership().calling_methods.get(func.attr.value)
    inner = positional(call, index) if index is not None else None
    if inner is None:
        return None
    if isinstance(inner, (cst.Name, cst.Attribute)):
        # `asyncio.to_thread(sqlite3.connect, path)`: the call it makes is `sqlite3.connect(path)`.
        rest = [a for a in call.args if a.keyword is not None or a.value is not inner][index:]
        return acquire(cst.Call(func=inner, args=rest))
    return callable_kind(inner, acquire, wrapping)


def calls_parameter(info: FunctionInfo) -> int | None:
    """The index (self/cls left out) of the parameter whose call's result every `return` of the
    function gives back (`return fn()`, `return await fn(*args)`, or a local bound only to such
    a call); None when there is none, or the function is a generator."""
    if info.yields or not info.returns or not isinstance(info.node, cst.FunctionDef):
        return None
    params = _params(info)
    found: set[str] = set()
    for value in info.returns:
        inner = unwrap_value(value)
        candidates = [inner]
        if isinstance(inner, cst.Name) and inner.value not in params:
            candidates = [unwrap_value(v) for v in info.assigned.get(inner.value, [])]
        if not candidates:
            return None
        for candidate in candidates:
            if not (
                isinstance(candidate, cst.Call)
                and isinstance(candidate.func, cst.Name)
                and candidate.func.value in params
            ):
                return None
            found.add(candidate.func.value)
    if len(found) != 1:
        return None
    return params.index(found.pop())


def wraps_parameter(
    info: FunctionInfo,
    nested: dict[cst.FunctionDef, FunctionInfo],
    named: dict[str, FunctionInfo],
) -> int | None:
    """The index of the parameter that the callable the function returns calls and returns the
    result of (`def with_backoff(fn): def run(*a): return fn(*a); return run`, or `return
    lambda: fn()`); None otherwise. `nested`: every function's facts by node; `named`: by key
    (a nested function's key is its plain name), to skip the walk when no return names one."""
    node = info.node
    if info.yields or not info.returns or not isinstance(node, cst.FunctionDef):
        return None
    if not all(
        isinstance(v, cst.Lambda) or (isinstance(v, cst.Name) and v.value in named)
        for v in map(unwrap_value, info.returns)
    ):
        return None
    params = _params(info)
    defined = {
        sub.name.value: sub
        for sub in walk(node.body)
        if isinstance(sub, cst.FunctionDef) and sub is not node
    }
    found: set[str] = set()
    for value in info.returns:
        inner = unwrap_value(value)
        if isinstance(inner, cst.Lambda):
            body = unwrap_value(inner.body)
            if not (isinstance(body, cst.Call) and isinstance(body.func, cst.Name)):
                return None
            found.add(body.func.value)
            continue
        sub = defined.get(inner.value) if isinstance(inner, cst.Name) else None
        sub_info = nested.get(sub) if sub is not None else None
        if sub_info is None:
            return None
        index = calls_parameter(sub_info)
        if index is not None:
            return None  # it calls its own parameter, not the wrapped one
        called = _called_free(sub_info)
        if called is None:
            return None
        found.add(called)
    if len(found) != 1 or next(iter(found)) not in params:
        return None
    return params.index(found.pop())


def _called_free(info: FunctionInfo) -> str | None:
    """The one name, not a parameter of `info`, whose call's result every `return` gives back."""
    if info.yields or not info.returns:
        return None
    found: set[str] = set()
    for value in info.returns:
        inner = unwrap_value(value)
        if not (isinstance(inner, cst.Call) and isinstance(inner.func, cst.Name)):
            return None
        if inner.func.value in info.params:
            return None
        found.add(inner.func.value)
    return found.pop() if len(found) == 1 else None


def _params(info: FunctionInfo) -> tuple[str, ...]:
    params = info.params
    if info.class_name is not None and params[:1] in (("self",), ("cls",)):
        return params[1:]
    return params


def data_forms(qualified: str) -> dict[str, int]:
    """The forms in which the library callable `qualified` calls its argument (ownership data)."""
    return ownership().calling_callables.get(qualified, {})


def runs_in_a_thread(call: cst.Call) -> bool:
    """`loop.run_in_executor(...)`, `asyncio.to_thread(...)` (however imported: by the last name):
    awaiting it gives what a plain function returned in a thread, a synchronous resource whose
    release is not awaited (the "await" form of the ownership data)."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in ownership().calling_methods:
        return True
    name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
    return any(
        "await" in forms and qualified.rsplit(".", 1)[-1] == name
        for qualified, forms in ownership().calling_callables.items()
    )
