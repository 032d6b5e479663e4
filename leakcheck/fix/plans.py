"""The one main rewrite of a verdict: its rule's main forms (`Rule.fixes`), tried in the rule's
order (offers.py); the other candidates are candidates.py's."""

from __future__ import annotations

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.verdicts import Verdict
from leakcheck.checks import rule_for
from leakcheck.fix.offers import Ask, main_form
from leakcheck.fix.recipes import Plan


def plan(verdict: Verdict, facts: ModuleFacts, helpers: tuple[str, ...] = ()) -> Plan | None:
    """The main rewrite that fixes `verdict`, or None when no rewrite is known to be right (or no
    rule names the verdict).

    `helpers` (`fix-helpers` in the configuration): context managers of the project that hand out
    a pooled connection and give it back, used instead of try/finally for pool connections. Never
    raises for a verdict of `facts`' module.
    """
    rule = rule_for(verdict.site.kind.family, verdict.leak)
    if rule is None:
        return None
    return main_form(rule.fixes, Ask(verdict, facts, helpers))
