"""`consumer-sync-to-async`: ORM work in a Channels async consumer through
`asgiref.sync.sync_to_async` instead of `channels.db.database_sync_to_async`.

Channels documentation, "Database Access": the ORM is synchronous, and async code must call it
through `database_sync_to_async`, which cleans up database connections on exit (it runs
`close_old_connections()` around the call, channels/db.py). Plain `sync_to_async` does not: the
connection its worker thread opened is never closed by the consumer, which has no request cycle.

`X.save`, `X.delete` and `X.refresh_from_db` wrapped directly count as ORM work (model instance
methods). A consumer is a class deriving from `AsyncConsumer`, `AsyncWebsocketConsumer` or
`AsyncJsonWebsocketConsumer` (or from such a class of the same module). Reported: a
`sync_to_async(f)` call in a consumer whose `f` is ORM work (`Model.objects.get`, a lambda or a
function of the module that uses the ORM), and `@sync_to_async` on such a function that a consumer
calls.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.django.drafts import Draft, FixDraft, InsertLineAfter, Replace
from leakcheck.analysis.django.orm import Orm
from leakcheck.analysis.syntax import source_of, walk
from leakcheck.checks import orm_via_sync_to_async_in_consumer
from leakcheck.model import Applicability

CONSUMER_BASES = frozenset(
    {"AsyncConsumer", "AsyncWebsocketConsumer", "AsyncJsonWebsocketConsumer"}
)
SYNC_TO_ASYNC = frozenset({"asgiref.sync.sync_to_async", "asgiref.sync.SyncToAsync"})


def _consumers(module: cst.Module, orm: Orm) -> list[cst.ClassDef]:
    classes = [s for s in module.body if isinstance(s, cst.ClassDef)]
    names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for cls in classes:
            if cls.name.value in names:
                continue
            for base in cls.bases:
                last = orm.imports.qualify(base.value).rsplit(".", 1)[-1]
                if last in CONSUMER_BASES or last in names:
                    names.add(cls.name.value)
                    changed = True
                    break
    return [cls for cls in classes if cls.name.value in names]


def _is_sync_to_async(expr: cst.BaseExpression, orm: Orm) -> bool:
    return orm.imports.qualify(expr) in SYNC_TO_ASYNC


# Model instance methods that query: `sync_to_async(order.save)()`.
INSTANCE_QUERIES = frozenset({"save", "delete", "refresh_from_db"})


def _orm_work(expr: cst.BaseExpression, orm: Orm, class_name: str) -> bool:
    if isinstance(expr, cst.Attribute) and expr.attr.value in INSTANCE_QUERIES:
        return True
    if isinstance(expr, cst.Lambda):
        return bool(orm.uses(expr, class_name))
    if any(orm.direct_use(node) for node in walk(expr)):
        return True
    function = orm.scope.resolve(expr, class_name)
    return function is not None and bool(orm.uses(function, class_name))


def _decorator(function: cst.FunctionDef, orm: Orm) -> cst.Decorator | None:
    for decorator in function.decorators:
        expr = decorator.decorator
        func = expr.func if isinstance(expr, cst.Call) else expr
        if _is_sync_to_async(func, orm):
            return decorator
    return None


def consumer_drafts(module: cst.Module, orm: Orm) -> list[Draft]:
    """`consumer-sync-to-async` at each `sync_to_async(...)` or `@sync_to_async` running ORM work
    for a consumer."""
    drafts: list[Draft] = []
    reported: set[int] = set()
    for cls in _consumers(module, orm):
        name = cls.name.value
        for node in walk(cls, into_scopes=True):
            if isinstance(node, cst.FunctionDef):
                decorator = _decorator(node, orm)
                if decorator is not None and id(decorator) not in reported and orm.uses(node, name):
                    reported.add(id(decorator))
                    fix = _fix(module, orm, decorator.decorator)
                    label = f"{name}.{node.name.value}"
                    drafts.append(_draft(decorator.decorator, name, label, fix))
            if not isinstance(node, cst.Call):
                continue
            positional = [a.value for a in node.args if a.keyword is None and not a.star]
            if _is_sync_to_async(node.func, orm) and positional:
                wrapped = positional[0]
                if _orm_work(wrapped, orm, name) and id(node) not in reported:
                    reported.add(id(node))
                    fix = _fix(module, orm, node)
                    drafts.append(_draft(node, name, source_of(wrapped, 40), fix))
                continue
            callee = orm.scope.resolve(node.func, name)
            if callee is None:
                continue
            decorator = _decorator(callee, orm)
            if decorator is not None and id(decorator) not in reported and orm.uses(callee):
                reported.add(id(decorator))
                fix = _fix(module, orm, decorator.decorator)
                label = f"{callee.name.value}()"
                drafts.append(_draft(decorator.decorator, name, label, fix))
    return drafts


def _draft(node: cst.CSTNode, where: str, wrapped: str, fix: FixDraft | None = None) -> Draft:
    code = orm_via_sync_to_async_in_consumer.RULE.code
    return Draft(code, node, {"where": where, "wrapped": wrapped}, where, wrapped, fix=fix)


def _fix(module: cst.Module, orm: Orm, node: cst.CSTNode) -> FixDraft | None:
    """`database_sync_to_async` for a bare `sync_to_async` name, with its import added once after
    the module's leading imports."""
    callee = node.func if isinstance(node, cst.Call) else node
    if not isinstance(callee, cst.Name) or callee.value != "sync_to_async":
        return None
    title = "Use `channels.db.database_sync_to_async`; unsafe: it also closes old connections"
    if orm.imports.names.get("database_sync_to_async") == "channels.db.database_sync_to_async":
        return FixDraft(title, Applicability.UNSAFE, Replace(callee, "database_sync_to_async"))
    if "database_sync_to_async" in orm.imports.names:
        return None  # the name means something else here
    last_import: cst.CSTNode | None = None
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(small, (cst.Import, cst.ImportFrom)) for small in stmt.body
        ):
            last_import = stmt
        elif last_import is not None:
            break
    if last_import is None:
        return None
    return FixDraft(
        title,
        Applicability.UNSAFE,
        Replace(callee, "database_sync_to_async"),
        (InsertLineAfter(last_import, "from channels.db import database_sync_to_async"),),
    )
