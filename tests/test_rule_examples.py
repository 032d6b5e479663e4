"""Every rule's examples, from its module (`leakcheck/checks/`): an invalid example gives exactly
its (code, line) findings and `--fix` (or `--unsafe-fixes`) writes exactly its fixed source; a
valid one gives no finding of its rule. Generated from the registry: a new rule's examples are
tested by adding them to its module."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakcheck.checks import RULES, Invalid, Rule, Valid
from leakcheck.config.selection import Overrides
from leakcheck.project.api import check_buffer, fix_file
from leakcheck.project.runner import Options

INVALID = [
    pytest.param(rule, example, id=f"{rule.code}-invalid-{i}")
    for rule in RULES
    for i, example in enumerate(rule.invalid, 1)
]
VALID = [
    pytest.param(rule, example, id=f"{rule.code}-valid-{i}")
    for rule in RULES
    for i, example in enumerate(rule.valid, 1)
]


def findings(rule: Rule, source: str, tmp_path: Path) -> set[tuple[str, int]]:
    """(code, line) of every finding in `source`, every rule selected (the rule's own too, when
    it is opt-in), unused suppressions reported, no configuration file read."""
    options = Options(
        isolated=True,
        overrides=Overrides(select=("ALL", rule.code)),
        report_unused_noqa=True,
    )
    result = check_buffer(source.encode(), tmp_path / "example.py", options=options)
    return {(f.code, f.line) for f in result.findings}


def test_every_rule_has_examples() -> None:
    assert [r.code for r in RULES if not r.invalid] == []


@pytest.mark.parametrize(("rule", "example"), INVALID)
def test_invalid_example(rule: Rule, example: Invalid, tmp_path: Path) -> None:
    assert findings(rule, example.source, tmp_path) == set(example.findings)
    assert rule.code in {code for code, _ in example.findings}
    path = tmp_path / "example.py"
    path.write_text(example.source, encoding="utf-8")
    safe = fix_file(path).source.decode()
    unsafe = fix_file(path, unsafe=True).source.decode()
    if example.fixed is None:
        assert (safe, unsafe) == (example.source, example.source)
    elif example.unsafe:
        assert (safe, unsafe) == (example.source, example.fixed)
    else:
        assert safe == example.fixed
    if example.fixed is not None:  # fixing converges: the fixed code has nothing left to fix
        assert rule.code not in {code for code, _ in findings(rule, example.fixed, tmp_path)}


@pytest.mark.parametrize(("rule", "example"), VALID)
def test_valid_example(rule: Rule, example: Valid, tmp_path: Path) -> None:
    assert rule.code not in {code for code, _ in findings(rule, example.source, tmp_path)}
