"""A name reused for a second resource while it holds the first: release the first before.

    db = SessionLocal()                      with SessionLocal() as db:
    db.execute(purge)                            db.execute(purge)
    db.commit()                                  db.commit()
    db = SessionLocal()                      db = SessionLocal()

(try/finally with the kind's release where `with` would do more than release.) The statements
from the first acquisition to the reassignment are wrapped; the reassignment and what follows are
left alone. There is no fix when a cursor or result of the first resource is used from the
reassignment on (it would be read after the release), when the new value is made from the old one
(`conn = Wrapper(conn)`), or when the first resource is released or handed over on some path.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import walk
from leakcheck.fix.ranges import (
    assigned,
    deferred_use,
    enclosing_block,
    hands_over,
    leaves,
    lets_out,
    live_names,
    mentions_release,
    names,
    range_of,
    returns_live,
    used_after,
)
from leakcheck.fix.recipes import (
    Plan,
    _in_async_def,
    _release_statement,
    _with_form,
    released_in_finally,
    with_block,
)


def release_before_reuse(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite releasing `site`'s resource just before its name is assigned again, or None."""
    found = enclosing_block(site, facts)
    name = site.binding.name
    if found is None or name is None:
        return None
    block, index = found
    body = tuple(block.body)
    again = next(
        (
            k
            for k in range(index + 1, len(body))
            if isinstance(body[k], cst.SimpleStatementLine) and name in assigned(body[k])
        ),
        None,
    )
    if again is None or again == index + 1:
        return None  # reassigned in a nested block, or at once: nothing to wrap
    reuse = body[again]
    assert isinstance(reuse, cst.SimpleStatementLine)
    small = reuse.body[0]
    if len(reuse.body) != 1 or not isinstance(small, (cst.Assign, cst.AnnAssign)):
        return None
    if small.value is None or name in names(small.value):
        return None  # `conn = Wrapper(conn)`: the new value holds the old resource
    kept = list(body[index + 1 : again])
    if any(name in assigned(s) for s in kept):
        return None
    if mentions_release(tuple(kept), site, facts, name):
        return None  # released on some path: the new release could repeat it
    _, derived = range_of(tuple(kept), 0, name)
    live = live_names(kept, name)
    if _read_later(body[again:], live):
        return None  # a cursor of the first is read after the name is reused
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    if any(used_after(body[-1], root, n) for n in live):
        return None  # read after the block
    if any(
        isinstance(n, cst.Return) and n.value is not None and hands_over(n.value, name)
        for s in kept
        for n in walk(s)
    ) or (
        leaves(kept, name, derived)
        or deferred_use(kept, {name} | derived) is not None
        or returns_live(kept, name)
    ):
        return None  # handed over: its new holder would find it released
    acquiring = body[index]
    assert isinstance(acquiring, cst.SimpleStatementLine)
    first = acquiring.body[0]
    assert isinstance(first, (cst.Assign, cst.AnnAssign)) and first.value is not None
    awaited = isinstance(first.value, cst.Await)
    asynchronous = _with_form(site, facts, [], awaited, first)
    if asynchronous is not None:
        replacement = with_block(site, name, acquiring, kept, asynchronous)
        title = f"Use `{'async ' if asynchronous else ''}with` for the first `{name}`"
    else:
        if site.kind.self_release_methods and _in_async_def(site) and not awaited:
            return None  # `db.close()` or `await db.close()`: not known here
        release = _release_statement(site, name, awaited)
        if release is None:
            return None
        replacement = released_in_finally(acquiring, kept, release)
        title = f"Release the first `{name}` before the name is reused"
    new_block = block.with_changes(body=[*body[:index], *replacement, *body[again:]])
    reason = lets_out(kept, name, False)
    if not reason and site.kind.name == "sqlalchemy-session":
        later = derived - live
        if any(names(s) & later for s in body[again:]):
            reason = "objects of the first session are used after it closes"
    return Plan(block, new_block, title, "unsafe" if reason else "safe", reason)


def _read_later(stmts: tuple[cst.BaseStatement, ...], live: set[str]) -> bool:
    """Is one of `live` read in `stmts` before it is bound again (`cur = conn.cursor()` makes
    `cur` another cursor)?"""
    live = set(live)
    for stmt in stmts:
        if not live:
            return False
        single = isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
        small = stmt.body[0] if single and isinstance(stmt, cst.SimpleStatementLine) else None
        if isinstance(small, cst.Assign):
            if (names(small.value) | (names(stmt) - assigned(stmt))) & live:
                return True  # read by the value, or by a target (`cur.arraysize = 10`)
            live -= assigned(stmt)
            continue
        if names(stmt) & live:
            return True
    return False
