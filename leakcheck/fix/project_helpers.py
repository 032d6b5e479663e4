"""The project's own context-manager helpers usable at one acquisition (`Recipe.PROJECT_HELPER`):
the ones `analysis/managers.py` finds in this module, imported by it, or defined beside the source
it acquires from, with whether using one is as safe as the plain rewrite."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.managers import Manager, arguments, managers
from leakcheck.analysis.syntax import dotted, import_bindings, walk

__all__ = ["HERE", "Helper", "detected"]

HERE = "<here>"  # the checked module, whose own name the facts do not know


@dataclass(frozen=True)
class Helper:
    """A detected helper usable at one acquisition: how to call it and what using it means."""

    call: str  # `pooled`
    manager: Manager
    same_source: bool
    reason: str  # why using it is unsafe, "" when it is not
    imports: tuple[tuple[str, str], ...] = ()  # the import the call needs


def detected(site: Site, facts: ModuleFacts) -> list[Helper]:
    """The project's obvious helpers for the kind `site` acquires: of this module, imported by
    it, or defined beside the source it acquires from (imported then). Only in functions (a
    helper in a module's own statements is not worth the `with`), and an async helper only in
    `async def`."""
    if isinstance(site.scope, cst.Module) or site.kind.direct:
        return []  # a direct connection's arguments (the DSN) matter: no helper stands for it
    if any(isinstance(n, cst.Comment) for n in walk(site.call)):
        return []  # `with helper() as x:` would drop the comments inside the acquiring call
    in_async = site.scope.asynchronous is not None
    source, identity = _source(site, facts)
    found: dict[str, tuple[str, Manager, tuple[tuple[str, str], ...]]] = {}
    for key, manager in managers(facts).items():  # this module's: `pooled`
        found[f"{HERE}.{key}"] = (key, manager, ())
    if facts.resolver is not None:
        top = _module_level(facts.module)
        for local, qualified in facts.imports.items():  # `from app.db import pooled`
            if local not in top or local != qualified.rsplit(".", 1)[-1]:
                continue  # `import app.db as db`, `from x import a as b`: not called by its name
            export = facts.resolver.lookup(qualified)
            if export is not None and export.manager is not None:
                found.setdefault(qualified, (local, export.manager, ()))
        head = source.split(".", 1)[0] if source else ""
        if head in facts.imports and identity is not None:
            # `from app.db import pool`: the helpers app.db defines for `pool`, imported for the fix
            module = identity.rpartition(".")[0]
            export = facts.resolver.lookup(identity)
            for name in export.managers if export is not None else ():
                qualified = f"{module}.{name}"
                helper = facts.resolver.lookup(qualified)
                if helper is None or helper.manager is None or qualified in found:
                    continue
                if name in top or name in facts.defined:
                    continue  # the name means something else here
                found[qualified] = (name, helper.manager, ((module, name),))
    out = []
    for qualified, (call, manager, imports) in found.items():
        if manager.kind != site.kind.name or (manager.asynchronous and not in_async):
            continue
        module = qualified.rpartition(".")[0]
        where = f"{module}.{manager.source}" if manager.local else manager.source
        same = identity is not None and where == identity
        reason = ""
        if manager.arguments != arguments(site.call):
            reason = f"`{call}()` does not acquire with the same arguments"
        elif manager.extra:
            reason = f"`{call}()` also {manager.extra}"
        elif not same:
            given = f"`{source}`" if source else "where the code takes it"
            what = site.kind.resource.lower()
            reason = f"`{call}()` takes its {what} from `{manager.source}`, not {given}"
        out.append(Helper(call, manager, same, reason, imports))
    return out


def _source(site: Site, facts: ModuleFacts) -> tuple[str, str | None]:
    """The source `site` acquires from as written (`pool`, `SessionLocal`), and as comparable with
    a helper's: `<here>.pool` for a name of this module, the qualified name for an import."""
    func = site.call.func
    receiver = func.value if isinstance(func, cst.Attribute) else func
    text = dotted(receiver)
    if text is None or text.split(".", 1)[0] in ("self", "cls"):
        return text or "", None
    if text.split(".", 1)[0] in facts.imports:
        return text, facts.qualify(receiver)
    return text, f"{HERE}.{text}"


def _module_level(module: cst.Module) -> set[str]:
    """Names the module's own top-level imports bind (a function's local import does not serve
    another function)."""
    names: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            names.update(import_bindings(small))
    return names
