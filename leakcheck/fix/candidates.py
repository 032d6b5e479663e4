"""The candidate fixes of one verdict, in order of preference: its rule's recipes, walked.

A finding may be fixable in more than one way: the plain `with` / `try/finally` form, the
project's own context-manager helper (`fix-helpers`, or one detected in the project), a stream
or a loop rewritten around a short-lived session per iteration (per_iteration.py). The rule that
names the verdict lists the recipes it offers (`Rule.fixes`, in its module); offers.py maps each
to its function. `--fix` applies the first candidate (when its applicability is allowed); the
language server, JSON and SARIF offer them all. The smallest correct diff goes first
(smallest.py): safe before unsafe, within the project's line length, fewest changed lines, then
the rule's order.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.syntax import walk
from leakcheck.analysis.verdicts import Verdict
from leakcheck.checks import rule_for
from leakcheck.config.catalogue import Kind
from leakcheck.config.line_length import line_length
from leakcheck.fix.drops import overridden_drop
from leakcheck.fix.offers import OFFERS, Ask, main_forms
from leakcheck.fix.ranges import caching_factory
from leakcheck.fix.recipes import Plan
from leakcheck.fix.smallest import smallest_first
from leakcheck.model import Applicability


def candidates(
    verdict: Verdict,
    facts: ModuleFacts,
    helpers: tuple[str, ...] = (),
    where: Path | None = None,
) -> list[Plan]:
    """Every rewrite known to fix `verdict`, the preferred first; [] when none is known (or no
    rule names the verdict).

    `helpers`: the configured `fix-helpers`; `where`: the file on disk, whose project's dependency
    files say which FastAPI it runs on.

    The rule's recipes are walked in its order. Where its first main form stands, the one main
    rewrite (offers.main_forms: a smaller form of it first, where one applies) is offered: with
    the configured helpers, then without them when some are configured (the plain form). Each
    other recipe offers its rewrites where it stands, except a helper detected in the project
    that is preferred (same source, as safe as the plain form, none configured): it goes first.
    Rewrites that produce the same code are offered once. A rewrite that releases over a path
    dropping the resource on purpose is unsafe (drops.py).
    None is offered for a resource from this module's factory that also keeps what it returns
    (`ranges.caching_factory`): every rewrite would release what other callers share.
    Raises KeyError for a recipe the registry (offers.OFFERS) lacks.
    """
    rule = rule_for(verdict.site.kind.family, verdict.leak)
    if rule is None or caching_factory(verdict.site, facts):
        return []  # a factory that keeps what it hands out: its callers share it
    ask = Ask(verdict, facts, helpers, where)
    found: list[Plan | None] = []
    main_done = False
    for recipe in rule.fixes:
        entry = OFFERS[recipe]
        if entry.main:
            if not main_done:
                main_done = True
                forms = main_forms(rule.fixes, ask)
                found.extend(forms)
                if helpers:
                    forms = main_forms(rule.fixes, replace(ask, helpers=()))
                    found.extend(forms)
                ask = replace(ask, plain=forms[0] if forms else None)
            continue
        offer = entry.make(ask)
        found.extend(offer.plans)
        for rewrite in offer.ahead:
            found.insert(0, rewrite)
    plans = [_keeping_drops(p, verdict, facts) for p in unique(found)]
    return smallest_first(plans, facts.module, line_length(where))


def _keeping_drops(plan: Plan, verdict: Verdict, facts: ModuleFacts) -> Plan:
    """`plan`, unsafe with the branch named when it releases over a path that drops the resource
    on purpose (drops.py), or with the kind's `fix_caveat` (a project pool whose release takes
    more than the connection)."""
    caveat = verdict.site.kind.fix_caveat if _writes_release(plan, verdict.site.kind) else ""
    reason = overridden_drop(plan.old, plan.new, verdict.site, facts) or caveat
    if not reason:
        return plan
    joined = f"{plan.reason}; {reason}" if plan.reason else reason
    return replace(plan, applicability=Applicability.UNSAFE, reason=joined)


def _writes_release(plan: Plan, kind: Kind) -> bool:
    """Does `plan` write a release call of its own (`pool.release(conn)`), rather than only move
    the code's (which keeps its arguments)? The recipes move the original nodes, so a call of
    `plan.new` that is not in `plan.old` was written by the fix."""
    moved = {id(node) for node in walk(plan.old) if isinstance(node, cst.Call)}
    for node in walk(plan.new):
        if not isinstance(node, cst.Call) or id(node) in moved:
            continue
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in kind.release_methods:
            return True
    return False


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
