"""Context-manager classes: a resource acquired onto `self` in `__enter__` / `__aenter__`.

`with Tx(pool) as tx:` runs `__enter__`, the block, then `__exit__`. A resource stored on `self`
in `__enter__` (`self.conn = pool.getconn()`, or a local stored there) must be given back by
`__exit__` on every path: a `commit()` or `rollback()` before the release, outside `finally`, loses
it when it raises. And `__exit__` does not run when `__enter__` itself raises (Python language
reference, "The with statement"), so a statement after the acquisition in `__enter__` that may
raise (`await conn.transaction().start()`) loses it too. Verdicts are reported at the acquisition
in `__enter__`: "never" (no release in `__exit__`) or "exception" (a raising statement before it).
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.effects import catches_everything
from leakcheck.analysis.facts import Binding, FunctionInfo, ModuleFacts, Site
from leakcheck.analysis.owners import holders as holders
from leakcheck.analysis.owners import releases_attribute, stored_acquisitions
from leakcheck.analysis.raising import FRESH_METHODS, call_may_raise
from leakcheck.analysis.records import Escape, Origin
from leakcheck.analysis.syntax import block_statements, dotted, walk
from leakcheck.analysis.verdicts import Part, Verdict, raising_text
from leakcheck.config.catalogue import Kind

ENTERS = {"__enter__": "__exit__", "__aenter__": "__aexit__"}


def context_manager_classes(facts: ModuleFacts) -> list[Verdict]:
    """Verdicts for resources that context-manager classes of the module keep on `self`."""
    found = []
    bases = facts.class_bases
    for info in facts.functions.values():
        node = info.node
        if info.class_name is None or not isinstance(node, cst.FunctionDef):
            continue
        exit_name = ENTERS.get(node.name.value)
        if exit_name is None:
            continue
        exit_info, known = _method(facts, info.class_name, exit_name, bases)
        if not known:
            continue  # inherited from a class we cannot see: it may release
        for index, call, kind, attribute in _acquisitions(facts, info):
            binding = Binding(Origin.ATTRIBUTE, attribute)
            site = Site(call, kind, node, info.class_name, binding)
            verdict = _exit_verdict(facts, site, exit_info, attribute, exit_name)
            if verdict is None:
                verdict = _setup_verdict(facts, info, site, index, exit_name)
            if verdict is not None:
                found.append(verdict)
    return found + owner_setup(facts)


def owner_setup(facts: ModuleFacts) -> list[Verdict]:
    """A class owning a resource (owners.py) that acquires it in `__init__` and then runs a
    statement that may raise (`self.cur = self.conn.cursor()`): when `__init__` raises, no object
    is made, so nothing can call the method that gives the resource back; or whose `__exit__`
    gives it back after a statement that may raise, outside `finally`. Reported at the
    acquisition in `__init__` ("exception")."""
    found = []
    for class_name, (_, owned) in sorted(facts.owners.items()):
        init = facts.by_key.get(f"{class_name}.__init__")
        if init is None or not isinstance(init.node, cst.FunctionDef):
            continue
        for held in owned:
            if held.method != "__init__":
                continue
            binding = Binding(Origin.ATTRIBUTE, held.attribute)
            site = Site(held.call, held.kind, init.node, class_name, binding)
            for stmt in block_statements(init.node.body)[held.index + 1 :]:
                if isinstance(stmt, (cst.Try, cst.TryStar)):
                    break  # handled there, we assume
                if _setup_may_raise(facts, init, stmt, held.attribute, held.kind.direct):
                    how = (
                        (
                            f" if `{raising_text(stmt)}` on line {{line}} raises: no object is "
                            f"made when `__init__` fails, so nothing calls "
                            f"`{held.releasers[0]}()`",
                            stmt,
                        ),
                    )
                    found.append(Verdict(site, Escape.EXCEPTION, stmt, how, "if this raises"))
                    break
            else:
                # `with Owner() as o:` runs `__exit__`: a commit before its release, outside
                # `finally`, loses the resource as in a class acquiring in `__enter__`.
                for name in ("__exit__", "__aexit__"):
                    if name in held.releasers:
                        verdict = _exit_verdict(
                            facts, site, facts.by_key[f"{class_name}.{name}"], held.attribute, name
                        )
                        if verdict is not None:
                            found.append(verdict)
                        break
    return found


def _method(
    facts: ModuleFacts, class_name: str, method: str, bases: dict[str, list[str]], depth: int = 0
) -> tuple[FunctionInfo | None, bool]:
    """The method as the class resolves it (its own, or a base class's of this module), and
    whether that answer is known (False when a base class is defined elsewhere)."""
    own = facts.by_key.get(f"{class_name}.{method}")
    if own is not None:
        return own, True
    parents = [b for b in bases.get(class_name, []) if b != "object"]
    if depth > 8:
        return None, False
    for parent in parents:
        if parent not in bases:
            return None, False
        found, known = _method(facts, parent, method, bases, depth + 1)
        if found is not None or not known:
            return found, known
    return None, True


def _acquisitions(facts: ModuleFacts, info: FunctionInfo) -> list[tuple[int, cst.Call, Kind, str]]:
    """(index of the statement storing it on `self`, acquiring call, kind, `self.x`), for each
    resource `__enter__` stores on `self`, directly or from a local it acquired into."""
    return stored_acquisitions(facts, info)


def releases(
    facts: ModuleFacts, site: Site, node: cst.CSTNode, attribute: str, names: frozenset[str]
) -> bool:
    """Does `node` release `self.x` (`attribute`), or a local holding it (one of `names`), as
    `site`'s kind releases? Used by the judge and by the `__exit__` fix (fix/cmexit.py)."""
    return releases_attribute(facts, site.kind, site.class_name, node, attribute, names)


def may_raise(node: cst.CSTNode) -> bool:
    """Can `node` raise: does it call, await, subscript or raise anywhere inside?"""
    return any(isinstance(n, (cst.Call, cst.Await, cst.Subscript, cst.Raise)) for n in walk(node))


def _unprotected(
    facts: ModuleFacts,
    site: Site,
    stmts: tuple[cst.CSTNode, ...],
    attribute: str,
    names: frozenset[str],
) -> tuple[bool, cst.CSTNode | None]:
    """(found the release, the first statement before it that may raise, outside `finally`)."""
    for stmt in stmts:
        if not releases(facts, site, stmt, attribute, names):
            if may_raise(stmt):
                # Whether or not a release follows, it is skipped. Named: the statement inside
                # that may raise (`self.conn.commit()`), not an `if` around it.
                return True, _first_raising(stmt)
            continue
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            if stmt.finalbody is not None and releases(
                facts, site, stmt.finalbody, attribute, names
            ):
                return True, None
            return _unprotected(facts, site, block_statements(stmt.body), attribute, names)
        if isinstance(stmt, (cst.If, cst.With, cst.For, cst.While)):
            if isinstance(stmt, cst.If) and may_raise(stmt.test):
                return True, stmt
            return _unprotected(facts, site, block_statements(stmt.body), attribute, names)
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if releases(facts, site, small, attribute, names):
                    return True, None
                if may_raise(small):
                    return True, small
        return True, None
    return False, None


def _first_raising(stmt: cst.CSTNode) -> cst.CSTNode:
    """The first statement of `stmt` (itself, a small statement of it, or the header of a
    compound one whose test may raise) that may raise, in source order."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return next((small for small in stmt.body if may_raise(small)), stmt)
    if isinstance(stmt, (cst.If, cst.While)) and may_raise(stmt.test):
        return stmt
    if isinstance(stmt, cst.For) and may_raise(stmt.iter):
        return stmt
    if isinstance(stmt, cst.With) and any(may_raise(item) for item in stmt.items):
        return stmt
    blocks: list[cst.CSTNode] = []
    node: cst.CSTNode | None = stmt
    while node is not None:  # an `if` with its `elif`s and `else`
        body = getattr(node, "body", None)
        if isinstance(body, cst.BaseSuite):
            blocks.extend(block_statements(body))
        handlers = getattr(node, "handlers", ())
        for handler in handlers:
            blocks.extend(block_statements(handler.body))
        orelse = getattr(node, "orelse", None)
        if isinstance(orelse, cst.If):
            if may_raise(orelse.test):
                blocks.append(orelse)
                break
            node = orelse
            continue
        if orelse is not None and isinstance(getattr(orelse, "body", None), cst.BaseSuite):
            blocks.extend(block_statements(orelse.body))
        break
    inner = next((b for b in blocks if may_raise(b)), None)
    return stmt if inner is None else _first_raising(inner)


def _exit_verdict(
    facts: ModuleFacts, site: Site, exit_info: FunctionInfo | None, attribute: str, name: str
) -> Verdict | None:
    exit_node = exit_info.node if exit_info is not None else None
    names = (
        holders(exit_node.body, attribute)
        if isinstance(exit_node, cst.FunctionDef)
        else frozenset()
    )
    if not isinstance(exit_node, cst.FunctionDef) or not releases(
        facts, site, exit_node.body, attribute, names
    ):
        how: tuple[Part, ...] = (
            (f" (it is kept on `{attribute}` and `{name}` never gives it back)", None),
        )
        return Verdict(site, Escape.NEVER, None, how, "still held here")
    _, before = _unprotected(facts, site, block_statements(exit_node.body), attribute, names)
    if before is None:
        return None
    what = f"`{raising_text(before)}` on line {{line}} in `{name}` raises"
    if _only_cancellation(before, exit_node):
        what = (
            f"the task is cancelled at `{raising_text(before)}` on line {{line}} in `{name}` "
            "(`asyncio.CancelledError` is a `BaseException`: `except Exception` does not catch it)"
        )
    how = (
        (
            f" if {what} (the release of `{attribute}` after it is not in `finally`)",
            before,
        ),
    )
    return Verdict(site, Escape.EXCEPTION, before, how, "if this raises")


def _only_cancellation(before: cst.CSTNode, method: cst.FunctionDef) -> bool:
    """Is `before` awaited inside a `try` of the coroutine `method` whose handlers catch every
    error (`except Exception:`), but not a `BaseException`: only a cancellation leaves it?"""
    if method.asynchronous is None:
        return False
    for stmt in block_statements(method.body):
        if not isinstance(stmt, cst.Try) or not any(n is before for n in walk(stmt.body)):
            continue
        if not any(catches_everything(h) for h in stmt.handlers):
            return False
        if any(h.type is None or "BaseException" in (dotted(h.type) or "") for h in stmt.handlers):
            return False  # `except:` / `except BaseException:` catch the cancellation too
        return any(isinstance(n, cst.Await) for n in walk(before))
    return False


def _setup_verdict(
    facts: ModuleFacts, info: FunctionInfo, site: Site, index: int, exit_name: str
) -> Verdict | None:
    """A statement after the acquisition in `__enter__` (`info`) that may raise, by the same
    model as `__init__`'s setup (`_setup_may_raise`: configuring a fresh direct connection, such
    as `self.cursor = self.conn.cursor()`, cannot): `__exit__` will not run."""
    enter = info.node
    assert isinstance(enter, cst.FunctionDef)
    attribute = site.binding.name or ""
    for stmt in block_statements(enter.body)[index + 1 :]:
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            return None  # handled there, we assume
        if _setup_may_raise(facts, info, stmt, attribute, site.kind.direct):
            how = (
                (
                    f" if `{raising_text(stmt)}` on line {{line}} raises: `{exit_name}` does not "
                    f"run when `{enter.name.value}` fails",
                    stmt,
                ),
            )
            return Verdict(site, Escape.EXCEPTION, stmt, how, "if this raises")
    return None


def _setup_may_raise(
    facts: ModuleFacts, info: FunctionInfo, stmt: cst.CSTNode, attribute: str, direct: bool
) -> bool:
    """Can a statement after the acquisition in `__init__` raise, by the raise model
    (`analysis/raising.py`, docs/semantics.md "The raise model")? Configuring a connection opened
    directly (`self.cur = self.conn.cursor()`, `self.conn.autocommit = True`: no I/O yet)
    cannot, nor can logging or a pure builtin; any other call, `await`, subscript or `raise` can."""
    for node in walk(stmt):
        if isinstance(node, (cst.Await, cst.Subscript, cst.Raise)):
            return True
        if not isinstance(node, cst.Call):
            continue
        func = node.func
        if isinstance(func, cst.Attribute) and dotted(func.value) == attribute:
            if direct and func.attr.value in FRESH_METHODS:
                continue  # configuring the fresh connection
            return True
        if call_may_raise(node, facts, info):
            return True
    return False
