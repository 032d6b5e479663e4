"""Fix recipes: how a leak is rewritten into a form that releases on every path.

One mechanism covers most rules. The acquisition `name = <acquire>` and the statements after it in
the same block, through the last one that uses the resource or anything derived from it (cursors,
results, loaded objects), become either

    with <acquire> as name:          (kinds whose `with` only releases: SQLAlchemy, asyncpg pools)
        <range>

or, where a `with` would do more than release (psycopg 3 commits) or does not exist,

    name = <acquire>
    try:
        <range>
    finally:
        <the release>

Top-level releases inside the range are removed (the new form releases); a release nested deeper
in the range means the rewrite could release twice, so there is no fix. A release after a raising
statement in `finally` (LC104/LC204) is nested in its own try/finally instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from leakcheck.facts import ModuleFacts, Site
from leakcheck.syntax import bound_names, call_text, dotted, receiver_text, unwrap_value, walk
from leakcheck.verdicts import Verdict

# Kinds whose `with` on the acquiring call only releases (no commit): the `with` form is safe.
WITH_FORM = frozenset({"sqlalchemy-session", "sqlalchemy-connection", "asyncpg-pool"})
WRAPPED = frozenset({"never", "exception", "early-exit", "yield"})
# Session methods whose arguments become objects of the session.
ATTACHING = frozenset({"add", "add_all", "merge", "refresh", "delete", "expunge"})


@dataclass(frozen=True)
class Plan:
    """A rewrite of one block: `old` is replaced by `new` in the module."""

    old: cst.CSTNode
    new: cst.CSTNode
    title: str
    applicability: str  # "safe" | "unsafe"
    reason: str = ""  # why it is unsafe
    imports: tuple[tuple[str, str], ...] = ()  # (module, name) the new code needs imported


def plan(verdict: Verdict, facts: ModuleFacts, helpers: tuple[str, ...] = ()) -> Plan | None:
    """The rewrite that fixes `verdict`, or None when no rewrite is known to be right.

    `helpers` (`fix-helpers` in the configuration): context managers of the project that hand out
    a pooled connection and give it back, used instead of try/finally for pool connections.
    """
    site = verdict.site
    if verdict.leak in WRAPPED and site.binding.how == "assign":
        return _wrap(site, facts, helper=_helper(site, helpers))
    if verdict.leak == "never" and site.binding.how == "with":
        return _with_that_releases(site, facts)
    if verdict.leak == "unentered" and site.binding.how == "assign":
        return _enter(site, facts)
    if verdict.leak == "finally-order" and verdict.node is not None:
        return _nest_release(verdict, facts)
    return None


# -- the range of a resource ------------------------------------------------------------------


def _enclosing_block(
    site: Site, facts: ModuleFacts
) -> tuple[cst.IndentedBlock | cst.Module, int] | None:
    """The block holding the acquiring statement, and the statement's index in it."""
    scope = site.scope
    root: cst.CSTNode = scope if isinstance(scope, cst.Module) else scope.body
    for node in walk(root):
        if isinstance(node, (cst.IndentedBlock, cst.Module)):
            for index, stmt in enumerate(node.body):
                if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
                    small = stmt.body[0]
                    if (
                        isinstance(small, (cst.Assign, cst.AnnAssign))
                        and small.value is not None
                        and unwrap_value(small.value) is site.call
                    ):
                        return node, index
    return None


def _names(node: cst.CSTNode) -> set[str]:
    return {n.value for n in walk(node, into_scopes=True) if isinstance(n, cst.Name)}


def _assigned(stmt: cst.CSTNode) -> set[str]:
    out: set[str] = set()
    for node in walk(stmt):
        target: cst.CSTNode | None = None
        if isinstance(node, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign)):
            target = node.target
        elif isinstance(node, (cst.AsName, cst.For)):
            target = node.name if isinstance(node, cst.AsName) else node.target
        elif isinstance(node, cst.NamedExpr):
            target = node.target
        if target is not None:
            out |= bound_names(target)
    return out


def _handed_in(stmt: cst.CSTNode, tracked: set[str]) -> set[str]:
    """Names given to the resource's methods: `db.add(item)` ties `item` to the session."""
    out: set[str] = set()
    for node in walk(stmt):
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and isinstance(node.func.value, cst.Name)
            and node.func.value.value in tracked
            and node.func.attr.value in ATTACHING
        ):
            out |= {a.value.value for a in node.args if isinstance(a.value, cst.Name)}
    return out


