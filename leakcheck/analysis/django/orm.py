"""Django ORM uses and connection closes inside one function, read from its syntax.

An ORM use is `Model.objects...` (any `.objects` manager), `connection.cursor()` /
`connections[alias].cursor()` and `transaction.atomic` (django.db). A call to a function or method
of the same module that uses the ORM is a use too, at the call. A close is `connection.close()`,
`connections.close_all()`, `connections[alias].close()` or `close_old_connections()`; a function
closes on every path when each of its ORM uses sits in the body of a `try` whose `finally` closes,
or when a decorator closes for it: `django_db_geventpool.utils.close_connection`, or a decorator of
the same module whose wrapper closes in `finally`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import libcst as cst

from leakcheck.analysis.syntax import dotted, walk

Function = cst.FunctionDef | cst.Lambda
CLOSES = frozenset(
    {
        "django.db.connection.close",
        "django.db.connections.close_all",
        "django.db.close_old_connections",
    }
)
CLOSING_DECORATORS = frozenset({"django_db_geventpool.utils.close_connection"})
MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})


@dataclass
class Imports:
    """Local names of imported modules and objects: `connection` -> `django.db.connection`."""

    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, module: cst.Module) -> Imports:
        """The import table of `module`, imports inside functions included."""
        out = cls()
        for node in walk(module, into_scopes=True):
            if isinstance(node, cst.Import):
                for alias in node.names:
                    full = dotted(alias.name) or ""
                    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                        out.names[alias.asname.name.value] = full
                    else:
                        head = full.split(".", 1)[0]
                        out.names.setdefault(head, head)
            elif isinstance(node, cst.ImportFrom):
                if node.module is None or isinstance(node.names, cst.ImportStar):
                    continue
                base = dotted(node.module) or ""
                if node.relative:
                    base = "." * len(node.relative) + base
                for alias in node.names:
                    name = dotted(alias.name) or ""
                    local = name
                    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                        local = alias.asname.name.value
                    out.names[local] = f"{base}.{name}"
        return out

    def qualify(self, expr: cst.BaseExpression) -> str:
        """`connection.close` -> `django.db.connection.close` when `connection` is imported."""
        text = dotted(expr)
        if text is None:
            return ""
        head, _, rest = text.partition(".")
        full = self.names.get(head, head)
        return f"{full}.{rest}" if rest else full


@dataclass
class Scope:
    """Module-level functions and each class's methods, for resolving calls inside the module."""

    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    methods: dict[str, dict[str, cst.FunctionDef]] = field(default_factory=dict)
    class_of: dict[int, str] = field(default_factory=dict)  # id(method) -> class name

    @classmethod
    def of(cls, module: cst.Module) -> Scope:
        """Module-level functions and classes of `module` (nested ones: see `resolve`)."""
        out = cls()
        for stmt in module.body:
            if isinstance(stmt, cst.FunctionDef):
                out.functions[stmt.name.value] = stmt
            elif isinstance(stmt, cst.ClassDef):
                methods = {}
                for item in stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ():
                    if isinstance(item, cst.FunctionDef):
                        methods[item.name.value] = item
                        out.class_of[id(item)] = stmt.name.value
                out.methods[stmt.name.value] = methods
        return out

    def resolve(
        self,
        expr: cst.BaseExpression,
        class_name: str = "",
        local: dict[str, cst.FunctionDef] | None = None,
    ) -> cst.FunctionDef | None:
        """The function `expr` names: a local def, a module function, or `self.method`."""
        if isinstance(expr, cst.Name):
            if local and expr.value in local:
                return local[expr.value]
            return self.functions.get(expr.value)
        if (
            isinstance(expr, cst.Attribute)
            and isinstance(expr.value, cst.Name)
            and expr.value.value in ("self", "cls")
            and class_name
        ):
            return self.methods.get(class_name, {}).get(expr.attr.value)
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            return self.methods.get(expr.value.value, {}).get(expr.attr.value)
        return None


