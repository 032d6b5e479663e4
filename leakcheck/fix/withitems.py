"""`with pool.getconn() as conn, conn.cursor() as cur:`: one item of a multi-item `with` acquires
a connection whose `with` does not release it (psycopg2 pools, psycopg2 and sqlite3 connections:
their `__exit__` only ends the transaction, see docs/semantics.md).

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
->  with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:

    with pool.getconn() as conn, conn.cursor() as cur:
->  conn = pool.getconn()
    try:
        with conn, conn.cursor() as cur:
            ...
    finally:
        pool.putconn(conn)

The transaction still ends where it did (`conn` as an item of its own), and the release comes
after it. Items to the left of a pool connection (a lock) become a `with` of their own around the
new `try`, so they are still entered before the connection is taken.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import unwrap_value, walk
from leakcheck.fix.ranges import used_after
from leakcheck.fix.recipes import Plan
from leakcheck.fix.statements import closing_name, release_statement
from leakcheck.model import Applicability


def release_with_items(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite of a multi-item `with` holding `site`'s acquisition, or None."""
    name = site.binding.name
    if name is None:
        return None
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    for node in walk(root):
        if not isinstance(node, cst.With) or len(node.items) < 2 or node.asynchronous:
            continue
        at = next(
            (i for i, item in enumerate(node.items) if unwrap_value(item.item) is site.call), None
        )
        if at is None or isinstance(node.items[at].item, cst.Await):
            continue
        if used_after(node, root, name):
            return None  # used after the block: it must stay open there
        if "close" in site.kind.self_release_methods:
            return _closing(site, facts, node, at)
        return _pooled(site, root, node, at)
    return None


def _closing(site: Site, facts: ModuleFacts, node: cst.With, at: int) -> Plan | None:
    name = site.binding.name
    closer = closing_name(facts)
    if closer is None or name is None:
        return None  # `closing` means something else here
    item = node.items[at]
    closing = cst.WithItem(
        cst.Call(func=cst.parse_expression(closer), args=[cst.Arg(site.call)]),
        asname=item.asname,
        comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
    )
    own = cst.WithItem(cst.Name(name), comma=item.comma)
    new = node.with_changes(items=[*node.items[:at], closing, own, *node.items[at + 1 :]])
    needs = (("contextlib", "closing"),) if closer == "closing" else ()
    title = f"Close `{name}` with `closing()`, keeping the transaction `with`"
    return Plan(node, new, title, Applicability.SAFE, imports=needs)


def _pooled(site: Site, root: cst.CSTNode, node: cst.With, at: int) -> Plan | None:
    """The pool connection taken before a `try` whose `finally` returns it; the items before it
    (a lock) become a `with` of their own around both, so they are still entered first."""
    name = site.binding.name
    release = release_statement(site, name or "", False)
    if name is None or release is None:
        return None
    replacement = taken_before_try(site, node, at, release)
    if replacement is None:
        return None
    for block in walk(root):
        if isinstance(block, (cst.IndentedBlock, cst.Module)) and any(
            s is node for s in block.body
        ):
            body = [x for s in block.body for x in (replacement if s is node else [s])]
            title = f"Return `{name}` to the pool in `finally`"
            return Plan(block, block.with_changes(body=body), title, Applicability.SAFE)
    return None


def taken_before_try(
    site: Site, node: cst.With, at: int, release: cst.BaseStatement
) -> list[cst.BaseStatement] | None:
    """`with lock, pool.getconn() as conn, conn.cursor() as cur:` (item `at` acquires) ->
    `with lock:` / `conn = pool.getconn()` / `try: with conn, conn.cursor() as cur: ...` /
    `finally: <release>`: the statements replacing `node`, or None. The connection's own item
    stays (`with conn`: the transaction ends where it did), the release comes after it; the
    `with` line's comment stays with the acquisition."""
    name = site.binding.name
    if name is None or not isinstance(node.body, cst.IndentedBlock):
        return None
    outer = list(node.items[:at])
    acquire = cst.SimpleStatementLine(
        body=[cst.Assign([cst.AssignTarget(cst.Name(name))], site.call)],
        leading_lines=[] if outer else node.leading_lines,
        trailing_whitespace=cst.TrailingWhitespace() if outer else node.body.header,
    )
    item = node.items[at]
    inner = node.with_changes(
        items=[cst.WithItem(cst.Name(name), comma=item.comma), *node.items[at + 1 :]],
        leading_lines=[],
        body=node.body.with_changes(header=cst.TrailingWhitespace()),
    )
    guarded = cst.Try(
        body=cst.IndentedBlock(body=[inner]),
        finalbody=cst.Finally(body=cst.IndentedBlock(body=[release])),
    )
    replacement: list[cst.BaseStatement] = [acquire, guarded]
    if outer:
        outer[-1] = outer[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        lock = node.with_changes(
            items=outer,
            body=cst.IndentedBlock(body=replacement, header=node.body.header),
        )
        replacement = [lock]
    return replacement
