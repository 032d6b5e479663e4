"""A resource held across the waits of a loop: check out a short-lived one per iteration instead.

    conn = await pool.acquire()                while True:
    try:                                           event = await queue.get()
        while True:                                async with pool.acquire() as conn:
            event = await queue.get()      ->          await conn.execute(q, *event)
            await conn.execute(q, *event)          queue.task_done()
            queue.task_done()
    finally:
        await pool.release(conn)

One mechanism for `held-across-await` (a session or pooled connection kept across a sleep, a queue
or a websocket receive) and `captured-by-stream` (a polling generator that captures the request's
session). The loop that holds the waits keeps them; the smallest run of consecutive statements of
its body that covers every use of the resource, and of what is derived from it (results, loaded
objects), gets its own `[async] with <acquire> as name:` (try/finally with the release for kinds
whose `with` does not release). The run never contains a wait: a derived value used after a wait of
the same iteration means no fix. A `yield` whose value reads the resource ends the run: its value is
computed inside the block and yielded after it, so the session is not held while the consumer runs.

Where the acquisition comes from:
- `name = <acquire>` (with its release after the loop or in the `finally` of a `try` holding the
  loop) or `[async] with <acquire> as name:` around the loop: the acquisition moves into the loop,
  the old one and its release go;
- a session parameter from a FastAPI dependency (`db: Session = Depends(get_db)`): the call the
  dependency acquires with (`SessionLocal()`), when it is a call of names of the module; the
  parameter stays (an unused session from a sessionmaker takes no connection).

Always unsafe: what one resource carried from one iteration to the next (a transaction,
uncommitted changes, a session's identity map, prepared statements, session settings) no longer
carries over. Not offered for direct connections (a new server connection per iteration is not
what anyone wants), nor when the resource is used outside the loop, nor when it is handed on.
"""

from __future__ import annotations

import dataclasses

import libcst as cst

from leakcheck.analysis.exports import module_names, provider_async
from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.records import Escape, Origin
from leakcheck.analysis.syntax import call_text, displayed_values, dotted, unwrap_value, walk
from leakcheck.analysis.verdicts import Verdict
from leakcheck.analysis.waits import unbounded_iteration, unbounded_wait
from leakcheck.fix.ranges import (
    assigned,
    deferred_use,
    hands_over,
    is_release,
    leaves,
    mentions_release,
    names,
    range_of,
    returns_live,
)
from leakcheck.fix.recipes import Plan
from leakcheck.fix.statements import bare, released_in_finally, with_block, with_form
from leakcheck.model import Applicability

HOISTED = ("payload", "event", "chunk")  # the name a yielded value is computed into


@dataclasses.dataclass(frozen=True)
class _Source:
    """How to take a fresh resource inside the loop, and what the rewrite removes outside it."""

    call: cst.Call  # the acquiring call, placed in the new `with` or assignment
    acquiring: cst.SimpleStatementLine  # `name = <call>` (its comment goes to the new line)
    asynchronous: bool | None  # `async with`; None: no `with` form, try/finally with `release`
    release: cst.BaseStatement | None
    block: cst.IndentedBlock | None  # the block the plan replaces; None: only the loop
    outside: tuple[cst.CSTNode, ...]  # statements to drop (the old acquisition and release)
    unwrap: cst.CSTNode | None  # a `try` or `with` around the loop whose body takes its place
    note: str = ""  # what else the reviewer should know
    skip: tuple[cst.CSTNode, ...] = ()  # where the name appears and goes away with the rewrite
    imports: tuple[tuple[str, str], ...] = ()  # (module, name) the new acquisition needs


def per_iteration(verdict: Verdict, facts: ModuleFacts) -> Plan | None:
    """The rewrite for a `held-across-await` or `captured-by-stream` verdict, or None when no
    per-iteration checkout is known to be right."""
    site = verdict.site
    name = site.binding.name
    if name is None or site.kind.direct or not isinstance(site.scope, cst.FunctionDef):
        return None
    holder: cst.FunctionDef | None = None
    if verdict.leak == Escape.HELD_ACROSS_AWAIT:
        holder = site.scope
    elif verdict.leak == Escape.CAPTURED_BY_STREAM and site.binding.how == Origin.PARAM:
        holder = _generator_of(site.scope, verdict.anchor)
        if holder is not None and _mentioned_outside(site.scope, holder, name):
            return None  # the handler uses the session too: it stays pinned (`pinned-by-stream`)
    if holder is None:
        return None
    lc402 = verdict.leak == Escape.HELD_ACROSS_AWAIT
    loop = _loop(holder, name, verdict.node if lc402 else verdict.anchor, lc402)
    if loop is None:
        return None
    source = _source(site, facts, holder, loop, name)
    if source is None:
        return None
    new_loop = _rewrite_loop(site, facts, holder, loop, name, source)
    if new_loop is None:
        return None
    return _plan(site, loop, new_loop, name, source)


