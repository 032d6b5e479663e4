"""Context-manager classes (analysis/cmclass.py): the release in `__exit__` goes into `finally`,
and `__enter__` gives the resource back itself when it fails after acquiring it.

    def __exit__(self, exc_type, exc, tb):       def __exit__(self, exc_type, exc, tb):
        if exc_type is None:                         try:
            self.conn.commit()                           if exc_type is None:
        else:                                                self.conn.commit()
            self.conn.rollback()                         else:
        pool.putconn(self.conn)                              self.conn.rollback()
                                                     finally:
                                                         pool.putconn(self.conn)

Statements that cannot raise at the top of `__exit__` (a docstring, `conn = self.conn`) stay
above the `try`. `__exit__` does not run when `__enter__` raises (Python reference, "The with
statement"), so a statement after the acquisition in `__enter__` that may raise is wrapped in
`try` / `except BaseException:` releasing and re-raising: only the error path releases, and
`__exit__` still owns the resource once `__enter__` has returned. Both are safe: nothing uses the
resource after the release on the paths where it is added.
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from leakcheck.analysis.cmclass import holders, may_raise, releases
from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import dotted, walk
from leakcheck.analysis.verdicts import Verdict
from leakcheck.fix.recipes import Plan
from leakcheck.fix.statements import bare, lift_blank_lines
from leakcheck.model import Applicability

EXITS = ("__exit__", "__aexit__")


def release_in_exit(verdict: Verdict, facts: ModuleFacts) -> Plan | None:
    """The rewrite for a context-manager class's "exception" verdict, or None."""
    site = verdict.site
    attribute = site.binding.name
    if attribute is None or verdict.node is None or not isinstance(site.scope, cst.FunctionDef):
        return None
    enter = site.scope
    if any(n is verdict.node for n in walk(enter.body)):
        return _release_if_enter_fails(site, enter, attribute)
    for cls in walk(facts.module, into_scopes=True):
        if not isinstance(cls, cst.ClassDef):
            continue
        for node in walk(cls.body, into_scopes=True):
            if (
                isinstance(node, cst.FunctionDef)
                and node.name.value in EXITS
                and any(n is verdict.node for n in walk(node.body))
            ):
                return _both(site, facts, cls, enter, node, attribute)
    return None


def _both(
    site: Site,
    facts: ModuleFacts,
    cls: cst.ClassDef,
    enter: cst.FunctionDef,
    exit_: cst.FunctionDef,
    attribute: str,
) -> Plan | None:
    """The `__exit__` rewrite, together with `__enter__`'s when it may also fail after acquiring
    (otherwise that finding would remain): one plan over the class when both are its own."""
    exiting = _exit_finally(site, facts, exit_, attribute)
    entering = _release_if_enter_fails(site, enter, attribute)
    if exiting is None or entering is None:
        return exiting
    if not any(n is enter for n in walk(cls.body)):
        return None  # `__enter__` of another class: two rewrites, each on its own
    new = cls.body.visit(_Swap({id(exiting.old): exiting.new, id(entering.old): entering.new}))
    assert isinstance(new, cst.CSTNode)
    title = f"{exiting.title}, and in `{enter.name.value}` if it fails after acquiring it"
    return Plan(cls.body, new, title, Applicability.SAFE)


class _Swap(cst.CSTTransformer):
    """Replaces nodes by identity in one pass (`deep_replace` twice would lose the second)."""

    def __init__(self, new: dict[int, cst.CSTNode]) -> None:
        super().__init__()
        self.new = new

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        return self.new.get(id(original_node), updated_node)


def release_never_in_exit(verdict: Verdict, facts: ModuleFacts) -> Plan | None:
    """`__exit__` never gives back what `__enter__` stored: it releases it, in `finally` after
    what it already does. Unsafe: the object keeps the attribute, and code that uses it after the
    `with` block (or a class meant to keep one connection across blocks) would find it released."""
    site = verdict.site
    attribute = site.binding.name
    enter = site.scope
    if attribute is None or not isinstance(enter, cst.FunctionDef):
        return None
    exit_name = EXITS[0] if enter.name.value == "__enter__" else EXITS[1]
    for cls in walk(facts.module, into_scopes=True):
        if not isinstance(cls, cst.ClassDef) or not any(n is enter for n in walk(cls.body)):
            continue
        exit_ = next(
            (
                n
                for n in walk(cls.body)
                if isinstance(n, cst.FunctionDef) and n.name.value == exit_name
            ),
            None,
        )
        if exit_ is None or not isinstance(exit_.body, cst.IndentedBlock):
            return None  # inherited, or missing: not this class's to change here
        awaited = any(isinstance(n, cst.Await) and n.expression is site.call for n in walk(enter))
        release = _release(site, attribute, awaited)
        if release is None:
            return None
        body = list(exit_.body.body)
        start = 0
        while start < len(body) and not may_raise(body[start]):
            start += 1
        guarded = body[start:]
        if any(isinstance(n, (cst.Return, cst.Yield)) for s in body[:start] for n in walk(s)):
            return None
        if guarded:
            blank, lifted = lift_blank_lines(guarded)
            added: cst.BaseStatement = cst.Try(
                body=cst.IndentedBlock(body=lifted),
                finalbody=cst.Finally(body=cst.IndentedBlock(body=[release])),
                leading_lines=blank,
            )
        else:
            added = release
        new = exit_.body.with_changes(body=[*body[:start], added])
        title = f"Release `{attribute}` in `{exit_name}`"
        reason = f"`{attribute}` stays on the object: code using it after the block finds it closed"
        entering = _release_if_enter_fails(site, enter, attribute)
        if entering is None:
            return Plan(exit_.body, new, title, Applicability.UNSAFE, reason)
        swap = _Swap({id(exit_.body): new, id(entering.old): entering.new})
        both = cls.body.visit(swap)
        assert isinstance(both, cst.CSTNode)
        title += f", and in `{enter.name.value}` if it fails after acquiring it"
        return Plan(cls.body, both, title, Applicability.UNSAFE, reason)
    return None


