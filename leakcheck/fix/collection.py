"""Connections kept in a list and given back by a loop after their use: the loop into `finally`.

    conns = [pool.getconn() for _ in range(n)]       conns = [pool.getconn() for _ in range(n)]
    run_all(conns)                                   try:
    for conn in conns:                                   run_all(conns)
        pool.putconn(conn)                           finally:
                                                         for conn in conns:
                                                             pool.putconn(conn)

Also for the list filled by a loop (`conns = []` / `for ...: conns.append(pool.getconn())`):
the filling loop moves into the `try` too, so the connections taken before one that fails go
back as well (the list holds exactly those).

The release loop runs where it ran on the normal path, once, over the same list; on an error
path it now runs too. Only when the release loop's body is that one release of its variable (no
`else`), when the statements it guards neither rebind the list nor release, return or store it
(`ranges.kept_beyond`), and when neither the list nor the loop's variable is used after the
release loop.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import walk
from leakcheck.fix.ranges import assigned, is_release, kept_beyond, names, used_after
from leakcheck.fix.recipes import Plan
from leakcheck.fix.statements import lift_blank_lines
from leakcheck.model import Applicability


def release_loop_in_finally(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite of the module docstring for `site` (kept in the list `site.binding.name`), or
    None when it does not apply or would not be right."""
    name = site.binding.name
    if name is None:
        return None
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    for block in walk(root):
        if not isinstance(block, (cst.IndentedBlock, cst.Module)):
            continue
        body = list(block.body)
        index = next((i for i, s in enumerate(body) if any(n is site.call for n in walk(s))), None)
        if index is None:
            continue
        return _plan(site, facts, root, block, body, index, name)
    return None


def _plan(
    site: Site,
    facts: ModuleFacts,
    root: cst.CSTNode,
    block: cst.IndentedBlock | cst.Module,
    body: list[cst.BaseStatement],
    index: int,
    name: str,
) -> Plan | None:
    filling = body[index]
    if _fills(filling, name):
        if index == 0 or not _empty_list(body[index - 1], name):
            return None
        first = index  # the filling loop goes into the `try`
    elif _assigns_list(filling, name):
        first = index + 1
    else:
        return None
    end = next(
        (k for k in range(index + 1, len(body)) if _releases_all(body[k], site, facts, name)), None
    )
    if end is None or end == first:
        return None
    guarded = body[first:end]
    if any(name in assigned(s) for s in body[index + 1 : end]):
        return None  # the list is rebound: `finally` would release another one
    if any(
        isinstance(n, cst.Call) and facts.released_args(n, site.class_name, site.kind)
        for s in guarded
        for n in walk(s)
    ):
        return None  # released inside too: the release loop would release twice
    if kept_beyond(guarded, name, set()):
        return None  # the list is returned or stored: its new holder gives them back
    loop = body[end]
    assert isinstance(loop, cst.For) and isinstance(loop.target, cst.Name)
    if any(used_after(loop, root, n) for n in (name, loop.target.value)):
        return None
    blank, lifted = lift_blank_lines(guarded)
    new_try = cst.Try(
        body=cst.IndentedBlock(body=lifted),
        finalbody=cst.Finally(body=cst.IndentedBlock(body=[loop.with_changes(leading_lines=[])])),
        leading_lines=blank,
    )
    new_block = block.with_changes(body=[*body[:first], new_try, *body[end + 1 :]])
    return Plan(
        block,
        new_block,
        f"Give back the connections of `{name}` in `finally`",
        Applicability.SAFE,
    )


def _releases_all(stmt: cst.BaseStatement, site: Site, facts: ModuleFacts, name: str) -> bool:
    """`for conn in conns: pool.putconn(conn)`: the body that one release, no `else`."""
    return (
        isinstance(stmt, cst.For)
        and stmt.asynchronous is None
        and stmt.orelse is None
        and isinstance(stmt.target, cst.Name)
        and isinstance(stmt.iter, cst.Name)
        and stmt.iter.value == name
        and isinstance(stmt.body, cst.IndentedBlock)
        and len(stmt.body.body) == 1
        and is_release(stmt.body.body[0], site, facts, stmt.target.value)
    )


def _assigned(stmt: cst.BaseStatement, name: str) -> cst.BaseExpression | None:
    """The value of `stmt` when it is `name = <value>` alone on its line, else None."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and small.targets[0].target.value == name
    ):
        return small.value
    return None


def _assigns_list(stmt: cst.BaseStatement, name: str) -> bool:
    """`conns = [pool.getconn() for _ in range(n)]`."""
    return isinstance(_assigned(stmt, name), cst.ListComp)


def _empty_list(stmt: cst.BaseStatement, name: str) -> bool:
    """`conns = []`."""
    value = _assigned(stmt, name)
    return isinstance(value, cst.List) and not value.elements


def _fills(stmt: cst.BaseStatement, name: str) -> bool:
    """`for _ in range(n): conns.append(pool.getconn())`: a loop whose body only appends to the
    list (and does not mention it otherwise)."""
    if not isinstance(stmt, cst.For) or stmt.orelse is not None:
        return False
    if not isinstance(stmt.body, cst.IndentedBlock) or name in names(stmt.iter):
        return False
    for inner in stmt.body.body:
        if not isinstance(inner, cst.SimpleStatementLine) or len(inner.body) != 1:
            return False
        small = inner.body[0]
        call = small.value if isinstance(small, cst.Expr) else None
        if not (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and isinstance(call.func.value, cst.Name)
            and call.func.value.value == name
            and call.func.attr.value == "append"
        ):
            return False
    return True
