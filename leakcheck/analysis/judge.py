"""Every rule family's verdicts for one module, from its facts: the analysis stage's one entry."""

from __future__ import annotations

from leakcheck.analysis.cmclass import context_manager_classes
from leakcheck.analysis.contexts import stored_on_context
from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.streams import captured
from leakcheck.analysis.unentered import unentered
from leakcheck.analysis.verdicts import ERROR_PATHS, Verdict, error_ends_the_run, judge


def all_verdicts(facts: ModuleFacts) -> list[Verdict]:
    """Every rule's verdicts for one module: leaks, `held-across-await`, `unentered` and
    `captured-by-stream`, and resources that context-manager classes keep on `self` (one verdict
    per acquiring call). Error paths are not judged where an error ends the run anyway
    (`verdicts.error_ends_the_run`), whichever analysis found them."""
    sites = facts.sites(managed=True) + facts.param_sites()
    verdicts = [verdict for site in sites for verdict in judge(site, facts)]
    judged = {id(v.site.call) for v in verdicts}
    classes = [
        v
        for v in context_manager_classes(facts) + stored_on_context(facts)
        if id(v.site.call) not in judged
        and not (
            v.leak in ERROR_PATHS and error_ends_the_run(v.site.scope, v.site.class_name, facts)
        )
    ]
    return verdicts + classes + unentered(facts) + captured(facts, sites)
