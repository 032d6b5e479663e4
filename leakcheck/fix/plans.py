"""The one rewrite of a verdict, in the order the recipes are tried: the main forms first
(recipes.py: `with`, try/finally around the range, a hand-off guarded, a `finally` nested), the
later recipes (coverage.py: one module each) where the main forms do not decide.
"""

from __future__ import annotations

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.verdicts import Verdict
from leakcheck.fix.coverage import plan_more
from leakcheck.fix.recipes import Plan, main_form


def plan(verdict: Verdict, facts: ModuleFacts, helpers: tuple[str, ...] = ()) -> Plan | None:
    """The rewrite that fixes `verdict`, or None when no rewrite is known to be right.

    `helpers` (`fix-helpers` in the configuration): context managers of the project that hand out
    a pooled connection and give it back, used instead of try/finally for pool connections. Never
    raises for a verdict of `facts`' module.
    """
    first = main_form(verdict, facts, helpers)
    if first.decided:
        return first.plan
    return plan_more(verdict, facts)
