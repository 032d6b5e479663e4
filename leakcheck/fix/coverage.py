"""Recipes for the leaks the main forms (`with`, or try/finally around the range) cannot fix, one
module each; this one picks:

- cmexit.py: a context-manager class: the release in `__exit__` into `finally`, and in
  `__enter__` on the error path after the acquisition;
- excepts.py: a release written in `except` (and perhaps after the `try`) -> `finally`;
- afterwith.py: a release right after the `with` block that used the connection;
- loops.py: acquired in each iteration, released once after the loop -> per iteration;
- overwrite.py: a name reused while it holds a resource -> the first released before;
- withitems.py: a connection item of a multi-item `with` whose `with` does not release.
"""

from __future__ import annotations

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.records import Escape, Origin
from leakcheck.analysis.verdicts import Verdict
from leakcheck.fix.afterwith import release_into_with
from leakcheck.fix.cmexit import release_in_exit, release_never_in_exit
from leakcheck.fix.excepts import release_in_finally
from leakcheck.fix.loops import release_per_iteration
from leakcheck.fix.overwrite import release_before_reuse
from leakcheck.fix.recipes import Plan
from leakcheck.fix.withitems import release_with_items


def plan_more(verdict: Verdict, facts: ModuleFacts) -> Plan | None:
    """A rewrite for `verdict` from the recipes below, or None."""
    site = verdict.site
    if verdict.leak in (Escape.EXCEPTION, Escape.EARLY_EXIT) and site.binding.how == Origin.ASSIGN:
        return release_in_finally(site, facts)
    if verdict.leak in (Escape.EXCEPTION, Escape.EARLY_EXIT) and site.binding.how == Origin.WITH:
        return release_into_with(site, facts)
    if verdict.leak == Escape.NEVER and site.binding.how == Origin.WITH:
        return release_with_items(site, facts)
    if verdict.leak == Escape.LOOP and site.binding.how == Origin.ASSIGN:
        return release_per_iteration(site, facts)
    if verdict.leak == Escape.OVERWRITTEN and site.binding.how == Origin.ASSIGN:
        return release_before_reuse(site, facts)
    if verdict.leak == Escape.EXCEPTION and site.binding.how == Origin.ATTRIBUTE:
        return release_in_exit(verdict, facts)
    if verdict.leak == Escape.NEVER and site.binding.how == Origin.ATTRIBUTE:
        return release_never_in_exit(verdict, facts)
    return None
