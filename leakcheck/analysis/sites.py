"""Where a module acquires: the sites (an acquiring call and how its result is bound) that
judging follows, and the sessions functions are given as parameters.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.collect import GETTERS, RETURNS_SAME
from leakcheck.analysis.owners import HomePool, Owned, home_pools, owner_kinds, pool_kind
from leakcheck.analysis.ownership import BORROW, argument_effect
from leakcheck.analysis.records import Binding, Origin, Resolver, Scope, Site
from leakcheck.analysis.roles import RoleFacts
from leakcheck.analysis.syntax import dotted, receiver_text, walk
from leakcheck.config.catalogue import Kind

_KEEPS_RESULTS = (cst.Return, cst.Assign, cst.AnnAssign, cst.AugAssign)


def _opens_only(call: cst.Call, scope: Scope, source: str) -> bool:
    """Is every call `scope` makes after `call` a method of `source` (`db.create_tables(...)`)
    whose result is dropped? Such a function only opens the connection for others; a call of
    anything else (`User.get()`, whose model queries through the database), or a result kept or
    returned, is work done on it."""
    inside = {id(node) for node in walk(call)}
    seen = False
    for node in walk(scope.body if isinstance(scope, cst.FunctionDef) else scope):
        if node is call:
            seen = True
        elif not seen or id(node) in inside:
            continue
        elif type(node) is cst.Call:
            func = node.func
            if not (type(func) is cst.Attribute and receiver_text(func.value) == source):
                return False
        elif type(node) in _KEEPS_RESULTS and getattr(node, "value", None) is not None:
            return False  # `return db.count()`, `n = db.count()`: a result is used
    return True


class SiteFacts(RoleFacts):
    """What judging reads about one module: the first pass, the functions' roles, the classes
    that own a resource (`owners`), and where the module acquires (`sites()` and
    `param_sites()`).

    Inputs as for `CollectedFacts`.
    """

    def __init__(
        self,
        module: cst.Module,
        kinds: tuple[Kind, ...],
        package: str = "",
        resolver: Resolver | None = None,
        path: str = "",
    ) -> None:
        super().__init__(module, kinds, package, resolver, path)
        # A home-grown pool of the module (owners.py): its derived kind joins the kinds, and
        # the module is read again so that `pool = ConnPool()` is a source of it. Rare; the
        # second reading costs only the modules that define one.
        self.pools: dict[str, HomePool] = home_pools(self)
        derived = tuple(pool_kind(p) for p in self.pools.values())
        if self.pools:
            self._read_again(module, kinds + derived, package, resolver, path)
        # A class owning a resource is a factory of its derived kind (owners.py): constructing
        # it acquires. The roles are closed again so that a function returning a fresh instance
        # is a factory too. A class acquiring only in `open()` / `connect()` is no factory: its
        # instances are sources (`db = BotDB(path)`; `db.open()` acquires), so the module is
        # read again with that kind, as for a pool.
        self.owners: dict[str, tuple[Kind, list[Owned]]] = owner_kinds(self)
        opened = tuple(k for k, _ in self.owners.values() if k.resource_is_source)
        if opened:
            self._read_again(module, kinds + derived + opened, package, resolver, path)
            for class_name, (kind, _) in self.owners.items():
                if kind.resource_is_source:
                    # exported as a "source-factory": `db = BotDB(path)` elsewhere is a source
                    self.source_factories.setdefault(class_name, (kind, False))
        added = False
        for class_name, (kind, _) in self.owners.items():
            if kind.resource_is_source:
                continue
            if class_name not in self.factories:
                self.factories[class_name] = kind
                added = True
        if added:
            self._close_roles()

    def _read_again(
        self,
        module: cst.Module,
        kinds: tuple[Kind, ...],
        package: str,
        resolver: Resolver | None,
        path: str,
    ) -> None:
        """Read the module again with `kinds` (the catalogue's and the derived ones), so that
        the instances of its home-grown pools and opened classes are sources of them."""
        super().__init__(module, kinds, package, resolver, path)
        for pool in self.pools.values():
            # Inside the class, `self.acquire()` hands out the pool's resource.
            kind = next(k for k in kinds if k.name == pool_kind(pool).name)
            self.factories[f"{pool.class_name}.{pool.acquire}"] = kind
        self._close_roles()

    def param_sites(self) -> list[Site]:
        """Sessions a function is given: `db: Session`, `db = Depends(get_db)` (for
        `captured-by-stream` and `held-across-await`)."""
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
                            Binding(Origin.PARAM, param.name.value),
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
        annotated = next((k for k in self.kinds if k.names_annotation(qualified)), None)
        if annotated is not None:  # `db: Session` (`Kind.annotations`)
            return annotated
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

        With `managed`, also those a `with` gives back (for `held-across-await`, which follows
        them too).
        """
        found = []
        for call, scope, class_name in self.calls:
            if id(call) in self.expected_to_raise:
                continue  # `with pytest.raises(...): conn = pool.getconn()`: no connection is made
            binding = self.bindings.get(id(call))
            if binding is None:
                if id(call) not in self.chained and id(call) not in self.passed:
                    continue
                if self.acquisition(call, class_name) is None:
                    continue  # cheap test first: ownership is computed only when needed
                binding = self._chained_binding(call) or self._passed_binding(call, class_name)
                if binding is None:
                    continue
            if binding.how == Origin.TUPLE:
                site = self._tuple_site(call, scope, class_name, binding)
                if site is not None:
                    found.append(site)
                continue
            kind = self.acquisition(call, class_name)
            if kind is None:
                kind = self._annotated_kind(call, class_name)
                if kind is None:
                    continue
            if binding.how == Origin.LOST and self._ends_with_chain(call, kind):
                continue
            if kind.resource_is_source:
                held = self._held_by_source(call, kind, scope, binding)
                if held is None:
                    continue
                binding = held
            if kind.registry and (
                isinstance(scope, cst.Module) or self._registry_called(scope, binding.name)
            ):
                # `Session = scoped_session(...)` at import: one registry per process; or a
                # registry whose sessions the scope takes (`db = Session()`): those are judged
                # as sessions of their own.
                continue
            if kind.acquire_awaited and binding.how != Origin.WITH and id(call) not in self.awaited:
                continue  # `sem.acquire()` without await: not an asyncpg-style pool
            if binding.how == Origin.WITH and (
                binding.name is None or (kind.with_releases and not managed)
            ):
                continue
            found.append(Site(call, kind, scope, class_name, binding))
        return found

    def _held_by_source(
        self, call: cst.Call, kind: Kind, scope: Scope, binding: Binding
    ) -> Binding | None:
        """`db.connect()` of a kind whose source holds the resource (`Kind.resource_is_source`):
        judged as a resource named by the source's text (`db`, `self.db`), whatever the call
        returns. Not judged at module level (a script's connection for the process: peewee
        docs, "Connection Lifecycle": single-user applications "open a connection at startup
        and close at exit"); nor, when the scope does not close it, in a function that only
        opens it (`_opens_only`: Flask's `before_request` hook in peewee's docs, closed by
        `teardown_request`; a startup hook) or a method of the object that keeps it, closed by
        another method (`open`/`close`)."""
        func = call.func
        source = receiver_text(func.value) if isinstance(func, cst.Attribute) else None
        if source is None or isinstance(scope, cst.Module):
            return None
        if binding.how not in (Origin.DISCARDED, Origin.ASSIGN):
            return None
        if self._closed_elsewhere(kind, scope):
            return None

        def closes(calls: list[cst.Call]) -> bool:
            return any(
                isinstance(c.func, cst.Attribute)
                and not c.args
                and c.func.attr.value in kind.release_all_methods
                and receiver_text(c.func.value) == source
                for c in calls
            )

        if closes(self.scopes[scope].calls):
            return Binding(Origin.ASSIGN, source)
        if _opens_only(call, scope, source):
            return None
        if source.split(".", 1)[0] in ("self", "cls") and any(
            closes(info.calls) for other, info in self.scopes.items() if other is not scope
        ):
            return None
        return Binding(Origin.ASSIGN, source)

    def _closed_elsewhere(self, kind: Kind, scope: cst.FunctionDef) -> bool:
        """Does `scope` call one of the kind's `also-released-by` callables, or is its call given
        to one of its `closing-runners` (`run_async(main())`)?"""
        if any(self.qualify(c.func) in kind.also_released_by for c in self.scopes[scope].calls):
            return True
        if not kind.closing_runners:
            return False
        for call, _, _ in self.calls:
            if call.args and self.qualify(call.func) in kind.closing_runners:
                inner = call.args[0].value
                if (
                    isinstance(inner, cst.Call)
                    and isinstance(inner.func, cst.Name)
                    and inner.func.value == scope.name.value
                ):
                    return True
        return False

    def _ends_with_chain(self, call: cst.Call, kind: Kind) -> bool:
        """`Session(engine).begin()`: a method meant for `with` that gives the connection back
        when its block ends; `sqlite3.connect(path).close()`: released at once (a common way to
        create a database file or check that a server answers). Neither is a lost resource."""
        outer = self.chained.get(id(call))
        return (
            outer is not None
            and isinstance(outer.func, cst.Attribute)
            and (
                outer.func.attr.value in kind.context_manager_methods
                or outer.func.attr.value in kind.self_release_methods
            )
        )

    def _passed_binding(self, call: cst.Call, class_name: str | None) -> Binding | None:
        """`rebuild_index(SessionLocal())`: passed straight to a function that only borrows it."""
        found = self.passed.get(id(call))
        if found is None:
            return None
        outer, arg = found
        if argument_effect(self, outer, arg, class_name, on_demand=True) != BORROW:
            return None
        return Binding(Origin.PASSED, dotted(outer.func) or "")

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
        return Binding(Origin.LOST, None)

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
        return Site(call, kind, scope, class_name, Binding(Origin.TUPLE, binding.names[slot]))

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