class Orm:
    """ORM uses and closes of the functions of one module."""

    def __init__(self, module: cst.Module, imports: Imports | None = None) -> None:
        self.module = module
        self.imports = imports or Imports.of(module)
        self.scope = Scope.of(module)
        self._uses: dict[int, list[cst.CSTNode]] = {}

    def direct_use(self, node: cst.CSTNode) -> bool:
        """Whether `node` itself is an ORM use (not a call to a function that makes one)."""
        if isinstance(node, cst.Attribute) and node.attr.value in MANAGERS:
            return dotted(node.value) is not None and not (
                isinstance(node.value, cst.Name) and node.value.value == "self"
            )
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "cursor"
        ):
            receiver = node.func.value
            if isinstance(receiver, cst.Subscript):
                receiver = receiver.value
            return self.imports.qualify(receiver) in (
                "django.db.connection",
                "django.db.connections",
            )
        if isinstance(node, (cst.Attribute, cst.Name)):
            return self.imports.qualify(node) == "django.db.transaction.atomic"
        return False

    def uses(self, function: Function, class_name: str = "") -> list[cst.CSTNode]:
        """The ORM uses in `function`'s own body, in source order; calls to same-module functions
        that use the ORM count, at the call."""
        return self._uses_of(function, class_name, set())

    def _uses_of(
        self, function: Function, class_name: str, visiting: set[int]
    ) -> list[cst.CSTNode]:
        key = id(function)
        if key in self._uses:
            return self._uses[key]
        if key in visiting:
            return []
        visiting.add(key)
        class_name = self.scope.class_of.get(key, class_name)
        found: list[cst.CSTNode] = []
        body = function.body
        for node in _walk_body(body):
            if self.direct_use(node):
                found.append(node)
            elif isinstance(node, cst.Call):
                callee = self.scope.resolve(node.func, class_name)
                if (
                    callee is not None
                    and callee is not function
                    and self._uses_of(callee, class_name, visiting)
                ):
                    found.append(node)
        visiting.discard(key)
        self._uses[key] = found
        return found

    def is_close(self, node: cst.CSTNode) -> bool:
        """`connection.close()`, `connections.close_all()`, `connections[a].close()`,
        `close_old_connections()` (django.db)."""
        if not isinstance(node, cst.Call):
            return False
        name = self.imports.qualify(node.func)
        if name in CLOSES:
            return True
        func = node.func
        return (
            isinstance(func, cst.Attribute)
            and func.attr.value == "close"
            and isinstance(func.value, cst.Subscript)
            and self.imports.qualify(func.value.value) == "django.db.connections"
        )

    def closes_in_finally(self, node: cst.Try) -> bool:
        """Whether the `finally` of `node` closes a connection (anywhere in it)."""
        return node.finalbody is not None and any(
            self.is_close(n) for n in walk(node.finalbody, into_scopes=False)
        )

    def unclosed_uses(self, function: Function, class_name: str = "") -> list[cst.CSTNode]:
        """The ORM uses of `function` not protected by a closing `finally` or decorator."""
        uses = self.uses(function, class_name)
        if not uses or self.decorated_closing(function):
            return []
        protected: set[int] = set()
        for node in _walk_body(function.body):
            if isinstance(node, cst.Try) and self.closes_in_finally(node):
                protected.update(id(n) for n in walk(node.body))
        return [use for use in uses if id(use) not in protected]

    def decorated_closing(self, function: Function) -> bool:
        """Whether a decorator of `function` closes its connection: a known one, or a module
        function holding a `try` whose `finally` closes."""
        if not isinstance(function, cst.FunctionDef):
            return False
        for decorator in function.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                expr = expr.func
            if self.imports.qualify(expr) in CLOSING_DECORATORS:
                return True
            wrapper = self.scope.resolve(expr)
            if wrapper is not None and any(
                isinstance(n, cst.Try) and self.closes_in_finally(n)
                for n in walk(wrapper, into_scopes=True)
            ):
                return True
        return False


def _walk_body(body: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """`body` and its descendants, not entering nested functions, classes or lambdas."""
    yield from walk(body)