def _range(body: tuple[cst.CSTNode, ...], start: int, name: str) -> tuple[int, set[str]]:
    """Index after the last statement using `name` or anything derived from it, and the names
    derived from it (results, cursors, loaded objects, objects added to the session)."""
    tracked = {name}
    end = start
    for index in range(start, len(body)):
        stmt = body[index]
        if _names(stmt) & tracked:
            tracked |= _assigned(stmt) | _handed_in(stmt, tracked)
            end = index + 1
    return end, tracked - {name}


def _escapes_attached(stmts: list[cst.BaseStatement], name: str, derived: set[str]) -> bool:
    """Does a value tied to the session leave the new block (returned or stored)? An ORM
    object or a result used after the session closes is detached: the rewrite may change behaviour.
    Attributes (`user.name`, `{"id": item.id}`) are read inside the block and are plain values."""
    tied = derived | {name}

    def attached(expr: cst.BaseExpression | None) -> bool:
        if expr is None:
            return False
        expr = unwrap_value(expr)
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            return any(attached(e.value) for e in expr.elements)
        if isinstance(expr, cst.Dict):
            return any(attached(e.value) for e in expr.elements if isinstance(e, cst.DictElement))
        if isinstance(expr, cst.Name):
            return expr.value in tied
        if isinstance(expr, (cst.Call, cst.Subscript)):  # db.query(...).all(), rows[0]
            if isinstance(expr, cst.Call) and any(attached(a.value) for a in expr.args):
                return True  # list(session.scalars(q)), sorted(items): a wrapper of the objects
            root: cst.BaseExpression = expr
            while isinstance(root, (cst.Call, cst.Attribute, cst.Subscript)):
                if isinstance(root, cst.Call) and any(attached(a.value) for a in root.args):
                    return True
                root = root.func if isinstance(root, cst.Call) else root.value
            return isinstance(root, cst.Name) and root.value in tied
        return False

    for stmt in stmts:
        for node in walk(stmt):
            # A `yield` suspends the generator inside the block: what it yields is used while
            # the session is still open. Only a `return` or a store lets a value out.
            if isinstance(node, cst.Return) and attached(node.value):
                return True
            if (
                isinstance(node, cst.Assign)
                and any(not isinstance(t.target, cst.Name) for t in node.targets)
                and attached(node.value)
            ):
                return True
    return False


def _is_release(stmt: cst.CSTNode, site: Site, facts: ModuleFacts, name: str) -> bool:
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return False
    small = stmt.body[0]
    if not isinstance(small, cst.Expr):
        return False
    call = unwrap_value(small.value)
    if not isinstance(call, cst.Call):
        return False
    released = facts.released_args(call, site.class_name, site.kind)
    return any(isinstance(a, cst.Name) and a.value == name for a in released)


def _mentions_release(
    stmts: tuple[cst.CSTNode, ...], site: Site, facts: ModuleFacts, name: str
) -> bool:
    for stmt in stmts:
        for node in walk(stmt, into_scopes=True):
            if isinstance(node, cst.Call) and any(
                isinstance(a, cst.Name) and a.value == name
                for a in facts.released_args(node, site.class_name, site.kind)
            ):
                return True
    return False


# -- wrapping -----------------------------------------------------------------------------------


def _helper(site: Site, helpers: tuple[str, ...]) -> str | None:
    """The configured helper that can stand for this acquisition: `self.x` only in a method."""
    if site.kind.family != "pool":
        return None
    for helper in helpers:
        if not helper.startswith(("self.", "cls.")) or site.class_name is not None:
            return helper
    return None


