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

A reassignment inside a branch of a later statement (a retry in `except`, a reconnect under an
`if`) gets the release right before it, and the range from the acquisition through the last use
goes into try/finally, releasing whichever resource the name holds at the end:

    conn = pool.getconn()                    conn = pool.getconn()
    try:                                     try:
        work(conn)                               try:
    except OperationalError:                         work(conn)
        conn = pool.getconn()                    except OperationalError:
        work(conn)                                   old_conn = conn
    row = fetch(conn)                                conn = pool.getconn()
    pool.putconn(conn)                               pool.putconn(old_conn, close=True)
                                                     work(conn)
                                                 row = fetch(conn)
                                             finally:
                                                 pool.putconn(conn)

Kinds whose second release does nothing (`release-is-idempotent` in kinds.toml: sqlite3,
psycopg2 and SQLAlchemy `close()`) get the plain `conn.close()` right before the reassignment
instead: if the new acquisition fails, `finally` closes the old one again, harmlessly. A psycopg2
pool raises `PoolError` on a second `putconn`, so the new one is taken first and the old one put
back after, the order the original had (it held both there too).
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import dotted, walk
from leakcheck.fix.late_try import releasing_try
from leakcheck.fix.ranges import (
    acquired_in_block,
    assigned,
    detaches,
    ending_at_release,
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
    bare,
    in_async_def,
    lift_blank_lines,
    release_statement,
    released_in_finally,
    with_block,
    with_form,
)
from leakcheck.model import Applicability


