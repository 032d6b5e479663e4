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
statement in `finally` (`finally-order`) is nested in its own try/finally instead.

These are the rewrites of the main forms (`wrap`, `enter`, `with_that_releases`,
`release_before_handoff`, `nest_release`) and of the project's helper (`with_helper`); which ones
a verdict gets is its rule's choice (`Rule.fixes`), and offers.py checks each one's preconditions.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.records import Origin
from leakcheck.analysis.syntax import call_text, dotted, unwrap_value, walk
from leakcheck.analysis.verdicts import Verdict
from leakcheck.fix.ranges import (
    acquired_in_block,
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
from leakcheck.fix.statements import (
    bare,
    closing_name,
    has_comment,
    in_async_def,
    lift_blank_lines,
    release_statement,
    released_in_finally,
    with_block,
    with_form,
)
from leakcheck.model import Applicability


@dataclass(frozen=True)
class Plan:
    """A rewrite of one block: `old` is replaced by `new` in the module."""

    old: cst.CSTNode
    new: cst.CSTNode
    title: str
    applicability: Applicability
    reason: str = ""  # why it is unsafe
    imports: tuple[tuple[str, str], ...] = ()  # (module, name) the new code needs imported


# -- the range of a resource ------------------------------------------------------------------


def _helper(site: Site, helpers: tuple[str, ...]) -> str | None:
    """The configured helper that can stand for this acquisition: `self.x` only in a method."""
    if site.kind.family != "pool":
        return None
    for helper in helpers:
        if not helper.startswith(("self.", "cls.")) or site.class_name is not None:
            return helper
    return None


def with_helper(
    verdict: Verdict,
    facts: ModuleFacts,
    helper: str,
    asynchronous: bool,
    reason: str,
    imports: tuple[tuple[str, str], ...] = (),
) -> Plan | None:
    """`with helper() as name:` (`async with` when `asynchronous`) for the range `plan` would wrap:
    a helper of the project detected by `analysis/managers.py`. Unsafe with `reason` when it is not
    "" (it also commits, or takes from another pool); otherwise as safe as the plain form."""
    site = verdict.site
    if site.binding.how != Origin.ASSIGN:
        return None
    if handed_over_at(verdict) is not None:
        return None  # released only before a hand-off: a `with` would release after it
    return _wrap(
        site,
        facts,
        helper=helper,
        helper_async=asynchronous,
        helper_reason=reason,
        helper_imports=imports,
    )


def _wrap(
    site: Site,
    facts: ModuleFacts,
    enter: bool = False,
    helper: str | None = None,
    helper_async: bool = False,
    helper_reason: str | None = "the project's helper may also commit or roll back",
    helper_imports: tuple[tuple[str, str], ...] = (),
) -> Plan | None:
    """`enter`: the call is a context manager used without `with` (`unentered`): wrap in `with`.
    `helper`: the project's own context manager for this kind of connection (`helper_reason`:
    why using it is unsafe; "" when it is as safe as the plain form)."""
    start = acquired_in_block(site, facts)
    if start is None:
        return None
    name, block, body, index = start.name, start.block, start.body, start.index
    end, derived = range_of(body, index + 1, name)
    if (
        site.kind.resource_is_source
        and isinstance(site.scope, cst.FunctionDef)
        and block is site.scope.body
        and not any(is_release(s, site, facts, name) for s in body[index + 1 :])
    ):
        end = len(body)  # `User.get()` queries through the database: in use to the end
    inner = list(body[index + 1 : end])
    releases = [] if enter else [s for s in inner if is_release(s, site, facts, name)]
    kept = [s for s in inner if not any(s is r for r in releases)]
    if not kept or (not enter and mentions_release(tuple(kept), site, facts, name)):
        return None  # nothing to guard, or a nested release the new form would repeat
    if kept_beyond(kept, name, derived):
        return None  # returned, stored, used later, or a cursor of it returned
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    if any(used_after(body[end - 1], root, n) for n in {name} | live_names(kept, name)):
        return None  # used after the block that holds the range: it would be released by then
    acquiring = body[index]
    assert isinstance(acquiring, cst.SimpleStatementLine)
    small = acquiring.body[0]
    assert isinstance(small, (cst.Assign, cst.AnnAssign, cst.Expr)) and small.value is not None
    awaited = isinstance(small.value, cst.Await)
    value = small.value.expression if isinstance(small.value, cst.Await) else small.value
    wrapped = value is not site.call
    if wrapped and (enter or helper is not None or not _wraps(value, site, awaited)):
        return None  # a `with` of the acquisition would drop the wrapper around it
    if helper is not None and (helper_async or not awaited):
        with_ = cst.With(
            items=[
                cst.WithItem(cst.parse_expression(f"{helper}()"), asname=cst.AsName(cst.Name(name)))
            ],
            body=cst.IndentedBlock(body=kept, header=acquiring.trailing_whitespace),
            asynchronous=cst.Asynchronous() if helper_async else None,
            leading_lines=acquiring.leading_lines,
        )
        new_block = block.with_changes(body=[*body[:index], with_, *body[end:]])
        reason = helper_reason or detaches(site, kept, name, derived)
        reason = reason or lets_out(kept, name, bool(releases))
        title = f"Use `{'async ' if helper_async else ''}with {helper}() as {name}:`"
        return Plan(
            block,
            new_block,
            title,
            Applicability.UNSAFE if reason else Applicability.SAFE,
            reason,
            helper_imports,
        )
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
        return Plan(block, new_block, title, Applicability.UNSAFE, reason)
    if len(releases) > 1:
        return None  # released twice in the original, which then fails: that would change
    reason = detaches(site, kept, name, derived) or lets_out(kept, name, bool(releases))
    after: list[cst.BaseStatement] = []
    split = ending_at_release(inner, releases, name)
    if split is not None:
        # The block ends where the original released: what it reads or lets out after the
        # release (`return user.name`, `return user`) stays after it, in the same order.
        first, rest = split
        if not (detaches(site, first, name, derived) or lets_out(first, name, True)):
            kept, after, reason = first, rest, ""
    # `await asyncio.wait_for(pool.acquire(), 5)`: the wrapper stays, so try/finally, not `with`.
    asynchronous = None if wrapped else with_form(site, facts, releases, awaited, small)
    if asynchronous is not None and not any(has_comment(r) for r in releases):
        replacement = with_block(site, name, acquiring, kept, asynchronous)
        title = f"Use `{'async ' if asynchronous else ''}with` for `{name}`"
    else:
        if not releases and site.kind.self_release_methods and in_async_def(site) and not awaited:
            return None  # `db.close()` or `await db.close()`: not known for this session
        release = releases[0] if releases else release_statement(site, name, awaited)
        if release is None:
            return None
        replacement = released_in_finally(acquiring, kept, bare(release))
        title = f"Release `{name}` in `finally`"
    new_body = [*body[:index], *replacement, *after, *body[end:]]
    new_block = block.with_changes(body=new_body)
    return Plan(
        block, new_block, title, Applicability.UNSAFE if reason else Applicability.SAFE, reason
    )


def _wraps(value: cst.BaseExpression, site: Site, awaited: bool) -> bool:
    """Is `value` a call that passes the acquisition through (`analysis.syntax.unwrap_value`):
    `await asyncio.wait_for(pool.acquire(), 5)`, `await asyncio.shield(pool.acquire())` (they
    await what they are given and return its result, asyncio docs, `wait_for` and `shield`) for a
    kind whose acquisitions are awaited, `cast(Connection, pool.getconn())` for one whose are not?
    The acquiring statement then stays as written and try/finally guards the range (a release
    written for it is awaited exactly when the acquisition is)."""
    return (
        isinstance(value, cst.Call)
        and unwrap_value(value) is site.call
        and awaited == site.kind.acquire_awaited
    )


def wrap(site: Site, facts: ModuleFacts, helpers: tuple[str, ...] = ()) -> Plan | None:
    """`with` or try/finally with the release around the range of `site`'s resource (bound by an
    assignment), or None when no such rewrite is known to be right. `helpers` (`fix-helpers` in
    the configuration): context managers of the project that hand out a pooled connection and
    give it back, used instead of try/finally for pool connections."""
    return _wrap(site, facts, helper=_helper(site, helpers))


def enter(site: Site, facts: ModuleFacts) -> Plan | None:
    """A context manager called without `with` (`unentered`) and assigned: the range in `with`
    (`async with` for an `@asynccontextmanager`), unsafe (the manager now runs); None when not
    known to be right."""
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


def with_that_releases(site: Site, facts: ModuleFacts) -> Plan | None:
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
        if used_after(node, root, name):
            return None  # the code goes on using the connection after the `with`
        if "close" in site.kind.self_release_methods:
            closer = closing_name(facts)
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
            return Plan(node, new, title, Applicability.SAFE, imports=needs)
        release = release_statement(site, name, False)
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
                return Plan(
                    block,
                    new_block,
                    f"Return `{name}` to the pool in `finally`",
                    Applicability.SAFE,
                )
        return None
    return None


# -- an error before the resource is handed over --------------------------------------------------


def handed_over_at(verdict: Verdict) -> cst.CSTNode | None:
    """Where the scope hands the resource over (returns it, stores it, gives it to a thread), when
    the verdict is about an error before that: the scope never releases it on the normal path."""
    for text, node in verdict.how:
        if node is not None and "hands it over" in text:
            return node
    return None


def release_before_handoff(site: Site, facts: ModuleFacts, handed: cst.CSTNode) -> Plan | None:
    """`conn = connect(); conn.autocommit = True; Thread(args=(conn,)).start()` ->
    `try: conn.autocommit = True` / `except BaseException: conn.close(); raise` before the
    hand-off. Only the statements before the one that hands it over are guarded: after it, the new
    owner (the caller, a thread, an object) releases it, and a release here would close it under
    them. `BaseException`, so that KeyboardInterrupt and task cancellation release it too."""
    start = acquired_in_block(site, facts)
    if start is None:
        return None
    name, block, body, index = start.name, start.block, start.body, start.index
    position = next(
        (i for i in range(index + 1, len(body)) if any(n is handed for n in walk(body[i]))), None
    )
    if position is None or position == index + 1:
        return None  # handed over elsewhere (a branch), or right away: nothing to guard
    guarded = list(body[index + 1 : position])
    if mentions_release(tuple(guarded), site, facts, name):
        return None
    if any(
        isinstance(n, (cst.Return, cst.Raise, cst.Break, cst.Continue, cst.Yield))
        for s in guarded
        for n in walk(s)
    ):
        return None  # an exit before the hand-off is another leak; this form would not cover it
    acquiring = body[index]
    assert isinstance(acquiring, cst.SimpleStatementLine)
    small = acquiring.body[0]
    assert isinstance(small, (cst.Assign, cst.AnnAssign, cst.Expr)) and small.value is not None
    awaited = isinstance(small.value, cst.Await)
    if site.kind.self_release_methods and in_async_def(site) and not awaited:
        return None  # `db.close()` or `await db.close()`: not known for this session
    release = release_statement(site, name, awaited)
    if release is None:
        return None
    handler = cst.ExceptHandler(
        body=cst.IndentedBlock(body=[release, cst.SimpleStatementLine(body=[cst.Raise()])]),
        type=cst.Name("BaseException"),
    )
    blank, lifted = lift_blank_lines(guarded)
    new_try = cst.Try(body=cst.IndentedBlock(body=lifted), handlers=[handler], leading_lines=blank)
    new_block = block.with_changes(body=[*body[: index + 1], new_try, *body[position:]])
    verb = "Return" if site.kind.release_methods else "Close"
    where = "to the pool " if site.kind.release_methods else ""
    title = f"{verb} `{name}` {where}if an error comes before it is handed over"
    return Plan(block, new_block, title, Applicability.SAFE)


# -- a release after a raising statement in `finally` ---------------------------------------------


def nest_release(verdict: Verdict, facts: ModuleFacts) -> Plan | None:
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
        position = next((i for i, s in enumerate(body) if is_release(s, site, facts, name)), None)
        if position is None or position == 0:
            return None
        guarded = cst.Try(
            body=cst.IndentedBlock(body=list(body[:position])),
            finalbody=cst.Finally(body=cst.IndentedBlock(body=[bare(body[position])])),
        )
        new = node.with_changes(body=node.body.with_changes(body=[guarded, *body[position + 1 :]]))
        return Plan(
            node,
            new,
            f"Release `{name}` even if the statements before it raise",
            Applicability.SAFE,
        )
    return None
