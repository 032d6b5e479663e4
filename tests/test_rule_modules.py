"""A rule is one module (`leakcheck/checks/`), and only its module names its code: the engine,
the fixes, the project model, the reports and the shells read rules from the registry."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from leakcheck.analysis.records import Escape
from leakcheck.checks import PREFERENCE, RULES
from leakcheck.checks.rule import Rule

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "leakcheck"
CHECKS = PACKAGE / "checks"
CODE = re.compile(r"\bLC\d{3}\b")
# Mentions not yet removed, each with its count (the count may only fall).
KNOWN: dict[str, int] = {}


def test_no_rule_code_outside_the_rule_modules() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if CHECKS in path.parents:
            continue
        count = len(CODE.findall(path.read_text(encoding="utf-8")))
        if count:
            found[path.relative_to(PACKAGE).as_posix()] = count
    assert {name: n for name, n in found.items() if n > KNOWN.get(name, 0)} == {}


def test_every_rule_module_is_registered_once() -> None:
    modules = sorted(p.stem for p in CHECKS.glob("*.py") if p.stem not in ("__init__", "rule"))
    rules = []
    for name in modules:
        module = importlib.import_module(f"leakcheck.checks.{name}")
        assert isinstance(module.RULE, Rule), name
        assert module.RULE.name.replace("-", "_") == name  # named for the pattern it flags
        assert module.RULE.doc == (module.__doc__ or "").strip()
        rules.append(module.RULE)
    assert sorted(r.code for r in RULES) == sorted(r.code for r in rules)
    assert len({r.code for r in RULES}) == len(RULES) == len({r.name for r in RULES})


def test_the_order_of_preference_covers_both_families() -> None:
    """Every escape class one acquisition can have several of is ranked, once, and each pool rule
    of the order has its session twin."""
    order = [rule.leak for rule in PREFERENCE]
    assert len(set(order)) == len(order)
    assert all(Escape(leak) for leak in order)
    for family in ("pool", "session"):
        assert all(any(r.judges(family, leak) for r in RULES) for leak in order), family