# -- the loop and the run of statements that use the resource ----------------------------------


def _generator_of(handler: cst.FunctionDef, anchor: cst.CSTNode | None) -> cst.FunctionDef | None:
    """The generator defined directly in `handler` whose body holds `anchor`."""
    for node in walk(handler.body):
        if (
            isinstance(node, cst.FunctionDef)
            and anchor is not None
            and any(n is anchor for n in walk(node.body))
        ):
            return node
    return None


def _mentioned_outside(handler: cst.FunctionDef, inner: cst.FunctionDef, name: str) -> bool:
    """Does `handler` use `name` anywhere but inside `inner`?"""
    stack: list[cst.CSTNode] = [handler.body]
    while stack:
        node = stack.pop()
        if node is inner:
            continue
        if isinstance(node, cst.Name) and node.value == name:
            return True
        stack.extend(node.children)
    return False


def _loop(
    holder: cst.FunctionDef, name: str, target: cst.CSTNode | None, is_wait: bool
) -> cst.For | cst.While | None:
    """The innermost loop of `holder` (not of a nested function) around `target` that uses
    `name` (`held-across-await`: `target` is the wait) or that waits (`captured-by-stream`:
    `target` is a use)."""
    found: list[cst.For | cst.While] = []
    for node in walk(holder.body):
        if not isinstance(node, (cst.For, cst.While)) or not isinstance(
            node.body, cst.IndentedBlock
        ):
            continue
        if target is None or not (node is target or any(n is target for n in walk(node.body))):
            continue  # (the loop itself is the wait in `async for message in websocket...`)
        statements = node.body.body
        wanted = (lambda s: name in names(s)) if is_wait else _waits
        if any(wanted(s) for s in statements):
            found.append(node)
    return found[-1] if found else None  # depth first, outside in: the last is innermost


def _waits(stmt: cst.CSTNode) -> bool:
    """Does the statement wait on the outside world (a sleep, a receive, a queue) or yield?"""
    for node in walk(stmt):
        if isinstance(node, cst.Yield) or (
            isinstance(node, cst.Await) and unbounded_wait(node.expression) is not None
        ):
            return True
        if isinstance(node, cst.For) and node.asynchronous and unbounded_iteration(node.iter):
            return True
    return False


def _run(
    body: tuple[cst.BaseStatement, ...], name: str
) -> tuple[int, int, set[str], cst.BaseExpression | None] | None:
    """(first, end, derived, yielded): the statements `body[first:end]` cover every use of `name`
    and of the names derived from it, and contain no wait; `yielded` is the value of a final
    `yield` that reads them (computed in the block, yielded after it). None when no such run."""
    first = next((i for i, s in enumerate(body) if name in names(s)), None)
    if first is None:
        return None
    end, derived = range_of(body, first, name)
    tied = derived | {name}
    if any(names(s) & tied for s in body[:first]):
        return None  # a value of the previous iteration is used before the new one is taken
    yielded: cst.BaseExpression | None = None
    last = body[end - 1]
    value = _yield_value(last)
    if value is not None and not _waits(cst.Expr(value)):
        yielded = value
    inside = body[first : end - 1] if yielded is not None else body[first:end]
    if any(_waits(s) for s in inside):
        return None  # a wait between two uses: the block would hold it across the wait
    return first, end, derived, yielded


