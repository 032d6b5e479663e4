"""The held-out cases of issue 12 (tests/heldout/cases/): what must hold whatever the coverage.

The share of leak cases fixed cleanly is measured, not asserted: `python scripts/fix_coverage.py`
prints it. Asserted here, with safe fixes and with unsafe ones: no fix yields broken output (it
parses, a second `--fix` changes nothing, a fix applied clears its finding, no finding appears),
and no safe case is changed. The cases were written without looking at the fix recipes, from
shapes found in public projects, and labelled from docs/semantics.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fix_coverage", ROOT / "scripts" / "fix_coverage.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fix_coverage"] = module
    spec.loader.exec_module(module)
    return module


coverage = _load_script()
CASES = coverage.cases()


@pytest.fixture(scope="module")
def results() -> dict[str, object]:
    return {r.name: r for r in coverage.measure(CASES, execute=False)}


def test_the_held_out_set_is_substantial() -> None:
    # Guards the tests below against an empty or truncated case folder.
    leaks = [p for p in CASES if coverage.expected(p.read_text())]
    safe = [p for p in CASES if p.name.startswith("safe_")]
    assert len(leaks) >= 40
    assert len(safe) >= 10
    assert len(leaks) + len(safe) == len(CASES), "a case is neither labelled nor named safe_"
    assert not any(coverage.expected(p.read_text()) for p in safe), "a safe_ case is labelled"
    assert {coverage.category(p) for p in CASES}  # every prefix is a known category


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_no_broken_output_and_safe_cases_untouched(path: Path, results: dict[str, object]) -> None:
    result = results[path.name]
    for mode in (result.safe, result.unsafe):  # type: ignore[attr-defined]
        assert mode.status not in ("BROKEN", "CHANGED"), (mode.status, mode.reasons, mode.applied)


class _StubContext:
    def __init__(self, outputs: dict[bytes, bytes]) -> None:
        self.outputs = outputs

    def fix(self, source: bytes, unsafe: bool = False) -> SimpleNamespace:
        applied = ["LC102 at line 3: Release `conn` in `finally`"]
        return SimpleNamespace(source=self.outputs.get(source, source), applied=applied)


class _StubChecker:
    """A checker whose fixes are given: what each source becomes, what each check finds."""

    def __init__(self, outputs: dict[bytes, bytes], findings: dict[bytes, list[object]]) -> None:
        self.outputs = outputs
        self.findings = findings

    def context(self, path: Path) -> _StubContext:
        return _StubContext(self.outputs)

    def check_buffer(self, source: bytes, path: Path) -> SimpleNamespace:
        return SimpleNamespace(errors=(), findings=self.findings.get(source, []))


class _Finding:
    def __init__(self, code: str, line: int) -> None:
        self.code, self.line, self.function, self.acquisition = code, line, "f", "pool.getconn()"


LEAK = b"def f(pool):\n    x = 1\n    conn = pool.getconn()  # expect: LC102\n    conn.cursor()\n"
WANT = {("LC102", 3)}


@pytest.mark.parametrize(
    ("fixed", "again", "after", "status"),
    [
        (b"def f(:\n", None, [], "BROKEN"),  # does not parse
        (b"a = 1\n", b"a = 2\n", [], "BROKEN"),  # a second --fix changes it again
        (b"a = 1\n", None, [_Finding("LC102", 3)], "BROKEN"),  # its finding is still there
        (b"a = 1\n", None, [_Finding("LC104", 3)], "BROKEN"),  # a new finding
        (b"a = 1\n", None, [], "FIXED"),
        (LEAK, None, [_Finding("LC102", 3)], "NO FIX"),
    ],
)
def test_the_classification_catches_broken_output(
    fixed: bytes, again: bytes | None, after: list[object], status: str
) -> None:
    outputs = {LEAK: fixed} | ({fixed: again} if again is not None else {})
    original: list[object] = [_Finding("LC102", 3)]
    checker = _StubChecker(outputs, {LEAK: original, fixed: after})
    result = checker.check_buffer(LEAK, Path("case.py"))
    got = coverage._mode(checker, Path("case.py"), LEAK, False, result, WANT, execute=False)
    assert got.status == status, got.reasons


def test_a_changed_safe_file_is_reported() -> None:
    safe = b"def f():\n    return 1\n"
    checker = _StubChecker({safe: b"def f():\n    return 2\n"}, {})
    result = checker.check_buffer(safe, Path("safe_x.py"))
    got = coverage._mode(checker, Path("safe_x.py"), safe, False, result, set(), execute=False)
    assert got.status == "CHANGED"
