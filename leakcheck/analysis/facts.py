"""The first pass over a module: imports, pools, function summaries and acquisition sites.

One walk collects everything syntactic; summaries (which functions hand out a fresh resource,
which release a parameter) are then closed under each other in a few cheap rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import libcst as cst

from leakcheck.analysis.raising import quiet_functions
from leakcheck.analysis.syntax import children, dotted, receiver_text, unwrap_value, walk
from leakcheck.config.catalogue import Kind

if TYPE_CHECKING:
    from leakcheck.analysis.managers import Manager
    from leakcheck.analysis.ownership import ParamEffects

Scope = cst.FunctionDef | cst.Module
CONTEXT_DECORATORS = frozenset({"contextmanager", "asynccontextmanager"})
SESSION_CLASSES = frozenset({"Session", "AsyncSession"})
ENTERING = frozenset({"enter_context", "enter_async_context", "__enter__", "__aenter__"})
# `closing(x)` calls `x.close()` on exit: a release only for kinds that `close()` releases.
CLOSING = {
    "closing": "close",
    "contextlib.closing": "close",
    "aclosing": "aclose",
    "contextlib.aclosing": "aclose",
}
# Methods that return the resource they are called on (SQLAlchemy docs, `Connection.
# execution_options()`: "returns this Connection" since 2.0, a branch sharing the same DBAPI
# connection before): `engine.connect().execution_options(...)` acquires the connection.
RETURNS_SAME = frozenset({"execution_options"})
# Callees that look a value up rather than make one (`kwargs.get("session")`).
GETTERS = frozenset({"get", "pop", "setdefault", "getattr", "get_nowait", "lookup", "find"})
# Modules of drivers that a `from X import Y` may bind (`from psycopg2 import pool`).
LIBRARY_MODULES = frozenset(
    {"psycopg2.pool", "psycopg2.extras", "psycopg2.extensions", "mysql.connector.pooling"}
)
# Annotations that name a pooled SQLAlchemy session or connection (`s: AsyncSession = make()`).
ANNOTATED_KINDS = {
    "Session": "sqlalchemy-session",
    "AsyncSession": "sqlalchemy-session",
    "Connection": "sqlalchemy-connection",
    "AsyncConnection": "sqlalchemy-connection",
}


def _async_constructor(constructor: str, call: cst.Call) -> bool:
    """`async_sessionmaker(...)`, `create_async_engine(...)`, `sessionmaker(class_=AsyncSession)`,
    `asyncpg.create_pool(...)`: sources whose resources need `async with`."""
    last = constructor.rsplit(".", 1)[-1]
    if "async" in last.lower() or constructor.startswith(("asyncpg.", "aiopg.", "aiomysql.")):
        return True
    return any(
        arg.keyword is not None
        and arg.keyword.value == "class_"
        and (dotted(arg.value) or "").endswith("AsyncSession")
        for arg in call.args
    )


@dataclass(frozen=True)
class Export:
    """What a module offers other modules about one of its names.

    role: "source" (a pool, session factory or engine), "factory" (a function returning a fresh
    resource; with `slot`, inside the tuple it returns), "releaser" (a function releasing its
    argument number `index`), "context-manager" (a function meant for `with` that wraps an
    acquisition), "provider" (a generator yielding a fresh resource), "function" (none of these)
    or "helper" (a plain function whose body cannot raise).
    `params`: what the function (or a class's `__init__`) does to each parameter, for callers that
    pass it a resource (see ownership.py). `quiet`: its body cannot raise (see raising.py).
    Plain data: picklable, no syntax nodes.
    """

    role: str
    kind: Kind | None = None
    index: int = 0
    params: ParamEffects | None = None
    slot: int | None = None
    quiet: bool = False  # its body cannot raise (see `analysis/raising.py`)
    # "context-manager": its obvious shape (`analysis/managers.py`), for fixes that use it;
    # "source": the module's obvious helpers that acquire from it (`pooled` for `pool`).
    manager: Manager | None = None
    managers: tuple[str, ...] = ()


class Resolver(Protocol):
    """Answers for names imported from other modules of the project (see `project.py`)."""

    def lookup(self, qualified: str) -> Export | None: ...


@dataclass
class Binding:
    """How an acquiring call's result is kept: `name = call`, `with call as name`, or dropped."""

    how: str  # "assign" | "with" | "discarded" | "tuple" | "collection" | "lost" | "param"
    name: str | None
    names: tuple[str | None, ...] = ()  # "tuple": the names unpacked, in order


@dataclass(frozen=True)
class Site:
    """An acquisition that leakcheck follows through its scope."""

    call: cst.Call
    kind: Kind
    scope: Scope
    class_name: str | None
    # how "param": a session the function is given (`Depends(get_db)`); "tuple": one element of
    # `conn, cur = open_pair()`; "collection": a list of them (`[eng.connect() for ...]`,
    # `conns.append(pool.getconn())`); "lost": only a chained call's result is kept
    # (`pool.getconn().cursor()`).
    binding: Binding
    anchor: cst.CSTNode | None = None  # where to report, when not at `call` (a parameter)


@dataclass
class FunctionInfo:
    """A scope: a function, or the module's own statements (key `<module>`)."""

    node: cst.FunctionDef | cst.Module
    class_name: str | None
    key: str  # "name" for module functions, "Class.name" for methods
    params: tuple[str, ...]
    calls: list[cst.Call] = field(default_factory=list)
    returns: list[cst.BaseExpression] = field(default_factory=list)
    assigned: dict[str, list[cst.BaseExpression]] = field(default_factory=dict)
    declared_global: set[str] = field(default_factory=set)
    is_context_manager: bool = False
    attribute_uses: dict[str, list[cst.Attribute]] = field(default_factory=dict)  # `name.attr`
    param_nodes: tuple[cst.Param, ...] = ()
    stored: set[str] = field(default_factory=set)  # names stored on an object: `self.c = conn`
    yields: bool = False  # a generator
    entered: set[str] = field(default_factory=set)  # names used as `with` items or handed on


class ModuleFacts:
    """What the engine knows about one module before following any path."""

    def __init__(
        self,
        module: cst.Module,
        kinds: tuple[Kind, ...],
        package: str = "",
        resolver: Resolver | None = None,
    ) -> None:
        self.module = module
        self.kinds = kinds
        self.package = package  # `app.routers` for app/routers/items.py: for relative imports
        self.resolver = resolver
        self.imports: dict[str, str] = {}
        self.constructed: dict[str, Kind] = {}  # receiver text -> kind of pool built there
        self.paired: dict[str, set[str]] = {}  # receiver text -> release methods called on it
        self.functions: dict[cst.FunctionDef, FunctionInfo] = {}
        self.by_key: dict[str, FunctionInfo] = {}
        self.factories: dict[str, Kind] = {}  # function key -> kind of the resource it returns
        self.tuple_factories: dict[str, tuple[Kind, int]] = {}  # `return conn, cur`: kind, slot
        self.classes: set[str] = set()
        # Each class of the module (nested ones too) -> its base classes as written (`?` when
        # not a dotted name); a later class of the same name replaces an earlier one.
        self.class_bases: dict[str, list[str]] = {}
        self.defined: set[str] = set()  # names the module binds at top level
        self.module_aliases: set[str] = set()  # names bound by `import x` / `import x as y`
        self.chained: dict[int, cst.Call] = {}  # `pool.getconn()` -> `pool.getconn().cursor()`
        self.passed: dict[int, tuple[cst.Call, cst.Arg]] = {}  # `f(SessionLocal())`: f, the arg
        self.annotated: dict[int, Kind] = {}  # `s: AsyncSession = unknown()` -> the kind named
        # `context["db"] = make_session()`, `g.db = connect()`: stored on a context object.
        self.stored_calls: dict[int, tuple[str, str, str]] = {}  # call -> (target, holder, key)
        self._effects: dict[str, ParamEffects] | None = None
        self.releasers: dict[str, int] = {}  # function key -> index of the released argument
        self.context_managers: dict[str, Kind] = {}  # @contextmanager functions that acquire
        # Sources built here: do they hand out async resources (`async_sessionmaker`, ...)?
        self.asynchronous: dict[str, bool] = {}
        self.providers: dict[str, Kind] = {}  # generators that acquire and yield (`get_db`)
        self.used_in_functions: set[str] = set()
        self.bindings: dict[int, Binding] = {}
        self.awaited: set[int] = set()  # calls under an `await`
        self.module_info = FunctionInfo(node=module, class_name=None, key="<module>", params=())
        self.scopes: dict[Scope, FunctionInfo] = {module: self.module_info}
        self.calls: list[tuple[cst.Call, Scope, str | None]] = []
        self._acquire_methods = frozenset(m for k in kinds for m in k.acquire_methods)
        self._release_methods = frozenset(m for k in kinds for m in k.release_methods)
        self._collect(module)
        self._close_summaries()

    # -- collection -------------------------------------------------------------------------

    def _collect(self, module: cst.Module) -> None:
        stack: list[tuple[cst.CSTNode, Scope, str | None, FunctionInfo]] = [
            (module, module, None, self.module_info)
        ]
        module_info = self.module_info
        used = self.used_in_functions
        while stack:
            node, scope, class_name, info = stack.pop()
            kind = type(node)  # exact types: libcst's classes are ABCs, slow under isinstance
            if kind is cst.Name:
                if info is not module_info:
                    used.add(node.value)  # type: ignore[attr-defined]
                continue
            if kind is cst.Attribute:
                value = node.value  # type: ignore[attr-defined]
                if type(value) is cst.Name:
                    info.attribute_uses.setdefault(value.value, []).append(node)  # type: ignore[arg-type]
            elif kind is cst.Call:
                self._call(node, scope, class_name, info)  # type: ignore[arg-type]
            elif kind is cst.FunctionDef:
                nested = not isinstance(scope, cst.Module)
                info = self._function(node, class_name, nested)  # type: ignore[arg-type]
                if scope is module:
                    self.defined.add(info.key)
                scope = node  # type: ignore[assignment]
            elif kind is cst.ClassDef:
                class_name = node.name.value  # type: ignore[attr-defined]
                self.classes.add(class_name)
                self.class_bases[class_name] = [
                    dotted(b.value) or "?"
                    for b in node.bases  # type: ignore[attr-defined]
                    if b.keyword is None
                ]
                if scope is module:
                    self.defined.add(class_name)
            elif kind is cst.Import or kind is cst.ImportFrom:
                self._import(node)  # type: ignore[arg-type]
            elif kind is cst.Assign or kind is cst.AnnAssign:
                self._assign(node, info)  # type: ignore[arg-type]
            elif kind is cst.With:
                self._with(node, info)  # type: ignore[arg-type]
            elif kind is cst.Expr:
                value = unwrap_value(node.value)  # type: ignore[attr-defined]
                if type(value) is cst.Call:
                    self.bindings[id(value)] = Binding("discarded", None)
                    self._appended(value)
            elif kind is cst.Return:
                if node.value is not None:  # type: ignore[attr-defined]
                    info.returns.append(node.value)  # type: ignore[attr-defined]
            elif kind is cst.Global or kind is cst.Nonlocal:
                info.declared_global.update(n.name.value for n in node.names)  # type: ignore[attr-defined]
            elif kind is cst.Yield:
                info.yields = True
            elif kind is cst.Await:
                self.awaited.add(id(node.expression))  # type: ignore[attr-defined]
                self.awaited.add(id(unwrap_value(node.expression)))  # type: ignore[attr-defined]
            elif kind is cst.Lambda:
                # A release inside a lambda runs later, if ever: it is not the scope releasing.
                info = FunctionInfo(info.node, class_name, "<lambda>", ())
            kids = children(node)
            kids.reverse()
            stack.extend((kid, scope, class_name, info) for kid in kids)

    def _function(
        self, node: cst.FunctionDef, class_name: str | None, nested: bool = False
    ) -> FunctionInfo:
        params = tuple(p.name.value for p in (*node.params.posonly_params, *node.params.params))
        # A closure is called by its plain name, also when it is defined inside a method.
        key = f"{class_name}.{node.name.value}" if class_name and not nested else node.name.value
        decorators = {dotted(d.decorator) or "" for d in node.decorators}
        info = FunctionInfo(node=node, class_name=class_name, key=key, params=params)
        p = node.params
        info.param_nodes = (*p.posonly_params, *p.params, *p.kwonly_params)
        info.is_context_manager = any(
            d.rsplit(".", 1)[-1] in CONTEXT_DECORATORS for d in decorators
        )
        self.functions[node] = info
        self.scopes[node] = info
        self.by_key.setdefault(key, info)
        return info

    def _call(
        self, call: cst.Call, scope: Scope, class_name: str | None, info: FunctionInfo
    ) -> None:
        self.calls.append((call, scope, class_name))
        info.calls.append(call)
        func = call.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
            self.chained[id(func.value)] = call
        for arg in call.args:
            value = unwrap_value(arg.value)
            if isinstance(value, cst.Call):
                self.passed[id(value)] = (call, arg)
        if isinstance(func, cst.Attribute) and func.attr.value in ENTERING:
            info.entered.update(a.value.value for a in call.args if isinstance(a.value, cst.Name))
        # The pair: `pool.putconn(conn)` gives a resource back, so it takes a variable holding
        # one; `lock.release()` and `semaphore.release(3)` do not make their receiver a pool.
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in self._release_methods
            and call.args
            and isinstance(call.args[0].value, (cst.Name, cst.Attribute))
        ):
            receiver = receiver_text(func.value)
            if receiver is not None:
                self.paired.setdefault(receiver, set()).add(func.attr.value)

    def _import(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted(alias.name) or ""
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.imports[alias.asname.name.value] = full
                    self.module_aliases.add(alias.asname.name.value)
                else:
                    head = full.split(".", 1)[0]
                    self.imports[head] = head
                    self.module_aliases.add(head)
            return
        if isinstance(node.names, cst.ImportStar):
            return
        base = (dotted(node.module) or "") if node.module is not None else ""
        if node.relative:
            # `from ..db import X` in package `app.routers` means `app.db`.
            package = self.package.split(".") if self.package else []
            up = len(node.relative) - 1
            if package and up < len(package):
                anchor = package[: len(package) - up]
                base = ".".join([*anchor, base] if base else anchor)
            # Else the package is unknown (a single file): read it as the absolute import it
            # names, so that conventional names (`SessionLocal`) still apply.
        for alias in node.names:
            name = dotted(alias.name) or ""
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.imports[local] = f"{base}.{name}" if base else name

    def _assign(self, node: cst.Assign | cst.AnnAssign, info: FunctionInfo) -> None:
        value = node.value
        if value is None:
            return
        targets = (
            [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        )
        inner = unwrap_value(value)
        if isinstance(inner, cst.Call):
            constructor = self.qualify(inner.func)
            for kind in self.kinds:
                if constructor in kind.source_constructors:
                    for target in targets:
                        text = dotted(target)
                        if text is not None:
                            self.constructed[text] = kind
                            self.asynchronous[text] = _async_constructor(constructor, inner)
            if len(targets) == 1 and isinstance(targets[0], cst.Name):
                self.bindings[id(inner)] = Binding("assign", targets[0].value)
                if isinstance(node, cst.AnnAssign):
                    self._annotated(node.annotation.annotation, inner)
            elif len(targets) == 1 and info is not self.module_info:
                self._stored_call(targets[0], inner)
            if len(targets) == 1 and isinstance(targets[0], (cst.Tuple, cst.List)):
                names = tuple(
                    e.value.value if isinstance(e.value, cst.Name) else None
                    for e in targets[0].elements
                )
                self.bindings[id(inner)] = Binding("tuple", None, names)
        elif (
            isinstance(inner, (cst.ListComp, cst.SetComp))
            and len(targets) == 1
            and isinstance(targets[0], cst.Name)
        ):
            element = unwrap_value(inner.elt)
            if isinstance(element, cst.Call):
                self.bindings[id(element)] = Binding("collection", targets[0].value)
        for target in targets:
            if isinstance(target, cst.Name):
                info.assigned.setdefault(target.value, []).append(value)
                if info is self.module_info:
                    self.defined.add(target.value)
            elif isinstance(target, (cst.Attribute, cst.Subscript)) and isinstance(value, cst.Name):
                info.stored.add(value.value)

    def _stored_call(self, target: cst.BaseExpression, call: cst.Call) -> None:
        """`context["db"] = make_session()` / `g.db = connect()` (not on `self`/`cls`)."""
        key = None
        if isinstance(target, cst.Subscript) and len(target.slice) == 1:
            index = target.slice[0].slice
            if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                value = index.value.evaluated_value
                key = value if isinstance(value, str) else None
        elif isinstance(target, cst.Attribute) and dotted(target.value) not in ("self", "cls"):
            key = target.attr.value
        text = receiver_text(target)
        holder = (
            receiver_text(target.value)
            if isinstance(target, (cst.Subscript, cst.Attribute))
            else None
        )
        if key and text is not None and holder is not None:
            self.stored_calls[id(call)] = (text, holder, key)

    def _appended(self, call: cst.Call) -> None:
        """`conns.append(pool.getconn())`: one more resource kept in the list `conns`."""
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in ("append", "add")
            and isinstance(func.value, cst.Name)
            and len(call.args) == 1
        ):
            element = unwrap_value(call.args[0].value)
            if isinstance(element, cst.Call):
                self.bindings[id(element)] = Binding("collection", func.value.value)

    def _annotated(self, annotation: cst.BaseExpression, call: cst.Call) -> None:
        """`s: AsyncSession = request.app.state.make()`: the annotation names the kind (used only
        when the callee is unknown; `sites()` decides)."""
        qualified = self.qualify(annotation)
        if not qualified.startswith(("sqlalchemy.", "sqlmodel.")):
            return
        wanted = ANNOTATED_KINDS.get(qualified.rsplit(".", 1)[-1])
        kind = next((k for k in self.kinds if k.name == wanted), None)
        if kind is not None:
            self.annotated[id(call)] = kind

    def _with(self, node: cst.With, info: FunctionInfo) -> None:
        for item in node.items:
            inner = unwrap_value(item.item)
            if isinstance(inner, cst.Name):
                info.entered.add(inner.value)
            if not isinstance(inner, cst.Call):
                continue
            name = None
            if item.asname is not None and isinstance(item.asname.name, cst.Name):
                name = item.asname.name.value
                constructor = self.qualify(inner.func)
                for kind in self.kinds:
                    if constructor in kind.source_constructors:
                        self.constructed[name] = kind
            self.bindings[id(inner)] = Binding("with", name)

    # -- questions the engine asks ------------------------------------------------------------

    def alias_closure(self, info: FunctionInfo, name: str) -> frozenset[str]:
        """`name` and every name the scope assigns from it (`c = conn`), transitively."""
        names = {name}
        grew = True
        while grew:
            grew = False
            for target, values in info.assigned.items():
                if target not in names and any(
                    isinstance(v, cst.Name) and v.value in names for v in values
                ):
                    names.add(target)
                    grew = True
        return frozenset(names)

    def releases_any(self, info: FunctionInfo, names: frozenset[str], kind: Kind) -> bool:
        """Does the scope release any of `names` somewhere (is it the resource's owner)?"""
        for call in info.calls:
            released = self.released_args(call, info.class_name, kind)
            if self.is_closing(call, kind):
                released = [a.value for a in call.args]
            if any(isinstance(arg, cst.Name) and arg.value in names for arg in released):
                return True
        node = info.node
        if isinstance(node, cst.FunctionDef):
            for loop in walk(node.body):
                if isinstance(loop, cst.For) and self.releases_elements(loop, names, info, kind):
                    return True
        return False

    def releases_elements(
        self, loop: cst.For, names: frozenset[str], info: FunctionInfo, kind: Kind
    ) -> bool:
        """`for conn in conns: pool.putconn(conn)`: a loop over a list held in `names` that
        releases each element."""
        if not (isinstance(loop.iter, cst.Name) and loop.iter.value in names):
            return False
        if not isinstance(loop.target, cst.Name):
            return False
        element = loop.target.value
        for node in walk(loop.body):
            if isinstance(node, cst.Call):
                released = self.released_args(node, info.class_name, kind)
                if self.is_closing(node, kind):
                    released = [a.value for a in node.args]
                if any(isinstance(a, cst.Name) and a.value == element for a in released):
                    return True
        return False

    @property
    def param_effects(self) -> dict[str, ParamEffects]:
        """What each function and class of the module does to each parameter (ownership.py)."""
        if self._effects is None:
            from leakcheck.analysis.ownership import compute  # it reads these facts

            self._effects = {}
            compute(self, self._effects)
        return self._effects

    def closing_method(self, call: cst.Call) -> str | None:
        """`close` for `closing(x)` however imported; `aclose` for `aclosing(x)`."""
        return CLOSING.get(self.qualify(call.func)) or CLOSING.get(dotted(call.func) or "")

    def is_closing(self, call: cst.Call, kind: Kind) -> bool:
        """Is `call` a `closing(...)` that gives a resource of `kind` back?

        A psycopg2 pool connection is not: `conn.close()` leaves it counted as used by the pool.
        """
        method = self.closing_method(call)
        return method is not None and method in kind.self_release_methods

    def qualify(self, expr: cst.BaseExpression) -> str:
        """The imported name an expression refers to: `pool.X` after `from psycopg2 import pool`."""
        text = dotted(expr)
        if text is None:
            return ""
        head, _, rest = text.partition(".")
        full = self.imports.get(head, head)
        return f"{full}.{rest}" if rest else full

    def source_kind(self, receiver: str, wants: Callable[[Kind], bool]) -> Kind | None:
        """The kind `receiver` is a source of (pool, session factory, engine), if `wants` it.

        Judged by construction in this module or another module of the project, then by the
        acquire/release pair on the same receiver, then by its name.
        """
        built = self.constructed.get(receiver)
        if built is None:
            export = self._imported(receiver)
            if export is not None and export.role == "source":
                if export.kind is None:  # a pool named in the configuration: any pool kind
                    return next((k for k in self.kinds if k.family == "pool" and wants(k)), None)
                built = export.kind
        if built is not None:
            return built if wants(built) else None
        released = self.paired.get(receiver, set())
        for kind in self.kinds:
            if wants(kind) and (
                released & kind.release_methods or kind.matches_source_name(receiver)
            ):
                return kind
        return None

    def imported(self, text: str) -> Export | None:
        """What another module of the project says about an imported name, if anything."""
        return self._imported(text)

    def _imported(self, text: str) -> Export | None:
        """What another module says about an imported name (`SessionLocal`, `db.pool`)."""
        if self.resolver is None or text.partition(".")[0] not in self.imports:
            return None
        head, _, rest = text.partition(".")
        full = self.imports[head]
        return self.resolver.lookup(f"{full}.{rest}" if rest else full)

    def _bound_to_engine(self, call: cst.Call) -> bool:
        """`Session(engine)`, `Session(bind=self.engine)`: a session that checks connections out
        of an engine's pool (not one bound to an existing connection, nor an unbound one)."""
        for arg in call.args:
            if arg.keyword is None or arg.keyword.value == "bind":
                text = receiver_text(arg.value)
                if text is not None and self.source_kind(
                    text, lambda k: "connect" in k.acquire_methods
                ):
                    return True
                if arg.keyword is not None or arg is call.args[0]:
                    return False
        return False

    def acquisition(self, call: cst.Call, class_name: str | None) -> Kind | None:
        """The kind of resource `call` hands out fresh, if any."""
        func = call.func
        qualified = self.qualify(func)
        for kind in self.kinds:
            if qualified in kind.acquire_callables:
                if kind.untracked_targets and _first_string(call) in kind.untracked_targets:
                    return None  # `sqlite3.connect(":memory:")`: no file, server or pool slot
                if qualified.rsplit(".", 1)[-1] in SESSION_CLASSES and not self._bound_to_engine(
                    call
                ):
                    return None  # `Session()`, `Session(bind=op.get_bind())`: no pool checkout
                return kind
        whole = dotted(func)
        if isinstance(func, cst.Call):
            # `sessionmaker(bind=engine)()`: a factory built and called in one expression.
            maker = self.qualify(func.func)
            for kind in self.kinds:
                if kind.acquire_by_calling_source and maker in kind.source_constructors:
                    return kind
            return None
        if isinstance(func, cst.Attribute):
            receiver, method = receiver_text(func.value), func.attr.value
            if receiver in ("self", "cls") and class_name is not None:
                found = self.factories.get(f"{class_name}.{method}")
                if found is not None:
                    return found
            inner = func.value
            if isinstance(inner, cst.Call):
                # `Connector(dsn).open()`: a factory method on a fresh instance of a class here.
                if isinstance(inner.func, cst.Name) and inner.func.value in self.classes:
                    found = self.factories.get(f"{inner.func.value}.{method}")
                    if found is not None:
                        return found
                # `engine.connect().execution_options(...)` is still the connection.
                if method in RETURNS_SAME:
                    return self.acquisition(inner, class_name)
            if receiver is not None and method in self._acquire_methods:
                source = self.source_kind(receiver, lambda k: method in k.acquire_methods)
                if source is not None:
                    return source
        if whole is None:
            return None
        if whole in self.factories:
            return self.factories[whole]
        if whole in self.constructed:
            built = self.constructed[whole]
            return built if built.acquire_by_calling_source else None
        export = self._imported(whole)
        if export is None or export.kind is None:
            return None
        if export.role == "factory" or (
            export.role == "source" and export.kind.acquire_by_calling_source
        ):
            return export.kind
        return None

    def context_manager_kind(self, call: cst.Call, class_name: str | None) -> Kind | None:
        """The kind wrapped by a context manager that `call` creates (for `with` only)."""
        func = call.func
        whole = dotted(func)
        if whole is None:
            return None
        if whole in self.context_managers:
            return self.context_managers[whole]
        if isinstance(func, cst.Attribute):
            receiver, method = receiver_text(func.value) or "", func.attr.value
            if receiver in ("self", "cls") and class_name is not None:
                return self.context_managers.get(f"{class_name}.{method}")
            source = self.source_kind(receiver, lambda k: method in k.context_manager_methods)
            if source is not None:
                return source
        export = self._imported(whole)
        return export.kind if export is not None and export.role == "context-manager" else None

    def releaser_index(
        self, call: cst.Call, class_name: str | None, external: bool = True
    ) -> int | None:
        """For a call of a module function that releases a parameter: that argument's index."""
        func = call.func
        if isinstance(func, cst.Name) and func.value in self.releasers:
            return self.releasers[func.value]
        if (
            isinstance(func, cst.Attribute)
            and class_name is not None
            and dotted(func.value) in ("self", "cls")
        ):
            return self.releasers.get(f"{class_name}.{func.attr.value}")
        whole = dotted(func)
        export = self._imported(whole) if whole is not None and external else None
        return export.index if export is not None and export.role == "releaser" else None

    def param_sites(self) -> list[Site]:
        """Sessions a function is given: `db: Session`, `db = Depends(get_db)` (for LC401/402)."""
        found = []
        for info in self.functions.values():
            for param in info.param_nodes:
                kind = self._session_param(param)
                if kind is not None:
                    call = cst.Call(func=cst.Name(param.name.value))  # never in the tree
                    found.append(
                        Site(
                            call,
                            kind,
                            info.node,
                            info.class_name,
                            Binding("param", param.name.value),
                            param,
                        )
                    )
        return found

    def _session_param(self, param: cst.Param) -> Kind | None:
        annotation = param.annotation.annotation if param.annotation is not None else None
        if isinstance(annotation, cst.Subscript) and annotation.slice:  # Annotated[Session, ...]
            first = annotation.slice[0].slice
            annotation = first.value if isinstance(first, cst.Index) else None
        qualified = self.qualify(annotation) if annotation is not None else ""
        name = (
            qualified.rsplit(".", 1)[-1]
            if qualified.startswith(("sqlalchemy.", "sqlmodel."))
            else ""
        )
        wanted = {
            "Session": "sqlalchemy-session",
            "AsyncSession": "sqlalchemy-session",
            "Connection": "sqlalchemy-connection",
            "AsyncConnection": "sqlalchemy-connection",
        }
        if name in wanted:
            return next((k for k in self.kinds if k.name == wanted[name]), None)
        default = param.default
        if (
            isinstance(default, cst.Call)
            and (dotted(default.func) or "").endswith(("Depends", "Security"))
            and default.args
        ):
            provider = dotted(default.args[0].value)
            if provider is not None:
                if provider in self.providers:
                    return self.providers[provider]
                export = self._imported(provider)
                if export is not None and export.role == "provider":
                    return export.kind
        return None

    def sites(self, managed: bool = False) -> list[Site]:
        """Every acquisition whose result is bound to a name or dropped, in source order.

        With `managed`, also those a `with` gives back (for LC402, which follows them too).
        """
        found = []
        for call, scope, class_name in self.calls:
            binding = self.bindings.get(id(call))
            if binding is None:
                if id(call) not in self.chained and id(call) not in self.passed:
                    continue
                if self.acquisition(call, class_name) is None:
                    continue  # cheap test first: ownership is computed only when needed
                binding = self._chained_binding(call) or self._passed_binding(call, class_name)
                if binding is None:
                    continue
            if binding.how == "tuple":
                site = self._tuple_site(call, scope, class_name, binding)
                if site is not None:
                    found.append(site)
                continue
            kind = self.acquisition(call, class_name)
            if kind is None:
                kind = self._annotated_kind(call, class_name)
                if kind is None:
                    continue
            if binding.how == "lost" and self._ends_with_chain(call, kind):
                continue
            if kind.registry and (
                isinstance(scope, cst.Module) or self._registry_called(scope, binding.name)
            ):
                # `Session = scoped_session(...)` at import: one registry per process; or a
                # registry whose sessions the scope takes (`db = Session()`): those are judged
                # as sessions of their own.
                continue
            if kind.acquire_awaited and binding.how != "with" and id(call) not in self.awaited:
                continue  # `sem.acquire()` without await: not an asyncpg-style pool
            if binding.how == "with" and (
                binding.name is None or (kind.with_releases and not managed)
            ):
                continue
            found.append(Site(call, kind, scope, class_name, binding))
        return found

    def _ends_with_chain(self, call: cst.Call, kind: Kind) -> bool:
        """`Session(engine).begin()`: a method meant for `with` that gives the connection back
        when its block ends; not a lost resource."""
        outer = self.chained.get(id(call))
        return (
            outer is not None
            and isinstance(outer.func, cst.Attribute)
            and outer.func.attr.value in kind.context_manager_methods
        )

    def _passed_binding(self, call: cst.Call, class_name: str | None) -> Binding | None:
        """`rebuild_index(SessionLocal())`: passed straight to a function that only borrows it."""
        found = self.passed.get(id(call))
        if found is None:
            return None
        from leakcheck.analysis.ownership import BORROW, argument_effect

        outer, arg = found
        if argument_effect(self, outer, arg, class_name) != BORROW:
            return None
        return Binding("passed", dotted(outer.func) or "")

    def _registry_called(self, scope: Scope, name: str | None) -> bool:
        info = self.scopes[scope]
        return any(isinstance(c.func, cst.Name) and c.func.value == name for c in info.calls)

    def _chained_binding(self, call: cst.Call) -> Binding | None:
        """`pool.getconn().cursor()`: only the cursor is kept; the connection is lost."""
        outer = self.chained.get(id(call))
        if outer is None or not isinstance(outer.func, cst.Attribute):
            return None
        if outer.func.attr.value in RETURNS_SAME:
            return None  # the chain's result is the resource itself: judged there
        return Binding("lost", None)

    def _tuple_site(
        self, call: cst.Call, scope: Scope, class_name: str | None, binding: Binding
    ) -> Site | None:
        """`conn, cur = open_pair()` for a factory returning a fresh resource in a tuple."""
        found = self.tuple_factory(call, class_name)
        if found is None:
            return None
        kind, slot = found
        if slot >= len(binding.names) or binding.names[slot] is None:
            return None
        return Site(call, kind, scope, class_name, Binding("tuple", binding.names[slot]))

    def tuple_factory(self, call: cst.Call, class_name: str | None) -> tuple[Kind, int] | None:
        """The kind and tuple slot of a fresh resource that `call` returns inside a tuple."""
        func = call.func
        whole = dotted(func)
        if whole is None:
            return None
        if whole in self.tuple_factories:
            return self.tuple_factories[whole]
        if (
            isinstance(func, cst.Attribute)
            and class_name is not None
            and dotted(func.value) in ("self", "cls")
        ):
            return self.tuple_factories.get(f"{class_name}.{func.attr.value}")
        export = self._imported(whole)
        if export is not None and export.role == "factory" and export.slot is not None:
            assert export.kind is not None
            return export.kind, export.slot
        return None

    def _annotated_kind(self, call: cst.Call, class_name: str | None) -> Kind | None:
        """`s: AsyncSession = request.app.state.make()`: an unknown callable whose result the
        annotation names. Not for callees we know (a function of the module, an imported project
        name, a builtin such as `next`), nor for getters of a current session."""
        kind = self.annotated.get(id(call))
        if kind is None:
            return None
        func = call.func
        whole = dotted(func) or ""
        last = whole.rsplit(".", 1)[-1].lower()
        if not whole or any(word in last for word in ("current", "scoped")):
            return None
        if last in GETTERS or last.startswith("get_"):
            return None  # `kwargs.get("session")`, `get_session()`: an existing one, perhaps
        if isinstance(func, cst.Name):
            if func.value in self.by_key or func.value in self.defined:
                return None
            if func.value not in self.imports:
                return None  # a builtin (`next(get_db())`) or a name of unknown origin
        if (
            isinstance(func, cst.Attribute)
            and dotted(func.value) in ("self", "cls")
            and f"{class_name}.{func.attr.value}" in self.by_key
        ):
            return None
        if self._imported(whole) is not None:
            return None
        return kind

    # -- summaries ----------------------------------------------------------------------------

    def _close_summaries(self) -> None:
        """Find factories and releasers, letting each new one reveal more, until nothing changes."""
        changed = True
        rounds = 0
        while changed and rounds < 10:
            changed = False
            rounds += 1
            for info in self.functions.values():
                if info.key not in self.factories:
                    kind = self._returns_fresh(info)
                    if kind is not None:
                        self.factories[info.key] = kind
                        changed = True
                    elif info.key not in self.tuple_factories:
                        pair = self._returns_fresh_in_tuple(info)
                        if pair is not None:
                            self.tuple_factories[info.key] = pair
                            changed = True
                if info.key not in self.releasers:
                    index = self._released_param(info)
                    if index is not None:
                        self.releasers[info.key] = index
                        changed = True
        for info in self.functions.values():
            if info.is_context_manager or info.yields:
                for call in info.calls:
                    kind = self.acquisition(call, info.class_name)
                    if kind is not None:
                        if info.is_context_manager:
                            self.context_managers[info.key] = kind
                        else:
                            self.providers[info.key] = kind
                        break

    def exports(self) -> dict[str, Export]:
        """What this module offers importers: module-level sources and function summaries.

        Every module-level function and class carries its parameter effects (`params`), so that
        a caller knows whether passing it a resource lends or hands it over.
        """
        out: dict[str, Export] = {}
        effects = self.param_effects
        top = {key for key in self.defined if "." not in key}

        def params(key: str) -> ParamEffects | None:
            return effects.get(key)

        for key in sorted(top & (set(effects) | self.classes)):
            out[key] = Export("function", params=params(key))
        from leakcheck.analysis.managers import managers  # it reads these facts

        shapes = managers(self)
        for name, kind in self.constructed.items():
            if "." not in name:
                wrapping = tuple(k for k, m in sorted(shapes.items()) if m.source == name)
                out[name] = Export("source", kind, managers=wrapping)
        for key, kind in self.factories.items():
            if key in top:
                out[key] = Export("factory", kind, params=params(key))
        for key, (kind, slot) in self.tuple_factories.items():
            if key in top:
                out[key] = Export("factory", kind, params=params(key), slot=slot)
        for key, index in self.releasers.items():
            if key in top:
                out[key] = Export("releaser", None, index, params=params(key))
        for key, kind in self.context_managers.items():
            if key in top:
                out[key] = Export(
                    "context-manager", kind, params=params(key), manager=shapes.get(key)
                )
        for key, kind in self.providers.items():
            if key in top:
                out[key] = Export("provider", kind, params=params(key))
        for key in quiet_functions(self):
            if key not in top:
                continue
            if key not in out:
                out[key] = Export("helper", quiet=True)
            elif out[key].role == "function":
                out[key] = replace(out[key], quiet=True)
        return out

    def _returns_fresh_in_tuple(self, info: FunctionInfo) -> tuple[Kind, int] | None:
        """`return conn, conn.cursor()`: a fresh resource at a fixed place in a returned tuple."""
        if info.is_context_manager or info.key.rsplit(".", 1)[-1].startswith("__"):
            return None
        for value in info.returns:
            inner = unwrap_value(value)
            if not isinstance(inner, cst.Tuple):
                continue
            for slot, element in enumerate(inner.elements):
                item = unwrap_value(element.value)
                candidates: list[cst.BaseExpression] = [item]
                if isinstance(item, cst.Name):
                    if item.value in info.stored or item.value in info.declared_global:
                        return None
                    candidates = info.assigned.get(item.value, [])
                for candidate in candidates:
                    candidate = unwrap_value(candidate)
                    if isinstance(candidate, cst.Call):
                        kind = self.acquisition(candidate, info.class_name)
                        if kind is not None:
                            return kind, slot
        return None

    def _returns_fresh(self, info: FunctionInfo) -> Kind | None:
        if info.is_context_manager or info.key.rsplit(".", 1)[-1].startswith("__"):
            return None
        for value in info.returns:
            inner = unwrap_value(value)
            if isinstance(inner, cst.Name) and (
                inner.value in info.stored or inner.value in info.declared_global
            ):
                return None  # a cache (`self._local.conn = conn; return conn`), not a factory
            if isinstance(inner, cst.Name):
                for assigned in info.assigned.get(inner.value, []):
                    candidate = unwrap_value(assigned)
                    if isinstance(candidate, cst.Call):
                        kind = self.acquisition(candidate, info.class_name)
                        if kind is not None:
                            return kind
            elif isinstance(inner, cst.Call):
                kind = self.acquisition(inner, info.class_name)
                if kind is not None:
                    return kind
        return None

    def _released_param(self, info: FunctionInfo) -> int | None:
        params = info.params
        offset = 1 if info.class_name is not None and params[:1] in (("self",), ("cls",)) else 0
        wanted = set(params[offset:])
        for call in info.calls:
            func = call.func
            receiver = func.value if isinstance(func, cst.Attribute) else None
            if not (
                (isinstance(receiver, cst.Name) and receiver.value in wanted)
                or any(isinstance(a.value, cst.Name) and a.value.value in wanted for a in call.args)
            ):
                continue
            # Only this module's releasers: a chain through another module's is not followed.
            for arg in self.released_args(call, info.class_name, None, external=False):
                if isinstance(arg, cst.Name) and arg.value in params[offset:]:
                    return params.index(arg.value) - offset
        return None

    def _library_module(self, receiver: cst.BaseExpression) -> bool:
        """Is `receiver` a module (`import psycopg2`, `from psycopg2 import pool`) rather than an
        object such as a pool? A module-level `putconn` does not exist: it releases nothing."""
        text = dotted(receiver)
        if text is None or text.split(".", 1)[0] not in self.imports:
            return False
        return text in self.module_aliases or self.qualify(receiver) in LIBRARY_MODULES

    def released_args(
        self, call: cst.Call, class_name: str | None, kind: Kind | None, external: bool = True
    ) -> list[cst.BaseExpression]:
        """The expressions that `call` releases (gives back to their pool or closes)."""
        func = call.func
        out: list[cst.BaseExpression] = []
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            methods = kind.release_methods if kind is not None else self._release_methods
            if method in methods and self._library_module(func.value):
                return out  # `psycopg2.putconn(conn)`: a module, not a pool; nothing released
            if method in methods:
                keyword = kind.release_keyword if kind is not None else None
                positional = [a.value for a in call.args if a.keyword is None and not a.star]
                if positional:
                    out.append(positional[0])
                out.extend(
                    a.value
                    for a in call.args
                    if a.keyword is not None and (keyword is None or a.keyword.value == keyword)
                )
                return out
            selfs = (
                kind.self_release_methods
                if kind is not None
                else frozenset(m for k in self.kinds for m in k.self_release_methods)
            )
            if method in selfs:
                out.append(func.value)
        index = self.releaser_index(call, class_name, external)
        if index is not None:
            positional = [a.value for a in call.args if a.keyword is None and not a.star]
            if index < len(positional):
                out.append(positional[index])
        return out


def _first_string(call: cst.Call) -> str | None:
    """The value of `call`'s first positional argument when it is a plain string literal."""
    if not call.args or call.args[0].keyword is not None:
        return None
    value = call.args[0].value
    if isinstance(value, cst.SimpleString):
        evaluated = value.evaluated_value
        return evaluated if isinstance(evaluated, str) else None
    return None
