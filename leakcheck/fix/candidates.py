"""The candidate fixes of one verdict, in order of preference.

A finding may be fixable in more than one way: the plain `with` / `try/finally` form, the
project's own context-manager helper (`fix-helpers`, or one detected in the project), a stream
rewritten around a short-lived session. `--fix` applies the first candidate (when its
applicability is allowed); the language server, JSON and SARIF offer them all.
"""

from __future__ import annotations

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.verdicts import Verdict
from leakcheck.fix.recipes import Plan, plan


def candidates(verdict: Verdict, facts: ModuleFacts, helpers: tuple[str, ...] = ()) -> list[Plan]:
    """Every rewrite known to fix `verdict`, the preferred first; [] when none is known.

    A configured helper (`fix-helpers`) comes first, as the project asked; the plain form after
    it. Rewrites that produce the same code are offered once.
    """
    found: list[Plan | None] = [plan(verdict, facts, helpers)]
    if helpers:
        found.append(plan(verdict, facts))
    return unique(found)


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
