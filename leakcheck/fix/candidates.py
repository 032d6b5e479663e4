"""The candidate fixes of one verdict, in order of preference.

A finding may be fixable in more than one way: the plain `with` / `try/finally` form, the
project's own context-manager helper (`fix-helpers`, or one detected in the project), a stream
or a loop rewritten around a short-lived session per iteration (per_iteration.py). `--fix`
applies the first candidate (when its applicability is allowed); the language server, JSON and
SARIF offer them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.managers import Manager, arguments, managers
from leakcheck.analysis.records import Escape, Origin
from leakcheck.analysis.syntax import dotted, import_bindings, walk
from leakcheck.analysis.verdicts import Verdict
from leakcheck.fix.helper_releases import releases_through_busy_helper
from leakcheck.fix.per_iteration import per_iteration
from leakcheck.fix.plans import plan
from leakcheck.fix.recipes import WRAPPED, Plan, handed_over_at, with_helper
from leakcheck.fix.register_early import register_early
from leakcheck.fix.streams import close_before_wait, function_scope
from leakcheck.model import Applicability


def candidates(
    verdict: Verdict,
    facts: ModuleFacts,
    helpers: tuple[str, ...] = (),
    where: Path | None = None,
) -> list[Plan]:
    """Every rewrite known to fix `verdict`, the preferred first; [] when none is known.

    `where`: the file on disk, whose project's dependency files say which FastAPI it runs on.

    An `ExitStack` registration moved up to the acquisition comes first where it applies (the
    two-line change a person makes). A configured helper (`fix-helpers`) comes next, as the
    project asked; the plain form after it. A helper detected in the project
    (`analysis/managers.py`) comes first when it takes from the same pool, engine or factory and
    is as safe as the plain form; otherwise after it. Rewrites that produce the same code are
    offered once.
    """
    if verdict.leak == Escape.PINNED_BY_STREAM:
        return unique([function_scope(verdict, facts, where)])
    if verdict.leak == Escape.HELD_ACROSS_AWAIT:
        return unique([close_before_wait(verdict, facts), per_iteration(verdict, facts)])
    if verdict.leak == Escape.CAPTURED_BY_STREAM:
        return unique([per_iteration(verdict, facts)])
    name = verdict.site.binding.name
    if name is not None and releases_through_busy_helper(verdict.site, facts, name):
        return []  # the helper's other work (a commit) would move or go with the release
    first = plan(verdict, facts, helpers)
    found: list[Plan | None] = [_registered_early(verdict, facts), first]
    if helpers:
        found.append(plan(verdict, facts))
    plain = found[-1]
    wrapped = verdict.leak in WRAPPED and verdict.site.binding.how == Origin.ASSIGN
    for helper in detected(verdict.site, facts) if wrapped else ():
        rewrite = with_helper(
            verdict, facts, helper.call, helper.manager.asynchronous, helper.reason, helper.imports
        )
        if rewrite is None:
            continue
        preferred = (
            helper.same_source
            and not helpers
            and (
                plain is None
                or rewrite.applicability == Applicability.SAFE
                or plain.applicability != Applicability.SAFE
            )
        )
        if preferred:
            found.insert(0, rewrite)
        else:
            found.append(rewrite)
    return unique(found)


def _registered_early(verdict: Verdict, facts: ModuleFacts) -> Plan | None:
    """The `ExitStack` registration moved up to the acquisition (register_early.py), for an error
    before a hand-off to the stack; preferred to guarding the statements between. None otherwise."""
    handed = handed_over_at(verdict) if verdict.leak == Escape.EXCEPTION else None
    if handed is None or verdict.site.binding.how != Origin.ASSIGN:
        return None
    return register_early(verdict.site, facts, handed)


def unique(plans: list[Plan | None]) -> list[Plan]:
    """`plans` without None and without a plan whose new code another earlier plan already has."""
    out: list[Plan] = []
    for candidate in plans:
        if candidate is None:
            continue
        if any(p.old is candidate.old and p.new.deep_equals(candidate.new) for p in out):
            continue
        out.append(candidate)
    return out


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
