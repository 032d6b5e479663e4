"""The release added to the `try` the code already has around the use of the resource.

    conn = pool.getconn()                    conn = pool.getconn()
    try:                                     try:
        cur = conn.cursor()                      cur = conn.cursor()
        cur.execute(q)                           cur.execute(q)
        return cur.fetchone()                    return cur.fetchone()
    except psycopg2.Error:                   except psycopg2.Error:
        log.exception("query failed")            log.exception("query failed")
        return None                              return None
    finally:                                 finally:
        pass                                     pool.putconn(conn)

The code already has a `try` right after the acquisition that covers every later use; only the
release is missing from it (or written on the normal path only: at the end of the `try` body, or
right after the `try`). A person adds the release to that `try`'s `finally` (replacing a lone
`pass`), or adds a `finally:` to it, where the wrap recipe (recipes.py) would nest the whole
`try` in a second one. A release written on the normal path moves into the `finally`, so that it
runs once on every path.

When it is right: the `try` is the statement right after the acquisition (nothing that may raise
runs between them), and nothing after it uses the resource, a cursor or anything derived from it
(the `finally` releases it by then); the same preconditions as the wrap recipe
(`ranges.kept_beyond`: not returned, stored, handed on or used later, no cursor of it returned).
On the normal path the release runs where it did (after the `try` body, its `else` and the
statements of the `finally` that use the resource); a handler that returns or re-raises still
passes through the `finally`, which now releases. Not when a handler or the `finally` releases
already, rebinds the name or leaves the `finally` in a branch (`if x: return`); not when a
statement after the release in the `try` body, or the `else`, uses the resource (the original
used it released).

The release goes at the end of the `finally`, before a `return`/`raise` ending it; when none of
the `finally`'s statements uses the resource it goes first, so that one of them raising cannot
skip it (the order among unrelated clean-ups does not matter). A lone `pass` is replaced.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import walk
from leakcheck.fix.ranges import (
    acquired_in_block,
    assigned,
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
from leakcheck.fix.statements import bare, has_comment, in_async_def, release_statement
from leakcheck.model import Applicability

_EXITS = (cst.Return, cst.Raise, cst.Break, cst.Continue)


def into_try(old: cst.Try, release: cst.BaseStatement, name: str, tied: set[str]) -> cst.Try | None:
    """`old` (a `try` with a handler or a `finally`, which neither releases nor rebinds `name`)
    with `release` in its `finally`, added when it has none (`with_release`); None when that is
    not right. For a range that is that one `try` (loops.py, per iteration)."""
    if not old.handlers and old.finalbody is None:
        return None
    if name in assigned(old):
        return None  # rebound inside: `finally` would release what the name then holds
    if old.finalbody is None:
        return old.with_changes(finalbody=cst.Finally(body=cst.IndentedBlock(body=[release])))
    if not isinstance(old.finalbody.body, cst.IndentedBlock):
        return None
    new_final = with_release(list(old.finalbody.body.body), release, tied)
    if new_final is None:
        return None
    body = old.finalbody.body.with_changes(body=new_final)
    return old.with_changes(finalbody=old.finalbody.with_changes(body=body))


def release_in_existing_try(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite of the module docstring for `site` (bound by an assignment), or None when it
    does not apply or would not be right."""
    start = acquired_in_block(site, facts)
    if start is None:
        return None
    name, block, body, index = start.name, start.block, start.body, start.index
    position = index + 1
    while position < len(body) and _constant_assignment(body[position], name):
        position += 1  # `ok = False`, `cur = None`: nothing there can raise
    if position >= len(body):
        return None
    old = body[position]
    if not isinstance(old, cst.Try) or not isinstance(old.body, cst.IndentedBlock):
        return None
    if not old.handlers and old.finalbody is None:
        return None  # not Python; a `try/finally` without release is the wrap recipe's
    _, derived = range_of(body, position, name)
    rest = list(body[position + 1 :])
    after: cst.BaseStatement | None = None
    if rest and is_release(rest[0], site, facts, name):
        after = rest[0]  # released right after the `try`, on the normal path only
        rest = rest[1:]
    tied = {name} | derived
    # The `try` body's release, on the normal path: its last statement, or one followed only by
    # statements that do not use the resource (they now run before the release).
    try_body = list(old.body.body)
    at = next((k for k, s in enumerate(try_body) if is_release(s, site, facts, name)), None)
    removed = [s for s in (try_body[at] if at is not None else None, after) if s is not None]
    if len(removed) > 1:
        return None  # released twice on the normal path: the original fails there
    if at is not None:
        if any(names(s) & tied for s in try_body[at + 1 :]):
            return None  # used after its release: the original read a released resource
        try_body = try_body[:at] + try_body[at + 1 :]
        if not try_body:
            return None  # nothing left to guard
    else_body: list[cst.BaseStatement] = []
    if old.orelse is not None:
        if not isinstance(old.orelse.body, cst.IndentedBlock):
            return None
        else_body = list(old.orelse.body.body)
        if at is not None and any(names(s) & tied for s in else_body):
            return None
    handler_bodies: list[cst.BaseStatement] = []
    for handler in old.handlers:
        if not isinstance(handler.body, cst.IndentedBlock):
            return None
        handler_bodies += handler.body.body
    final_body: list[cst.BaseStatement] = []
    if old.finalbody is not None:
        if not isinstance(old.finalbody.body, cst.IndentedBlock):
            return None
        final_body = list(old.finalbody.body.body)
    inside = [*try_body, *else_body, *handler_bodies, *final_body]
    if mentions_release((*inside, *rest), site, facts, name):
        return None  # released elsewhere too: the `finally` would release twice
    if any(name in assigned(s) for s in inside):
        return None  # the name is rebound: `finally` would release what it then holds
    live = {name} | live_names(inside, name)
    if kept_beyond(inside, name, derived):
        return None  # returned, stored, used later, or a cursor of it returned
    # What must not be used after the `try`: the resource and its cursors; for a session, also
    # its objects (detached), for a connection whose results close with it, its results. Plain
    # values read inside (`rows = cur.fetchall()`, `done = True`) are the code's own.
    kind = site.kind
    held = live | (tied if kind.detaches_objects or kind.closes_results else set())
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    last = after if after is not None else old
    if any(names(s) & held for s in rest) or any(used_after(last, root, n) for n in held):
        return None  # used after the `try`, where the `finally` has released it: not covered
    acquiring = body[index]
    assert isinstance(acquiring, cst.SimpleStatementLine)
    small = acquiring.body[0]
    assert isinstance(small, (cst.Assign, cst.AnnAssign, cst.Expr)) and small.value is not None
    awaited = isinstance(small.value, cst.Await)
    value = small.value.expression if isinstance(small.value, cst.Await) else small.value
    if value is not site.call:
        return None  # a wrapper around the acquisition: the wrap recipe decides
    if removed:
        if has_comment(removed[0]) and removed[0] is after:
            return None  # a comment on the line after the `try`: its place says something
        release = bare(removed[0])
    else:
        if site.kind.self_release_methods and in_async_def(site) and not awaited:
            return None  # `db.close()` or `await db.close()`: not known for this session
        made = release_statement(site, name, awaited)
        if made is None:
            return None
        release = made
    new_final = with_release(final_body, release, tied | live)
    if new_final is None:
        return None
    new_try = old.with_changes(
        body=old.body.with_changes(body=try_body),
        finalbody=(
            old.finalbody.with_changes(body=old.finalbody.body.with_changes(body=new_final))
            if old.finalbody is not None and isinstance(old.finalbody.body, cst.IndentedBlock)
            else cst.Finally(body=cst.IndentedBlock(body=new_final))
        ),
    )
    new_block = block.with_changes(body=[*body[:position], new_try, *rest])
    reason = detaches(site, inside, name, derived) or lets_out(inside, name, bool(removed))
    title = (
        f"Release `{name}` in the `finally` of its `try`"
        if old.finalbody is not None
        else f"Release `{name}` in a `finally` added to its `try`"
    )
    return Plan(
        block, new_block, title, Applicability.UNSAFE if reason else Applicability.SAFE, reason
    )