def _wrap(
    site: Site, facts: ModuleFacts, enter: bool = False, helper: str | None = None
) -> Plan | None:
    """`enter`: the call is a context manager used without `with` (LC301): wrap in `with`.
    `helper`: the project's own context manager for this kind of connection."""
    found = _enclosing_block(site, facts)
    name = site.binding.name
    if found is None or name is None:
        return None
    block, index = found
    body = tuple(block.body)
    end, derived = _range(body, index + 1, name)
    inner = list(body[index + 1 : end])
    releases = [] if enter else [s for s in inner if _is_release(s, site, facts, name)]
    kept = [s for s in inner if not any(s is r for r in releases)]
    if not kept or (not enter and _mentions_release(tuple(kept), site, facts, name)):
        return None  # nothing to guard, or a nested release the new form would repeat
    if any(
        isinstance(n, cst.Return) and n.value is not None and _hands_over(n.value, name)
        for s in kept
        for n in walk(s)
    ):
        return None  # handed to the caller on some path: releasing it would break the caller
    acquiring = body[index]
    assert isinstance(acquiring, cst.SimpleStatementLine)
    small = acquiring.body[0]
    assert isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None
    awaited = isinstance(small.value, cst.Await)
    if helper is not None and not awaited:
        with_ = cst.With(
            items=[
                cst.WithItem(cst.parse_expression(f"{helper}()"), asname=cst.AsName(cst.Name(name)))
            ],
            body=cst.IndentedBlock(body=kept, header=acquiring.trailing_whitespace),
            leading_lines=acquiring.leading_lines,
        )
        new_block = block.with_changes(body=[*body[:index], with_, *body[end:]])
        reason = "the project's helper may also commit or roll back"
        return Plan(block, new_block, f"Use `with {helper}() as {name}:`", "unsafe", reason)
    if enter:
        asynchronous = _async_manager(site, facts)
        if asynchronous is None:
            return None  # `with` or `async with`: not known for a helper of another module
        with_ = cst.With(
            items=[cst.WithItem(site.call, asname=cst.AsName(cst.Name(name)))],
            body=cst.IndentedBlock(body=[*inner], header=acquiring.trailing_whitespace),
            asynchronous=cst.Asynchronous() if asynchronous else None,
            leading_lines=acquiring.leading_lines,
        )
        new_block = block.with_changes(body=[*body[:index], with_, *body[end:]])
        title = f"Enter `{call_text(site.call)}` with `{'async ' if asynchronous else ''}with`"
        reason = "the manager now runs: it acquires and releases what the code used without it"
        return Plan(block, new_block, title, "unsafe", reason)
    if len(releases) > 1:
        return None  # released twice in the original, which then fails: that would change
    asynchronous = _with_form(site, facts, releases, awaited, small)
    if asynchronous is not None and not any(_has_comment(r) for r in releases):
        item = cst.WithItem(site.call, asname=cst.AsName(cst.Name(name)))
        replacement: list[cst.BaseStatement] = [
            cst.With(
                items=[item],
                body=cst.IndentedBlock(body=kept, header=acquiring.trailing_whitespace),
                asynchronous=cst.Asynchronous() if asynchronous else None,
                leading_lines=acquiring.leading_lines,
            )
        ]
        title = f"Use `{'async ' if asynchronous else ''}with` for `{name}`"
    else:
        if not releases and site.kind.self_release_methods and _in_async_def(site) and not awaited:
            return None  # `db.close()` or `await db.close()`: not known for this session
        release = releases[0] if releases else _release_statement(site, name, awaited)
        if release is None:
            return None
        replacement = [
            acquiring,
            cst.Try(
                body=cst.IndentedBlock(body=kept),
                finalbody=cst.Finally(body=cst.IndentedBlock(body=[_bare(release)])),
            ),
        ]
        title = f"Release `{name}` in `finally`"
    new_body = [*body[:index], *replacement, *body[end:]]
    new_block = block.with_changes(body=new_body)
    reason = _detaches(site, kept, name, derived)
    return Plan(block, new_block, title, "unsafe" if reason else "safe", reason)


def _detaches(site: Site, kept: list[cst.BaseStatement], name: str, derived: set[str]) -> str:
    """Why releasing at the end of the block may change behaviour, or "" when it cannot."""
    if site.kind.name == "sqlalchemy-session" and _escapes_attached(kept, name, derived):
        return "objects of the session leave the block and are detached once it closes"
    if site.kind.name == "sqlalchemy-connection" and _returns_result(kept, name, derived):
        return "a result of the connection leaves the block and cannot be read once it closes"
    return ""


def _returns_result(kept: list[cst.BaseStatement], name: str, derived: set[str]) -> bool:
    """`return result` or `return conn.execute(q)`: an unread Result (rows read inside the
    block, `list(result)`, `result.all()`, are plain values)."""
    for stmt in kept:
        for node in walk(stmt):
            if not isinstance(node, cst.Return) or node.value is None:
                continue
            value = unwrap_value(node.value)
            if isinstance(value, cst.Name) and value.value in derived | {name}:
                return True
            if (
                isinstance(value, cst.Call)
                and isinstance(value.func, cst.Attribute)
                and value.func.attr.value in ("execute", "exec_driver_sql", "stream")
            ):
                return True
    return False


def _enter(site: Site, facts: ModuleFacts) -> Plan | None:
    return _wrap(site, facts, enter=True)


