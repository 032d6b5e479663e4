"""Lifetimes the frameworks decide: paired request hooks (`hooks.py`), middleware that wraps the
request (`middleware.py`), and code run outside any request (`outside.py`).

`framework_findings` is the one entry the engine calls. The frameworks' lifecycles are data
(`rules/lifecycles.toml`, `config/lifecycles.py`); the resources are the kind catalogue's.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leakcheck.analysis.facts import ModuleFacts
    from leakcheck.model import Finding


def relevant(source: bytes) -> bool:
    """Whether `source` mentions anything the framework rules look at (a cheap screen)."""
    return any(token in source for token in _tokens())


@cache
def _tokens() -> tuple[bytes, ...]:
    """What a module must mention to get a finding, from the data: a hook skipped on errors
    (`hook-release-skipped-on-error`), a middleware's hand-off
    (`middleware-release-not-in-finally`), a registry's constructor
    (`scoped-session-outside-request-without-remove`), a framework with request hooks."""
    from leakcheck.config.catalogue import builtin_kinds
    from leakcheck.config.lifecycles import lifecycles

    data = lifecycles()
    words = {c.hook for pair in data.hooks for c in pair.closing.values() if not c.on_error}
    words |= {shape.next for shape in data.middleware}
    # A name bound to a connection and then stored on the framework's context, never released:
    # any module of the framework may hold one.
    words |= {module for pair in data.hooks for module in pair.modules}
    words |= {
        name.rsplit(".", 1)[-1]
        for kind in builtin_kinds()
        if kind.registry
        for name in kind.acquire_callables
    }
    return tuple(sorted(word.encode() for word in words))


def framework_findings(facts: ModuleFacts, source: bytes, path: str) -> list[Finding]:
    """The framework rules' findings for one module: `facts` collected from its tree, `source`
    its bytes (screened first), `path` as findings name it."""
    if not relevant(source):
        return []
    from leakcheck.analysis.django.drafts import Draft, findings
    from leakcheck.analysis.frameworks.hooks import hook_drafts
    from leakcheck.analysis.frameworks.middleware import middleware_drafts
    from leakcheck.analysis.frameworks.outside import outside_drafts
    from leakcheck.config.lifecycles import lifecycles

    data = lifecycles()
    drafts: list[Draft] = []
    for pair in data.hooks:
        if _imports_any(facts, pair.modules):
            drafts += hook_drafts(facts, pair)
    for middleware in data.middleware:
        if _imports_any(facts, middleware.modules):
            drafts += middleware_drafts(facts, middleware)
    drafts += outside_drafts(facts, data)
    return findings(facts.module, drafts, path)


def _imports_any(facts: ModuleFacts, modules: tuple[str, ...]) -> bool:
    """Does the module import one of `modules` (or something under one)?"""
    return any(
        full == m or full.startswith(f"{m}.") for full in facts.imports.values() for m in modules
    )
