"""Fixes for sessions pinned by streams (`pinned-by-stream`) and held across an await
(`held-across-await`).

`pinned-by-stream`, `Depends(get_db, scope="function")`: the dependency's exit code (its
`db.close()`) then runs when the path operation function returns, before the response streams.
FastAPI facts, from its release notes:

- 0.106.0 ran the exit code of dependencies with `yield` before the response was sent ("Using
  resources from dependencies with `yield` in background tasks is no longer supported");
- 0.118.0 reverted that: "the exit code after `yield` [is] executed after the response is sent",
  so a `StreamingResponse` keeps the dependency's session until it ends;
- 0.121.0 added dependency scopes: `scope="function"` exits when the path operation function
  returns, `scope="request"` (the default) after the response;
- 0.121.1 "Fix `Depends(func, scope='function')` for top level (parameterless) dependencies"
  (PR #14301): `get_db()` takes no parameters, so 0.121.0 is not enough.

The version comes from the project's dependency files (`config/dependencies.py`), never from
importing FastAPI. Unknown, the fix is unsafe and says so; older than 0.121, it is not offered.
"""

from __future__ import annotations

from pathlib import Path

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.positions import Span, locate
from leakcheck.analysis.records import Escape, Origin
from leakcheck.analysis.streams import STREAMING
from leakcheck.analysis.syntax import dotted, walk
from leakcheck.analysis.verdicts import Verdict
from leakcheck.config.dependencies import package_version
from leakcheck.fix.recipes import Plan
from leakcheck.model import Applicability

SCOPE_FIXED = (0, 121, 1)  # `scope="function"` right for parameterless dependencies
SCOPE_ADDED = (0, 121, 0)


def function_scope(verdict: Verdict, facts: ModuleFacts, where: Path | None) -> Plan | None:
    """`db: Session = Depends(get_db)` -> `Depends(get_db, scope="function")` for a
    `pinned-by-stream` finding, with the FastAPI version in the title. Unsafe when the version is
    unknown or 0.121.0, or when the stream reads what the session loaded (lazy attributes fail once
    it is closed)."""
    site = verdict.site
    param = site.anchor
    handler = site.scope
    name = site.binding.name
    if verdict.leak != Escape.PINNED_BY_STREAM or not isinstance(param, cst.Param) or name is None:
        return None
    if not isinstance(handler, cst.FunctionDef):
        return None
    depends = next(
        (
            n
            for n in walk(param)
            if isinstance(n, cst.Call)
            and (dotted(n.func) or "").rsplit(".", 1)[-1] == "Depends"
            and len(n.args) == 1
            and n.args[0].keyword is None
        ),
        None,
    )
    if depends is None:
        return None
    found = package_version("fastapi", where) if where is not None else None
    if found is not None and not found.at_least(*SCOPE_ADDED):
        return None  # no dependency scopes before FastAPI 0.121.0
    provider = dotted(depends.args[0].value) or "the dependency"
    new = depends.with_changes(
        args=[
            depends.args[0].with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            ),
            cst.Arg(
                cst.SimpleString('"function"'),
                keyword=cst.Name("scope"),
                equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""),
                    whitespace_after=cst.SimpleWhitespace(""),
                ),
            ),
        ]
    )
    if found is None:
        version = "FastAPI version unknown"
        reason = (
            "`scope` needs FastAPI 0.121.1 or later; "
            "no dependency file of the project names FastAPI"
        )
    else:
        version = f"FastAPI {found.text} in {found.file.name}"
        reason = ""
        if not found.at_least(*SCOPE_FIXED):
            reason = f"FastAPI {found.text}: 0.121.1 fixed `scope` for parameterless dependencies"
    reason = reason or _read_by_stream(handler, name)
    scoped = f'Depends({provider}, scope="function")'
    title = f"Close `{name}` when `{handler.name.value}()` returns: `{scoped}` ({version})"
    return Plan(depends, new, title, Applicability.UNSAFE if reason else Applicability.SAFE, reason)


def _read_by_stream(handler: cst.FunctionDef, name: str) -> str:
    """Why closing the session before the stream runs may break it: the stream (the streaming
    response's arguments, or a generator defined in the handler) reads a value loaded through
    the session; "" when it reads none."""
    assigns = [n for n in walk(handler.body) if isinstance(n, cst.Assign)]
    loaded: set[str] = set()
    while True:  # `orders = db.scalars(q).all()`, then `rows = [o.id for o in orders]`
        more = {
            n.value
            for node in assigns
            if _mentions(node.value, loaded | {name})
            for target in node.targets
            for n in walk(target.target)
            if isinstance(n, cst.Name)
        } - {name}
        if more <= loaded:
            break
        loaded |= more
    if not loaded:
        return ""
    read: set[str] = set()
    for node in walk(handler.body):
        if isinstance(node, cst.Call) and (dotted(node.func) or "").rsplit(".", 1)[-1] in STREAMING:
            read |= _names(node) & loaded
        if isinstance(node, cst.FunctionDef):
            read |= _names(node.body) & loaded
    if not read:
        return ""
    shown = ", ".join(f"`{n}`" for n in sorted(read))
    return (
        f"the stream reads {shown}, loaded through `{name}`: attributes not loaded yet "
        "(lazy relationships, expired columns) fail once the session is closed"
    )


def _names(node: cst.CSTNode) -> set[str]:
    return {n.value for n in walk(node) if isinstance(n, cst.Name)}