def release_before_reuse(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite releasing `site`'s resource just before its name is assigned again, or None."""
    start = acquired_in_block(site, facts)
    if start is None:
        return None
    name, block, body, index = start.name, start.block, start.body, start.index
    again = next(
        (
            k
            for k in range(index + 1, len(body))
            if isinstance(body[k], cst.SimpleStatementLine) and name in assigned(body[k])
        ),
        None,
    )
    if again is None:
        return _reassigned_inside(site, facts, block, index)
    if again == index + 1:
        return None  # reassigned at once: nothing to wrap
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
    if kept_beyond(kept, name, derived):
        return None  # handed over: its new holder would find it released
    acquiring = body[index]
    assert isinstance(acquiring, cst.SimpleStatementLine)
    first = acquiring.body[0]
    assert isinstance(first, (cst.Assign, cst.AnnAssign)) and first.value is not None
    awaited = isinstance(first.value, cst.Await)
    asynchronous = with_form(site, facts, [], awaited, first)
    if asynchronous is not None:
        replacement = with_block(site, name, acquiring, kept, asynchronous)
        title = f"Use `{'async ' if asynchronous else ''}with` for the first `{name}`"
    else:
        if site.kind.self_release_methods and in_async_def(site) and not awaited:
            return None  # `db.close()` or `await db.close()`: not known here
        release = release_statement(site, name, awaited)
        if release is None:
            return None
        replacement = released_in_finally(acquiring, kept, release)
        title = f"Release the first `{name}` before the name is reused"
    new_block = block.with_changes(body=[*body[:index], *replacement, *body[again:]])
    reason = lets_out(kept, name, False)
    if not reason and site.kind.detaches_objects:
        later = derived - live
        if any(names(s) & later for s in body[again:]):
            reason = "objects of the first session are used after it closes"
    return Plan(
        block, new_block, title, Applicability.UNSAFE if reason else Applicability.SAFE, reason
    )


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


# Errors (PEP 249 names) after which a connection is likely broken: its release then passes the
# kind's `discard_keyword` (psycopg2: `putconn(conn, close=True)`).
BROKEN = frozenset({"OperationalError", "InterfaceError"})


def _reassigned_inside(
    site: Site, facts: ModuleFacts, block: cst.IndentedBlock | cst.Module, index: int
) -> Plan | None:
    """The first resource released right before a reassignment nested one level down in a later
    statement of its block (an `if` body, an `except` handler), and the range in try/finally."""
    name = site.binding.name
    if name is None:
        return None
    body = tuple(block.body)
    end, derived = range_of(body, index + 1, name)
    inner = list(body[index + 1 : end])
    found = _nested_reassignment(inner, name)
    if found is None:
        return None
    holder, branch, position, handler = found
    rebind = branch.body[position]
    if not _same_acquisition(rebind, site):
        return None  # `conn = None`: `finally` would release what is not a resource
    if sum(name in assigned(s) for s in inner) != 1:
        return None  # bound again elsewhere too
    releases = [s for s in inner if is_release(s, site, facts, name)]
    rest = [s for s in inner if not any(s is r for r in releases)]
    # `if conn.closed: conn = pool.getconn()` right after the acquisition, then a `try` whose
    # `finally` releases what the name holds: that `try` already guards the rest; only the first
    # needs releasing before the reassignment.
    covered = (
        not releases
        and inner[0] is holder
        and len(inner) >= 2
        and releasing_try(inner[1], site, facts, name)
        and not any(name in names(s) for s in inner[2:])
        and not mentions_release((holder,), site, facts, name)
    )
    if len(releases) > 1 or (mentions_release(tuple(rest), site, facts, name) and not covered):
        return None  # released on some path already: the new releases could repeat it
    if kept_beyond(inner, name, derived):
        return None  # handed over: its holder would find it released
    # The old resource's cursors must not be read after the reassignment: rebound in the
    # branch first, or not mentioned after it at all.
    live = live_names(inner, name)
    later = tuple(branch.body[position + 1 :])
    if _read_later(later, live):
        return None
    rebound = {n for n in live if any(n in assigned(s) for s in later)}
    after = inner[inner.index(holder) + 1 :]
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    if any(names(s) & (live - rebound) for s in after) or any(
        used_after(body[end - 1], root, n) for n in live
    ):
        return None
    acquiring = body[index]
    assert isinstance(acquiring, cst.SimpleStatementLine)
    first = acquiring.body[0]
    assert isinstance(first, (cst.Assign, cst.AnnAssign)) and first.value is not None
    awaited = isinstance(first.value, cst.Await)
    if site.kind.self_release_methods and in_async_def(site) and not awaited:
        return None  # `db.close()` or `await db.close()`: not known here
    # `if conn.closed:` (psycopg2: "nonzero if the connection is closed"): the old one is dead.
    closed_test = isinstance(holder, cst.If) and any(
        isinstance(n, cst.Attribute)
        and n.attr.value == "closed"
        and isinstance(n.value, cst.Name)
        and n.value.value == name
        for n in walk(holder.test)
    )
    new_branch = _release_before(
        site, branch, position, rebind, handler, awaited, root, closed_test
    )
    if new_branch is None:
        return None
    new_holder = holder.deep_replace(branch, new_branch)
    assert isinstance(new_holder, cst.BaseStatement)
    inner = [new_holder if s is holder else s for s in inner]
    if covered:
        # The branch moves into that `try` too: an error in it (`if stale(conn):`) is then
        # covered by the `finally`, as the rest is.
        old_try = inner[1]
        assert isinstance(old_try, cst.Try) and isinstance(old_try.body, cst.IndentedBlock)
        if old_try.leading_lines:
            return None  # a comment above the `try:` would end up inside it
        blank, lifted = lift_blank_lines([new_holder])
        new_try = old_try.with_changes(
            body=old_try.body.with_changes(body=[*lifted, *old_try.body.body]),
            leading_lines=blank,
        )
        new_block = block.with_changes(body=[*body[: index + 1], new_try, *inner[2:], *body[end:]])
        title = f"Release the first `{name}` before it is reassigned, inside the `try` after it"
        return Plan(block, new_block, title, Applicability.SAFE)
    release = releases[0] if releases else release_statement(site, name, awaited)
    if release is None:
        return None
    kept = [s for s in inner if s is not release]
    tail: list[cst.BaseStatement] = []
    split = ending_at_release(inner, releases, name)
    if split is not None:
        kept, tail = split
    replacement = released_in_finally(acquiring, kept, bare(release))
    new_block = block.with_changes(body=[*body[:index], *replacement, *tail, *body[end:]])
    title = f"Release the first `{name}` before it is reassigned, and `{name}` in `finally`"
    reason = detaches(site, kept, name, derived) or lets_out(kept, name, bool(releases))
    if not reason and site.kind.detaches_objects:
        before = [*inner[: inner.index(new_holder)], *branch.body[:position]]
        _, loaded = range_of(tuple(before), 0, name)
        if any(names(s) & (loaded - live) for s in [*later, *after]):
            reason = "objects of the first session are used after it closes"
    return Plan(
        block, new_block, title, Applicability.UNSAFE if reason else Applicability.SAFE, reason
    )


def _nested_reassignment(
    stmts: list[cst.BaseStatement], name: str
) -> tuple[cst.BaseStatement, cst.IndentedBlock, int, cst.ExceptHandler | None] | None:
    """`name = <value>` (the value not using `name`) as a statement of a branch of one of
    `stmts`: an `if`/`elif`/`else` body, a `try` body, handler or `else`; not a loop (`loop`'s),
    a `with` or a nested function. The statement holding it, the branch, the index there, and
    the handler when the branch is one."""
    for stmt in stmts:
        if not isinstance(stmt, (cst.If, cst.Try)):
            continue
        for branch, handler in _branches(stmt):
            for position, inside in enumerate(branch.body):
                if not isinstance(inside, cst.SimpleStatementLine) or len(inside.body) != 1:
                    continue
                small = inside.body[0]
                if (
                    isinstance(small, cst.Assign)
                    and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name)
                    and small.targets[0].target.value == name
                    and name not in names(small.value)
                ):
                    return stmt, branch, position, handler
    return None


