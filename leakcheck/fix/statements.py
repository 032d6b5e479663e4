"""Statements the fix recipes build: the `with` and try/finally forms around a resource's range,
its release written from its kind, and the small edits that keep comments and blank lines where
they were. Every recipe module builds on these; none of them is a recipe itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from leakcheck.analysis.callables import runs_in_a_thread
from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import dotted, receiver_text, walk


def with_block(
    site: Site,
    name: str,
    acquiring: cst.SimpleStatementLine,
    kept: list[cst.BaseStatement],
    asynchronous: bool,
) -> list[cst.BaseStatement]:
    """`name = <acquire>` and the statements `kept` after it, as `[async] with <acquire> as
    name:` around them (the acquisition's comment and leading lines stay on the `with` line)."""
    return [
        cst.With(
            items=[cst.WithItem(site.call, asname=cst.AsName(cst.Name(name)))],
            body=cst.IndentedBlock(
                body=lift_blank_lines(kept)[1], header=acquiring.trailing_whitespace
            ),
            asynchronous=cst.Asynchronous() if asynchronous else None,
            leading_lines=acquiring.leading_lines,
        )
    ]


def released_in_finally(
    acquiring: cst.SimpleStatementLine,
    kept: list[cst.BaseStatement],
    release: cst.BaseStatement,
) -> list[cst.BaseStatement]:
    """The acquisition, then `try:` around the statements `kept` with `release` in `finally`
    (blank lines above the first kept statement move above the `try`)."""
    blank, lifted = lift_blank_lines(kept)
    return [
        acquiring,
        cst.Try(
            body=cst.IndentedBlock(body=lifted),
            finalbody=cst.Finally(body=cst.IndentedBlock(body=[release])),
            leading_lines=blank,
        ),
    ]


def closing_name(facts: ModuleFacts) -> str | None:
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


def unwrap_first(stmt: cst.CSTNode) -> cst.CSTNode | None:
    """The expression of a simple statement whose first part is one (`await db.close()`), or
    None."""
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr):
        return stmt.body[0].value
    return None


def bare(stmt: cst.BaseStatement) -> cst.BaseStatement:
    """The statement without the blank lines above it (its comments stay with it)."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return stmt.with_changes(
            leading_lines=[line for line in stmt.leading_lines if line.comment]
        )
    return stmt


def lift_blank_lines(
    stmts: Sequence[cst.BaseStatement],
) -> tuple[list[cst.EmptyLine], list[cst.BaseStatement]]:
    """The blank lines above the first of `stmts`, and `stmts` without them: an inserted `try:`
    takes them, so that no blank line follows it (comments stay with their statement)."""
    if not stmts:
        return [], list(stmts)
    first = stmts[0]
    lines = list(getattr(first, "leading_lines", ()))
    count = 0
    while count < len(lines) and lines[count].comment is None:
        count += 1
    if count == 0:
        return [], list(stmts)
    return lines[:count], [first.with_changes(leading_lines=lines[count:]), *stmts[1:]]


def has_comment(stmt: cst.BaseStatement) -> bool:
    """Does the simple statement carry a comment, on its line or above it? A release with one is
    kept as written (try/finally), not folded into a `with`."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    return stmt.trailing_whitespace.comment is not None or any(
        line.comment for line in stmt.leading_lines
    )


def with_form(
    site: Site,
    facts: ModuleFacts,
    releases: list[cst.BaseStatement],
    awaited: bool,
    acquiring: cst.BaseSmallStatement,
) -> bool | None:
    """Whether the `with` form applies, and then whether it must be `async with`; None when the
    resource's context-manager protocol is not known for sure (try/finally is used instead).

    Only for kinds whose `with` gives the resource back and does nothing else
    (`Kind.with_only_releases`); an always-awaited acquisition (`Kind.acquire_awaited`: asyncpg's
    `await pool.acquire()`) takes `async with`. `releases`: the original releases of the range;
    `awaited`: the acquisition is awaited; `acquiring`: its assignment."""
    kind = site.kind
    if not kind.with_only_releases or isinstance(acquiring, cst.AnnAssign):
        return None  # an annotated name (`db: Session = ...`) keeps its annotation
    func = site.call.func
    if kind.acquire_awaited:
        return True if awaited else None
    if isinstance(func, cst.Attribute) and func.attr.value in kind.not_context_manager_methods:
        return None  # `engine.raw_connection()`: no context manager before SQLAlchemy 2.0
    qualified = facts.qualify(func)
    if qualified in kind.acquire_callables:
        return "async" in qualified.rsplit(".", 1)[-1].lower()  # `AsyncSession(engine)`
    if isinstance(func, cst.Attribute) and func.attr.value in kind.acquire_methods:
        source = dotted(func.value)
    else:
        source = dotted(func)
    if source is not None and source in facts.asynchronous:
        return facts.asynchronous[source]  # built here: `async_sessionmaker`, `create_engine`
    export = facts.imported(source) if source is not None else None
    if export is not None and export.role == "source" and export.asynchronous is not None:
        return export.asynchronous  # built in the project module it is imported from
    if kind.acquire_by_calling_source and releases:
        # A session factory of another module: how the code closes it says sync or async.
        return isinstance(unwrap_first(releases[0]), cst.Await)
    return None


def in_async_def(site: Site) -> bool:
    """Is the acquisition inside an `async def`?"""
    return isinstance(site.scope, cst.FunctionDef) and site.scope.asynchronous is not None


def release_statement(site: Site, name: str, awaited: bool) -> cst.SimpleStatementLine | None:
    """`pool.putconn(conn)` or `conn.close()`, built from the kind, when no release exists.

    `pool.putconn(conn)` only for a call on the pool itself (`pool.getconn()`), not one through a
    wrapper or a collaborator (`self.repo.borrow()`, `loop.run_in_executor(None, pool.getconn)`);
    `await` only when what is awaited is not a thread's result (`asyncio.to_thread(connect)`)."""
    kind = site.kind
    call: cst.BaseExpression
    func = site.call.func
    if awaited and runs_in_a_thread(site.call):
        awaited = False  # `await loop.run_in_executor(None, open_conn)`: a sync connection
    if (
        kind.release_methods
        and isinstance(func, cst.Attribute)
        and func.attr.value not in kind.acquire_methods
    ):
        return None  # `self.repo.borrow()`: which pool it came from is not written here
    if kind.resource_is_source and isinstance(func, cst.Attribute):
        method = sorted(kind.release_all_methods)[0]
        call = cst.Call(func=cst.Attribute(func.value, cst.Name(method)))  # `db.close()`
    elif kind.release_methods and isinstance(func, cst.Attribute):
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