def _exit_finally(
    site: Site, facts: ModuleFacts, exit_: cst.FunctionDef, attribute: str
) -> Plan | None:
    if not isinstance(exit_.body, cst.IndentedBlock):
        return None
    body = list(exit_.body.body)
    held_by = holders(exit_.body, attribute)
    position = next(
        (
            i
            for i, s in enumerate(body)
            if isinstance(s, cst.SimpleStatementLine)
            and len(s.body) == 1
            and releases(facts, site, s, attribute, held_by)
        ),
        None,
    )
    if position is None:
        return None  # released inside a block of its own (`if self.conn:`): left to the author
    start = 0
    while start < position and not may_raise(body[start]):
        start += 1  # a docstring, `conn = self.conn`: cannot raise, stay above the `try`
    guarded = body[start:position]
    if not guarded or any(releases(facts, site, s, attribute, held_by) for s in guarded):
        return None
    blank, lifted = lift_blank_lines(guarded)
    new_try = cst.Try(
        body=cst.IndentedBlock(body=lifted),
        finalbody=cst.Finally(body=cst.IndentedBlock(body=[bare(body[position])])),
        leading_lines=blank,
    )
    new_body = [*body[:start], new_try, *body[position + 1 :]]
    new = exit_.body.with_changes(body=new_body)
    title = f"Release `{attribute}` in `finally` in `{exit_.name.value}`"
    return Plan(exit_.body, new, title, Applicability.SAFE)


def _release_if_enter_fails(site: Site, enter: cst.FunctionDef, attribute: str) -> Plan | None:
    """`self.conn = pool.getconn(); return self.conn.cursor()` -> the statements after the store
    in `try` / `except BaseException: pool.putconn(self.conn); raise`."""
    if not isinstance(enter.body, cst.IndentedBlock):
        return None
    body = list(enter.body.body)
    store = next(
        (
            i
            for i, s in enumerate(body)
            if isinstance(s, cst.SimpleStatementLine)
            and any(
                isinstance(t, cst.AssignTarget) and dotted(t.target) == attribute
                for small in s.body
                for t in walk(small)
            )
        ),
        None,
    )
    if store is None or not any(may_raise(s) for s in body[store + 1 :]):
        return None
    guarded = body[store + 1 :]
    if any(isinstance(s, (cst.Try, cst.TryStar)) for s in guarded):
        return None
    awaited = any(isinstance(n, cst.Await) and n.expression is site.call for n in walk(enter))
    release = _release(site, attribute, awaited)
    if release is None:
        return None
    handler = cst.ExceptHandler(
        body=cst.IndentedBlock(body=[release, cst.SimpleStatementLine(body=[cst.Raise()])]),
        type=cst.Name("BaseException"),
    )
    blank, lifted = lift_blank_lines(guarded)
    new_try = cst.Try(body=cst.IndentedBlock(body=lifted), handlers=[handler], leading_lines=blank)
    new = enter.body.with_changes(body=[*body[: store + 1], new_try])
    verb = "Return" if site.kind.release_methods else "Close"
    title = f"{verb} `{attribute}` if `{enter.name.value}` fails after acquiring it"
    return Plan(enter.body, new, title, Applicability.SAFE)


def _release(site: Site, attribute: str, awaited: bool) -> cst.SimpleStatementLine | None:
    """`pool.putconn(self.conn)`, `await self.apool.release(self.conn)` or `self.db.close()`."""
    kind = site.kind
    func = site.call.func
    target = cst.parse_expression(attribute)
    call: cst.BaseExpression
    if kind.release_methods and isinstance(func, cst.Attribute) and dotted(func.value):
        method = sorted(kind.release_methods)[0]
        call = cst.Call(func=cst.Attribute(func.value, cst.Name(method)), args=[cst.Arg(target)])
    elif "close" in kind.self_release_methods and not awaited:
        call = cst.Call(func=cst.Attribute(target, cst.Name("close")))
    else:
        return None  # an async session's `close()` is awaited: not known here
    if awaited and kind.release_methods:
        call = cst.Await(call)
    return cst.SimpleStatementLine(body=[cst.Expr(call)])
