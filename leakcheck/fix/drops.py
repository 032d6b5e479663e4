"""Release paths the code drops on purpose: a fix that would release over them is unsafe.

A branch that discards the connection instead of giving it back is a decision, not a leak to
tidy: `except AdminShutdown:` (the server is going away) closing it, or handing it back with the
pool's discard keyword (`pool.putconn(conn, close=True)`: psycopg2 docs, `AbstractConnectionPool.
putconn`, "if close is True, discard the connection from the pool"; the keyword is the kind's
`discard-keyword`, data in rules/kinds.toml), or a comment saying the connection is dropped. A
fix that moves the release into a `finally` over that branch, or wraps it in a `with` that gives
the connection back, returns it to the pool on that path as well (or removes the branch's
release), and leaves the comment false. Such a fix is offered, unsafe, with the branch named.

Only `except` branches are read: that is where code decides a connection is broken.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.positions import locate
from leakcheck.analysis.syntax import walk

# A comment saying the connection is dropped on purpose, not given back.
_SAYS_DROP = re.compile(
    r"\b(drop|dropp(ed|ing)|discard(s|ed|ing)?|throw (it )?away|do not (return|reuse)|"
    r"don't (return|reuse)|not (be )?returned|on purpose|deliberately)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Drop:
    """A branch that drops the resource on purpose: the `except` handler, and the statement that
    discards it (None when only a comment says so)."""

    handler: cst.ExceptHandler
    statement: cst.BaseStatement | None


def _comments(node: cst.CSTNode) -> Iterator[str]:
    """The comments in `node`, on its lines and above its statements (every child is read:
    comments hang from whitespace nodes)."""
    if isinstance(node, cst.Comment):
        yield node.value
    for child in node.children:
        yield from _comments(child)


def discards(stmt: cst.BaseStatement, site: Site, facts: ModuleFacts, name: str) -> bool:
    """`name.close()` that does not give it back to its pool, or a release with the kind's
    discard keyword set (`pool.putconn(conn, close=True)`)."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return False
    small = stmt.body[0]
    if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
        return False
    call = small.value
    released = any(
        isinstance(a, cst.Name) and a.value == name
        for a in facts.released_args(call, site.class_name, site.kind)
    )
    keyword = site.kind.discard_keyword
    if released:
        return bool(keyword) and any(
            arg.keyword is not None
            and arg.keyword.value == keyword
            and not (isinstance(arg.value, cst.Name) and arg.value.value in ("False", "None"))
            for arg in call.args
        )
    func = call.func
    return (
        site.kind.family == "pool"
        and isinstance(func, cst.Attribute)
        and func.attr.value == "close"
        and isinstance(func.value, cst.Name)
        and func.value.value == name
    )


def drops_in(block: cst.CSTNode, site: Site, facts: ModuleFacts, name: str) -> list[Drop]:
    """The `except` branches in `block` that drop `name` on purpose (module docstring)."""
    found: list[Drop] = []
    for node in walk(block):
        if not isinstance(node, cst.ExceptHandler) or not isinstance(node.body, cst.IndentedBlock):
            continue
        statement = next((s for s in node.body.body if discards(s, site, facts, name)), None)
        if statement is not None or any(_SAYS_DROP.search(c) for c in _comments(node)):
            found.append(Drop(node, statement))
    return found


def _paths(root: cst.CSTNode, target: cst.CSTNode) -> Iterator[tuple[cst.CSTNode, ...]]:
    """The chains of nodes from `root` down to each node equal to `target` (deep equality)."""
    if root.deep_equals(target):
        yield (root,)
        return
    for child in root.children:
        for path in _paths(child, target):
            yield (root, *path)


def _gives_back_over(
    path: tuple[cst.CSTNode, ...], old: cst.CSTNode, site: Site, facts: ModuleFacts, name: str
) -> bool:
    """Does an enclosing `try` of the path release `name` in its `finally` (the drop's branch
    then releases as well), or an enclosing `with` the old block did not have give it back?"""
    olds = {id(n) for n in walk(old)}
    for outer, inner in itertools.pairwise(path):
        if isinstance(outer, cst.Try) and outer.finalbody is not None:
            if inner is outer.finalbody:
                continue
            for node in walk(outer.finalbody):
                if isinstance(node, cst.Call) and any(
                    isinstance(a, cst.Name) and a.value == name
                    for a in facts.released_args(node, site.class_name, site.kind)
                ):
                    return True
        if (
            isinstance(outer, (cst.With,))
            and id(outer) not in olds
            and not any(isinstance(n, cst.With) and n.deep_equals(outer) for n in walk(old))
        ):
            return True
    return False


def overridden_drop(old: cst.CSTNode, new: cst.CSTNode, site: Site, facts: ModuleFacts) -> str:
    """Why a rewrite of `old` into `new` is unsafe because it releases over a path that drops the
    resource on purpose (the branch named, with its line), or "" when it does not."""
    name = site.binding.name
    if name is None:
        return ""
    for drop in drops_in(old, site, facts, name):
        kept = drop.statement if drop.statement is not None else drop.handler
        paths = list(_paths(new, kept))
        if paths and not any(_gives_back_over(p, old, site, facts, name) for p in paths):
            continue
        return described(drop, facts, name)
    return ""


def described(drop: Drop, facts: ModuleFacts, name: str) -> str:
    """ "the `except AdminShutdown` branch on line 12 discards `conn` on purpose"."""
    before, after = described_around(drop, facts, name)
    return f"{before}{locate(facts.module, [drop.handler])[id(drop.handler)].line}{after}"


def described_around(drop: Drop, facts: ModuleFacts, name: str) -> tuple[str, str]:
    """`described`'s text before and after the handler's line number (for a caller that locates
    many nodes in one pass)."""
    caught = drop.handler.type
    what = f"`except {facts.module.code_for_node(caught)}`" if caught is not None else "`except`"
    return f"the {what} branch on line ", f" discards `{name}` on purpose"
