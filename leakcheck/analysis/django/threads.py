"""`orm-thread`: a function run on a thread outside the request cycle that uses the ORM and does not
close its connection on every path.

Django opens one connection per thread and closes it only at the end of a request (the
`request_started`/`request_finished` signals); a thread of the project's own keeps its connection
until the thread dies, and a thread pool's workers never die. Started on a thread means:
`threading.Thread(target=f)`, a `threading.Thread` subclass's `run`, `threading.Timer(t, f)`,
`executor.submit(f, ...)` and `executor.map(f, ...)` on a `ThreadPoolExecutor` (bound in the
module, or a receiver named `*executor*`), APScheduler's `scheduler.add_job(f, ...)` and
`@scheduler.scheduled_job(...)`, `loop.run_in_executor(None, f)`. Views, management commands and
Celery tasks are not threads of the project's own and are not judged.

The entry points are data (`rules/lifecycles.toml`, `[outside]`, those with `thread = true`),
shared with the framework analysis (`analysis/frameworks/outside.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.django.drafts import Draft
from leakcheck.analysis.django.orm import Function, Orm
from leakcheck.analysis.syntax import dotted, source_of, walk
from leakcheck.checks import orm_in_thread_without_close
from leakcheck.config.lifecycles import EntryPoint, lifecycles


@dataclass(frozen=True)
class Started:
    """A function put on a thread, its class (or ""), and the call or decorator doing it."""

    function: Function
    class_name: str
    start: cst.CSTNode  # the call or decorator that puts it on a thread


def _argument(call: cst.Call, position: int, keyword: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[position].value if len(positional) > position else None


def _unwrap_partial(expr: cst.BaseExpression, orm: Orm) -> cst.BaseExpression:
    if isinstance(expr, cst.Call) and orm.imports.qualify(expr.func) in (
        "functools.partial",
        "partial",
    ):
        first = _argument(expr, 0, "func")
        if first is not None:
            return first
    return expr


class _Finder:
    def __init__(self, module: cst.Module, orm: Orm) -> None:
        self.module = module
        self.orm = orm
        self.executors: set[str] = set()
        self.started: list[Started] = []
        data = lifecycles()
        self.callables = {n: e for n, e in data.callables.items() if e.thread}
        self.methods = {
            name: tuple(e for e in entries if e.thread) for name, entries in data.methods.items()
        }
        self.decorators = data.decorators
        self.executor_classes = data.executors
        # Classes whose subclasses run a method on the new thread: `threading.Thread` -> `run`.
        self.run_methods = {n: e.run_method for n, e in self.callables.items() if e.run_method}

    def run(self) -> list[Started]:
        """Every function the module starts on a thread (executors first, then the calls)."""
        for node in walk(self.module, into_scopes=True):
            if isinstance(node, cst.Assign) and self._is_executor(node.value):
                for target in node.targets:
                    text = dotted(target.target)
                    if text:
                        self.executors.add(text)
            elif (
                isinstance(node, cst.WithItem)
                and self._is_executor(node.item)
                and node.asname is not None
            ):
                text = (
                    dotted(node.asname.name)
                    if isinstance(node.asname.name, cst.BaseExpression)
                    else None
                )
                if text:
                    self.executors.add(text)
        self._visit(self.module.body, "", {})
        return self.started

    def _is_executor(self, expr: cst.BaseExpression) -> bool:
        if not isinstance(expr, cst.Call):
            return False
        name = self.orm.imports.qualify(expr.func)
        short = {c.rsplit(".", 1)[-1] for c in self.executor_classes}
        return name in self.executor_classes or name.rsplit(".", 1)[-1] in short

    def _visit(
        self, body: Sequence[cst.CSTNode], class_name: str, local: dict[str, cst.FunctionDef]
    ) -> None:
        for stmt in body:
            self._statement(stmt, class_name, local)

    def _statement(
        self, stmt: cst.CSTNode, class_name: str, local: dict[str, cst.FunctionDef]
    ) -> None:
        if isinstance(stmt, cst.ClassDef):
            bases = {self.orm.imports.qualify(b.value) for b in stmt.bases}
            runs = {self.run_methods[b] for b in bases if b in self.run_methods}
            body = stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ()
            for item in body:
                if isinstance(item, cst.FunctionDef) and item.name.value in runs:
                    self.started.append(Started(item, stmt.name.value, stmt.bases[0].value))
                self._statement(item, stmt.name.value, {})
            return
        if isinstance(stmt, cst.FunctionDef):
            for decorator in stmt.decorators:
                expr = decorator.decorator
                func = expr.func if isinstance(expr, cst.Call) else expr
                if isinstance(func, cst.Attribute) and func.attr.value in self.decorators:
                    self.started.append(Started(stmt, class_name, decorator))
            inner = {
                item.name.value: item
                for item in walk(stmt.body)
                if isinstance(item, cst.FunctionDef)
            }
            nested = dict(local)
            nested.update(inner)
            for node in walk(stmt.body):
                if isinstance(node, cst.Call):
                    self._call(node, class_name, nested)
                elif isinstance(node, cst.FunctionDef) and node is not stmt:
                    self._statement(node, class_name, nested)
            for decorator in stmt.decorators:
                for node in walk(decorator):
                    if isinstance(node, cst.Call):
                        self._call(node, class_name, local)
            return
        for node in walk(stmt):
            if isinstance(node, cst.Call):
                self._call(node, class_name, local)
            elif isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node is not stmt:
                self._statement(node, class_name, local)

    def _target(self, call: cst.Call) -> cst.BaseExpression | None:
        """The function `call` runs on another thread, if it is an entry point of the data
        (a method entry point on an executor also when its receiver is bound to one here)."""
        entry: EntryPoint | None = self.callables.get(self.orm.imports.qualify(call.func))
        if entry is None and isinstance(call.func, cst.Attribute):
            receiver = dotted(call.func.value) or ""
            for candidate in self.methods.get(call.func.attr.value, ()):
                bound = bool(candidate.receiver) and receiver in self.executors
                if candidate.accepts(receiver) or bound:
                    entry = candidate
                    break
        if entry is None:
            return None
        return _argument(call, entry.position, entry.keyword)

    def _call(self, call: cst.Call, class_name: str, local: dict[str, cst.FunctionDef]) -> None:
        target = self._target(call)
        if target is None:
            return
        target = _unwrap_partial(target, self.orm)
        if isinstance(target, cst.Lambda):
            self.started.append(Started(target, class_name, call))
            return
        function = self.orm.scope.resolve(target, class_name, local)
        if function is None and isinstance(target, cst.Attribute):
            # `executor.submit(probe.check)`: the one class of the module with that method.
            found = _method_named(self.orm, target.attr.value)
            if found is not None:
                self.started.append(Started(found[1], found[0], call))
            return
        if function is not None:
            is_local = isinstance(target, cst.Name) and local.get(target.value) is function
            owner = self.orm.scope.class_of.get(id(function), class_name if is_local else "")
            self.started.append(Started(function, owner, call))


def _method_named(orm: Orm, name: str) -> tuple[str, cst.FunctionDef] | None:
    """The class and method when exactly one class of the module defines a method `name`."""
    found = [(c, methods[name]) for c, methods in orm.scope.methods.items() if name in methods]
    return found[0] if len(found) == 1 else None


def _parameters(function: Function) -> set[str]:
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    return {p.name.value for p in every} - {"self", "cls"}


def via_objects(function: Function, orm: Orm) -> list[cst.CSTNode]:
    """Calls in `function` of a method on an object handed to it (`probe.check()` in
    `def check(probe)`, run by `executor.map(check, probes)`) whose method, the one of that name
    among the module's classes, uses the ORM; not those under a `finally` that closes."""
    if orm.decorated_closing(function):
        return []
    names = _parameters(function)
    protected: set[int] = set()
    for node in walk(function.body):
        if isinstance(node, cst.Try) and orm.closes_in_finally(node):
            protected.update(id(n) for n in walk(node.body))
    found: list[cst.CSTNode] = []
    for node in walk(function.body):
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and isinstance(node.func.value, cst.Name)
            and node.func.value.value in names
            and id(node) not in protected
        ):
            method = _method_named(orm, node.func.attr.value)
            if method is not None and orm.uses(method[1], method[0]):
                found.append(node)
    return found


def thread_drafts(module: cst.Module, orm: Orm) -> list[Draft]:
    """`orm-thread` at the first unclosed ORM use of each function started on a thread."""
    drafts: list[Draft] = []
    seen: set[int] = set()
    for started in _Finder(module, orm).run():
        function = started.function
        if id(function) in seen:
            continue
        seen.add(id(function))
        unclosed = orm.unclosed_uses(function, started.class_name) or via_objects(function, orm)
        if not unclosed:
            continue
        first = unclosed[0]
        name = function.name.value if isinstance(function, cst.FunctionDef) else "lambda"
        qualified = f"{started.class_name}.{name}" if started.class_name else name
        drafts.append(
            Draft(
                orm_in_thread_without_close.RULE.code,
                first,
                {"function": qualified, "use": source_of(first, 50)},
                qualified,
                source_of(first, 50),
                related=started.start,
                related_label="started on a thread here",
            )
        )
    return drafts
