"""A release written in `except` (and perhaps again on the happy path) becomes one in `finally`.

    conn = pool.getconn()                    conn = pool.getconn()
    try:                                     try:
        work(conn)                               work(conn)
    except Exception:                        except Exception:
        conn.rollback()                          conn.rollback()
        pool.putconn(conn)                       raise
        raise                                finally:
    pool.putconn(conn)                           pool.putconn(conn)

The releases of the handlers, the one ending the `try` body and the first one after the `try` are
removed and one release goes into a new `finally`. The handlers keep everything else, in order; a
handler left with a bare `raise` as the last one is dropped (it changes nothing). There is no fix
when the resource (or a cursor of it) is used after the `try`, when it is handed over inside it,
or when another release remains that the new `finally` would repeat.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import walk
from leakcheck.fix.drops import discards
from leakcheck.fix.ranges import (
    acquired_in_block,
    deferred_use,
    detaches,
    hands_over,
    is_release,
    leaves,
    live_names,
    mentions_release,
    names,
    range_of,
    returns_live,
    used_after,
)
from leakcheck.fix.recipes import Plan
from leakcheck.fix.statements import bare, has_comment
from leakcheck.model import Applicability


def release_in_finally(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite moving the releases of the first `try` after the acquisition whose handlers
    release the resource into its `finally`; None when that is not known to be right."""
    start = acquired_in_block(site, facts)
    if start is None:
        return None
    name, block, body, index = start.name, start.block, start.body, start.index
    _, derived = range_of(body, index + 1, name)
    guard: cst.BaseExpression | None = None
    position = next(
        (k for k in range(index + 1, len(body)) if _handler_releases(body[k], site, facts, name)),
        None,
    )
    if position is None:
        inner = _acquired_inside(site, facts, block, index, name)
        if inner is None:
            return None
        block, position = inner
        body = tuple(block.body)
        # The acquisition may fail, or not be reached: `finally` tests what `name = None` set.
        guard = cst.Comparison(
            cst.Name(name), [cst.ComparisonTarget(cst.IsNot(), cst.Name("None"))]
        )
    elif any(name in names(s) for s in body[index + 1 : position]):
        return None  # used before the `try`: the new `finally` would not cover it
    old = body[position]
    assert isinstance(old, cst.Try)
    if old.finalbody is not None or not isinstance(old.body, cst.IndentedBlock):
        return None
    removed: list[cst.BaseStatement] = []

    def without_release(
        stmts: Sequence[cst.BaseStatement], last_only: bool
    ) -> list[cst.BaseStatement]:
        out = list(stmts)
        candidates = out[-1:] if last_only else out
        for stmt in candidates:
            if is_release(stmt, site, facts, name):
                removed.append(stmt)
                out.remove(stmt)
                break
        return out

    try_body = without_release(old.body.body, last_only=True)
    handlers = []
    falls_through = False
    for handler in old.handlers:
        if not isinstance(handler.body, cst.IndentedBlock):
            return None
        count = len(removed)
        stmts = without_release(handler.body.body, last_only=False)
        if len(removed) == count:
            stmts = _without_guarded(stmts, site, facts, name, removed)
        if len(removed) > count and not _exits(stmts):
            falls_through = True
        handlers.append(handler.with_changes(body=handler.body.with_changes(body=stmts)))
    orelse = old.orelse
    if isinstance(orelse, cst.Else) and isinstance(orelse.body, cst.IndentedBlock):
        left = without_release(orelse.body.body, last_only=True)
        orelse = orelse.with_changes(body=orelse.body.with_changes(body=left)) if left else None
    rest = list(body[position + 1 :])
    after = next((k for k, s in enumerate(rest) if is_release(s, site, facts, name)), None)
    if after is not None:
        if falls_through:
            return None  # a handler releases and goes on to this release: the original fails
        removed.append(rest[after])
        rest = drop_statement(rest, after)
    if not try_body or not removed or len([s for s in removed if has_comment(s)]) > 1:
        return None
    inside: list[cst.BaseStatement] = list(try_body)
    for handler in handlers:
        assert isinstance(handler.body, cst.IndentedBlock)
        inside += handler.body.body
    if isinstance(orelse, cst.Else) and isinstance(orelse.body, cst.IndentedBlock):
        inside += orelse.body.body
    tied = {name} | live_names(inside, name)
    if mentions_release((*inside, *rest), site, facts, name):
        return None  # released elsewhere too: the new `finally` would release twice
    if any(names(s) & tied for s in rest):
        return None  # used after the `try`, where the `finally` has released it
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    if any(used_after(body[-1], root, n) for n in tied):
        return None  # used after the block
    if (
        any(
            isinstance(n, cst.Return) and n.value is not None and hands_over(n.value, name)
            for s in inside
            for n in walk(s)
        )
        or leaves(inside, name, set())
        or deferred_use(inside, tied) is not None
        or returns_live(inside, name)
    ):
        return None  # handed over on some path: its new holder would find it released
    # The release written with a comment is kept as written; one that discards the resource on
    # purpose is not the release for every path (drops.py: the rewrite is then unsafe).
    kept = [s for s in removed if not discards(s, site, facts, name)]
    release = next((s for s in kept if has_comment(s)), (kept or removed)[-1])
    while handlers and _only_reraises(handlers[-1]):
        handlers.pop()  # `except Exception: raise` as the last handler does nothing
    if not handlers and orelse is not None:
        return None  # `try/else` without a handler is not Python
    final: cst.BaseStatement = bare(release)
    if guard is not None:
        final = cst.If(test=guard, body=cst.IndentedBlock(body=[final]))
    new_try = old.with_changes(
        body=old.body.with_changes(body=try_body),
        handlers=[_not_empty(h) for h in handlers],
        orelse=orelse,
        finalbody=cst.Finally(body=cst.IndentedBlock(body=[final])),
    )
    new_block = block.with_changes(body=[*body[:position], new_try, *rest])
    reason = detaches(site, [*inside, *rest], name, derived)
    title = f"Release `{name}` in `finally` instead of `except`"
    return Plan(
        block, new_block, title, Applicability.UNSAFE if reason else Applicability.SAFE, reason
    )


