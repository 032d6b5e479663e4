"""What one statement (or statement header) does to a tracked resource.

A statement may raise, acquire the tracked resource, release it, hand it off, pass it to code we do
not know, add or drop names that refer to it, or leave the block (return, raise, break, continue).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from leakcheck.analysis.collect import CollectedFacts, releases_all_of
from leakcheck.analysis.ownership import (
    BORROW,
    RELEASE,
    UNKNOWN,
    argument_effect,
    free_mentions,
    kept_by_wrapper,
    local_closure,
)
from leakcheck.analysis.raising import (
    FRESH_ATTRIBUTES,
    FRESH_METHODS,
    call_may_raise,
    store_may_raise,
)
from leakcheck.analysis.records import FunctionInfo, Origin, Site
from leakcheck.analysis.syntax import children, dotted, unwrap_value, walk
from leakcheck.analysis.waits import unbounded_wait
from leakcheck.config.catalogue import Kind
from leakcheck.config.ownership import ownership

SUPPRESS = frozenset({"suppress", "contextlib.suppress"})
# Calls that end a session's transaction and give its connection back to the pool.
ENDS_TRANSACTION = frozenset({"commit", "rollback", "close", "reset"})


@dataclass
class Effect:
    raises: bool = False
    acquires: bool = False
    released: bool = False
    moved: bool = False
    escaped: bool = False  # passed to unknown code: a hand-off unless the scope releases it itself
    add: set[str] = field(default_factory=set)
    drop: set[str] = field(default_factory=set)
    leaves: str | None = None  # "return" | "raise" | "break" | "continue"
    uses: bool = False  # the resource is used (a query, an attribute, an argument)
    resets: bool = False  # its transaction ends: commit(), rollback(), close()
    waits: cst.Await | None = None  # an await on the outside world (see `unbounded_wait`)
    waits_in_loop_only: bool = False  # `asyncio.sleep`: unbounded only when repeated
    io: bool = False  # the resource is used other than configured while fresh (see raising.py)
    to_module: bool = False  # stored in a `global` or a module attribute: the module owns it
    gives_back: bool = False  # moved to a callee that releases it (a project's release helper)
    # moved only on an assumption about unknown code: `return process(conn)` may return `conn`
    assumed: bool = False


@dataclass(frozen=True)
class Context:
    """The tracked site and what the effect computation needs to know about its module."""

    site: Site
    facts: CollectedFacts

    @property
    def kind(self) -> Kind:
        return self.site.kind

    def is_closing(self, call: cst.Call) -> bool:
        return self.facts.is_closing(call, self.kind)

    @property
    def info(self) -> FunctionInfo | None:
        return self.facts.scopes.get(self.site.scope)


def scan(
    expr: cst.CSTNode | None,
    aliases: frozenset[str],
    ctx: Context,
    eff: Effect,
    fresh: frozenset[str] = frozenset(),
) -> None:
    """Record what evaluating `expr` does: may it raise, and how does it use the aliases.

    `fresh`: the aliases of a directly opened connection that has done no I/O yet.
    """
    if expr is None:
        return
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None, cst.CSTNode | None]] = [(expr, None, None)]
    released_ids: set[int] = set()
    deferred: set[int] = set()  # calls handed to a task, thread or callback: they run later
    configured: set[int] = set()  # `conn.cursor()` on a fresh connection: not I/O
    while stack:
        node, parent, grand = stack.pop()
        if isinstance(node, cst.Name):
            if node.value in aliases:
                eff.uses = True
                if id(node) not in configured:
                    eff.io = True
                if id(node) not in released_ids:
                    _classify_use(node, parent, grand, ctx, eff, deferred)
            continue
        if isinstance(node, cst.Await) and eff.waits is None:
            wait = unbounded_wait(node.expression)
            if wait is not None:
                eff.waits = node
                eff.waits_in_loop_only = wait == "sleep"
        if isinstance(node, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
            if aliases and free_mentions(node, aliases):
                info = ctx.info
                if info is not None and local_closure(ctx.facts, info, node, aliases, settled=True):
                    eff.uses = True  # only called here: the scope still owns the resource
                else:
                    eff.escaped = True
            continue
        if isinstance(node, cst.Call) and _takes_calls(node, ctx):
            deferred.update(id(a.value) for a in node.args if isinstance(a.value, cst.Call))
        if _entering(node, aliases):
            stack.extend((child, node, parent) for child in children(node))
            continue  # `await conn.__aenter__()`: opening it; if that fails there is none to close
        if isinstance(node, cst.Call) and fresh:
            func = node.func
            if (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value in fresh
                and func.attr.value in FRESH_METHODS
            ):
                configured.add(id(func.value))
        if isinstance(node, (cst.Await, cst.Subscript, cst.Yield)) or (
            isinstance(node, cst.Call) and call_may_raise(node, ctx.facts, ctx.info, fresh)
        ):
            eff.raises = True
        if isinstance(node, cst.Call) and aliases:
            for arg in ctx.facts.released_args(node, ctx.site.class_name, ctx.kind):
                if isinstance(arg, cst.Name) and arg.value in aliases:
                    eff.released = True
                    released_ids.add(id(arg))
            if releases_all_of(node, ctx.site):
                eff.released = True
            if _hands_over_release(node, aliases, ctx):
                eff.moved = True
            func = node.func
            if (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value in aliases
                and func.attr.value in ENDS_TRANSACTION
            ):
                eff.resets = True
        for child in children(node):
            stack.append((child, node, parent))


def _entering(node: cst.CSTNode, aliases: frozenset[str]) -> bool:
    if isinstance(node, cst.Await):
        node = node.expression
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and isinstance(node.func.value, cst.Name)
        and node.func.value.value in aliases
        and node.func.attr.value in ("__aenter__", "__enter__")
    )


def _takes_calls(call: cst.Call, ctx: Context) -> bool:
    """`asyncio.create_task(work(conn))`, `executor.submit(...)`: calls given to it run later."""
    data = ownership()
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in data.takes_methods:
        return True
    return ctx.facts.qualify(func) in data.takes_callables


def _classify_use(
    name: cst.Name,
    parent: cst.CSTNode | None,
    grand: cst.CSTNode | None,
    ctx: Context,
    eff: Effect,
    deferred: set[int] | frozenset[int] = frozenset(),
) -> None:
    if isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
        func = grand.func
        managing = (
            isinstance(func, cst.Attribute) and func.attr.value in ownership().managing_methods
        )
        if ctx.is_closing(grand) or managing:
            eff.moved = True
        elif ctx.facts.closing_method(grand) is not None:
            pass  # `closing()` of a resource that `close()` does not give back: only a use
        elif id(grand) in deferred:
            eff.moved = True  # `create_task(work(conn))`: the task owns it now
        else:
            # A borrow leaves the caller the owner; a callee that takes it over (stores it,
            # hands it to a thread, returns it) moves it; an unknown callee may have.
            effect = argument_effect(ctx.facts, grand, parent, ctx.site.class_name, on_demand=True)
            if kept_by_wrapper(ctx.facts, ctx.info, grand, effect):
                effect = BORROW  # `cur = RowCursor(conn)`: the wrapper never leaves the scope
            if effect == UNKNOWN:
                eff.escaped = True
            elif effect != BORROW:
                eff.moved = True
                eff.gives_back = eff.gives_back or effect == RELEASE  # `close_conn(conn, cur)`
    elif isinstance(
        parent, (cst.Element, cst.DictElement, cst.StarredElement, cst.StarredDictElement)
    ):
        eff.moved = True
    # `yield conn` lends it: a dependency or context-manager generator still has to release it.


def _hands_over_release(call: cst.Call, aliases: frozenset[str], ctx: Context) -> bool:
    """`stack.callback(db.close)`: the bound release method is handed to a manager (or to a
    call that keeps it for later, `atexit.register(db.close)`)."""
    func = call.func
    if not (
        (isinstance(func, cst.Attribute) and func.attr.value in ownership().managing_methods)
        or _takes_calls(call, ctx)  # `atexit.register(db.close)`, `weakref.finalize(o, db.close)`
    ):
        return False
    for arg in call.args:
        value = arg.value
        if (
            isinstance(value, cst.Attribute)
            and isinstance(value.value, cst.Name)
            and value.value.value in aliases
            and value.attr.value in ctx.kind.self_release_methods
        ):
            return True
    return False


def _target_effect(
    target: cst.BaseExpression,
    value_is_alias: bool,
    aliases: frozenset[str],
    ctx: Context,
    eff: Effect,
    fresh: frozenset[str] = frozenset(),
) -> None:
    """An assignment target: a name (re)bound, or a store into an object or container."""
    if isinstance(target, cst.Name):
        info = ctx.info
        if value_is_alias and info is not None and target.value in info.declared_global:
            eff.moved = eff.to_module = True  # `global DB; DB = conn`: the module's now
        elif value_is_alias:
            eff.add.add(target.value)
        elif target.value in aliases:
            eff.drop.add(target.value)
        return
    if isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            _target_effect(element.value, False, aliases, ctx, eff, fresh)
        if value_is_alias:
            eff.moved = True
        return
    if isinstance(target, cst.StarredElement):
        _target_effect(target.value, False, aliases, ctx, eff, fresh)
        return
    # An attribute or subscript store: may raise when it is on the resource, and stores it if it
    # is the value.
    base = target.value if isinstance(target, (cst.Attribute, cst.Subscript)) else None
    if isinstance(base, cst.Name) and base.value in aliases:
        configures = (
            base.value in fresh
            and isinstance(target, cst.Attribute)
            and target.attr.value in FRESH_ATTRIBUTES
        )
        if not configures:  # `conn.row_factory = Row` on a fresh connection cannot raise
            eff.raises = True
            eff.io = True
    elif base is not None:
        scan(base, aliases, ctx, eff, fresh)
    if isinstance(target, cst.Subscript):
        if store_may_raise(target, ctx.info, ctx.facts):
            eff.raises = True
        scan(target.slice[0] if len(target.slice) == 1 else None, aliases, ctx, eff, fresh)
    if value_is_alias:
        eff.moved = True
        if (
            isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and target.value.value in ctx.facts.imports
        ):
            eff.to_module = True  # `state.conn = conn` on an imported module


def is_site_value(value: cst.BaseExpression | None, site: Site) -> bool:
    """Is `value` the site's acquiring call (under `await`, `cast`, `wait_for`), or, for a list of
    resources, the comprehension or `append` that acquires each one?"""
    if value is None:
        return False
    inner = unwrap_value(value)
    if inner is site.call:
        return True
    if site.binding.how != Origin.COLLECTION:
        return False
    if isinstance(inner, (cst.ListComp, cst.SetComp)):
        return unwrap_value(inner.elt) is site.call
    return (
        isinstance(inner, cst.Call)
        and len(inner.args) == 1
        and unwrap_value(inner.args[0].value) is site.call
    )


def small_effect(
    stmt: cst.BaseSmallStatement,
    aliases: frozenset[str],
    ctx: Context,
    fresh: frozenset[str] = frozenset(),
) -> Effect:
    """The effect of one small statement (`x = ...`, `return ...`, `del x`, an expression...).

    `fresh`: the aliases of a directly opened connection that has done no I/O yet."""
    eff = Effect()
    if isinstance(stmt, (cst.Assign, cst.AnnAssign)):
        value = stmt.value
        scan(value, aliases, ctx, eff, fresh)
        if value is None:
            return eff
        if is_site_value(value, ctx.site):
            eff.acquires = True
        value_is_alias = isinstance(value, cst.Name) and value.value in aliases
        targets = (
            [t.target for t in stmt.targets] if isinstance(stmt, cst.Assign) else [stmt.target]
        )
        for target in targets:
            _target_effect(target, value_is_alias, aliases, ctx, eff, fresh)
    elif isinstance(stmt, cst.Expr):
        scan(stmt.value, aliases, ctx, eff, fresh)
        if is_site_value(stmt.value, ctx.site):
            eff.acquires = True  # `conns.append(pool.getconn())`
    elif isinstance(stmt, cst.AugAssign):
        scan(stmt.value, aliases, ctx, eff)
        scan(stmt.target, aliases, ctx, eff)
    elif isinstance(stmt, cst.Return):
        scan(stmt.value, aliases, ctx, eff)
        inner = unwrap_value(stmt.value) if stmt.value is not None else None
        # `return conn`, `return conn, cur`, `return Repo(conn)` give the caller the resource;
        # `return db.query(Item).all()` only uses it.
        if isinstance(inner, cst.Name) and inner.value in aliases:
            eff.moved = True
        elif eff.escaped:  # `return process(conn)`: what unknown code returns may be `conn`
            eff.moved = eff.assumed = True
        elif inner is not None and _returns_handle(inner, aliases, ctx):
            eff.moved = True  # `return conn.cursor()`, `return cur`: the caller reaches `conn`
        eff.leaves = "return"
    elif isinstance(stmt, cst.Raise):
        scan(stmt.exc, aliases, ctx, eff)
        scan(stmt.cause, aliases, ctx, eff)
        eff.leaves = "raise"
    elif isinstance(stmt, cst.Del):
        _del_targets(stmt.target, aliases, eff)
    elif isinstance(stmt, cst.Assert):
        scan(stmt.test, aliases, ctx, eff)
        scan(stmt.msg, aliases, ctx, eff)
    elif isinstance(stmt, cst.Break):
        eff.leaves = "break"
    elif isinstance(stmt, cst.Continue):
        eff.leaves = "continue"
    return eff


def _returns_handle(value: cst.BaseExpression, aliases: frozenset[str], ctx: Context) -> bool:
    """`value` (or an element of a returned tuple or list) is a handle of the resource: a call
    of one of the kind's `handles` methods on it (`conn.cursor()`), or a local bound only to such
    calls (`cur = conn.cursor()`). A DB-API cursor keeps its connection as `cursor.connection`
    (PEP 249, "Optional DB API Extensions"): whoever gets the cursor can close the connection."""
    handles = ctx.kind.handles
    if not handles:
        return False
    values = value.elements if isinstance(value, (cst.Tuple, cst.List)) else [value]

    def is_handle_call(node: cst.BaseExpression) -> bool:
        node = unwrap_value(node)
        return (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and isinstance(node.func.value, cst.Name)
            and node.func.value.value in aliases
            and node.func.attr.value in handles
        )

    info = ctx.info
    for element in values:
        item = element.value if isinstance(element, cst.BaseElement) else element
        if is_handle_call(item):
            return True
        if isinstance(item, cst.Name) and info is not None:
            bound = info.assigned.get(item.value, [])
            if bound and all(is_handle_call(v) for v in bound):
                return True
    return False


def _del_targets(target: cst.BaseDelTargetExpression, aliases: frozenset[str], eff: Effect) -> None:
    if isinstance(target, cst.Name):
        if target.value in aliases:
            eff.drop.add(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            _del_targets(element.value, aliases, eff)  # type: ignore[arg-type]
    else:
        eff.raises = True


def header_effect(
    expr: cst.CSTNode | None,
    aliases: frozenset[str],
    ctx: Context,
    fresh: frozenset[str] = frozenset(),
) -> Effect:
    """The effect of evaluating a compound statement's header (an `if` test, a `for` iterable)."""
    eff = Effect()
    scan(expr, aliases, ctx, eff, fresh)
    return eff


