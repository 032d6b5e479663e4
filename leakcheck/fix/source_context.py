"""`with db.connection_context():` for a resource its source holds (`Kind.resource_is_source`).

peewee's database object holds the connection: `db.connect()` opens it and `db.close()` closes
it. The kind's `source_context_manager` (`connection_context`) is a context manager that opens it
on entry when it is closed and closes it on exit (peewee docs, API, `Database.connection_context`;
peewee 3.17 `ConnectionContext`). Where the plain rewrite (recipes.wrap) gives

    db.connect()
    try:
        <range>
    finally:
        db.close()

this rewrite gives the same range as

    with db.connection_context():
        <range>

and smallest.py keeps whichever diff is smaller (this one is offered first, so it wins a tie:
it is the form the library documents). The `with` does not raise where the resource is already
open, as `db.connect()` does (`OperationalError`, peewee docs, API, `Database.connect`): it uses
that connection and closes it on exit. So the rewrite is safe only when the acquisition passes
the kind's `reuse_keyword` as `True` (`db.connect(reuse_if_open=True)` behaves as the `with`'s
entry does); otherwise unsafe, with that reason. One difference remains, in peewee 4 only: its
`ConnectionContext` closes on exit only when it is the thread's outermost context (`with db:` or
another `connection_context()` around it), so inside one the `with` leaves the connection to the
outer block, where the try/finally closed it under that block; no statement of the range sees it.
"""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import dotted
from leakcheck.fix.recipes import Plan, wrap
from leakcheck.fix.statements import has_comment
from leakcheck.model import Applicability

__all__ = ["source_context"]


def source_context(site: Site, facts: ModuleFacts) -> Plan | None:
    """The plain rewrite of `site` (recipes.wrap) with its acquisition and try/finally turned into
    `with <source>.<source_context_manager>():` around the same statements; None when the kind has
    no such context manager, the acquisition is not a statement of its own on a named source
    (`db.connect()`, with no argument but the kind's `reuse_keyword`), or the plain rewrite is not
    that try/finally with the source's own release (a release with a comment stays as written).
    Unsafe (module docstring) unless the acquisition passes `reuse_keyword=True`."""
    kind = site.kind
    func = site.call.func
    if not (kind.resource_is_source and kind.source_context_manager):
        return None
    if not isinstance(func, cst.Attribute) or func.attr.value not in kind.acquire_methods:
        return None
    source = dotted(func.value)
    reuses = _reuses(site.call, kind.reuse_keyword)
    if source is None or reuses is None:
        return None
    plain = wrap(site, facts)
    if plain is None or not isinstance(plain.new, (cst.IndentedBlock, cst.Module)):
        return None
    body = list(plain.new.body)
    for index, statement in enumerate(body[:-1]):
        if not _is_acquisition(statement, site.call):
            continue
        guarded = body[index + 1]
        if not _released_by_source(guarded, source, kind.self_release_methods):
            return None
        assert isinstance(statement, cst.SimpleStatementLine) and isinstance(guarded, cst.Try)
        manager = cst.Call(func=func.with_changes(attr=cst.Name(kind.source_context_manager)))
        with_ = cst.With(
            items=[cst.WithItem(manager)],
            body=guarded.body.with_changes(header=statement.trailing_whitespace),
            leading_lines=statement.leading_lines,
        )
        new = plain.new.with_changes(body=[*body[:index], with_, *body[index + 2 :]])
        title = f"Use `with {source}.{kind.source_context_manager}():`"
        reasons = [plain.reason] if plain.reason else []
        if not reuses:
            reasons.append(
                f"`{source}.{kind.source_context_manager}()` does not raise where `{source}` is "
                f"already open, as `{source}.{func.attr.value}()` does: it uses that connection "
                "and closes it on exit"
            )
        applicability = Applicability.UNSAFE if reasons else Applicability.SAFE
        return replace(
            plain, new=new, title=title, applicability=applicability, reason="; ".join(reasons)
        )
    return None


def _reuses(call: cst.Call, keyword: str) -> bool | None:
    """Does `call` pass `keyword=True`? False with no argument; None with any other argument
    (what the context manager would do with it is not known)."""
    if not call.args:
        return False
    if len(call.args) != 1 or not keyword:
        return None
    arg = call.args[0]
    if arg.keyword is None or arg.keyword.value != keyword:
        return None
    if isinstance(arg.value, cst.Name) and arg.value.value in ("True", "False"):
        return arg.value.value == "True"
    return None


def _is_acquisition(statement: cst.BaseStatement, call: cst.Call) -> bool:
    """Is `statement` the acquisition alone, `db.connect()` (not awaited, not assigned)?"""
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and statement.body[0].value is call
    )


def _released_by_source(statement: cst.BaseStatement, source: str, methods: frozenset[str]) -> bool:
    """Is `statement` a `try` whose only other part is `finally: <source>.close()` (one of
    `methods`), without a comment the `with` would drop?"""
    if not isinstance(statement, cst.Try) or statement.handlers or statement.orelse:
        return False
    final = statement.finalbody
    if final is None or len(final.body.body) != 1:
        return False
    release = final.body.body[0]
    if not isinstance(release, cst.SimpleStatementLine) or has_comment(release):
        return False
    if len(release.body) != 1 or not isinstance(release.body[0], cst.Expr):
        return False
    value = release.body[0].value
    return (
        isinstance(value, cst.Call)
        and not value.args
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value in methods
        and dotted(value.func.value) == source
    )
