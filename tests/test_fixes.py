"""Fixes: exact expected output per fixture, and invariants over every fixture.

For every fixture X.py, X.fixed.py is exactly what `--fix` makes of it (none when it has no safe
fix; regenerate with scripts/update_fixed.py and review the diff). With safe and with unsafe fixes,
the output parses, fixing it again changes nothing, the findings it fixed are gone and none is new.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import libcst as cst
import pytest

from leakcheck.project.api import fix_file
from leakcheck.project.runner import Checker

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted(p for p in (ROOT / "fixtures").rglob("*.py") if not p.name.endswith(".fixed.py"))
IDS = [str(p.relative_to(ROOT / "fixtures")) for p in FIXTURES]


def findings(path: Path, source: bytes) -> Counter[tuple[str, str, str]]:
    """(code, function, acquisition) of each finding of `source` checked as if it were `path`."""
    original = path.read_bytes()
    try:
        path.write_bytes(source)
        result = Checker().check_file(str(path))
    finally:
        path.write_bytes(original)
    return Counter((f.code, f.function, f.acquisition) for f in result.findings)


def test_some_fixtures_have_fixes() -> None:
    # Guards the parametrised tests against a fixer that silently fixes nothing.
    snapshots = list((ROOT / "fixtures").rglob("*.fixed.py"))
    assert len(snapshots) >= 15


@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_fix_output_is_exactly_the_snapshot(path: Path) -> None:
    outcome = fix_file(path)
    snapshot = path.with_name(path.stem + ".fixed.py")
    if outcome.source == path.read_bytes():
        assert not snapshot.exists(), "a snapshot for a fixture with nothing to fix"
        assert outcome.applied == []
    else:
        assert outcome.source == snapshot.read_bytes()
    assert outcome.dropped == []  # no fix of a fixture fails the safety checks
    assert outcome.refused == ""


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_fix_invariants(path: Path, unsafe: bool) -> None:
    source = path.read_bytes()
    outcome = fix_file(path, unsafe=unsafe)
    cst.parse_module(outcome.source)  # it parses
    assert fix_file(path, unsafe=unsafe, source=outcome.source).source == outcome.source
    before, after = findings(path, source), findings(path, outcome.source)
    assert after - before == Counter(), "a fix added a finding"
    assert sum((before - after).values()) == len(outcome.applied), "each fix clears its finding"