def _async_manager(site: Site, facts: ModuleFacts) -> bool | None:
    """Is the helper an `@asynccontextmanager`? None when it is not defined in this module."""
    name = dotted(site.call.func) or ""
    if name.startswith(("self.", "cls.")) and site.class_name is not None:
        name = f"{site.class_name}.{name.split('.', 1)[1]}"
    info = facts.by_key.get(name)
    if info is None or not isinstance(info.node, cst.FunctionDef):
        return None
    decorators = {(dotted(d.decorator) or "").rsplit(".", 1)[-1] for d in info.node.decorators}
    return "asynccontextmanager" in decorators


def _with_that_releases(site: Site, facts: ModuleFacts) -> Plan | None:
    """`with psycopg2.connect() as conn:` only ends the transaction:
    `with closing(psycopg2.connect()) as conn, conn:` closes it too and keeps the transaction.
    `with pool.getconn() as conn:` likewise becomes try/finally around `with conn:`."""
    name = site.binding.name
    if name is None:
        return None
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    for node in walk(root):
        if not isinstance(node, cst.With) or len(node.items) != 1:
            continue
        item = node.items[0]
        if unwrap_value(item.item) is not site.call or isinstance(item.item, cst.Await):
            continue
        if _used_after(node, root, name):
            return None  # the code goes on using the connection after the `with`
        if "close" in site.kind.self_release_methods:
            closer = _closing_name(facts)
            if closer is None:
                return None  # `closing` means something else here
            closing = cst.WithItem(
                cst.Call(func=cst.parse_expression(closer), args=[cst.Arg(site.call)]),
                asname=cst.AsName(cst.Name(name)),
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
            )
            new = node.with_changes(items=[closing, cst.WithItem(cst.Name(name))])
            title = f"Close `{name}` with `closing()`, keeping the transaction `with`"
            needs = (("contextlib", "closing"),) if closer == "closing" else ()
            return Plan(node, new, title, "safe", imports=needs)
        release = _release_statement(site, name, False)
        if release is None or node.asynchronous is not None:
            return None
        body_block = node.body
        if not isinstance(body_block, cst.IndentedBlock):
            return None
        acquire = cst.SimpleStatementLine(  # the `with` line's comment stays with the acquisition
            body=[cst.Assign([cst.AssignTarget(cst.Name(name))], site.call)],
            leading_lines=node.leading_lines,
            trailing_whitespace=body_block.header,
        )
        inner = node.with_changes(
            items=[cst.WithItem(cst.Name(name))],
            leading_lines=[],
            body=body_block.with_changes(header=cst.TrailingWhitespace()),
        )
        guarded = cst.Try(
            body=cst.IndentedBlock(body=[inner]),
            finalbody=cst.Finally(body=cst.IndentedBlock(body=[release])),
        )
        for block in walk(root):
            if isinstance(block, (cst.IndentedBlock, cst.Module)) and any(
                s is node for s in block.body
            ):
                body = [x for s in block.body for x in ([acquire, guarded] if s is node else [s])]
                new_block = block.with_changes(body=body)
                return Plan(block, new_block, f"Return `{name}` to the pool in `finally`", "safe")
        return None
    return None


def _used_after(node: cst.CSTNode, root: cst.CSTNode, name: str) -> bool:
    """Is `name` used in a statement after `node` in its block (or an enclosing one)?"""
    seen = False
    for other in walk(root):
        if other is node:
            seen = True
            continue
        if (
            seen
            and isinstance(other, cst.Name)
            and other.value == name
            and not _inside(other, node)
        ):
            return True
    return False


def _inside(inner: cst.CSTNode, outer: cst.CSTNode) -> bool:
    return any(n is inner for n in walk(outer, into_scopes=True))


def _closing_name(facts: ModuleFacts) -> str | None:
    """How to call `contextlib.closing` here: `closing` (imported, or free to import) or
    `contextlib.closing`; None when `closing` is the module's own name and contextlib is not
    imported."""
    imported = facts.imports.get("closing")
    if imported == "contextlib.closing":
        return "closing"
    defined = any(
        isinstance(n, (cst.FunctionDef, cst.ClassDef)) and n.name.value == "closing"
        for n in walk(facts.module, into_scopes=True)
    )
    assigned = any("closing" in info.assigned for info in facts.scopes.values())
    bound = imported is not None or defined or assigned
    if not bound:
        return "closing"
    return "contextlib.closing" if facts.imports.get("contextlib") == "contextlib" else None


def _hands_over(expr: cst.BaseExpression, name: str) -> bool:
    """`return conn`, `return conn, cur`, `return Repo(conn)`: the resource itself leaves."""
    expr = unwrap_value(expr)
    if isinstance(expr, cst.Name):
        return expr.value == name
    if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
        return any(_hands_over(e.value, name) for e in expr.elements)
    if isinstance(expr, cst.Dict):
        return any(
            _hands_over(e.value, name) for e in expr.elements if isinstance(e, cst.DictElement)
        )
    if isinstance(expr, cst.Call):
        return any(_hands_over(a.value, name) for a in expr.args)
    return False