def _mentions(node: cst.CSTNode, names: set[str]) -> bool:
    return bool(_names(node) & names)


# -- `held-across-await`: a session kept open across a wait on the outside world --------------


def close_before_wait(verdict: Verdict, facts: ModuleFacts) -> Plan | None:
    """`db.close()` (awaited for an `AsyncSession`) inserted before the wait, where nothing uses
    the session after that point: the earliest statement containing the wait, walking out of
    the blocks around it, before which every use of `db` comes and which no loop around it
    repeats a use. Always unsafe: objects loaded through the session are detached by `close()`,
    so attributes not loaded yet (lazy relationships, expired columns) raise
    `DetachedInstanceError` when read after it. Only kinds that can be used again after
    `close()` (`Kind.usable_after_close`; SQLAlchemy 2.0, "Closing": `Session.close()` may be
    called again and the session starts anew), so the `finally` / `with` that closed it before
    stays as it was."""
    site = verdict.site
    name = site.binding.name
    scope = site.scope
    wait = verdict.node
    if verdict.leak != Escape.HELD_ACROSS_AWAIT or name is None or wait is None:
        return None
    if not site.kind.usable_after_close or not isinstance(scope, cst.FunctionDef):
        return None
    if site.binding.how not in (Origin.ASSIGN, Origin.WITH):
        return None  # a dependency's session (a parameter): its provider closes it; not proven
    awaited = _async_session(scope, name)
    if awaited is None:
        return None
    path = _path_to(scope.body, wait)
    if not path:
        return None
    uses = [
        n
        for n in walk(scope.body)
        if isinstance(n, cst.Name) and n.value == name and not _released_here(n, scope, name)
    ]
    blocks: list[tuple[cst.IndentedBlock, cst.BaseStatement]] = []
    for i, node in enumerate(path[:-1]):
        child = path[i + 1]
        if isinstance(node, cst.IndentedBlock) and isinstance(child, cst.BaseStatement):
            blocks.append((node, child))
    acquired: cst.CSTNode | None = site.call  # not a parameter: returned above
    spans = locate(facts.module, [*uses, *(s for _, s in blocks), *path])
    more = locate(facts.module, [acquired]) if acquired is not None else {}
    start = more.get(id(acquired)) if acquired is not None else None
    chosen: tuple[cst.IndentedBlock, cst.BaseStatement] | None = None
    for block, stmt in reversed(blocks):  # innermost first: keep the outermost that fits
        here = spans[id(stmt)]
        if start is not None and (here.line, here.column) <= (start.line, start.column):
            break  # before the acquisition: the session is not open yet
        if any((spans[id(u)].line, spans[id(u)].column) >= (here.line, here.column) for u in uses):
            break  # used at or after this point
        loops = [n for n in path[: path.index(stmt)] if isinstance(n, (cst.For, cst.While))]
        if any(_within(spans[id(u)], spans[id(loop)]) for loop in loops for u in uses):
            continue  # a loop around this point uses it again on its next iteration
        chosen = (block, stmt)
    if chosen is None:
        return None
    block, stmt = chosen
    call: cst.BaseExpression = cst.Call(cst.Attribute(cst.Name(name), cst.Name("close")))
    if awaited:
        call = cst.Await(call)
    close = cst.SimpleStatementLine(body=[cst.Expr(call)])
    body = list(block.body)
    position = body.index(stmt)
    new = block.with_changes(body=[*body[:position], close, *body[position:]])
    reason = (
        f"objects loaded through `{name}` are detached once it is closed: attributes not loaded "
        "yet (lazy relationships, expired columns) fail when read after the close"
    )
    title = f"Close `{name}` before it waits, after its last use"
    return Plan(block, new, title, Applicability.UNSAFE, reason)


def _async_session(scope: cst.FunctionDef, name: str) -> bool | None:
    """Whether `close()` must be awaited: an `AsyncSession` (by annotation, constructor or an
    awaited method call on it); None when the function is not async and the session is."""
    text = cst.Module(body=[]).code_for_node(scope.params)
    awaited = "AsyncSession" in text or any(
        isinstance(n, cst.Await)
        and isinstance(n.expression, cst.Call)
        and isinstance(n.expression.func, cst.Attribute)
        and isinstance(n.expression.func.value, cst.Name)
        and n.expression.func.value.value == name
        for n in walk(scope.body)
    )
    if awaited and scope.asynchronous is None:
        return None
    return awaited


def _released_here(node: cst.Name, scope: cst.FunctionDef, name: str) -> bool:
    """`db` in `db.close()` / `await db.close()`: the release, not a use."""
    for call in walk(scope.body):
        if (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.value is node
            and call.func.attr.value == "close"
        ):
            return True
    return False


def _path_to(root: cst.CSTNode, target: cst.CSTNode) -> list[cst.CSTNode]:
    """The nodes from `root` down to `target` (both included); [] when it is not inside."""
    stack: list[tuple[cst.CSTNode, list[cst.CSTNode]]] = [(root, [root])]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if isinstance(node, cst.FunctionDef) and node is not root:
            continue
        stack += [(child, [*path, child]) for child in node.children]
    return []


def _within(inner: Span, outer: Span) -> bool:
    return (outer.line, outer.column) <= (inner.line, inner.column) and (
        inner.end_line,
        inner.end_column,
    ) <= (outer.end_line, outer.end_column)