def _yield_value(stmt: cst.BaseStatement) -> cst.BaseExpression | None:
    """`yield <value>` alone on its line: its value."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Yield):
            value = small.value.value
            if isinstance(value, cst.BaseExpression):  # not `yield from`, not a bare `yield`
                return value
    return None


# -- where a fresh resource comes from ---------------------------------------------------------


def _source(
    site: Site,
    facts: ModuleFacts,
    holder: cst.FunctionDef,
    loop: cst.For | cst.While,
    name: str,
) -> _Source | None:
    if site.binding.how == Origin.PARAM:
        return _from_dependency(site, facts, holder, name)
    if holder is not site.scope:
        return None
    if site.binding.how == Origin.ASSIGN:
        return _from_assignment(site, facts, loop, name)
    if site.binding.how == Origin.WITH and site.kind.with_releases:
        return _from_with(site, loop, name)
    return None


def _acquiring_statement(call: cst.Call, name: str) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[cst.Assign([cst.AssignTarget(cst.Name(name))], call)])


def _from_assignment(
    site: Site, facts: ModuleFacts, loop: cst.For | cst.While, name: str
) -> _Source | None:
    """`name = <acquire>` in a block that then holds the loop, directly or as the body of a
    `try` whose `finally` is only the release, or with the release after the loop."""
    scope = site.scope
    assert isinstance(scope, cst.FunctionDef)
    for block in walk(scope.body):
        if not isinstance(block, cst.IndentedBlock):
            continue
        body = tuple(block.body)
        index = next((i for i, s in enumerate(body) if _assigns(s, site)), None)
        if index is None:
            continue
        acquiring = body[index]
        assert isinstance(acquiring, cst.SimpleStatementLine)
        small = acquiring.body[0]
        assert isinstance(small, cst.Assign)
        awaited = isinstance(small.value, cst.Await)
        rest = body[index + 1 :]
        holding = next((s for s in rest if any(n is loop for n in walk(s))), None)
        if holding is None:
            return None
        releases = [s for s in rest if is_release(s, site, facts, name)]
        unwrap: cst.CSTNode | None = None
        if holding is loop:
            if len(releases) != 1:
                return None
            release = releases[0]
            others = [s for s in rest if s is not loop and s is not release]
        elif _try_around(holding, loop, site, facts, name) and not releases:
            assert isinstance(holding, cst.Try) and holding.finalbody is not None
            assert isinstance(holding.finalbody.body, cst.IndentedBlock)
            assert isinstance(holding.body, cst.IndentedBlock)
            release = holding.finalbody.body.body[0]
            unwrap = holding
            others = [s for s in rest if s is not holding]
            others += [s for s in holding.body.body if s is not loop]
        else:
            return None
        if any(name in names(s) for s in others):
            return None  # used outside the loop: it must stay one resource there
        asynchronous = with_form(site, facts, [release], awaited, small)
        if asynchronous and not (
            isinstance(scope, cst.FunctionDef) and scope.asynchronous is not None
        ):
            return None
        return _Source(
            site.call,
            acquiring,
            asynchronous,
            bare(release),
            block,
            (acquiring, release),
            unwrap,
            skip=(acquiring, release),
        )
    return None


def _assigns(stmt: cst.BaseStatement, site: Site) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Assign)
        and len(stmt.body[0].targets) == 1
        and isinstance(stmt.body[0].targets[0].target, cst.Name)
        and unwrap_value(stmt.body[0].value) is site.call
    )


def _try_around(
    node: cst.BaseStatement, loop: cst.CSTNode, site: Site, facts: ModuleFacts, name: str
) -> bool:
    """`try: ... <loop> ... finally: <release>`, the loop a statement of the `try` body."""
    return (
        isinstance(node, cst.Try)
        and not node.handlers
        and node.orelse is None
        and node.finalbody is not None
        and isinstance(node.body, cst.IndentedBlock)
        and isinstance(node.finalbody.body, cst.IndentedBlock)
        and any(s is loop for s in node.body.body)
        and len(node.finalbody.body.body) == 1
        and is_release(node.finalbody.body.body[0], site, facts, name)
    )


def _from_with(site: Site, loop: cst.For | cst.While, name: str) -> _Source | None:
    """`[async] with <acquire> as name:` whose body holds the loop as one of its statements."""
    scope = site.scope
    assert isinstance(scope, cst.FunctionDef)
    for node in walk(scope.body):
        if not isinstance(node, cst.With) or len(node.items) != 1:
            continue
        if unwrap_value(node.items[0].item) is not site.call:
            continue
        body = node.body
        if isinstance(node.items[0].item, cst.Await) or not isinstance(body, cst.IndentedBlock):
            return None
        if not any(s is loop for s in body.body):
            return None
        if any(name in names(s) for s in body.body if s is not loop):
            return None
        holder = _block_of(scope, node)
        if holder is None:
            return None
        acquiring = _acquiring_statement(site.call, name).with_changes(
            trailing_whitespace=body.header
        )
        return _Source(
            site.call,
            acquiring,
            node.asynchronous is not None,
            None,
            holder,
            (),
            node,
            skip=tuple(node.items),
        )
    return None


def _block_of(scope: cst.FunctionDef, stmt: cst.CSTNode) -> cst.IndentedBlock | None:
    for block in walk(scope.body):
        if isinstance(block, cst.IndentedBlock) and any(s is stmt for s in block.body):
            return block
    return None


def _from_dependency(
    site: Site, facts: ModuleFacts, holder: cst.FunctionDef, name: str
) -> _Source | None:
    """`db: Session = Depends(get_db)`: the call `get_db` acquires with. A provider of this
    module: its call, when it names only module-level names that neither the handler nor
    `holder` rebinds. A provider imported from another module of the project: its summary's
    `acquires` (a call without arguments), by the name this module imports it under, or
    imported for the fix."""
    param = site.anchor
    if not isinstance(param, cst.Param) or not site.kind.with_releases:
        return None
    depends = next(
        (
            n
            for n in walk(param)
            if isinstance(n, cst.Call)
            and (dotted(n.func) or "").rsplit(".", 1)[-1] in ("Depends", "Security")
            and n.args
        ),
        None,
    )
    provider = dotted(depends.args[0].value) if depends is not None else None
    if depends is None or provider is None:
        return None
    assert isinstance(site.scope, cst.FunctionDef)
    local = _bound_in(site.scope) | _bound_in(holder)
    top = module_names(facts.module)
    info = facts.by_key.get(provider)
    imports: tuple[tuple[str, str], ...] = ()
    note = f"`{name}` stays a parameter: FastAPI still runs `{provider}()` for the request"
    if info is not None:
        call = facts.provider_call(provider)
        if call is None or not isinstance(info.node, cst.FunctionDef) or info.class_name:
            return None
        if any(isinstance(n, (cst.Await, cst.Lambda)) for n in walk(call)):
            return None
        keywords = {id(n.attr) for n in walk(call) if isinstance(n, cst.Attribute)}
        keywords |= {id(a.keyword) for a in call.args if a.keyword is not None}
        used = {n.value for n in walk(call) if isinstance(n, cst.Name) and id(n) not in keywords}
        if not used <= top or used & local:
            return None
        asynchronous = provider_async(info.node, call, facts.asynchronous)
        if _does_more(info.node, call, facts, site):
            note = f"the new session skips what `{provider}()` does besides opening and closing it"
        call = call.deep_clone()
    else:
        export = facts.imported(provider)
        if export is None or export.role != "provider" or not export.acquires:
            return None
        module = facts.qualify(depends.args[0].value).rpartition(".")[0]
        relative = export.acquires.startswith(".")
        source = f"{module}{export.acquires}" if relative else export.acquires
        found = _imported_as(facts, source, top)
        if found is None:
            where, _, short = source.rpartition(".")
            if not where or short in top or short in local:
                return None  # the name means something else here
            found, imports = short, ((where, short),)
        elif found.split(".", 1)[0] in local:
            return None
        call = cst.Call(func=cst.parse_expression(found))
        asynchronous = export.asynchronous
    if asynchronous is None or (asynchronous and holder.asynchronous is None):
        return None
    acquiring = _acquiring_statement(call, name)
    return _Source(call, acquiring, asynchronous, None, None, (), None, note, imports=imports)


def _imported_as(facts: ModuleFacts, qualified: str, top: set[str]) -> str | None:
    """How this module names `qualified` through its top-level imports (`SessionLocal` after
    `from app.database import SessionLocal`, `database.SessionLocal` after `from app import
    database`); None when it does not import it."""
    for local, full in facts.imports.items():
        if local not in top:
            continue
        if full == qualified:
            return local
        if qualified.startswith(f"{full}."):
            return f"{local}{qualified[len(full) :]}"
    return None


def _bound_in(function: cst.FunctionDef) -> set[str]:
    """Parameters and names assigned in `function` (nested scopes included: conservative)."""
    params = function.params
    out = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    return out | assigned(function.body)


def _does_more(provider: cst.FunctionDef, call: cst.Call, facts: ModuleFacts, site: Site) -> bool:
    """Does the provider call anything besides its acquisition and the release?"""
    for node in walk(provider.body):
        if not isinstance(node, cst.Call) or node is call:
            continue
        if facts.released_args(node, None, site.kind):
            continue
        return True
    return False


# -- the rewrite --------------------------------------------------------------------------------


def _rewrite_loop(
    site: Site,
    facts: ModuleFacts,
    holder: cst.FunctionDef,
    loop: cst.For | cst.While,
    name: str,
    source: _Source,
) -> cst.For | cst.While | None:
    body_block = loop.body
    assert isinstance(body_block, cst.IndentedBlock)
    header = loop.test if isinstance(loop, cst.While) else loop.iter
    if name in names(header) or (loop.orelse is not None and name in names(loop.orelse)):
        return None
    if isinstance(loop, cst.For) and name in names(loop.target):
        return None
    body = tuple(body_block.body)
    found = _run(body, name)
    if found is None:
        return None
    first, end, derived, yielded = found
    tied = derived | {name}
    if any(names(s) & tied for s in body[end:]) or names(header) & derived:
        return None
    if _used_outside(holder, loop, tied, source.skip):
        return None  # the last iteration's values are read after the loop
    kept = list(body[first:end])
    after: list[cst.BaseStatement] = []
    if yielded is not None:
        if site.kind.detaches_objects and _keeps_objects(yielded, tied):
            return None  # the consumer would read objects of a closed session
        hoisted = _free_name(holder, facts)
        if hoisted is None:
            return None
        last = kept[-1]
        assert isinstance(last, cst.SimpleStatementLine)
        kept[-1] = last.with_changes(
            body=[cst.Assign([cst.AssignTarget(cst.Name(hoisted))], yielded)]
        )
        after = [
            cst.SimpleStatementLine(
                body=[cst.Expr(cst.Yield(cst.Name(hoisted)))],
                trailing_whitespace=last.trailing_whitespace,
            )
        ]
        kept[-1] = kept[-1].with_changes(trailing_whitespace=cst.TrailingWhitespace())
    if name in _assigned_names(kept) or mentions_release(tuple(kept), site, facts, name):
        return None
    session = site.kind.detaches_objects
    if returns_live(kept, name) or (
        session
        and any(
            isinstance(n, cst.Return) and n.value is not None and _keeps_objects(n.value, tied)
            for s in kept
            for n in walk(s)
        )
    ):
        return None  # a cursor, or an object of the session, leaves the function: read later
    if (
        leaves(kept, name, derived)
        or deferred_use(kept, tied, awaited_run_now=True) is not None
        or any(
            isinstance(n, cst.Return) and n.value is not None and hands_over(n.value, name)
            for s in kept
            for n in walk(s)
        )
    ):
        return None  # handed on: its holder would find it released
    lines = _leading(kept[0])
    count = next((i for i, line in enumerate(lines) if line.comment is not None), len(lines))
    kept[0] = kept[0].with_changes(leading_lines=lines[count:])
    acquiring = source.acquiring.with_changes(leading_lines=lines[:count])
    if source.asynchronous is not None:
        site_here = dataclasses.replace(site, call=source.call)
        replacement = with_block(site_here, name, acquiring, kept, source.asynchronous)
    else:
        assert source.release is not None
        replacement = released_in_finally(acquiring, kept, source.release)
    new_body = [*body[:first], *replacement, *after, *body[end:]]
    return loop.with_changes(body=body_block.with_changes(body=new_body))


# Calls that keep the objects they are given (`list(db.scalars(q))`): not plain values.
KEEPING = frozenset({"list", "tuple", "set", "sorted", "reversed", "iter", "dict", "frozenset"})


def _keeps_objects(expr: cst.BaseExpression, tied: set[str]) -> bool:
    """Is the value `expr` (or an element of it) an object read through the session: a tied name,
    or a chain on one (`db.get(Ticket, 1)`, `rows[0]`, `job.owner`)? A value computed from them
    by another call (`json.dumps(...)`, `str(...)`) is read before the session closes."""
    expr = unwrap_value(expr)
    values = displayed_values(expr)
    if values is not None:
        return any(_keeps_objects(v, tied) for v in values)
    if isinstance(expr, cst.Name):
        return expr.value in tied
    if isinstance(expr, cst.Call) and dotted(expr.func) in KEEPING:
        return any(_keeps_objects(a.value, tied) for a in expr.args)
    root: cst.BaseExpression = expr
    while isinstance(root, (cst.Call, cst.Attribute, cst.Subscript)):
        root = root.func if isinstance(root, cst.Call) else root.value
    return root is not expr and isinstance(root, cst.Name) and root.value in tied


def _leading(stmt: cst.CSTNode) -> list[cst.EmptyLine]:
    return list(getattr(stmt, "leading_lines", ()))


def _assigned_names(stmts: list[cst.BaseStatement]) -> set[str]:
    out: set[str] = set()
    for stmt in stmts:
        out |= assigned(stmt)
    return out


def _used_outside(
    holder: cst.FunctionDef, loop: cst.CSTNode, tied: set[str], skip: tuple[cst.CSTNode, ...]
) -> bool:
    """Is any of `tied` mentioned in `holder` outside `loop` (and the nodes the rewrite drops)?"""
    stack: list[cst.CSTNode] = [holder.body]
    skipped = {id(n) for n in skip}
    while stack:
        node = stack.pop()
        if node is loop or id(node) in skipped:
            continue
        if isinstance(node, cst.Name) and node.value in tied:
            return True
        stack.extend(node.children)
    return False


def _free_name(holder: cst.FunctionDef, facts: ModuleFacts) -> str | None:
    taken = names(holder) | module_names(facts.module)
    return next((n for n in HOISTED if n not in taken), None)


def _plan(
    site: Site,
    loop: cst.For | cst.While,
    new_loop: cst.For | cst.While,
    name: str,
    source: _Source,
) -> Plan | None:
    old: cst.CSTNode = loop if source.block is None else source.block
    new = new_loop if source.block is None else _replace(source.block, loop, new_loop, source)
    if new is None:
        return None
    form = "async with" if source.asynchronous else "with"
    what = call_text(source.call)
    if source.asynchronous is None:
        title = f"`{name} = {what}` in each iteration of the loop, released in `finally`"
    else:
        title = f"`{form} {what} as {name}:` in each iteration of the loop, around its uses"
    reason = _carried(site, what)
    if source.note:
        reason = f"{reason}; {source.note}"
    return Plan(old, new, title, Applicability.UNSAFE, reason, source.imports)


def _carried(site: Site, what: str) -> str:
    """What no longer carries over from one iteration to the next."""
    if site.kind.family == "pool" or "pool" in site.kind.name:
        return (
            f"each iteration takes its own connection (`{what}`): a transaction, prepared "
            "statements and session settings no longer carry over between iterations"
        )
    return (
        f"each iteration gets its own session (`{what}`): uncommitted changes, the identity "
        "map and the transaction no longer carry over between iterations"
    )


def _replace(
    old: cst.IndentedBlock, loop: cst.CSTNode, new_loop: cst.CSTNode, source: _Source
) -> cst.IndentedBlock | None:
    """`old` with `loop` replaced by `new_loop`, the old acquisition and release dropped, and the
    `try` / `with` around the loop replaced by its body (the lines above a dropped statement stay
    where it was; the `with` line's comment went to the new `with`)."""
    dropped = {id(s) for s in source.outside}
    carried: list[cst.EmptyLine] = []
    out: list[cst.BaseStatement] = []
    for stmt in old.body:
        if id(stmt) in dropped:
            carried += _leading(stmt)
            continue
        pieces: list[cst.BaseStatement] = [stmt]
        if stmt is source.unwrap:
            inner = getattr(stmt, "body", None)
            if not isinstance(inner, cst.IndentedBlock):
                return None
            carried += _leading(stmt)
            pieces = list(inner.body)
        pieces = [new_loop if s is loop else s for s in pieces]  # type: ignore[misc]
        if carried:
            pieces[0] = pieces[0].with_changes(leading_lines=[*carried, *_leading(pieces[0])])
            carried = []
        out += pieces
    if carried or not out:
        return None
    return old.with_changes(body=out)