def _acquired_inside(
    site: Site,
    facts: ModuleFacts,
    block: cst.IndentedBlock | cst.Module,
    index: int,
    name: str,
) -> tuple[cst.IndentedBlock | cst.Module, int] | None:
    """`conn = None` / `try: conn = pool.getconn() ...` / `except: ... pool.putconn(conn)`: the
    block holding that `try` and its index, when the acquisition opens the `try` body (nothing
    before it uses the name) and the name is set to `None` before the `try`."""
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    for node in walk(root):
        if not (isinstance(node, cst.Try) and node.body is block):
            continue
        if not _handler_releases(node, site, facts, name):
            return None
        if any(name in names(s) for s in block.body[:index]):
            return None
        for parent in walk(root):
            if not isinstance(parent, (cst.IndentedBlock, cst.Module)):
                continue
            position = next((i for i, s in enumerate(parent.body) if s is node), None)
            if position is None:
                continue
            if any(_sets_none(s, name) for s in parent.body[:position]):
                return parent, position
            return None
    return None


def _sets_none(stmt: cst.BaseStatement, name: str) -> bool:
    """`conn = None`."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return False
    small = stmt.body[0]
    return (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and small.targets[0].target.value == name
        and isinstance(small.value, cst.Name)
        and small.value.value == "None"
    )


def _handler_releases(node: cst.CSTNode, site: Site, facts: ModuleFacts, name: str) -> bool:
    """Is `node` a `try` with a handler that releases the resource (a statement of its own, or
    under `if conn:`)?"""
    return isinstance(node, cst.Try) and any(
        isinstance(h.body, cst.IndentedBlock)
        and (
            any(is_release(s, site, facts, name) for s in h.body.body)
            or _without_guarded(h.body.body, site, facts, name, []) != list(h.body.body)
        )
        for h in node.handlers
    )


def _guards(test: cst.BaseExpression, name: str) -> bool:
    """`if conn:`, `if conn is not None:`: true for a held connection (acquired before the `try`,
    so the new `finally` needs no guard)."""
    if isinstance(test, cst.Name):
        return test.value == name
    return (
        isinstance(test, cst.Comparison)
        and isinstance(test.left, cst.Name)
        and test.left.value == name
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, cst.IsNot)
        and isinstance(test.comparisons[0].comparator, cst.Name)
        and test.comparisons[0].comparator.value == "None"
    )


def _without_guarded(
    stmts: Sequence[cst.BaseStatement],
    site: Site,
    facts: ModuleFacts,
    name: str,
    removed: list[cst.BaseStatement],
) -> list[cst.BaseStatement]:
    """`stmts` without the release inside a top-level `if conn:` (the `if` goes if nothing else
    is left in it); the release is added to `removed`."""
    out = list(stmts)
    for index, stmt in enumerate(out):
        if not (
            isinstance(stmt, cst.If)
            and stmt.orelse is None
            and _guards(stmt.test, name)
            and isinstance(stmt.body, cst.IndentedBlock)
        ):
            continue
        inner = list(stmt.body.body)
        found = next((s for s in inner if is_release(s, site, facts, name)), None)
        if found is None:
            continue
        removed.append(found)
        left = [s for s in inner if s is not found]
        if left:
            out[index] = stmt.with_changes(body=stmt.body.with_changes(body=left))
        else:
            del out[index]
        return out
    return out


def _exits(stmts: Sequence[cst.BaseStatement]) -> bool:
    """Does the handler end by leaving (`raise`, `return`)?"""
    if not stmts or not isinstance(stmts[-1], cst.SimpleStatementLine):
        return False
    return isinstance(stmts[-1].body[-1], (cst.Raise, cst.Return))


def _only_reraises(handler: cst.ExceptHandler) -> bool:
    stmts = handler.body.body if isinstance(handler.body, cst.IndentedBlock) else ()
    return (
        len(stmts) == 1
        and isinstance(stmts[0], cst.SimpleStatementLine)
        and len(stmts[0].body) == 1
        and isinstance(stmts[0].body[0], cst.Raise)
        and stmts[0].body[0].exc is None
        and handler.name is None
    )


def _not_empty(handler: cst.ExceptHandler) -> cst.ExceptHandler:
    """A handler whose only statement was the release swallows the error: it keeps `pass`."""
    assert isinstance(handler.body, cst.IndentedBlock)
    if handler.body.body:
        return handler
    stmt = cst.SimpleStatementLine(body=[cst.Pass()])
    return handler.with_changes(body=handler.body.with_changes(body=[stmt]))


def drop_statement(stmts: list[cst.BaseStatement], at: int) -> list[cst.BaseStatement]:
    """`stmts` without the one at `at`; the next statement takes its blank lines, if it has none."""
    gone = stmts[at]
    out = stmts[:at] + stmts[at + 1 :]
    if at < len(out):
        follower = out[at]
        lines = list(getattr(follower, "leading_lines", ()))
        blank = [line for line in getattr(gone, "leading_lines", ()) if line.comment is None]
        if not lines and blank:
            out[at] = follower.with_changes(leading_lines=blank)
    return out
