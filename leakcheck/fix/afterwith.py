"""A release right after the `with` block that used the resource moves into the `with` itself.

`with psycopg2.connect() as conn:` and `with sqlite3.connect() as conn:` only end the transaction;
code that knows it closes the connection after the block, which an error in the block skips:

    with sqlite3.connect(path) as conn:          with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(sql, rows)                  conn.executemany(sql, rows)
    conn.close()

`closing()` closes after the inner `conn` has ended the transaction, as before. A psycopg2 pool
connection (`with pool.getconn() as conn: ...` then `pool.putconn(conn)`) gets its release in
`finally` around `with conn:`; as the first item of a multi-item `with` (`with pool.getconn() as
conn, conn.cursor() as cur:`), around `with conn, conn.cursor() as cur:` (withitems.py builds it),
so the cursor and the transaction still end before the release. Only when the release is the very
next statement and nothing uses the connection after it; then releasing at the end of the block
changes nothing but the error path.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import unwrap_value, walk
from leakcheck.fix.excepts import drop_statement
from leakcheck.fix.ranges import (
    deferred_use,
    hands_over,
    is_release,
    leaves,
    mentions_release,
    used_after,
)
from leakcheck.fix.recipes import Plan
from leakcheck.fix.statements import bare, closing_name
from leakcheck.fix.withitems import taken_before_try
from leakcheck.model import Applicability


def release_into_with(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite for `with <acquire> as name:` followed by the release of `name`, or None."""
    name = site.binding.name
    if name is None:
        return None
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    for block in walk(root):
        if not isinstance(block, (cst.IndentedBlock, cst.Module)):
            continue
        body = list(block.body)
        for position, node in enumerate(body[:-1]):
            if not isinstance(node, cst.With) or node.asynchronous is not None:
                continue
            at = next(
                (
                    i
                    for i, item in enumerate(node.items)
                    if unwrap_value(item.item) is site.call and not isinstance(item.item, cst.Await)
                ),
                None,
            )
            if at is None:
                continue
            release = body[position + 1]
            if not is_release(release, site, facts, name) or used_after(release, root, name):
                return None
            inner = list(node.body.body) if isinstance(node.body, cst.IndentedBlock) else []
            if not inner or mentions_release(tuple(inner), site, facts, name):
                return None  # released inside too: the new form would release twice
            if (
                any(
                    isinstance(n, cst.Return) and n.value is not None and hands_over(n.value, name)
                    for s in inner
                    for n in walk(s)
                )
                or leaves(inner, name, set())
                or deferred_use(inner, {name}) is not None
            ):
                return None  # handed over inside the block: its holder would find it closed
            rest = drop_statement(body, position + 1)
            if "close" in site.kind.self_release_methods:
                return _closing(site, facts, block, node, at, rest, position)
            return _finally(site, block, node, at, bare(release), rest, position)
    return None


def _closing(
    site: Site,
    facts: ModuleFacts,
    block: cst.IndentedBlock | cst.Module,
    node: cst.With,
    at: int,
    rest: list[cst.BaseStatement],
    position: int,
) -> Plan | None:
    name = site.binding.name
    closer = closing_name(facts)
    if closer is None or name is None:
        return None  # `closing` means something else here
    item = node.items[at]
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    closing = cst.WithItem(
        cst.Call(func=cst.parse_expression(closer), args=[cst.Arg(site.call)]),
        asname=item.asname,
        comma=comma,
    )
    items = [*node.items[:at], closing, cst.WithItem(cst.Name(name), comma=item.comma)]
    items += node.items[at + 1 :]
    rest[position] = node.with_changes(items=items)
    needs = (("contextlib", "closing"),) if closer == "closing" else ()
    title = f"Close `{name}` with `closing()` instead of after the block"
    return Plan(block, block.with_changes(body=rest), title, Applicability.SAFE, imports=needs)


def _finally(
    site: Site,
    block: cst.IndentedBlock | cst.Module,
    node: cst.With,
    at: int,
    release: cst.BaseStatement,
    rest: list[cst.BaseStatement],
    position: int,
) -> Plan | None:
    """`with pool.getconn() as conn[, conn.cursor() as cur]:` ... `pool.putconn(conn)` ->
    `conn = pool.getconn()`, `try: with conn[, conn.cursor() as cur]: ...` /
    `finally: pool.putconn(conn)`. The items still exit in the same order, before the release.
    Not with items before the connection (`with lock, pool.getconn() as conn:`): the lock is
    let go before the release in the original, and a `with lock:` around the new `try` would
    hold it through the release."""
    name = site.binding.name
    if name is None or at != 0:
        return None
    replacement = taken_before_try(site, node, at, release)
    if replacement is None:
        return None
    new_body = [*rest[:position], *replacement, *rest[position + 1 :]]
    title = f"Return `{name}` to the pool in `finally`"
    return Plan(block, block.with_changes(body=new_body), title, Applicability.SAFE)
