"""The first pass over a module: imports, pools, functions, calls and bindings, and the questions
every later stage asks about them (is this call an acquisition, a release, of which kind?).

One walk collects everything syntactic. The records it makes (`Binding`, `Site`, `FunctionInfo`)
are `records.py`'s. The role each function plays for resources (factory, releaser, provider) is
`roles.RoleFacts`, built on this; where a function acquires (the sites judging follows) is
`sites.SiteFacts`, built on that; `facts.ModuleFacts` adds what the module exports.

The walk is here, with what it records about scopes (functions, classes, the names each
assigns); it hands each import to `imports.ModuleImports`, each source built to `sources.Sources`
and each call's value to `calls.CallRecords`, and the release questions are `releases.Releases`'.
`CollectedFacts` composes them and keeps their maps and questions under its own names, which
every later stage reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import libcst as cst

from leakcheck.analysis.callables import (
    calls_parameter,
    data_forms,
    through_wrapper,
    wraps_parameter,
)
from leakcheck.analysis.calls import CallRecords
from leakcheck.analysis.collaborators import attribute_classes, module_objects
from leakcheck.analysis.imports import ModuleImports
from leakcheck.analysis.records import (
    Export,
    FunctionInfo,
    Resolver,
    Scope,
    Site,
)
from leakcheck.analysis.releases import Releases
from leakcheck.analysis.sources import Sources, async_constructor
from leakcheck.analysis.stored import SOURCE, Describe, called_kind
from leakcheck.analysis.syntax import children, dotted, receiver_text, unwrap_value
from leakcheck.config.catalogue import Kind

CONTEXT_DECORATORS = frozenset({"contextmanager", "asynccontextmanager"})
SESSION_CLASSES = frozenset({"Session", "AsyncSession"})
ENTERING = frozenset({"enter_context", "enter_async_context", "__enter__", "__aenter__"})
# Methods that return the resource they are called on (SQLAlchemy docs, `Connection.
# execution_options()`: "returns this Connection" since 2.0, a branch sharing the same DBAPI
# connection before): `engine.connect().execution_options(...)` acquires the connection.
RETURNS_SAME = frozenset({"execution_options"})
# Callees that look a value up rather than make one (`kwargs.get("session")`).
GETTERS = frozenset({"get", "pop", "setdefault", "getattr", "get_nowait", "lookup", "find"})


# Builtins that run a generator to its end (Python docs, "Built-in Functions"): the code after
# its `yield` runs, so a provider's release there does too.
EXHAUSTING = frozenset({"next", "list", "tuple", "set", "sorted", "any", "all", "sum"})


def releases_all_of(call: cst.Call, site: Site) -> bool:
    """Whether `call` is `pool.closeall()` / `pool.terminate()` on the very source `site` took
    its resource from (the same receiver text): it closes every resource taken from that source
    (`Kind.release_all_methods`). An acquisition through a helper or a factory call names no
    source here, so no such call releases it. For a generator driven by hand (`db = next(gen)`),
    the source is `gen`: running it on (`next(gen, None)`, a second `next(gen)`, `list(gen)`)
    runs its release after the `yield`; `gen.close()` does not (it raises GeneratorExit at the
    `yield`, PEP 342), nor does dropping it."""
    if call is not site.call and drives(site.call) is not None:
        func = call.func
        return (
            isinstance(func, cst.Name)
            and func.value in EXHAUSTING
            and bool(call.args)
            and isinstance(call.args[0].value, cst.Name)
            and call.args[0].value.value == drives(site.call)
        )
    func = call.func
    if call.args or not isinstance(func, cst.Attribute):
        return False
    if func.attr.value not in site.kind.release_all_methods:
        return False
    acquired = site.call.func
    if not isinstance(acquired, cst.Attribute):
        return False
    source = receiver_text(acquired.value)
    return source is not None and receiver_text(func.value) == source


def drives(call: cst.Call) -> str | None:
    """`gen` for `next(gen)` / `next(gen, default)`: the generator a call of `next` runs on."""
    func = call.func
    if (
        isinstance(func, cst.Name)
        and func.value == "next"
        and 1 <= len(call.args) <= 2
        and call.args[0].keyword is None
        and not call.args[0].star
        and isinstance(call.args[0].value, cst.Name)
    ):
        return call.args[0].value.value
    return None


class CollectedFacts:
    """What one walk over a module collects, and the questions answered from it alone (is a call an
    acquisition or a release, of which kind, what a name qualifies to).

    Inputs: the parsed module, the resource kinds, the module's package (for relative imports),
    a resolver for names imported from other modules of the project and the file's path (for
    its name: a test file). Raises nothing for odd
    code; RecursionError on trees too deep to walk (the engine reports it per file).
    """

    def __init__(
        self,
        module: cst.Module,
        kinds: tuple[Kind, ...],
        package: str = "",
        resolver: Resolver | None = None,
        path: str = "",
    ) -> None:
        self.module = module
        self.kinds = kinds
        self.package = package  # `app.routers` for app/routers/items.py: for relative imports
        # The file's path as the run names it ("" when unknown): its name says whether it is a
        # test file (`verdicts.error_ends_the_run`).
        self.path = path
        self.resolver = resolver
        self.functions: dict[cst.FunctionDef, FunctionInfo] = {}
        self.by_key: dict[str, FunctionInfo] = {}
        self.classes: set[str] = set()
        self.module_info = FunctionInfo(node=module, class_name=None, key="<module>", params=())
        # The recorders hold the maps they need, never the facts: no reference cycle, so the
        # facts (and the tree) are freed as soon as the run drops them, not by the collector.
        local = (self.by_key, self.classes, self.module_info.assigned)  # defined here
        self.names = ModuleImports(package, resolver, local)
        self.sources = Sources(kinds, self.names)
        # The recorders' maps, under the names every later stage reads (the same objects).
        self.imports = self.names.imports
        self.star_imports = self.names.star_imports  # `from x import *`
        self.module_aliases = self.names.module_aliases  # bound by `import x` / `import x as y`
        self.constructed = self.sources.constructed  # receiver text -> kind of pool built there
        self.built = self.sources.built  # receiver text -> every kind built under it
        self.paired = self.sources.paired  # receiver text -> release methods called on it
        self.asynchronous = self.sources.asynchronous  # source -> hands out async resources?
        self.source_factories = self.sources.source_factories  # function -> (kind, async)
        # The roles (`roles.RoleFacts` fills them in, after the walk):
        self.factories: dict[str, Kind] = {}  # function key -> kind of the resource it returns
        self.tuple_factories: dict[str, tuple[Kind, int]] = {}  # `return conn, cur`: kind, slot
        self.releasers: dict[str, int] = {}  # function key -> index of the released argument
        self.context_managers: dict[str, Kind] = {}  # @contextmanager functions that acquire
        self.providers: dict[str, Kind] = {}  # generators that acquire and yield (`get_db`)
        # Providers whose resource stays open when the generator is dropped after its first
        # `next` (the release is not in `finally` / `with` around the `yield`), and the calls
        # that drive one by hand (`next(get_db())`, the first `next(gen)`): see roles.py.
        self.held_when_dropped: set[str] = set()
        self.driven: dict[int, Kind] = {}
        # Collaborators (collaborators.py): (class, attribute) -> the class of the object
        # `self.attribute` holds, and module-level name -> the class of its object.
        self.attribute_classes: dict[tuple[str, str], str] = {}
        self.objects: dict[str, str] = {}
        # Calling wrappers (callables.py): function key -> the index of the parameter it calls
        # and returns the result of (`retry(fn)`), or whose caller it returns (`with_backoff`).
        self.calling: dict[str, int] = {}
        self.wrapping: dict[str, int] = {}
        self.releases = Releases(kinds, self.names, self.releasers)
        # Each class of the module (nested ones too) -> its base classes as written (`?` when
        # not a dotted name); a later class of the same name replaces an earlier one.
        self.class_bases: dict[str, list[str]] = {}
        self.defined: set[str] = set()  # names the module binds at top level
        self.records = CallRecords(kinds, self.names)
        self.bindings = self.records.bindings  # call -> how its value is bound
        self.chained = self.records.chained  # `pool.getconn()` -> `pool.getconn().cursor()`
        self.passed = self.records.passed  # `f(SessionLocal())`: f, the arg
        self.annotated = self.records.annotated  # `s: AsyncSession = unknown()` -> the kind
        self.stored_calls = self.records.stored_calls  # `g.db = connect()`: (target, holder, key)
        self.awaited = self.records.awaited  # calls under an `await`
        self.expected_to_raise = self.records.expected_to_raise  # a test expects them to raise
        self.stores = self.records.stores  # `app.state.x = sessionmaker(e)` (stored.py)
        self._describe: Describe | None = None
        self._call_scopes: dict[int, FunctionInfo] | None = None
        self.used_in_functions: set[str] = set()
        self.scopes: dict[Scope, FunctionInfo] = {module: self.module_info}
        self.calls: list[tuple[cst.Call, Scope, str | None]] = []
        self._acquire_methods = frozenset(m for k in kinds for m in k.acquire_methods)
        self._release_methods = self.releases.release_methods
        self._collect(module)
        self.sources.settle(self.functions.values())
        functions = list(self.functions.values())
        self.attribute_classes = attribute_classes(module, functions, self.is_collaborator_class)
        self.objects = module_objects(self.module_info, self.is_collaborator_class)
        for info in functions:
            index = calls_parameter(info)
            if index is not None:
                self.calling[info.key] = index
                continue
            index = wraps_parameter(info, self.functions, self.by_key)
            if index is not None:
                self.wrapping[info.key] = index

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
                self.names.record(node)  # type: ignore[arg-type]
            elif kind is cst.Assign or kind is cst.AnnAssign:
                self._assign(node, info)  # type: ignore[arg-type]
            elif kind is cst.With:
                self._with(node, info)  # type: ignore[arg-type]
            elif kind is cst.Expr:
                value = unwrap_value(node.value)  # type: ignore[attr-defined]
                if type(value) is cst.Call:
                    self.records.discarded(value)
            elif kind is cst.Return:
                if node.value is not None:  # type: ignore[attr-defined]
                    info.returns.append(node.value)  # type: ignore[attr-defined]
            elif kind is cst.Global or kind is cst.Nonlocal:
                info.declared_global.update(n.name.value for n in node.names)  # type: ignore[attr-defined]
            elif kind is cst.Yield:
                info.yields = True
            elif kind is cst.Await:
                self.records.await_(node)  # type: ignore[arg-type]
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
        self.records.call(call)
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in ENTERING:
            info.entered.update(a.value.value for a in call.args if isinstance(a.value, cst.Name))
        self.sources.pair(call)

    def _assign(self, node: cst.Assign | cst.AnnAssign, info: FunctionInfo) -> None:
        value = node.value
        if value is None:
            return
        targets = (
            [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        )
        inner = unwrap_value(value)
        if isinstance(inner, cst.Call):
            self.sources.assigned(targets, inner, info.class_name)
        self.records.assign(node, targets, inner, info is not self.module_info)
        for target in targets:
            if isinstance(target, cst.Name):
                info.assigned.setdefault(target.value, []).append(value)
                if info is self.module_info:
                    self.defined.add(target.value)
            elif isinstance(target, (cst.Attribute, cst.Subscript)) and isinstance(value, cst.Name):
                info.stored.add(value.value)
            elif (
                isinstance(target, (cst.Tuple, cst.List))
                and isinstance(value, (cst.Tuple, cst.List))
                and len(target.elements) == len(value.elements)
            ):  # `local.conn, local.pid = conn, os.getpid()`
                for slot, item in zip(target.elements, value.elements, strict=True):
                    if isinstance(slot.value, (cst.Attribute, cst.Subscript)) and isinstance(
                        item.value, cst.Name
                    ):
                        info.stored.add(item.value.value)

    def _with(self, node: cst.With, info: FunctionInfo) -> None:
        self.records.with_(node)
        for item in node.items:
            inner = unwrap_value(item.item)
            if isinstance(inner, cst.Name):
                info.entered.add(inner.value)
            if (
                isinstance(inner, cst.Call)
                and item.asname is not None
                and isinstance(item.asname.name, cst.Name)
            ):
                self.sources.entered(item.asname.name.value, inner)

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
        """Does the scope release any of `names` somewhere (`Releases.releases_any`)?"""
        return self.releases.releases_any(info, names, kind)

    def release_calls(
        self, info: FunctionInfo, names: frozenset[str], kind: Kind
    ) -> list[cst.Call]:
        """The calls of the scope that release one of `names` (`Releases.release_calls`)."""
        return self.releases.release_calls(info, names, kind)

    def releases_in_loops(self, info: FunctionInfo, names: frozenset[str], kind: Kind) -> bool:
        """Does the scope release the elements of a list held in `names`?"""
        return self.releases.releases_in_loops(info, names, kind)

    def releases_elements(
        self, loop: cst.For, names: frozenset[str], info: FunctionInfo, kind: Kind
    ) -> bool:
        """`for conn in conns: pool.putconn(conn)` (`Releases.releases_elements`)."""
        return self.releases.releases_elements(loop, names, info, kind)

    def closing_method(self, call: cst.Call) -> str | None:
        """`close` for `closing(x)` however imported; `aclose` for `aclosing(x)`."""
        return self.releases.closing_method(call)

    def is_closing(self, call: cst.Call, kind: Kind) -> bool:
        """Is `call` a `closing(...)` that gives a resource of `kind` back?"""
        return self.releases.is_closing(call, kind)

    def releaser_index(
        self, call: cst.Call, class_name: str | None, external: bool = True
    ) -> int | None:
        """For a call of a module function that releases a parameter: that argument's index."""
        return self.releases.releaser_index(call, class_name, external)

    def released_args(
        self, call: cst.Call, class_name: str | None, kind: Kind | None, external: bool = True
    ) -> list[cst.BaseExpression]:
        """The expressions that `call` releases (gives back to their pool or closes)."""
        return self.releases.released_args(call, class_name, kind, external)

    def qualify(self, expr: cst.BaseExpression) -> str:
        """The imported name an expression refers to: `pool.X` after `from psycopg2 import pool`."""
        return self.names.qualify(expr)

    def source_kind(self, receiver: str, wants: Callable[[Kind], bool]) -> Kind | None:
        """The kind `receiver` is a source of, if `wants` it (`Sources.source_kind`)."""
        return self.sources.source_kind(receiver, wants)

    def source_factory(
        self, func: cst.BaseExpression, class_name: str | None
    ) -> tuple[Kind, bool | None] | None:
        """(kind, async) when calling `func` returns a new source (`Sources.source_factory`)."""
        return self.sources.source_factory(func, class_name)

    def imported(self, text: str) -> Export | None:
        """What another module of the project says about an imported name, if anything."""
        return self.names.lookup(text)

    def imported_callee(self, text: str) -> Export | None:
        """`imported`, for a function called with a resource: its module is summarised even if
        it names no database word (`Resolver.lookup_callee`)."""
        return self.names.lookup(text, callee=True)

    def _imported(self, text: str) -> Export | None:
        return self.names.lookup(text)

    def acquisition(self, call: cst.Call, class_name: str | None) -> Kind | None:
        """The kind of resource `call` hands out fresh, if any."""
        driven = self.driven.get(id(call))
        if driven is not None:
            return driven  # `next(get_db())`: a generator that keeps it open when dropped
        func = call.func
        if call.args or type(func) is cst.Call:
            wrapped = through_wrapper(
                call,
                lambda inner: self.acquisition(inner, class_name),
                lambda callee: self.calling_forms(callee, class_name),
                id(call) in self.awaited,
            )
            if wrapped is not None:
                return wrapped  # `retry(lambda: pymysql.connect())`, `with_backoff(open)()`
        qualified = self.qualify(func)
        for kind in self.kinds:
            if qualified in kind.acquire_callables:
                if kind.untracked_targets and _first_string(call) in kind.untracked_targets:
                    return None  # `sqlite3.connect(":memory:")`: no file, server or pool slot
                if qualified.rsplit(".", 1)[
                    -1
                ] in SESSION_CLASSES and not self.sources.bound_to_engine(call):
                    return None  # `Session()`, `Session(bind=op.get_bind())`: no pool checkout
                return kind
        whole = dotted(func)
        if isinstance(func, cst.Call):
            # `sessionmaker(bind=engine)()`: a factory built and called in one expression.
            maker = self.qualify(func.func)
            for kind in self.kinds:
                if kind.acquire_by_calling_source and maker in kind.source_constructors:
                    return kind
            # `init_db_session_class()()`: a function returning a session factory, called.
            made = self.source_factory(func.func, class_name)
            if made is not None and made[0].acquire_by_calling_source:
                return made[0]
            return None
        if isinstance(func, cst.Attribute):
            receiver, method = receiver_text(func.value), func.attr.value
            if receiver in ("self", "cls") and class_name is not None:
                found = self.factories.get(f"{class_name}.{method}")
                if found is not None:
                    return found
            if receiver is not None:
                found = self.collaborator_factory(receiver, method, class_name)
                if found is not None:
                    return found  # `self.repo.sessions()` with `self.repo = Repo(...)`
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
                kept = self.stored(func.value)  # `request.app.state.pg.getconn()`
                if (
                    kept is not None
                    and kept.role == SOURCE
                    and kept.kind is not None
                    and method in kept.kind.acquire_methods
                ):
                    return kept.kind
            elif (
                receiver is not None
                and (built := self.constructed.get(receiver)) is not None
                and built.resource_is_source
                and method in built.acquire_methods
            ):
                # `db = BotDB(path)` from another module's class that opens in `open()`
                # (owners.py): its kind is derived there, so its methods are not the catalogue's.
                return built
            elif receiver is not None and receiver.split(".", 1)[0] in self.imports:
                # A pool of another module of the project whose kind is derived there (a
                # home-grown pool, owners.py): its methods are not the catalogue's.
                export = self._imported(receiver)
                if (
                    export is not None
                    and export.role == "source"
                    and export.kind is not None
                    and method in export.kind.acquire_methods
                ):
                    return export.kind
        stored = self.stored_call(call)
        if stored is not None:
            return stored  # `request.app.state.session_factory()`, `FACTORIES["main"]()`
        if whole is None:
            return None
        if whole in self.factories:
            return self.factories[whole]
        if whole in self.constructed:
            built = self.constructed[whole]
            return built if built.acquire_by_calling_source else None
        export = self.names.lookup(whole)
        if export is None or export.kind is None:
            return None
        if export.role == "factory":
            last = whole.rsplit(".", 1)[-1]
            if export.kind.acquire_callables == frozenset({last}):
                # A class of the project owning a resource (owners.py): its derived kind names
                # the class as its module spells it; here it is the name this module imports.
                return replace(export.kind, acquire_callables=frozenset({last, qualified}))
            return export.kind
        if export.role == "source" and export.kind.acquire_by_calling_source:
            return export.kind
        return None

    def stored(self, expr: cst.BaseExpression) -> Export | None:
        """What the stored path `expr` holds, if a source or a callable that acquires
        (`stored.py`): this module's stores and the project's."""
        resolver = self.resolver

        def project(query: str) -> Export | None:
            return resolver.lookup(query) if resolver is not None else None

        return self.stores.loaded(expr, self._describer(), project, self.imports)

    def own_stores(self) -> dict[str, Export]:
        """key -> what the module stores under it (`stored.py`), for loads in other modules."""
        return self.stores.own(self._describer()) if self.stores.values else {}

    def _describer(self) -> Describe:
        if self._describe is None:
            self._describe = Describe(self._builds_source, self._names_source)
        return self._describe

    def stored_call(self, call: cst.Call) -> Kind | None:
        """The kind `call` acquires by calling a stored source or factory: the stored path
        itself (`app.state["sessions"]()`), or a local bound only to one (`make =
        app.state.session_factory; db = make()`)."""
        func = call.func
        if isinstance(func, cst.Name):
            info = self._scope_of(call)
            if info is None or func.value in info.params:
                return None
            values = info.assigned.get(func.value, [])
            if not values:
                return None
            kinds = {self._stored_kind(unwrap_value(v)) for v in values}
            return kinds.pop() if len(kinds) == 1 else None
        return self._stored_kind(func)

    def _stored_kind(self, expr: cst.BaseExpression) -> Kind | None:
        if not isinstance(expr, (cst.Attribute, cst.Subscript)):
            return None
        kept = self.stored(expr)
        return called_kind(kept) if kept is not None else None

    def _scope_of(self, call: cst.Call) -> FunctionInfo | None:
        if self._call_scopes is None:
            self._call_scopes = {
                id(c): info
                for info in (self.module_info, *self.functions.values())
                for c in info.calls
            }
        return self._call_scopes.get(id(call))

    def _builds_source(self, call: cst.Call) -> tuple[Kind, bool | None] | None:
        """(kind, async) when `call` builds a new source (a constructor, a source factory)."""
        constructor = self.qualify(call.func)
        for kind in self.kinds:
            if constructor in kind.source_constructors:
                return kind, async_constructor(constructor, call, kind)
        return self.source_factory(call.func, None)

    def _names_source(self, text: str) -> Export | None:
        """The `Export` a name written here stands for: a source built in the module
        (`SessionLocal`), a factory function of it, or an imported source or factory."""
        if text in self.constructed:
            return Export(
                "source", self.constructed[text], asynchronous=self.asynchronous.get(text)
            )
        if text in self.factories:
            return Export("factory", self.factories[text])
        return self.names.lookup(text)

    def collaborator_class(self, receiver: str, class_name: str | None) -> str | None:
        """The class (as this module writes it) of the object `receiver` names: `self.repo`
        bound in `__init__` or annotated on the class, or a module-level `repo = Repo()`."""
        head, _, rest = receiver.partition(".")
        if head == "self" and class_name is not None and rest and "." not in rest:
            return self.attribute_classes.get((class_name, rest))
        if not rest:
            return self.objects.get(receiver)
        return None

    def collaborator_factory(
        self, receiver: str, method: str, class_name: str | None
    ) -> Kind | None:
        """The kind of the fresh resource `receiver.method()` returns when `receiver` is an object
        of a known class whose `method` is a factory (every return a fresh resource): a class of
        this module, or one another module of the project exports with its methods
        (`Export.method_factories`); also an object another module exports (`from app.repo
        import repo`)."""
        named = self.collaborator_class(receiver, class_name)
        export: Export | None = None
        if named is not None:
            if named in self.classes:
                return self.factories.get(f"{named}.{method}")
            export = self._imported(named)
        elif "." not in receiver and receiver in self.imports:
            export = self._imported(receiver)
        if export is None:
            return None
        return next((kind for name, kind in export.method_factories if name == method), None)

    def calling_forms(self, func: cst.BaseExpression, class_name: str | None) -> dict[str, int]:
        """How the callee `func` calls a callable it is given (callables.py): a library callable
        of the ownership data, or a function of this module or another of the project found to
        call its parameter ("call") or to return a callable that does ("decorator")."""
        found = data_forms(self.qualify(func))
        if found:
            return found
        whole = dotted(func)
        if whole is None:
            return {}
        head, _, method = whole.partition(".")
        if head in ("self", "cls") and class_name is not None and "." not in method:
            whole = f"{class_name}.{method}"
        if whole in self.calling:
            return {"call": self.calling[whole]}
        if whole in self.wrapping:
            return {"decorator": self.wrapping[whole]}
        if head not in self.imports:
            return {}
        export = self._imported(whole)
        if export is None:
            return {}
        if export.calls_argument >= 0:
            return {"call": export.calls_argument}
        if export.wraps_argument >= 0:
            return {"decorator": export.wraps_argument}
        return {}

    def is_collaborator_class(self, named: str) -> bool:
        """Does `named` (as this module writes it) name a class whose methods are known: one of
        the module's own, or an imported one whose export lists factory methods?"""
        if named in self.classes:
            return True
        if named.split(".", 1)[0] not in self.imports:
            return False
        export = self._imported(named)
        return export is not None and bool(export.method_factories)

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
        export = self.names.lookup(whole)
        return export.kind if export is not None and export.role == "context-manager" else None


def _first_string(call: cst.Call) -> str | None:
    """The value of `call`'s first positional argument when it is a plain string literal."""
    if not call.args or call.args[0].keyword is not None:
        return None
    value = call.args[0].value
    if isinstance(value, cst.SimpleString):
        evaluated = value.evaluated_value
        return evaluated if isinstance(evaluated, str) else None
    return None