def unwrap_first(stmt: cst.CSTNode) -> cst.CSTNode | None:
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr):
        return stmt.body[0].value
    return None


def _bare(stmt: cst.BaseStatement) -> cst.BaseStatement:
    """The statement without the blank lines above it (its comments stay with it)."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return stmt.with_changes(
            leading_lines=[line for line in stmt.leading_lines if line.comment]
        )
    return stmt


def _has_comment(stmt: cst.BaseStatement) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    return stmt.trailing_whitespace.comment is not None or any(
        line.comment for line in stmt.leading_lines
    )


def _with_form(
    site: Site,
    facts: ModuleFacts,
    releases: list[cst.BaseStatement],
    awaited: bool,
    acquiring: cst.BaseSmallStatement,
) -> bool | None:
    """Whether the `with` form applies, and then whether it must be `async with`; None when the
    resource's context-manager protocol is not known for sure (try/finally is used instead)."""
    kind = site.kind
    if kind.name not in WITH_FORM or isinstance(acquiring, cst.AnnAssign):
        return None  # an annotated name (`db: Session = ...`) keeps its annotation
    func = site.call.func
    if kind.name == "asyncpg-pool":
        return True if awaited else None
    if isinstance(func, cst.Attribute) and func.attr.value == "raw_connection":
        return None  # no context manager before SQLAlchemy 2.0
    qualified = facts.qualify(func)
    if qualified in kind.acquire_callables:
        return qualified.endswith("AsyncSession")
    if isinstance(func, cst.Attribute) and func.attr.value in kind.acquire_methods:
        source = dotted(func.value)
    else:
        source = dotted(func)
    if source is not None and source in facts.asynchronous:
        return facts.asynchronous[source]  # built here: `async_sessionmaker`, `create_engine`
    if kind.acquire_by_calling_source and releases:
        # A session factory of another module: how the code closes it says sync or async.
        return isinstance(unwrap_first(releases[0]), cst.Await)
    return None


def _in_async_def(site: Site) -> bool:
    return isinstance(site.scope, cst.FunctionDef) and site.scope.asynchronous is not None


def _release_statement(site: Site, name: str, awaited: bool) -> cst.SimpleStatementLine | None:
    """`pool.putconn(conn)` or `conn.close()`, built from the kind, when no release exists."""
    kind = site.kind
    call: cst.BaseExpression
    func = site.call.func
    if kind.release_methods and isinstance(func, cst.Attribute):
        receiver = receiver_text(func.value)
        if receiver is None or dotted(func.value) is None:
            return None
        method = sorted(kind.release_methods)[0]
        call = cst.Call(
            func=cst.Attribute(func.value, cst.Name(method)), args=[cst.Arg(cst.Name(name))]
        )
    elif "close" in kind.self_release_methods:
        call = cst.Call(func=cst.Attribute(cst.Name(name), cst.Name("close")))
    else:
        return None
    if awaited:
        call = cst.Await(call)
    return cst.SimpleStatementLine(body=[cst.Expr(call)])


# -- a release after a raising statement in `finally` ---------------------------------------------


def _nest_release(verdict: Verdict, facts: ModuleFacts) -> Plan | None:
    """`finally: conn.autocommit = True; pool.putconn(conn)` ->
    `finally: try: conn.autocommit = True finally: pool.putconn(conn)`."""
    site = verdict.site
    name = site.binding.name
    scope = site.scope
    if name is None:
        return None
    for node in walk(scope if isinstance(scope, cst.Module) else scope.body):
        if not isinstance(node, cst.Finally) or not isinstance(node.body, cst.IndentedBlock):
            continue
        body = tuple(node.body.body)
        if not any(verdict.node is n for s in body for n in walk(s)):
            continue
        position = next((i for i, s in enumerate(body) if _is_release(s, site, facts, name)), None)
        if position is None or position == 0:
            return None
        guarded = cst.Try(
            body=cst.IndentedBlock(body=list(body[:position])),
            finalbody=cst.Finally(body=cst.IndentedBlock(body=[_bare(body[position])])),
        )
        new = node.with_changes(body=node.body.with_changes(body=[guarded, *body[position + 1 :]]))
        return Plan(node, new, f"Release `{name}` even if the statements before it raise", "safe")
    return None
