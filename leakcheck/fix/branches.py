"""A resource taken again inside a branch, released after the branch: the branch and the rest of
the range in try/finally, releasing whichever resource the name holds at the end.

    conn = sqlite3.connect(path)                 conn = sqlite3.connect(path)
    if needs_upgrade(conn):                      try:
        upgrade_schema(path)                         if needs_upgrade(conn):
        conn = sqlite3.connect(path)                     upgrade_schema(path)
    rows = conn.execute(q).fetchall()                    conn = sqlite3.connect(path)
    conn.close()                                     rows = conn.execute(q).fetchall()
    return rows                                  finally:
                                                     conn.close()
                                                 return rows

A reconnect under an `if`, a retry in `except`: the second acquisition's block ends inside the
branch while the code goes on using the name after it, so the plain form (recipes.py), which
wraps the rest of the acquisition's own block, has nothing right to wrap. Here the range starts at
the compound statement holding the branch, in the nearest enclosing block whose later statements
release the name, and runs through that release, which moves into `finally`: it is the code's own
release, of whatever the name holds then, as before. On the normal path nothing changes; on an
error path from the branch on, the name is released instead of left open.

The name must be bound before that statement by the same acquisition (`conn = sqlite3.connect(...)`
above the `if`), so that `finally` never finds it unbound or holding something else. The first
resource is not released by this rewrite (that is the reassignment's own finding, with its own
fix, `release-before-reuse`): a cursor of it read after the reconnect stays readable. There
is no fix when the way between the branch and that block crosses a loop or a function (a loop's
reacquisition is another shape), when the branch releases the name itself and a second release is
not harmless (`Kind.release_is_idempotent`), or when the range hands the resource over (returned,
stored, given to a thread or to code that runs later).
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import dotted, unwrap_value
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
    range_of,
    used_after,
)
from leakcheck.fix.recipes import Plan
from leakcheck.fix.statements import bare, lift_blank_lines
from leakcheck.model import Applicability

# Compound statements a branch may sit in between the acquisition and the block that releases.
_THROUGH = (cst.If, cst.Else, cst.Try, cst.ExceptHandler, cst.Finally, cst.With, cst.IndentedBlock)


def _chain(root: cst.CSTNode, target: cst.CSTNode) -> list[cst.CSTNode] | None:
    """The nodes from `root` down to `target` (identity), or None when it is not under `root`
    (functions and classes nested in `root` are not entered)."""
    if root is target:
        return [root]
    for child in root.children:
        if isinstance(child, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        found = _chain(child, target)
        if found is not None:
            return [root, *found]
    return None


def _same_acquisition(stmt: cst.BaseStatement, site: Site, name: str) -> bool:
    """Is `stmt` `name = <the same call>` (`conn = sqlite3.connect(...)` again)?"""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return False
    target = small.targets[0].target
    value = unwrap_value(small.value)
    mine = dotted(site.call.func)
    return (
        isinstance(target, cst.Name)
        and target.value == name
        and isinstance(value, cst.Call)
        and mine is not None
        and dotted(value.func) == mine
    )


def _enclosing(
    site: Site, facts: ModuleFacts, block: cst.IndentedBlock, name: str
) -> tuple[cst.IndentedBlock | cst.Module, int] | None:
    """The nearest block enclosing `block` whose statements after the one holding it release
    `name` at their top level, with that statement's index; None when the way up crosses a loop,
    a function or a class, or no such block exists."""
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    chain = _chain(root, block)
    if chain is None:
        return None
    for position in range(len(chain) - 2, -1, -1):
        node = chain[position]
        if isinstance(node, (cst.IndentedBlock, cst.Module)) and node is not block:
            holder = chain[position + 1]
            index = next((i for i, s in enumerate(node.body) if s is holder), None)
            if index is None:
                return None
            if any(is_release(s, site, facts, name) for s in node.body[index + 1 :]):
                return node, index
        if not isinstance(node, (*_THROUGH, cst.Module)):
            return None  # a loop, a `match`, or something else between: another shape
    return None


def wrap_from_branch(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite of the module docstring for `site` (an acquisition bound by an assignment in a
    nested block), or None when it does not apply or would not be right."""
    start = acquired_in_block(site, facts)
    if start is None or not isinstance(start.block, cst.IndentedBlock):
        return None
    name = start.name
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    if start.block is root:
        return None  # the acquisition's own block: the plain form's
    found = _enclosing(site, facts, start.block, name)
    if found is None:
        return None
    block, index = found
    body = tuple(block.body)
    holder = body[index]
    if not any(_same_acquisition(s, site, name) for s in body[:index]):
        return None  # `finally` could find the name unbound, or holding something else
    end, derived = range_of(body, index, name)
    inner = list(body[index + 1 : end])
    releases = [s for s in inner if is_release(s, site, facts, name)]
    if len(releases) != 1:
        return None
    kept = [s for s in inner if s is not releases[0]]
    after: list[cst.BaseStatement] = []
    split = ending_at_release(inner, releases, name)
    if split is not None:
        kept, after = split
    if any(name in assigned(s) for s in kept):
        return None  # bound again after the branch: which one `finally` releases would change
    if mentions_release(tuple(kept), site, facts, name):
        return None
    if not site.kind.release_is_idempotent and mentions_release((holder,), site, facts, name):
        return None  # released in the branch too: a second release would fail
    guarded = [holder, *kept]
    if kept_beyond(guarded, name, derived):
        return None  # returned, stored, used later; or the factory shares what it hands out
    if any(used_after(body[end - 1], root, n) for n in {name} | live_names(guarded, name)):
        return None
    reason = detaches(site, guarded, name, derived) or lets_out(guarded, name, True)
    blank, lifted = lift_blank_lines(guarded)
    new_try = cst.Try(
        body=cst.IndentedBlock(body=lifted),
        finalbody=cst.Finally(body=cst.IndentedBlock(body=[bare(releases[0])])),
        leading_lines=blank,
    )
    position = index + 1 + len(inner)
    new_block = block.with_changes(body=[*body[:index], new_try, *after, *body[position:]])
    return Plan(
        block,
        new_block,
        f"Release `{name}` in `finally`, around the branch that takes it again",
        Applicability.UNSAFE if reason else Applicability.SAFE,
        reason,
    )
