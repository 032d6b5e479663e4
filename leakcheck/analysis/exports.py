"""What a module offers others: the `Export`s its summary is made of (module-level sources, and
each function's role, parameter effects and obvious context-manager shape).

The last step of a module's analysis: a helper's shape (`managers.py`) is known only once the
judge has found that it gives back what it acquires on every path.
"""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from leakcheck.analysis.collect import CollectedFacts
from leakcheck.analysis.managers import managers
from leakcheck.analysis.ownership import param_effects
from leakcheck.analysis.raising import quiet_functions
from leakcheck.analysis.records import Export, ParamEffects
from leakcheck.analysis.sites import SiteFacts
from leakcheck.analysis.stored import export_name
from leakcheck.analysis.syntax import dotted, import_bindings, unwrap_value, walk
from leakcheck.config.catalogue import Kind


def exports(facts: SiteFacts) -> dict[str, Export]:
    """What the module offers importers: module-level sources and function summaries.

    Every module-level function and class carries its parameter effects (`params`), so that
    a caller knows whether passing it a resource lends or hands it over.
    """
    out: dict[str, Export] = {}
    effects = param_effects(facts)
    top = {key for key in facts.defined if "." not in key}

    def params(key: str) -> ParamEffects | None:
        return effects.get(key)

    for key in sorted(top & (set(effects) | facts.classes)):
        out[key] = Export("function", params=params(key))
    shapes = managers(facts)
    for name, kind in facts.constructed.items():
        if "." not in name:
            wrapping = tuple(k for k, m in sorted(shapes.items()) if m.source == name)
            out[name] = Export(
                "source", kind, managers=wrapping, asynchronous=facts.asynchronous.get(name)
            )
    for key, (kind, asynchronous) in facts.source_factories.items():
        if key in top:
            out[key] = Export("source-factory", kind, params=params(key), asynchronous=asynchronous)
    for key, kind in facts.factories.items():
        if key in top:
            out[key] = Export("factory", kind, params=params(key))
    for key, (kind, slot) in facts.tuple_factories.items():
        if key in top:
            out[key] = Export("factory", kind, params=params(key), slot=slot)
    for key, index in facts.releasers.items():
        if key in top:
            info = facts.by_key.get(key)
            pure = info is not None and facts.only_releases(info)
            out[key] = Export("releaser", None, index, params=params(key), pure=pure)
    for key, kind in facts.context_managers.items():
        if key in top:
            out[key] = Export("context-manager", kind, params=params(key), manager=shapes.get(key))
    for key, kind in facts.providers.items():
        if key in top:
            call = facts.provider_call(key)
            source = provider_source(facts, call) if call is not None else ""
            info = facts.by_key[key]
            asynchronous = (
                provider_async(info.node, call, facts.asynchronous)
                if call is not None and isinstance(info.node, cst.FunctionDef)
                else None
            )
            out[key] = Export(
                "provider",
                kind,
                params=params(key),
                asynchronous=asynchronous,
                acquires=source,
                held_when_dropped=key in facts.held_when_dropped,
            )
    for key in sorted(top & (set(facts.calling) | set(facts.wrapping))):
        out[key] = replace(
            out.get(key) or Export("function", params=params(key)),
            calls_argument=facts.calling.get(key, -1),
            wraps_argument=facts.wrapping.get(key, -1),
        )
    quiet = quiet_functions(facts)
    for key in quiet:
        if key not in top:
            continue
        if key not in out:
            out[key] = Export("helper", quiet=True)
        elif out[key].role == "function":
            out[key] = replace(out[key], quiet=True)
    methods = quiet_methods(facts, quiet)
    makers = method_factories(facts)
    for name in sorted(top & facts.classes):
        if methods.get(name) and name in out:
            out[name] = replace(out[name], quiet_methods=methods[name])
        if makers.get(name) and name in out:
            out[name] = replace(out[name], method_factories=makers[name])
    for key, stored in sorted(facts.own_stores().items()):
        out[export_name(key, stored)] = stored  # `app.state.x = sessionmaker(e)` (stored.py)
    for name, values in sorted(facts.module_info.assigned.items()):
        made = {dotted(v.func) if isinstance(v, cst.Call) else None for v in values}
        if name in out or len(made) != 1:
            continue
        (cls,) = made
        if cls is not None and cls in facts.classes and (methods.get(cls) or makers.get(cls)):
            # `tracker = Tracker()`, `repo = Repo(engine)`
            out[name] = Export(
                "object", quiet_methods=methods.get(cls, ()), method_factories=makers.get(cls, ())
            )
    return out


def method_factories(facts: SiteFacts) -> dict[str, tuple[tuple[str, Kind], ...]]:
    """Class name -> its methods (not dunder ones) that return a fresh resource, with its kind
    (`Repo.sessions`: every return a fresh session), for callers in other modules."""
    out: dict[str, list[tuple[str, Kind]]] = {}
    for key, kind in sorted(facts.factories.items()):
        cls, _, method = key.partition(".")
        if method and "." not in method and not method.startswith("__") and cls in facts.classes:
            out.setdefault(cls, []).append((method, kind))
    return {cls: tuple(found) for cls, found in out.items()}


def quiet_methods(facts: CollectedFacts, quiet: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Class name -> its methods whose bodies cannot raise (`quiet` keys `Class.method`; not
    dunder methods, which callers do not call by name)."""
    out: dict[str, list[str]] = {}
    for key in sorted(quiet):
        cls, _, method = key.partition(".")
        if method and "." not in method and not method.startswith("__") and cls in facts.classes:
            out.setdefault(cls, []).append(method)
    return {cls: tuple(found) for cls, found in out.items()}


def provider_source(facts: CollectedFacts, call: cst.Call) -> str:
    """`SessionLocal()` -> `.SessionLocal` (bound at this module's top level) or the qualified
    name it imports; "" for a call with arguments or of anything else."""
    text = dotted(call.func)
    if call.args or text is None:
        return ""
    head = text.split(".", 1)[0]
    if head in facts.imports:
        return facts.qualify(call.func)
    if head in module_names(facts.module):
        return f".{text}"
    return ""


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