def for_target_effect(
    target: cst.BaseAssignTargetExpression, aliases: frozenset[str], ctx: Context
) -> Effect:
    eff = Effect()
    _target_effect(target, False, aliases, ctx, eff)
    return eff


def _closed_check(test: cst.BaseExpression, aliases: frozenset[str]) -> bool:
    if isinstance(test, cst.Call) and not test.args:
        test = test.func
    return (
        isinstance(test, cst.Attribute)
        and isinstance(test.value, cst.Name)
        and test.value.value in aliases
        and test.attr.value in ("closed", "is_closed")
    )


def _conjuncts(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return [*_conjuncts(test.left), *_conjuncts(test.right)]
    return [test]


def _plain_guard(test: cst.BaseExpression, aliases: frozenset[str]) -> bool:
    """A test of names and attributes only (`self.pool`, `not pool.closed`), not of the resource."""
    for node in walk(test):
        if isinstance(node, (cst.Call, cst.Await, cst.Subscript)):
            return False
        if isinstance(node, cst.Name) and node.value in aliases:
            return False
    return True


def catches_everything(handler: cst.ExceptHandler | cst.ExceptStarHandler) -> bool:
    """`except:`, `except Exception`, `except BaseException` (also inside a tuple)."""
    if handler.type is None:
        return True
    types = (
        handler.type.elements
        if isinstance(handler.type, cst.Tuple)
        else [cst.Element(handler.type)]
    )
    for element in types:
        name = dotted(element.value) or ""
        if name.rsplit(".", 1)[-1] in ("Exception", "BaseException"):
            return True
    return False


def catches_cancellation(handler: cst.ExceptHandler | cst.ExceptStarHandler) -> bool:
    """`except:`, `except BaseException`, `except asyncio.CancelledError` (also in a tuple):
    handlers that catch a task's cancellation, a `BaseException` since Python 3.8 (asyncio docs,
    "asyncio.CancelledError")."""
    if handler.type is None:
        return True
    types = (
        handler.type.elements
        if isinstance(handler.type, cst.Tuple)
        else [cst.Element(handler.type)]
    )
    return any(
        (dotted(e.value) or "").rsplit(".", 1)[-1] in ("BaseException", "CancelledError")
        for e in types
    )


def truth_when_held(
    test: cst.BaseExpression, aliases: frozenset[str], closes: bool = False
) -> bool | None:
    """The value of `test` when the aliases hold a live resource (never None), if it is known.

    `closes`: the resource is released by `close()`, so `conn.closed` is false while it is held
    (for a pool connection it may be true: broken, yet still checked out of the pool).

    `if conn and self.pool:` guards a release against a missing pool; such plain checks (no
    calls, not about the resource) beside a check of the resource are taken to hold.
    """
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        parts = _conjuncts(test)
        checks = [truth_when_held(p, aliases, closes) for p in parts]
        if any(c is False for c in checks):
            return False
        if any(c is True for c in checks) and all(
            c is True or _plain_guard(p, aliases) for p, c in zip(parts, checks, strict=True)
        ):
            return True
        return None
    negate = False
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        negate = not negate
        test = test.expression
    truth: bool | None = None
    if isinstance(test, cst.Name) and test.value in aliases:
        truth = True
    elif closes and _closed_check(test, aliases):
        truth = False  # `conn.closed`, `conn.is_closed()`: a held connection is open
    elif (
        isinstance(test, cst.Comparison)
        and len(test.comparisons) == 1
        and isinstance(test.left, cst.Name)
        and test.left.value in aliases
    ):
        comparison = test.comparisons[0]
        right = comparison.comparator
        if isinstance(right, cst.Name) and right.value == "None":
            if isinstance(comparison.operator, cst.IsNot):
                truth = True
            elif isinstance(comparison.operator, cst.Is):
                truth = False
    elif isinstance(test, cst.Comparison) and _bound_check(test, aliases):
        # `'con' in locals()`: a name holding a live resource is bound
        truth = isinstance(test.comparisons[0].operator, cst.In)
    if truth is None:
        return None
    return truth != negate


def _bound_check(test: cst.Comparison, aliases: frozenset[str]) -> bool:
    """`'con' in locals()` (or `not in`, `globals()`, `vars()`, `dir()`) about one of
    `aliases`: the guard scripts write around a `close()` in `except` or `finally`."""
    if len(test.comparisons) != 1:
        return False
    operator = test.comparisons[0].operator
    right = test.comparisons[0].comparator
    return (
        isinstance(operator, (cst.In, cst.NotIn))
        and isinstance(test.left, cst.SimpleString)
        and test.left.evaluated_value in aliases
        and isinstance(right, cst.Call)
        and not right.args
        and isinstance(right.func, cst.Name)
        and right.func.value in ("locals", "globals", "vars", "dir")
    )