def with_release(
    final_body: list[cst.BaseStatement], release: cst.BaseStatement, tied: set[str]
) -> list[cst.BaseStatement] | None:
    """The statements `final_body` of a `finally` with `release` among them: it replaces a lone
    `pass`; it goes first when none of them uses a name in `tied` (the resource and what reads
    from it), else after them, before a `return`/`raise` ending them. None when a statement
    leaves the `finally` from a branch, where the release could be skipped, or a lone `pass`
    carries a comment."""
    if not final_body:
        return [release]
    if len(final_body) == 1 and _lone_pass(final_body[0]):
        lone = final_body[0]
        assert isinstance(lone, cst.SimpleStatementLine)
        if lone.trailing_whitespace.comment is not None:
            return None  # `pass  # nothing to clean up` would be left saying so
        return [release.with_changes(leading_lines=lone.leading_lines)]
    last = final_body[-1]
    ends = isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], _EXITS)
    top = final_body[:-1] if ends else final_body
    if any(isinstance(n, _EXITS) for s in top for n in walk(s)):
        return None  # an exit in a branch of the `finally` would skip a release after it
    if ends and isinstance(last, cst.SimpleStatementLine) and len(last.body) > 1:
        return None  # `x = 1; return x`: the release would go between them
    if not any(names(s) & tied for s in final_body):
        return [release, *final_body]
    return [*top, release, *([last] if ends else [])]


def _constant_assignment(stmt: cst.BaseStatement, name: str) -> bool:
    """`ok = False`, `cur = None`, `rows = []`: an assignment of a literal to other names, which
    cannot raise."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if not isinstance(small, cst.Assign):
        return False
    if not all(isinstance(t.target, cst.Name) and t.target.value != name for t in small.targets):
        return False
    value = small.value
    if isinstance(value, cst.Name):
        return value.value in ("None", "True", "False")
    if isinstance(value, (cst.List, cst.Tuple, cst.Dict, cst.Set)):
        return not value.elements
    return isinstance(value, (cst.Integer, cst.Float, cst.SimpleString))


def _lone_pass(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Pass)
    )
