"""What a fix may wrap: the statements a resource's range covers, and what leaves that range.

The range of `name = <acquire>` runs through the last statement of its block that uses the
resource or a name derived from it: results, cursors, loaded objects, objects added to a session.
A rewrite that releases at the end of the range is unsafe when something tied to a SQLAlchemy
session (an ORM object, an unread result) is returned or stored beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.ownership import free_mentions
from leakcheck.analysis.syntax import bound_names, displayed_values, dotted, unwrap_value, walk

# Session methods whose arguments become objects of the session.
ATTACHING = frozenset({"add", "add_all", "merge", "refresh", "delete", "expunge"})


def enclosing_block(
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
                    if (  # `db.connect()`: the source holds the connection (peewee)
                        site.kind.resource_is_source
                        and isinstance(small, cst.Expr)
                        and unwrap_value(small.value) is site.call
                    ):
                        return node, index
    return None


@dataclass(frozen=True)
class Acquired:
    """Where a recipe starts: the acquired name, the block holding the acquiring statement, that
    block's statements and the statement's index in them."""

    name: str
    block: cst.IndentedBlock | cst.Module
    body: tuple[cst.BaseStatement, ...]
    index: int


def acquired_in_block(site: Site, facts: ModuleFacts) -> Acquired | None:
    """`site`'s acquiring statement in its block (`enclosing_block`), with its name; None when
    it is not a plain assignment in a block or binds no name."""
    found = enclosing_block(site, facts)
    name = site.binding.name
    if found is None or name is None:
        return None
    block, index = found
    return Acquired(name, block, tuple(block.body), index)


def names(node: cst.CSTNode) -> set[str]:
    return {n.value for n in walk(node, into_scopes=True) if isinstance(n, cst.Name)}


def assigned(stmt: cst.CSTNode) -> set[str]:
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


def handed_in(stmt: cst.CSTNode, tracked: set[str]) -> set[str]:
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


def range_of(body: tuple[cst.CSTNode, ...], start: int, name: str) -> tuple[int, set[str]]:
    """Index after the last statement using `name` or anything derived from it, and the names
    derived from it (results, cursors, loaded objects, objects added to the session)."""
    tracked = {name}
    end = start
    for index in range(start, len(body)):
        stmt = body[index]
        if names(stmt) & tracked:
            tracked |= assigned(stmt) | handed_in(stmt, tracked)
            end = index + 1
    return end, tracked - {name}


def escapes_attached(stmts: list[cst.BaseStatement], name: str, derived: set[str]) -> bool:
    """Does a value tied to the session leave the new block (returned or stored)? An ORM
    object or a result used after the session closes is detached: the rewrite may change behaviour.
    Attributes (`user.name`, `{"id": item.id}`) are read inside the block and are plain values."""
    tied = derived | {name}

    def attached(expr: cst.BaseExpression | None) -> bool:
        if expr is None:
            return False
        expr = unwrap_value(expr)
        values = displayed_values(expr)
        if values is not None:
            return any(attached(v) for v in values)
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
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            continue  # its own `return`s; a closure over the resource is refused before this
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


def is_release(stmt: cst.CSTNode, site: Site, facts: ModuleFacts, name: str) -> bool:
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


def mentions_release(
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


def detaches(site: Site, kept: list[cst.BaseStatement], name: str, derived: set[str]) -> str:
    """Why releasing at the end of the block may change behaviour, or "" when it cannot."""
    if site.kind.detaches_objects and escapes_attached(kept, name, derived):
        return "objects of the session leave the block and are detached once it closes"
    if site.kind.closes_results and returns_result(kept, name, derived):
        return "a result of the connection leaves the block and cannot be read once it closes"
    return ""


def ending_at_release(
    inner: list[cst.BaseStatement], releases: list[cst.BaseStatement], name: str
) -> tuple[list[cst.BaseStatement], list[cst.BaseStatement]] | None:
    """The range split at its one top-level release: the statements before it (the new block)
    and after it (left after the block), when both are there and nothing after the release
    mentions the resource itself (a session used again after `close()` starts anew: that stays).

        user = db.get(User, uid)                 with SessionLocal() as db:
        payload = {"name": user.name}      ->        user = db.get(User, uid)
        db.close()                                   payload = {"name": user.name}
        return payload                           return payload

    On the normal path the block now ends where the original released, so whatever is read or
    returned after it (`return payload`, even `return user.name`, an attribute of a detached
    object) is read after the release in both; on an error path before it nothing leaves."""
    if len(releases) != 1:
        return None
    at = next((i for i, s in enumerate(inner) if s is releases[0]), None)
    if at is None or at == 0 or at == len(inner) - 1:
        return None
    after = inner[at + 1 :]
    if any(name in names(s) for s in after):
        return None
    return inner[:at], after


def returns_result(kept: list[cst.BaseStatement], name: str, derived: set[str]) -> bool:
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


def used_after(node: cst.CSTNode, root: cst.CSTNode, name: str) -> bool:
    """Is `name` used in a statement after `node` in its block (or an enclosing one), before it
    is bound again (`with other() as cur:` is another `cur`)?"""
    # Only `as` names: in `x = f(x)` and `for x in x.rows()` the old value is read first.
    bound = {
        id(other.name)
        for other in walk(root)
        if isinstance(other, cst.AsName) and isinstance(other.name, cst.Name)
    }
    seen = False
    for other in walk(root):
        if other is node:
            seen = True
            continue
        if seen and isinstance(other, cst.Name) and other.value == name and not inside(other, node):
            return id(other) not in bound
    return False


def inside(inner: cst.CSTNode, outer: cst.CSTNode) -> bool:
    return any(n is inner for n in walk(outer, into_scopes=True))


def hands_over(expr: cst.BaseExpression, name: str) -> bool:
    """`return conn`, `return conn, cur`, `return Repo(conn)`: the resource itself leaves."""
    expr = unwrap_value(expr)
    if isinstance(expr, cst.Name):
        return expr.value == name
    values = displayed_values(expr)
    if values is not None:
        return any(hands_over(v, name) for v in values)
    if isinstance(expr, cst.Call):
        return any(hands_over(a.value, name) for a in expr.args)
    return False


# Calls that consume what they are given before returning (so a result passed to them is read
# inside the range); anything else may keep it and read it later (`ResultIter(conn.execute(q))`).
EAGER = frozenset(
    {
        "list",
        "tuple",
        "dict",
        "set",
        "frozenset",
        "sorted",
        "len",
        "sum",
        "any",
        "all",
        "max",
        "min",
        "str",
        "repr",
        "bool",
        "int",
        "float",
    }
)
READS = frozenset(
    {
        "fetchone",
        "fetchall",
        "fetchmany",
        "scalar",
        "all",
        "first",
        "one",
        "one_or_none",
        "scalar_one",
        "scalar_one_or_none",
        "read",
        "getvalue",
    }
)


def _stores_in_tuple(node: cst.Assign, tied: set[str]) -> bool:
    value = unwrap_value(node.value)
    if not isinstance(value, (cst.Tuple, cst.List)):
        return False
    for target in node.targets:
        elements = target.target
        if isinstance(elements, (cst.Tuple, cst.List)):
            for left, right in zip(elements.elements, value.elements, strict=False):
                if (
                    isinstance(left.value, (cst.Attribute, cst.Subscript))
                    and isinstance(right.value, cst.Name)
                    and right.value.value in tied
                ):
                    return True
    return False


def caching_factory(site: Site, facts: ModuleFacts) -> bool:
    """Is the acquiring call this module's own function that also keeps what it returns
    (`local.conn = conn; return conn`)? Its callers share that object: not theirs to release."""
    name = dotted(site.call.func) or ""
    if name.startswith(("self.", "cls.")) and site.class_name is not None:
        name = f"{site.class_name}.{name.split('.', 1)[1]}"
    info = facts.by_key.get(name)
    if info is None or not isinstance(info.node, cst.FunctionDef):
        return False
    returned = {
        n.value.value
        for n in walk(info.node.body)
        if isinstance(n, cst.Return) and isinstance(n.value, cst.Name)
    }
    body = info.node.body
    if not isinstance(body, cst.IndentedBlock):
        return False
    return any(leaves(list(body.body), var, set()) for var in returned)


def leaves(stmts: list[cst.BaseStatement], name: str, derived: set[str]) -> bool:
    """Is the resource, or something still reading from it, handed on inside the range: stored
    (`self.conn = conn`), or given unread to code that may keep it (`return Iter(conn.execute(q))`)?
    Releasing at the end of the range would then break whoever holds it."""
    tied = derived | {name}

    def live(expr: cst.BaseExpression) -> bool:
        # The resource itself passed to a helper is lent (the function releases it after);
        # an unread result of it may be kept by whoever receives it.
        expr = unwrap_value(expr)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            root: cst.BaseExpression = expr.func.value
            while isinstance(root, (cst.Call, cst.Attribute, cst.Subscript)):
                root = root.func if isinstance(root, cst.Call) else root.value
            return (
                isinstance(root, cst.Name)
                and root.value in tied
                and expr.func.attr.value not in READS
            )
        return False

    for stmt in stmts:
        for node in walk(stmt):
            if isinstance(node, cst.Assign) and any(
                isinstance(t.target, (cst.Attribute, cst.Subscript)) for t in node.targets
            ):
                value = unwrap_value(node.value)
                if isinstance(value, cst.Name) and value.value in tied:
                    return True
            if isinstance(node, cst.Assign) and _stores_in_tuple(node, tied):
                return True  # `local.conn, local.pid = conn, os.getpid()`
            if (
                isinstance(node, cst.Call)
                and (dotted(node.func) or "") not in EAGER
                and any(live(arg.value) for arg in node.args)
            ):
                return True
    return False


# -- what may still use the resource after the release a rewrite adds -----------------------------

# Calls that run what they are given later, or on another thread or task: the resource handed to
# them (as an argument, inside a tuple of arguments, or through a closure) outlives the call.
# threading.Thread/Timer, multiprocessing.Process, asyncio create_task/ensure_future/call_soon*,
# loop.run_in_executor, concurrent.futures Executor.submit, functools.partial, atexit.register,
# Starlette/FastAPI BackgroundTasks.add_task, anyio start_soon, gevent spawn.
DEFERRING = frozenset(
    {
        "Thread",
        "Timer",
        "Process",
        "start_new_thread",
        "create_task",
        "ensure_future",
        "run_coroutine_threadsafe",
        "call_soon",
        "call_soon_threadsafe",
        "call_later",
        "call_at",
        "run_in_executor",
        "to_thread",
        "submit",
        "apply_async",
        "map_async",
        "partial",
        "register",
        "add_task",
        "add_job",
        "add_done_callback",
        "add_event_handler",
        "start_soon",
        "spawn",
        "callback",
        "push",
        "push_async_callback",
    }
)


# Of those, the ones whose awaited result is the work done: `await loop.run_in_executor(...)`,
# `await asyncio.to_thread(...)`, `await asyncio.create_task(...)` wait for it to end; `push`
# (ExitStack's) is not awaitable, so an awaited `push(...)` is some coroutine of the project.
RUN_WHEN_AWAITED = frozenset(
    {"run_in_executor", "to_thread", "create_task", "ensure_future", "push", "submit", "spawn"}
)


def _mentions_any(node: cst.CSTNode, tied: set[str]) -> bool:
    return any(isinstance(n, cst.Name) and n.value in tied for n in walk(node, into_scopes=True))


def deferred_use(
    stmts: list[cst.BaseStatement], tied: set[str], awaited_run_now: bool = False
) -> cst.CSTNode | None:
    """The first node through which code that runs later may use the resource: a thread, task,
    executor job or callback given it (`Thread(target=consume, args=(conn,))`), or a function,
    lambda or generator expression over it that is not consumed on the spot. None when there is
    none. A release added after such a node would close the resource under that code.
    `awaited_run_now`: a call awaited on the spot whose name only says it may run work elsewhere
    (`await push(alert)`, `await asyncio.to_thread(f, conn)`, RUN_WHEN_AWAITED) has finished when
    the `await` returns: not deferred."""
    for stmt in stmts:
        awaited = (
            {id(n.expression) for n in walk(stmt) if isinstance(n, cst.Await)}
            if awaited_run_now
            else set()
        )
        for node in walk(stmt):
            if isinstance(node, cst.Call):
                last = (dotted(node.func) or "").rsplit(".", 1)[-1]
                if id(node) in awaited and last in RUN_WHEN_AWAITED:
                    continue
                if last in DEFERRING and any(_mentions_any(a.value, tied) for a in node.args):
                    return node
            elif isinstance(node, (cst.FunctionDef, cst.Lambda)) and free_mentions(
                node, frozenset(tied)
            ):
                return node  # a closure over the resource, called who knows when
            elif isinstance(node, (cst.Return, cst.Assign)) and node.value is not None:
                value = unwrap_value(node.value)
                if isinstance(value, cst.GeneratorExp) and _mentions_any(value, tied):
                    return node  # `return (row for row in cur)`: read after the release
    return None


def handed_to_later(site: Site, facts: ModuleFacts) -> cst.Call | None:
    """The call that hands the resource to code running later and is the function's last word
    on it: `return asyncio.create_task(refresher(conn))`, `loop.create_task(...)`,
    `asyncio.ensure_future(...)`, `group.create_task(...)` (a `TaskGroup`), `executor.submit`,
    `Thread(args=(conn,))`, as a statement of the acquisition's block after which nothing in
    the function mentions the resource again. The task (thread, job) then owns it: the analysis
    counts a coroutine that releases its parameter as the release, so the verdict does not say
    "hands it over". None when there is no such call."""
    start = acquired_in_block(site, facts)
    if start is None:
        return None
    name, body, index = start.name, start.body, start.index
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    for position in range(index + 1, len(body)):
        node = deferred_use([body[position]], {name})
        if node is None:
            continue
        if not isinstance(node, cst.Call):
            return None  # a closure over it: when it runs is not known
        if not isinstance(body[position], cst.SimpleStatementLine):
            return None  # inside `async with TaskGroup() as g:`, whose entry may raise first
        later = body[position + 1 :]
        if any(name in names(s) for s in later) or used_after(body[position], root, name):
            return None  # the function goes on using it: the task only borrows it
        return node
    return None


# Methods returning an object that still reads from the connection: a DB-API cursor (psycopg 3
# and sqlite3 `execute()` return one), an unread SQLAlchemy `Result`/`ScalarResult`.
LAZY = frozenset({"cursor", "execute", "exec_driver_sql", "stream", "scalars", "stream_scalars"})


def live_names(stmts: list[cst.BaseStatement], name: str) -> set[str]:
    """Names bound in the range to objects still reading from the resource: `cur = conn.cursor()`,
    `result = conn.execute(q)` and what is made from them (not `rows = cur.fetchall()`, a plain
    value)."""
    live = {name}
    for stmt in stmts:
        for node in walk(stmt):
            if not isinstance(node, cst.Assign) or len(node.targets) != 1:
                continue
            target = node.targets[0].target
            value = unwrap_value(node.value)
            if not isinstance(target, cst.Name) or not isinstance(value, cst.Call):
                continue
            root: cst.BaseExpression = value
            last = ""
            while isinstance(root, (cst.Call, cst.Attribute, cst.Subscript)):
                if isinstance(root, cst.Attribute) and not last:
                    last = root.attr.value
                root = root.func if isinstance(root, cst.Call) else root.value
            if isinstance(root, cst.Name) and root.value in live and last in LAZY:
                live.add(target.value)
    return live - {name}


def returns_live(stmts: list[cst.BaseStatement], name: str) -> bool:
    """`return cur` with `cur = conn.cursor()`: the caller gets the connection through its cursor
    (a hand-off: closing it here would leave the caller a dead cursor)."""
    live = live_names(stmts, name)
    return any(
        isinstance(node, cst.Return)
        and node.value is not None
        and isinstance(unwrap_value(node.value), cst.Name)
        and unwrap_value(node.value).value in live  # type: ignore[attr-defined]
        for stmt in stmts
        for node in walk(stmt)
    )


def lets_out(stmts: list[cst.BaseStatement], name: str, releases: bool) -> str:
    """Why a release at the end of the range may break code that still holds something of the
    resource, or "": a cursor or result returned (read by the caller after the release), or, when
    the original never releases, one yielded (the consumer may keep it past the generator)."""
    live = live_names(stmts, name)
    for stmt in stmts:
        for node in walk(stmt):
            value = node.value if isinstance(node, (cst.Return, cst.Yield)) else None
            if not isinstance(value, cst.BaseExpression):
                continue
            value = unwrap_value(value)
            if isinstance(value, cst.Name) and value.value in live:
                if isinstance(node, cst.Return):
                    return f"`{value.value}` is returned and reads from `{name}` once released"
                if not releases:
                    return f"`{value.value}` is yielded and may be read after `{name}` is released"
    return ""


def kept_beyond(stmts: list[cst.BaseStatement], name: str, derived: set[str]) -> bool:
    """Does the range give the resource (or an object of it in `derived`) to someone who holds
    it after the range ends, so that a release added at its end would break them: returned to the
    caller on some path (`hands_over`), stored or handed on (`leaves`), used by code that runs
    later (`deferred_use`: a thread, task or callback), or a cursor of it returned
    (`returns_live`)? The preconditions every rewrite that adds a release shares."""
    return (
        any(
            isinstance(n, cst.Return) and n.value is not None and hands_over(n.value, name)
            for s in stmts
            for n in walk(s)
        )
        or leaves(stmts, name, derived)
        or deferred_use(stmts, {name} | derived) is not None
        or returns_live(stmts, name)
    )
