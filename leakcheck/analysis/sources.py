"""Where a module's resources come from: the sources it builds (pools, engines, session factories)
and the functions that return a new one, recorded by the first pass, and which kind a receiver
is a source of (`source_kind`).

A receiver is a source by construction here (`construct`), by a function of the module or of
another that returns one (`source_factory`), by the acquire/release pair called on it (`pair`),
or by its name. Kept apart from the other records because these answers concern the source,
never the resource taken from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import libcst as cst

from leakcheck.analysis.imports import ModuleImports
from leakcheck.analysis.records import FunctionInfo
from leakcheck.analysis.syntax import dotted, receiver_text, unwrap_value
from leakcheck.config.catalogue import Kind


def async_constructor(constructor: str, call: cst.Call, kind: Kind) -> bool:
    """`async_sessionmaker(...)`, `create_async_engine(...)`, `sessionmaker(class_=AsyncSession)`,
    `asyncpg.create_pool(...)` (a kind whose acquisitions are awaited): sources whose resources
    need `async with`."""
    last = constructor.rsplit(".", 1)[-1]
    if "async" in last.lower() or kind.acquire_awaited:
        return True
    return any(
        arg.keyword is not None
        and arg.keyword.value == "class_"
        and (dotted(arg.value) or "").endswith("AsyncSession")
        for arg in call.args
    )


class Sources:
    """The sources of one module, by receiver text, and the functions that return a new one.

    `imports`: the module's names, and what other modules of the project say about them.
    """

    def __init__(self, kinds: tuple[Kind, ...], imports: ModuleImports) -> None:
        self.kinds = kinds
        self.imports = imports
        self.constructed: dict[str, Kind] = {}  # receiver text -> kind of pool built there
        # Every kind built under a receiver text, anywhere in the module: a name may be a
        # psycopg2 pool at module level and an asyncpg pool inside one function.
        self.built: dict[str, list[Kind]] = {}
        self.paired: dict[str, set[str]] = {}  # receiver text -> release methods called on it
        # Sources built here: do they hand out async resources (`async_sessionmaker`, ...)?
        self.asynchronous: dict[str, bool] = {}
        # Functions returning a new source (`def make_session_class(): return sessionmaker(...)`)
        # -> (kind, async); and the assignments of calls that may be to one, settled after the
        # walk, when every function of the module is known.
        self.source_factories: dict[str, tuple[Kind, bool | None]] = {}
        self._pending: list[tuple[list[str], cst.Call, str | None]] = []
        self._release_methods = frozenset(m for k in kinds for m in k.release_methods)

    # -- recording -------------------------------------------------------------------------------

    def construct(self, text: str, kind: Kind, replace: bool = True) -> None:
        """`text` is bound to a new source of `kind`: its `constructed` kind is the last such
        binding (with `replace`) or the first, and every kind is in `built`."""
        if replace or text not in self.constructed:
            self.constructed[text] = kind
        kinds = self.built.setdefault(text, [])
        if kind not in kinds:
            kinds.append(kind)

    def pair(self, call: cst.Call) -> None:
        """The pair: `pool.putconn(conn)` gives a resource back, so it takes a variable holding
        one; `lock.release()` and `semaphore.release(3)` do not make their receiver a pool."""
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in self._release_methods
            and call.args
            and isinstance(call.args[0].value, (cst.Name, cst.Attribute))
        ):
            receiver = receiver_text(func.value)
            if receiver is not None:
                self.paired.setdefault(receiver, set()).add(func.attr.value)

    def assigned(
        self,
        targets: list[cst.BaseAssignTargetExpression],
        call: cst.Call,
        class_name: str | None,
    ) -> None:
        """`targets = call`: each target is a source of the kind `call` constructs, if it is a
        constructor; else `call` may return one (`settle` decides, once every function is known)."""
        constructor = self.imports.qualify(call.func)
        built = False
        for kind in self.kinds:
            if constructor in kind.source_constructors:
                built = True
                for target in targets:
                    text = dotted(target)
                    if text is not None:
                        self.construct(text, kind)
                        self.asynchronous[text] = async_constructor(constructor, call, kind)
        if not built and dotted(call.func) is not None:
            texts = [t for t in (dotted(target) for target in targets) if t is not None]
            if texts:
                self._pending.append((texts, call, class_name))

    def entered(self, name: str, call: cst.Call) -> None:
        """`with call as name`: `name` is a source of the kind `call` constructs, if any."""
        constructor = self.imports.qualify(call.func)
        for kind in self.kinds:
            if constructor in kind.source_constructors:
                self.construct(name, kind)

    def settle(self, functions: Iterable[FunctionInfo]) -> None:
        """Find the functions that return a new source, then the names bound to their calls
        (`Session = make_session_class()`, `self.Session = init_db_session_class()`), which are
        sources like those bound to a constructor. Rounds let one factory reveal another."""
        infos = list(functions)
        for _ in range(4):
            grew = False
            for info in infos:
                if info.key not in self.source_factories:
                    found = self._returns_source(info)
                    if found is not None:
                        self.source_factories[info.key] = found
                        grew = True
            if not grew:
                break
        for texts, call, class_name in self._pending:
            found = self.source_factory(call.func, class_name)
            if found is not None:
                for text in texts:
                    self.construct(text, found[0], replace=False)
                    self.asynchronous.setdefault(text, bool(found[1]))
        self._pending = []

    def _returns_source(self, info: FunctionInfo) -> tuple[Kind, bool | None] | None:
        """(kind, async) when every value `info` returns is a new source: a constructor's call
        (`return sessionmaker(bind=engine)`), another source factory's, or a local bound only to
        those. A source kept on an object or a global is a shared one, but still a source."""
        if not info.returns or info.is_context_manager or info.yields:
            return None
        found: tuple[Kind, bool | None] | None = None
        for value in info.returns:
            inner = unwrap_value(value)
            calls: list[cst.BaseExpression] = [inner]
            if isinstance(inner, cst.Name):
                calls = [unwrap_value(v) for v in info.assigned.get(inner.value, [])]
            if not calls:
                return None
            for call in calls:
                one = self._new_source(call, info.class_name)
                if one is None or (found is not None and one[0] != found[0]):
                    return None
                found = one
        return found

    def _new_source(
        self, node: cst.BaseExpression, class_name: str | None
    ) -> tuple[Kind, bool | None] | None:
        if not isinstance(node, cst.Call):
            return None
        constructor = self.imports.qualify(node.func)
        for kind in self.kinds:
            if constructor in kind.source_constructors:
                return kind, async_constructor(constructor, node, kind)
        return self.source_factory(node.func, class_name)

    # -- questions -------------------------------------------------------------------------------

    def source_factory(
        self, func: cst.BaseExpression, class_name: str | None
    ) -> tuple[Kind, bool | None] | None:
        """(kind, async) when calling `func` returns a new source: a function of this module
        (`make_session_class`, `self.make_session_class`) or an imported "source-factory"."""
        whole = dotted(func)
        if whole is None:
            return None
        head, _, method = whole.partition(".")
        if head in ("self", "cls") and class_name is not None and "." not in method:
            whole = f"{class_name}.{method}"
        known = self.source_factories.get(whole)
        if known is not None:
            return known
        export = self.imports.lookup(whole)
        if export is not None and export.role == "source-factory" and export.kind is not None:
            return export.kind, export.asynchronous
        return None

    def source_kind(self, receiver: str, wants: Callable[[Kind], bool]) -> Kind | None:
        """The kind `receiver` is a source of (pool, session factory, engine), if `wants` it.

        Judged by construction in this module or another module of the project, then by the
        acquire/release pair on the same receiver, then by its name.
        """
        built = self.constructed.get(receiver)
        if built is None:
            export = self.imports.lookup(receiver)
            if export is not None and export.role == "source":
                if export.kind is None:  # a pool named in the configuration: any pool kind
                    return next((k for k in self.kinds if k.family == "pool" and wants(k)), None)
                built = export.kind
        if built is not None:
            if wants(built):
                return built
            # Bound to another kind of source elsewhere in the module: the method decides.
            return next((k for k in self.built.get(receiver, ()) if wants(k)), None)
        released = self.paired.get(receiver, set())
        for kind in self.kinds:
            if wants(kind) and (
                released & kind.release_methods or kind.matches_source_name(receiver)
            ):
                return kind
        return None

    def bound_to_engine(self, call: cst.Call) -> bool:
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
