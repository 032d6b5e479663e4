"""The role each function of a module plays for resources: factory (returns a fresh one, perhaps
in a tuple), releaser (gives its argument back), context-manager helper and provider (a generator
that acquires and yields).

Found from the first pass's facts and closed under each other (a function returning a factory's
result is a factory too) in a few cheap rounds, when the facts are made: every later question
about a call (`acquisition`, `released_args`) reads them.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.collect import CollectedFacts, drives
from leakcheck.analysis.raising import LOG_METHODS, is_logger
from leakcheck.analysis.records import FunctionInfo, Origin, Resolver
from leakcheck.analysis.syntax import dotted, unwrap_value, walk
from leakcheck.config.catalogue import Kind
from leakcheck.config.ownership import ownership


class RoleFacts(CollectedFacts):
    """The first pass's facts with the module's function roles closed: factories, tuple
    factories, releasers, context-manager helpers and providers.

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
        self._close_roles()

    def _close_roles(self) -> None:
        """Find factories and releasers, letting each new one reveal more, until nothing changes;
        then the context-manager helpers and providers."""
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
        for key, kind in self.providers.items():
            if self._held_when_dropped(key, kind):
                self.held_when_dropped.add(key)
        if self._drive():
            self._close_roles()  # `def first_db(): return next(get_db())` is a factory now

    def _held_when_dropped(self, key: str, kind: Kind) -> bool:
        """Does the provider `key` keep its resource open when the generator is dropped after its
        first `next`? CPython finalises a dropped generator at once, by `close()`, which raises
        GeneratorExit at the `yield` (Python docs, "generator.close()"; PEP 342): a release in
        `finally` around the `yield`, or a `with` that closes it, runs then; one after the
        `yield` outside `finally` never does, nor does a resource yielded and never released.
        False when the generator yields something else (a cursor of it) or is asynchronous (an
        async generator is finalised by its event loop later, not when dropped)."""
        info = self.by_key.get(key)
        call = self.provider_call(key)
        if info is None or call is None or not isinstance(info.node, cst.FunctionDef):
            return False
        if info.node.asynchronous is not None:
            return False
        binding = self.bindings.get(id(call))
        yielded = [
            unwrap_value(node.value)
            for node in walk(info.node.body)
            if isinstance(node, cst.Yield) and isinstance(node.value, cst.BaseExpression)
        ]
        if any(value is call for value in yielded):
            return True  # `yield SessionLocal()`: nothing releases it
        if binding is None or binding.name is None:
            return False
        name = binding.name
        if not any(isinstance(v, cst.Name) and v.value == name for v in yielded):
            return False
        if binding.how == Origin.WITH:
            return not kind.with_releases
        if binding.how != Origin.ASSIGN:
            return False
        for node in walk(info.node.body):
            if not (isinstance(node, cst.Try) and node.finalbody is not None):
                continue
            guarded = any(isinstance(n, cst.Yield) for n in walk(node.body))
            if guarded and any(
                isinstance(n, cst.Call)
                and any(
                    isinstance(a, cst.Name) and a.value == name
                    for a in self.released_args(n, info.class_name, kind)
                )
                for n in walk(node.finalbody)
            ):
                return False
        return True

    def _drive(self) -> bool:
        """Record the calls that take a resource out of a provider by hand: `next(get_db())`,
        and in each scope the first `next(gen)` of a local bound only to such a provider's
        call (`gen = get_db()`); later ones run it on (`collect.releases_all_of`). True when
        one was new."""
        grew = False
        for info in (self.module_info, *self.functions.values()):
            seen: set[str] = set()
            for call in info.calls:
                if not self._calls_next(call):
                    continue
                value = unwrap_value(call.args[0].value)
                generator = drives(call)
                if generator is not None:
                    if generator in seen:
                        continue
                    seen.add(generator)
                if id(call) in self.driven:
                    continue
                if generator is not None:
                    if generator in info.stored or generator in info.declared_global:
                        continue
                    values = [unwrap_value(v) for v in info.assigned.get(generator, [])]
                    kinds = {self._held_provider(v, info.class_name) for v in values}
                    kind = kinds.pop() if len(kinds) == 1 else None
                else:
                    kind = self._held_provider(value, info.class_name)
                if kind is not None:
                    self.driven[id(call)] = kind
                    grew = True
        return grew

    def _calls_next(self, call: cst.Call) -> bool:
        """`next(x)` / `next(x, default)` with the builtin `next`."""
        func = call.func
        return (
            isinstance(func, cst.Name)
            and func.value == "next"
            and func.value not in self.by_key
            and func.value not in self.imports
            and 1 <= len(call.args) <= 2
            and call.args[0].keyword is None
            and not call.args[0].star
        )

    def _held_provider(self, value: cst.BaseExpression, class_name: str | None) -> Kind | None:
        """The kind of the provider `value` calls, when dropping it keeps the resource open."""
        if not isinstance(value, cst.Call):
            return None
        whole = dotted(value.func)
        if whole is None:
            return None
        head, _, method = whole.partition(".")
        if head in ("self", "cls") and class_name is not None and "." not in method:
            whole = f"{class_name}.{method}"
        if whole in self.providers:
            return self.providers[whole] if whole in self.held_when_dropped else None
        export = self._imported(whole)
        if export is not None and export.role == "provider" and export.held_when_dropped:
            return export.kind
        return None

    def provider_call(self, key: str) -> cst.Call | None:
        """The one acquiring call of the provider `key` (`get_db`), None when it has several."""
        info = self.by_key.get(key)
        if info is None:
            return None
        found = [c for c in info.calls if self.acquisition(c, info.class_name) is not None]
        return found[0] if len(found) == 1 else None

    def only_releases(self, info: FunctionInfo) -> bool:
        """Every call in the function's body releases something, closes something
        (`cur.close()`) or logs: a release helper with no other work (no commit)."""
        if not isinstance(info.node, cst.FunctionDef):
            return False
        for node in walk(info.node.body):
            if not isinstance(node, cst.Call):
                continue
            func = node.func
            if self.released_args(node, info.class_name, None):
                continue
            if isinstance(func, cst.Attribute) and func.attr.value == "close":
                continue
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value in LOG_METHODS
                and is_logger(dotted(func.value) or "")
            ):
                continue
            return False
        return True

    def _returns_fresh_in_tuple(self, info: FunctionInfo) -> tuple[Kind, int] | None:
        """`return conn, conn.cursor()`: a fresh resource at a fixed place in a returned tuple."""
        if info.is_context_manager or info.key.rsplit(".", 1)[-1].startswith("__"):
            return None
        if self._cached(info):
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

    def _cached(self, info: FunctionInfo) -> bool:
        """Is `info` under a caching decorator (`@functools.lru_cache`, `@st.cache_resource`:
        `caching-decorators` in `rules/ownership.toml`)? It returns one shared object, not a fresh
        one per call: its callers must not close it."""
        if not isinstance(info.node, cst.FunctionDef):
            return False
        caching = ownership().caching_decorators
        for decorator in info.node.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                expr = expr.func  # `@lru_cache(maxsize=None)`
            if self.qualify(expr) in caching:
                return True
        return False

    def _returns_fresh(self, info: FunctionInfo) -> Kind | None:
        if info.is_context_manager or info.key.rsplit(".", 1)[-1].startswith("__"):
            return None
        if self._cached(info):
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
                    if isinstance(candidate, cst.Call) and id(candidate) in self.stored_calls:
                        return None  # `db = g._database = connect()`: kept for the request
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
            # Also through another module's releaser (`def done_with(conn): put_conn(conn)`).
            for arg in self.released_args(call, info.class_name, None):
                if isinstance(arg, cst.Name) and arg.value in params[offset:]:
                    return params.index(arg.value) - offset
        return None
