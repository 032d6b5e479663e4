"""The fixes a rule offers are declared in its module (`Rule.fixes`) and read from there: every
recipe is offered by some rule and has its function in the fixer's registry (fix/offers.py)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import libcst as cst
import pytest

import leakcheck.fix.candidates
from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.judge import all_verdicts
from leakcheck.checks import RULES, rule_for
from leakcheck.checks.rule import Rule
from leakcheck.config.catalogue import builtin_kinds
from leakcheck.fix.candidates import candidates
from leakcheck.fix.offers import OFFERS
from leakcheck.model import Recipe

# The Django rules' fixes are text edits drafted with their findings (analysis/django/), not
# rewrites of a verdict of the lifetime analysis.
DRAFTED = frozenset({"django", "suppression"})
VERDICT_RULES = [rule for rule in RULES if rule.family not in DRAFTED]
IDS = [rule.name for rule in VERDICT_RULES]


def fix_safety(rule: Rule) -> str:
    """The text under the rule's `## Fix safety` heading."""
    found = re.search(r"^## Fix safety\n(.*?)(?=^## |\Z)", rule.doc, re.M | re.S)
    assert found is not None, rule.name
    return found.group(1).strip()


@pytest.mark.parametrize("rule", VERDICT_RULES, ids=IDS)
def test_a_rule_with_a_fixed_example_declares_its_recipes(rule: Rule) -> None:
    # (Not the converse: an example may show a case its recipes leave alone.)
    if any(example.fixed is not None for example in rule.invalid):
        assert rule.fixes, rule.name


@pytest.mark.parametrize("rule", VERDICT_RULES, ids=IDS)
def test_the_fix_safety_doc_agrees_with_the_recipes(rule: Rule) -> None:
    assert fix_safety(rule).startswith("No fix") == (not rule.fixes), rule.name


@pytest.mark.parametrize("rule", VERDICT_RULES, ids=IDS)
def test_the_project_helper_comes_after_the_main_forms(rule: Rule) -> None:
    # It is preferred or not by comparison with the main rewrite, known only after it.
    assert len(set(rule.fixes)) == len(rule.fixes), rule.name
    if Recipe.PROJECT_HELPER in rule.fixes:
        after = rule.fixes[rule.fixes.index(Recipe.PROJECT_HELPER) :]
        assert not any(OFFERS[recipe].main for recipe in after), rule.name


def test_the_drafted_rules_declare_no_recipe() -> None:
    # Their fixes are not chosen from `Rule.fixes`: a recipe named there would be ignored.
    assert [rule.name for rule in RULES if rule.family in DRAFTED and rule.fixes] == []


def test_every_recipe_is_offered_by_a_rule_and_registered() -> None:
    offered = {recipe for rule in RULES for recipe in rule.fixes}
    assert set(Recipe) - offered == set()
    assert set(Recipe) - set(OFFERS) == set()


SOURCE = b"""\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def run(sql):
    conn = pool.getconn()
    cur = conn.cursor()
    cur.execute(sql)
    pool.putconn(conn)
"""


def test_the_candidates_are_the_rules_recipes(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = ModuleFacts(cst.parse_module(SOURCE), builtin_kinds())
    [verdict] = all_verdicts(facts)
    rule = rule_for(verdict.site.kind.family, verdict.leak)
    assert rule is not None and Recipe.WRAP in rule.fixes
    [offered] = candidates(verdict, facts)
    assert offered.title == "Release `conn` in `finally`"

    def declaring(*fixes: Recipe) -> None:
        changed = dataclasses.replace(rule, fixes=fixes)
        monkeypatch.setattr(leakcheck.fix.candidates, "rule_for", lambda family, leak: changed)

    declaring()
    assert candidates(verdict, facts) == []
    # No `except` to move the release from; it applies to an assigned connection, so it decides.
    declaring(Recipe.RELEASE_IN_FINALLY, Recipe.WRAP)
    assert candidates(verdict, facts) == []
    declaring(Recipe.WRAP, Recipe.RELEASE_IN_FINALLY)  # the first main form that decides
    assert [p.title for p in candidates(verdict, facts)] == [offered.title]
    declaring(Recipe.RELEASE_IN_EXIT, Recipe.WRAP)  # for an attribute: does not apply here
    assert [p.title for p in candidates(verdict, facts)] == [offered.title]


def test_a_main_form_that_decides_without_a_rewrite_stops_the_later_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = SOURCE.replace(b"    pool.putconn(conn)\n", b"    return conn\n")
    facts = ModuleFacts(cst.parse_module(source), builtin_kinds())
    [verdict] = all_verdicts(facts)  # an error before `conn` is handed to the caller
    rule = rule_for(verdict.site.kind.family, verdict.leak)
    assert rule is not None and Recipe.RELEASE_BEFORE_HANDOFF in rule.fixes
    [guarded] = candidates(verdict, facts)
    assert guarded.title == "Return `conn` to the pool if an error comes before it is handed over"
    later = dataclasses.replace(rule, fixes=(Recipe.RELEASE_IN_FINALLY, Recipe.WRAP))
    monkeypatch.setattr(leakcheck.fix.candidates, "rule_for", lambda family, leak: later)
    assert candidates(verdict, facts) == []  # the hand-off keeps `with` and `finally` out


def test_the_rule_modules_name_their_recipes_not_the_fixer() -> None:
    # The rule modules import the recipes from the model, never the fixer's registry.
    checks = Path(leakcheck.fix.candidates.__file__).parents[1] / "checks"
    for path in checks.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "leakcheck.fix" not in text and "leakcheck.analysis" not in text, path.name
