"""What a module offers others: which of its functions hand out, release or borrow a resource,
and the `Export`s a module summary is made of.

Factories and releasers are found from the first pass's facts and closed under each other (a
function returning a factory's result is a factory too) in a few cheap rounds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import libcst as cst

from leakcheck.analysis.collect import (
    CollectedFacts,
    Export,
    FunctionInfo,
)
from leakcheck.analysis.raising import LOG_METHODS, is_logger, quiet_functions
from leakcheck.analysis.syntax import dotted, import_bindings, unwrap_value, walk
from leakcheck.config.catalogue import Kind

if TYPE_CHECKING:
    from leakcheck.analysis.ownership import ParamEffects


class SummaryFacts(CollectedFacts):
    """The module-summary side of `ModuleFacts`: factories, tuple factories, releasers,
    context-manager helpers and providers (filled by `_close_summaries`), each parameter's effect,
    and `exports()`."""

    @property
    def param_effects(self) -> dict[str, ParamEffects]:
        """What each function and class of the module does to each parameter (ownership.py)."""
        if self._effects is None:
            from leakcheck.analysis.ownership import compute  # it reads these facts

            self._effects = {}
            compute(self._whole(), self._effects)
        return self._effects

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

        shapes = managers(self._whole())
        for name, kind in self.constructed.items():
            if "." not in name:
                wrapping = tuple(k for k, m in sorted(shapes.items()) if m.source == name)
                out[name] = Export(
                    "source", kind, managers=wrapping, asynchronous=self.asynchronous.get(name)
                )
        for key, (kind, asynchronous) in self.source_factories.items():
            if key in top:
                out[key] = Export(
                    "source-factory", kind, params=params(key), asynchronous=asynchronous
                )
        for key, kind in self.factories.items():
            if key in top:
                out[key] = Export("factory", kind, params=params(key))
        for key, (kind, slot) in self.tuple_factories.items():
            if key in top:
                out[key] = Export("factory", kind, params=params(key), slot=slot)
        for key, index in self.releasers.items():
            if key in top:
                info = self.by_key.get(key)
                pure = info is not None and self.only_releases(info)
                out[key] = Export("releaser", None, index, params=params(key), pure=pure)
        for key, kind in self.context_managers.items():
            if key in top:
                out[key] = Export(
                    "context-manager", kind, params=params(key), manager=shapes.get(key)
                )
        for key, kind in self.providers.items():
            if key in top:
                call = self.provider_call(key)
                source = self._provider_source(call) if call is not None else ""
                info = self.by_key[key]
                asynchronous = (
                    provider_async(info.node, call, self.asynchronous)
                    if call is not None and isinstance(info.node, cst.FunctionDef)
                    else None
                )
                out[key] = Export(
                    "provider",
                    kind,
                    params=params(key),
                    asynchronous=asynchronous,
                    acquires=source,
                )
        for key in quiet_functions(self._whole()):
            if key not in top:
                continue
            if key not in out:
                out[key] = Export("helper", quiet=True)
            elif out[key].role == "function":
                out[key] = replace(out[key], quiet=True)
        return out

    def provider_call(self, key: str) -> cst.Call | None:
        """The one acquiring call of the provider `key` (`get_db`), None when it has several."""
        info = self.by_key.get(key)
        if info is None:
            return None
        found = [c for c in info.calls if self.acquisition(c, info.class_name) is not None]
        return found[0] if len(found) == 1 else None

    def _provider_source(self, call: cst.Call) -> str:
        """`SessionLocal()` -> `.SessionLocal` (bound at this module's top level) or the
        qualified name it imports; "" for a call with arguments or of anything else."""
        text = dotted(call.func)
        if call.args or text is None:
            return ""
        head = text.split(".", 1)[0]
        if head in self.imports:
            return self.qualify(call.func)
        if head in module_names(self.module):
            return f".{text}"
        return ""

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
            # Also through another module's releaser (`def done_with(conn): put_conn(conn)`).
            for arg in self.released_args(call, info.class_name, None):
                if isinstance(arg, cst.Name) and arg.value in params[offset:]:
                    return params.index(arg.value) - offset
        return None


def module_names(module: cst.Module) -> set[str]:
    """Names bound by the module's own top-level statements (definitions, assignments,
    imports)."""
    out: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            out.add(stmt.name.value)
            continue
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                for target in small.targets:
                    if isinstance(target.target, cst.Name):
                        out.add(target.target.value)
            elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                out.add(small.target.value)
            else:
                out.update(import_bindings(small))
    return out


def provider_async(
    provider: cst.FunctionDef, call: cst.Call, asynchronous: dict[str, bool]
) -> bool | None:
    """Whether a provider's resource is used with `async with`: the provider's own `with` on the
    call, else whether it awaits its `close()`, else what the module says of the source
    (`asynchronous`, e.g. an `async_sessionmaker`); None when unknown."""
    for node in walk(provider.body):
        if isinstance(node, cst.With) and any(unwrap_value(i.item) is call for i in node.items):
            return node.asynchronous is not None
    closes = [
        n
        for n in walk(provider.body)
        if isinstance(n, cst.Call)
        and isinstance(n.func, cst.Attribute)
        and n.func.attr.value == "close"
    ]
    if closes:
        awaited = {id(n.expression) for n in walk(provider.body) if isinstance(n, cst.Await)}
        return all(id(c) in awaited for c in closes)
    source = dotted(call.func)
    return asynchronous.get(source) if source is not None else None
