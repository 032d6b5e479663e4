"""Every fixture is checked exactly: the set of (code, line) reported must equal the `# expect:`
comments, so a missed leak and a false alarm both fail."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from leakcheck.project.runner import Checker

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted(p for p in (ROOT / "fixtures").rglob("*.py") if not p.name.endswith(".fixed.py"))
EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>LC\d{3}(?:\s*,\s*LC\d{3})*)\s*$")


def expected(source: str) -> set[tuple[str, int]]:
    """(code, line) for each `# expect: LC101, LC102` comment; strings are not comments."""
    found = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            match = EXPECT.search(token.string)
            if match:
                for code in match["codes"].split(","):
                    found.add((code.strip(), token.start[0]))
    return found


def test_fixture_set_is_substantial() -> None:
    # Guards the parametrised test below against an empty or truncated fixture tree.
    assert len(FIXTURES) >= 10
    total = sum(len(expected(p.read_text())) for p in FIXTURES)
    assert total >= 30


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT / "fixtures")))
def test_fixture(path: Path) -> None:
    source = path.read_bytes()
    result = Checker().check_file(str(path))
    assert result.errors == ()
    got = {(f.code, f.line) for f in result.findings}
    want = expected(source.decode())
    assert sorted(got - want) == [], "reported but not expected (false alarms)"
    assert sorted(want - got) == [], "expected but not reported (misses)"