def _same_acquisition(stmt: cst.BaseStatement, site: Site) -> bool:
    """Is `stmt` (`name = <value>`) a new acquisition from the same source, written the same
    way (`conn = pool.getconn()`, `conn = sqlite3.connect(path)`, `db = SessionLocal()`)?"""
    assert isinstance(stmt, cst.SimpleStatementLine)
    small = stmt.body[0]
    assert isinstance(small, cst.Assign)
    value = small.value.expression if isinstance(small.value, cst.Await) else small.value
    if not isinstance(value, cst.Call):
        return False
    mine = dotted(site.call.func)
    return mine is not None and dotted(value.func) == mine


def _branches(
    stmt: cst.If | cst.Try,
) -> list[tuple[cst.IndentedBlock, cst.ExceptHandler | None]]:
    out: list[tuple[cst.IndentedBlock, cst.ExceptHandler | None]] = []
    if isinstance(stmt, cst.If):
        node: cst.If | cst.Else | None = stmt
        while isinstance(node, cst.If):
            if isinstance(node.body, cst.IndentedBlock):
                out.append((node.body, None))
            node = node.orelse
        if isinstance(node, cst.Else) and isinstance(node.body, cst.IndentedBlock):
            out.append((node.body, None))
        return out
    if isinstance(stmt.body, cst.IndentedBlock):
        out.append((stmt.body, None))
    for handler in stmt.handlers:
        if isinstance(handler.body, cst.IndentedBlock):
            out.append((handler.body, handler))
    if stmt.orelse is not None and isinstance(stmt.orelse.body, cst.IndentedBlock):
        out.append((stmt.orelse.body, None))
    return out


def _release_before(
    site: Site,
    branch: cst.IndentedBlock,
    position: int,
    rebind: cst.BaseStatement,
    handler: cst.ExceptHandler | None,
    awaited: bool,
    root: cst.CSTNode,
    closed_test: bool = False,
) -> cst.IndentedBlock | None:
    """The branch with the old resource released around `rebind`: right before it where a
    second release is harmless (`Kind.release_is_idempotent`), else through `old_<name>` right
    after it, discarded (the kind's discard keyword) in a handler of a broken-connection error or
    under `if conn.closed:` (`closed_test`)."""
    name = site.binding.name
    assert name is not None
    stmts = list(branch.body)
    if site.kind.release_is_idempotent:
        release = release_statement(site, name, awaited)
        if release is None:
            return None
        release = release.with_changes(leading_lines=_leading(rebind))
        moved = rebind.with_changes(leading_lines=[])
        return branch.with_changes(body=[*stmts[:position], release, moved, *stmts[position + 1 :]])
    old = f"old_{name}"
    if old in names(root):
        return None  # the name is taken
    release = release_statement(site, old, awaited)
    if release is None:
        return None
    if site.kind.discard_keyword and (_catches_broken(handler) or closed_test):
        release = _discarding(release, site.kind.discard_keyword)
    keep = cst.SimpleStatementLine(
        body=[cst.Assign([cst.AssignTarget(cst.Name(old))], cst.Name(name))],
        leading_lines=_leading(rebind),
    )
    moved = rebind.with_changes(leading_lines=[])
    return branch.with_changes(
        body=[*stmts[:position], keep, moved, release, *stmts[position + 1 :]]
    )


def _leading(stmt: cst.BaseStatement) -> list[cst.EmptyLine]:
    return list(getattr(stmt, "leading_lines", ()))


def _catches_broken(handler: cst.ExceptHandler | None) -> bool:
    """Does the handler catch psycopg2's errors for a broken connection (`OperationalError`,
    `InterfaceError`, alone or in a tuple)?"""
    if handler is None or handler.type is None:
        return False
    caught = handler.type
    elements = caught.elements if isinstance(caught, cst.Tuple) else [cst.Element(caught)]
    return any((dotted(e.value) or "").rsplit(".", 1)[-1] in BROKEN for e in elements)


def _discarding(release: cst.SimpleStatementLine, keyword: str) -> cst.SimpleStatementLine:
    """`pool.putconn(c)` -> `pool.putconn(c, close=True)` (also under `await`), `keyword`
    being the kind's `discard_keyword`."""
    small = release.body[0]
    assert isinstance(small, cst.Expr)
    call = small.value.expression if isinstance(small.value, cst.Await) else small.value
    assert isinstance(call, cst.Call)
    args = [
        *call.args[:-1],
        call.args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
    ]
    new_call = call.with_changes(
        args=[
            *args,
            cst.Arg(
                cst.Name("True"),
                keyword=cst.Name(keyword),
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
            ),
        ]
    )
    value = (
        small.value.with_changes(expression=new_call)
        if isinstance(small.value, cst.Await)
        else new_call
    )
    return release.with_changes(body=[small.with_changes(value=value)])
