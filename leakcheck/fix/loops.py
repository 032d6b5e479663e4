"""A resource acquired in each iteration and released once after the loop: release it per iteration.

    for user_id in user_ids:                 for user_id in user_ids:
        conn = pool.getconn()                    conn = pool.getconn()
        work(conn, user_id)                      try:
    pool.putconn(conn)                               work(conn, user_id)
                                                 finally:
                                                     pool.putconn(conn)

(`with SessionLocal() as db:` in the body for kinds whose `with` only releases.) Where a `try`
right after the acquisition is the whole range, the release goes into its `finally` (added when it
has none; existing_try.py) instead of a second `try` around it. The release after
the loop, which gave back only the last one, is removed. There is no fix when the resource is used
before its acquisition in the body (the previous iteration's), after the loop, released anywhere
else, or handed over; `break` and `continue` inside the new `try` run its `finally`. Unsafe unless
the loop is `while True:`: when no iteration runs, the release after the loop failed (its name is
unbound), and the fix takes that failure away.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import unwrap_value, walk
from leakcheck.fix.excepts import drop_statement
from leakcheck.fix.existing_try import into_try
from leakcheck.fix.ranges import (
    detaches,
    is_release,
    kept_beyond,
    lets_out,
    live_names,
    mentions_release,
    names,
    range_of,
    used_after,
)
from leakcheck.fix.recipes import Plan
from leakcheck.fix.statements import (
    in_async_def,
    release_statement,
    released_in_finally,
    with_block,
)
from leakcheck.model import Applicability


def release_per_iteration(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite for an acquisition `name = <acquire>` directly in a loop's body whose release
    comes after the loop; None when it is not known to be right."""
    name = site.binding.name
    if name is None:
        return None
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    for block in walk(root):
        if not isinstance(block, (cst.IndentedBlock, cst.Module)):
            continue
        for position, loop in enumerate(block.body):
            if not isinstance(loop, (cst.For, cst.While)) or not isinstance(
                loop.body, cst.IndentedBlock
            ):
                continue
            inner = list(loop.body.body)
            index = next((i for i, s in enumerate(inner) if _acquires(s, site)), None)
            if index is not None:
                return _plan(site, facts, root, block, position, loop, index)
    return None


def _acquires(stmt: cst.BaseStatement, site: Site) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Assign)
        and unwrap_value(stmt.body[0].value) is site.call
    )


def _plan(
    site: Site,
    facts: ModuleFacts,
    root: cst.CSTNode,
    block: cst.IndentedBlock | cst.Module,
    position: int,
    loop: cst.For | cst.While,
    index: int,
) -> Plan | None:
    name = site.binding.name
    assert name is not None and isinstance(loop.body, cst.IndentedBlock)
    inner = tuple(loop.body.body)
    if any(name in names(s) for s in inner[:index]) or (
        isinstance(loop, cst.While) and name in names(loop.test)
    ):
        return None  # the previous iteration's resource is used before the next is taken
    if loop.orelse is not None and name in names(loop.orelse):
        return None
    end, derived = range_of(inner, index + 1, name)
    kept = list(inner[index + 1 : end])
    if not kept or mentions_release(tuple(kept), site, facts, name):
        return None
    body = list(block.body)
    after = next(
        (k for k in range(position + 1, len(body)) if is_release(body[k], site, facts, name)), None
    )
    if after is None:
        return None  # no release after the loop: another recipe's case (or none)
    tied = {name} | live_names(kept, name) | derived
    if any(names(s) & tied for s in body[position + 1 : after]):
        return None  # used after the loop: the last one must stay open until then
    if used_after(body[after], root, name) or mentions_release(
        tuple(body[after + 1 :]), site, facts, name
    ):
        return None
    if kept_beyond(kept, name, derived):
        return None  # handed over inside the loop: its holder would find it released
    acquiring = inner[index]
    assert isinstance(acquiring, cst.SimpleStatementLine)
    small = acquiring.body[0]
    assert isinstance(small, cst.Assign)
    awaited = isinstance(small.value, cst.Await)
    session = site.kind.with_only_releases and not awaited and not site.kind.acquire_awaited
    if session and not in_async_def(site):
        replacement = with_block(site, name, acquiring, kept, asynchronous=False)
        title = f"Use `with` for `{name}` in each iteration"
    else:
        if site.kind.self_release_methods and in_async_def(site) and not awaited:
            return None  # `db.close()` or `await db.close()`: not known here
        release = release_statement(site, name, awaited)
        if release is None:
            return None
        replacement = released_in_finally(acquiring, kept, release)
        title = f"Release `{name}` in each iteration"
        only = kept[0] if len(kept) == 1 and isinstance(kept[0], cst.Try) else None
        folded = into_try(only, release, name, tied) if only is not None else None
        if only is not None and folded is not None:  # the body's `try` covers the range
            replacement = [acquiring, folded]
            where = "the `finally` of" if only.finalbody is not None else "a `finally` added to"
            title = f"Release `{name}` in each iteration, in {where} its `try`"
    new_inner = [*inner[:index], *replacement, *inner[end:]]
    new_loop = loop.with_changes(body=loop.body.with_changes(body=new_inner))
    rest = drop_statement(body, after)
    rest[position] = new_loop
    reason = (
        detaches(site, kept, name, derived)
        or lets_out(kept, name, False)
        or _kept_across(site, kept, name, derived)
        or _may_not_run(loop, name)
    )
    new_block = block.with_changes(body=rest)
    return Plan(
        block, new_block, title, Applicability.UNSAFE if reason else Applicability.SAFE, reason
    )


def _may_not_run(loop: cst.For | cst.While, name: str) -> str:
    """When the loop may run no iteration, the release after it failed (an unbound name, or
    whatever the name held before); the fix removes that failure: a change of behaviour."""
    test = loop.test if isinstance(loop, cst.While) else None
    if isinstance(test, cst.Name) and test.value == "True":
        return ""
    return f"when the loop does not run, the release after it no longer fails on `{name}`"


def _kept_across(site: Site, kept: list[cst.BaseStatement], name: str, derived: set[str]) -> str:
    """An object of a session handed to code outside the resource (`results.append(user)`) may be
    used after the iteration's session closes."""
    if not site.kind.detaches_objects:
        return ""
    for stmt in kept:
        for node in walk(stmt):
            if not isinstance(node, cst.Call):
                continue
            receiver = node.func.value if isinstance(node.func, cst.Attribute) else None
            if isinstance(receiver, cst.Name) and receiver.value == name:
                continue
            if any(isinstance(a.value, cst.Name) and a.value.value in derived for a in node.args):
                return "objects of the session are handed on and may be used after it closes"
    return ""
