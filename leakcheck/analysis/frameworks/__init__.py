"""Lifetimes the frameworks decide: paired request hooks (`hooks.py`), middleware that wraps the
request (`middleware.py`), and code run outside any request (`outside.py`).

`framework_findings` is the one entry the engine calls. The frameworks' lifecycles are data
(`rules/lifecycles.toml`, `config/lifecycles.py`); the resources are the kind catalogue's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leakcheck.analysis.facts import ModuleFacts
    from leakcheck.model import Finding

# A module that mentions none of these cannot get a finding of these rules (a cheap screen).
TOKENS: tuple[bytes, ...] = (
    b"before_request",
    b"before_app_request",
    b"call_next",
    b"scoped_session",
)


def relevant(source: bytes) -> bool:
    """Whether `source` mentions anything the framework rules look at."""
    return any(token in source for token in TOKENS)


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
