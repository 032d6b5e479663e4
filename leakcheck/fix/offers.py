"""The fix recipes a rule can name (`model.Recipe`), each mapped to its function: the registry.

A rule lists the recipes it offers (`Rule.fixes`, in its module), in order of preference;
candidates.py walks that list. Every recipe here has the same signature, `(Ask) -> Offer`, and
checks what it needs itself: how the resource is bound (`Origin`), a hand-off, the kind's fields,
and, for a recipe that drops or moves the release, that the release does not go through a helper
that also does other work (helper_releases.py). A recipe that does not apply offers nothing.

Two sorts (`Entry.main`):

- the main forms: alternatives, tried in the rule's order; the first that decides gives the one
  main rewrite of the verdict (`main_form`). One decides when it applies, even when it finds no
  right rewrite (a guarded hand-off, a `with` entered, a `finally` nested): the later ones are then
  not tried. `WRAP` and `WITH_THAT_RELEASES` decide only when they have a rewrite;
- the others, offered beside the main rewrite in the rule's order (an `ExitStack` registration
  moved up, a stream's session per iteration, the project's helper).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.records import Origin
from leakcheck.analysis.verdicts import Verdict
from leakcheck.fix.afterwith import release_into_with
from leakcheck.fix.branches import wrap_from_branch
from leakcheck.fix.cmexit import release_in_exit, release_never_in_exit
from leakcheck.fix.collection import release_loop_in_finally
from leakcheck.fix.excepts import release_in_finally
from leakcheck.fix.existing_try import release_in_existing_try
from leakcheck.fix.helper_releases import releases_through_busy_helper
from leakcheck.fix.late_try import try_from_acquisition
from leakcheck.fix.loops import release_per_iteration
from leakcheck.fix.overwrite import release_before_reuse
from leakcheck.fix.per_iteration import per_iteration
from leakcheck.fix.project_helpers import detected
from leakcheck.fix.ranges import handed_to_later
from leakcheck.fix.recipes import (
    Plan,
    enter,
    handed_over_at,
    nest_release,
    release_before_handoff,
    with_helper,
    with_that_releases,
    wrap,
)
from leakcheck.fix.register_early import register_early
from leakcheck.fix.source_context import source_context
from leakcheck.fix.streams import close_before_wait, function_scope
from leakcheck.fix.withitems import release_with_items
from leakcheck.model import Applicability, Recipe

__all__ = ["OFFERS", "Ask", "Entry", "Offer", "main_form", "main_forms"]


@dataclass(frozen=True)
class Ask:
    """What a recipe is asked: a verdict of `facts`' module.

    `helpers`: the configured `fix-helpers` (context managers of the project for pool
    connections), () on the plain pass; `where`: the file on disk (its project's dependency files
    say which FastAPI it runs on); `plain`: the main rewrite without configured helpers, once
    known (the project's helper is preferred or not by comparison with it).
    """

    verdict: Verdict
    facts: ModuleFacts
    helpers: tuple[str, ...] = ()
    where: Path | None = None
    plain: Plan | None = None
    # Shared by the copies `dataclasses.replace` makes of one question: computed once.
    memo: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @property
    def busy(self) -> bool:
        """Is the resource released through a helper that also does other work (a commit)? Then a
        recipe that drops or moves that release would move or drop the other work with it."""
        if "busy" not in self.memo:
            site = self.verdict.site
            name = site.binding.name
            self.memo["busy"] = name is not None and releases_through_busy_helper(
                site, self.facts, name
            )
        return self.memo["busy"]

    @property
    def assigned(self) -> bool:
        """Is the resource bound by an assignment (`conn = pool.getconn()`)?"""
        return self.verdict.site.binding.how == Origin.ASSIGN


@dataclass(frozen=True)
class Offer:
    """What a recipe makes of a verdict: the rewrites it offers, in order, and for a main form
    whether it decides (the later main forms are not tried, even when it offers none). `ahead`:
    rewrites to offer before every other candidate, each put first in turn."""

    plans: tuple[Plan, ...] = ()
    decided: bool = False
    ahead: tuple[Plan, ...] = ()


NOTHING = Offer()


def _offer(plan: Plan | None, decided: bool = False) -> Offer:
    return Offer(() if plan is None else (plan,), decided)


def _decided_if_found(plan: Plan | None) -> Offer:
    return Offer((plan,), True) if plan is not None else NOTHING


# -- offered beside the main rewrite --------------------------------------------------------------


def _register_early(ask: Ask) -> Offer:
    """An error before a hand-off to an `ExitStack`: the registration moved up to the acquisition
    (register_early.py), preferred to guarding the statements between."""
    handed = handed_over_at(ask.verdict)
    if handed is None or not ask.assigned or ask.busy:
        return NOTHING
    return _offer(register_early(ask.verdict.site, ask.facts, handed))


def _function_scope(ask: Ask) -> Offer:
    """A FastAPI dependency's session pinned by a stream: `Depends(..., scope="function")`."""
    return _offer(function_scope(ask.verdict, ask.facts, ask.where))


def _close_before_wait(ask: Ask) -> Offer:
    """A session kept open across a wait: closed before it (streams.py)."""
    return _offer(close_before_wait(ask.verdict, ask.facts))


def _per_iteration(ask: Ask) -> Offer:
    """A session per iteration of the loop or stream that holds it (per_iteration.py)."""
    return _offer(per_iteration(ask.verdict, ask.facts))


def _project_helper(ask: Ask) -> Offer:
    """`with helper() as name:` for each helper of the project detected for this kind
    (project_helpers.py): first when it takes from the same pool, engine or factory, no helper is
    configured, and it is as safe as the plain main rewrite (`ask.plain`); after it otherwise."""
    verdict, facts = ask.verdict, ask.facts
    if not ask.assigned or ask.busy:
        return NOTHING
    plans: list[Plan] = []
    ahead: list[Plan] = []
    for helper in detected(verdict.site, facts):
        rewrite = with_helper(
            verdict, facts, helper.call, helper.manager.asynchronous, helper.reason, helper.imports
        )
        if rewrite is None:
            continue
        plain = ask.plain
        preferred = (
            helper.same_source
            and not ask.helpers
            and (
                plain is None
                or rewrite.applicability == Applicability.SAFE
                or plain.applicability != Applicability.SAFE
            )
        )
        (ahead if preferred else plans).append(rewrite)
    return Offer(tuple(plans), ahead=tuple(ahead))


def _source_context(ask: Ask) -> Offer:
    """`with db.connection_context():` instead of the acquisition and its try/finally, for a
    resource its source holds (source_context.py): first when as safe as the plain main rewrite
    (`ask.plain`), so it wins a tie on size; after it otherwise."""
    if not ask.assigned or ask.busy:
        return NOTHING
    plan = source_context(ask.verdict.site, ask.facts)
    if plan is None:
        return NOTHING
    plain = ask.plain
    if (
        plain is None
        or plan.applicability == Applicability.SAFE
        or plain.applicability != Applicability.SAFE
    ):
        return Offer(ahead=(plan,))
    return Offer((plan,))


# -- the main forms ------------------------------------------------------------------------------


def _release_before_handoff(ask: Ask) -> Offer:
    """An error before the resource is handed over (returned, stored, given to a thread or to a
    task whose coroutine releases it): released in `except BaseException:` before the hand-off.
    Decides when there is such a hand-off."""
    if not ask.assigned or ask.busy:
        return NOTHING
    site = ask.verdict.site
    handed = handed_over_at(ask.verdict)
    if handed is None:
        handed = handed_to_later(site, ask.facts)
    if handed is None:
        return NOTHING
    return _offer(release_before_handoff(site, ask.facts, handed), decided=True)


def _wrap(ask: Ask) -> Offer:
    """`with` (a configured helper for a pool connection), or try/finally with the release,
    around the range; for a resource taken again in a branch and released after it, the branch
    and the rest of the range in try/finally (branches.py); for a `try` releasing it in `finally`
    that starts late, the statements before it moved in (late_try.py); decides when it has a
    rewrite. Without configured helpers, a `try` right after the acquisition that covers the
    range gets the release in its own `finally` (existing_try.py), offered before the new
    try/finally, which stays the next candidate should the smaller one fail its checks.
    Connections kept in a list and given back by a loop after their use: that loop in `finally`
    (collection.py)."""
    site, facts = ask.verdict.site, ask.facts
    if site.binding.how == Origin.COLLECTION and not ask.busy:
        return _decided_if_found(release_loop_in_finally(site, facts))
    if not ask.assigned or ask.busy:
        return NOTHING
    existing = None if ask.helpers else release_in_existing_try(site, facts)
    plan = (
        wrap(site, facts, ask.helpers)
        or wrap_from_branch(site, facts)
        or try_from_acquisition(site, facts)
    )
    plans = tuple(p for p in (existing, plan) if p is not None)
    return Offer(plans, True) if plans else NOTHING


def _with_that_releases(ask: Ask) -> Offer:
    """A `with` whose exit does not release (`with psycopg2.connect() as conn:`) made to release;
    decides when it has a rewrite."""
    if ask.verdict.site.binding.how != Origin.WITH or ask.busy:
        return NOTHING
    return _decided_if_found(with_that_releases(ask.verdict.site, ask.facts))


def _enter(ask: Ask) -> Offer:
    """A context manager called without `with`, assigned: entered with `with`."""
    if not ask.assigned or ask.busy:
        return NOTHING
    return _offer(enter(ask.verdict.site, ask.facts), decided=True)


def _nest_release(ask: Ask) -> Offer:
    """A release in `finally` after a statement that may raise (`verdict.node`): the statements
    before it in their own try/finally."""
    if ask.verdict.node is None or ask.busy:
        return NOTHING
    return _offer(nest_release(ask.verdict, ask.facts), decided=True)


def _bound(recipe: Callable[[Ask], Plan | None], how: Origin) -> Callable[[Ask], Offer]:
    """A main form for a resource bound `how` (an assignment, a `with`, an attribute of a
    context-manager class): decides whenever it applies, with or without a rewrite."""

    def offer(ask: Ask) -> Offer:
        if ask.verdict.site.binding.how != how or ask.busy:
            return NOTHING
        return _offer(recipe(ask), decided=True)

    return offer


def _release_in_finally(ask: Ask) -> Plan | None:
    """A release written in `except` (and perhaps after the `try`) moved into a new `finally`."""
    return release_in_finally(ask.verdict.site, ask.facts)


def _release_into_with(ask: Ask) -> Plan | None:
    """A release right after the `with` block that used the connection, moved into it."""
    return release_into_with(ask.verdict.site, ask.facts)


def _release_with_items(ask: Ask) -> Plan | None:
    """A connection item of a multi-item `with` whose `with` does not release it, released."""
    return release_with_items(ask.verdict.site, ask.facts)


def _release_per_iteration(ask: Ask) -> Plan | None:
    """Acquired in each iteration, released once after the loop: released in each iteration."""
    return release_per_iteration(ask.verdict.site, ask.facts)


def _release_before_reuse(ask: Ask) -> Plan | None:
    """A name reused while it holds a resource: the first released before the reuse."""
    return release_before_reuse(ask.verdict.site, ask.facts)


def _release_in_exit(ask: Ask) -> Plan | None:
    """A context-manager class: the release in `__exit__` into `finally`, and in `__enter__` on
    the error path after the acquisition."""
    return release_in_exit(ask.verdict, ask.facts)


def _release_never_in_exit(ask: Ask) -> Plan | None:
    """A context-manager class whose `__exit__` never releases: the release added (unsafe)."""
    return release_never_in_exit(ask.verdict, ask.facts)


@dataclass(frozen=True)
class Entry:
    """A recipe's function and whether it is one of the main forms (alternatives, one rewrite)."""

    make: Callable[[Ask], Offer]
    main: bool


OFFERS: dict[Recipe, Entry] = {
    Recipe.REGISTER_EARLY: Entry(_register_early, main=False),
    Recipe.FUNCTION_SCOPE: Entry(_function_scope, main=False),
    Recipe.CLOSE_BEFORE_WAIT: Entry(_close_before_wait, main=False),
    Recipe.PER_ITERATION: Entry(_per_iteration, main=False),
    Recipe.PROJECT_HELPER: Entry(_project_helper, main=False),
    Recipe.SOURCE_CONTEXT: Entry(_source_context, main=False),
    Recipe.RELEASE_BEFORE_HANDOFF: Entry(_release_before_handoff, main=True),
    Recipe.WRAP: Entry(_wrap, main=True),
    Recipe.WITH_THAT_RELEASES: Entry(_with_that_releases, main=True),
    Recipe.ENTER: Entry(_enter, main=True),
    Recipe.NEST_RELEASE: Entry(_nest_release, main=True),
    Recipe.RELEASE_IN_FINALLY: Entry(_bound(_release_in_finally, Origin.ASSIGN), main=True),
    Recipe.RELEASE_INTO_WITH: Entry(_bound(_release_into_with, Origin.WITH), main=True),
    Recipe.RELEASE_WITH_ITEMS: Entry(_bound(_release_with_items, Origin.WITH), main=True),
    Recipe.RELEASE_PER_ITERATION: Entry(_bound(_release_per_iteration, Origin.ASSIGN), main=True),
    Recipe.RELEASE_BEFORE_REUSE: Entry(_bound(_release_before_reuse, Origin.ASSIGN), main=True),
    Recipe.RELEASE_IN_EXIT: Entry(_bound(_release_in_exit, Origin.ATTRIBUTE), main=True),
    Recipe.RELEASE_NEVER_IN_EXIT: Entry(
        _bound(_release_never_in_exit, Origin.ATTRIBUTE), main=True
    ),
}


def main_form(fixes: tuple[Recipe, ...], ask: Ask) -> Plan | None:
    """The main rewrite of `ask.verdict` from a rule's recipes (`fixes`): the first plan of the
    first main form that decides, or None when none decides or the deciding one finds no right
    rewrite. Raises KeyError for a recipe the registry lacks."""
    plans = main_forms(fixes, ask)
    return plans[0] if plans else None


def main_forms(fixes: tuple[Recipe, ...], ask: Ask) -> tuple[Plan, ...]:
    """Every plan of the first main form of `fixes` that decides, preferred first (a smaller
    rewrite of the same form, then the general one); () when none decides or the deciding one
    finds no right rewrite. Raises KeyError for a recipe the registry lacks."""
    for recipe in fixes:
        entry = OFFERS[recipe]
        if not entry.main:
            continue
        offer = entry.make(ask)
        if offer.decided:
            return offer.plans
    return ()
