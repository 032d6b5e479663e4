"""Fixes: exact expected output per fixture, and invariants over every fixture.

For every fixture X.py, X.fixed.py is exactly what `--fix` makes of it (none when it has no safe
fix; regenerate with scripts/update_fixed.py and review the diff); X.unsafe.fixed.py, where it
exists, what `--fix --unsafe-fixes` makes of it. With safe and with unsafe fixes,
the output parses, fixing it again changes nothing, the findings it fixed are gone and none is new.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import libcst as cst
import pytest

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.judge import all_verdicts
from leakcheck.config.catalogue import builtin_kinds
from leakcheck.engine import check_source
from leakcheck.fix import edits
from leakcheck.fix.plans import plan
from leakcheck.fix.recipes import Plan
from leakcheck.model import Edit
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
    assert UNSAFE_SNAPSHOTS


UNSAFE_SNAPSHOTS = sorted((ROOT / "fixtures").rglob("*.unsafe.fixed.py"))


@pytest.mark.parametrize(
    "snapshot",
    UNSAFE_SNAPSHOTS,
    ids=[str(p.relative_to(ROOT / "fixtures")) for p in UNSAFE_SNAPSHOTS],
)
def test_unsafe_fix_output_is_exactly_the_snapshot(snapshot: Path) -> None:
    # Fixes that are only ever unsafe (LC401/LC402 per iteration) have no `.fixed.py` to show
    # them: X.unsafe.fixed.py is what `--fix --unsafe-fixes` makes of X.py.
    path = snapshot.with_name(snapshot.name.removesuffix(".unsafe.fixed.py") + ".py")
    outcome = fix_file(path, unsafe=True)
    assert outcome.source == snapshot.read_bytes()
    assert outcome.dropped == []


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


def apply_edits(source: str, edits: tuple[Edit, ...]) -> str:
    """Whole-line edits (end exclusive) applied bottom-up."""
    lines = source.splitlines(keepends=True)
    for edit in sorted(edits, key=lambda e: e.line, reverse=True):
        lines[edit.line - 1 : edit.end_line - 1] = edit.content.splitlines(keepends=True)
    return "".join(lines)


def plans_of(path: Path) -> tuple[cst.Module, list[Plan]]:
    ctx = Checker().context(path)
    module = cst.parse_module(path.read_bytes())
    facts = ModuleFacts(module, ctx.kinds, ctx.package, ctx.resolver)
    found = [plan(v, facts, ctx.config.fix_helpers) for v in all_verdicts(facts)]
    return module, [p for p in found if p is not None]


@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_each_edit_is_the_whole_module_rewrite(path: Path) -> None:
    # The edits come from each fix's own block; rendering the module is the reference.
    module, found = plans_of(path)
    before = edits.RENDERS[0]
    computed = edits.edits_for(module, found, module.code.splitlines(keepends=True))
    assert edits.RENDERS[0] == before, "fell back to rendering the module"
    for rewrite, its_edits in zip(found, computed, strict=True):
        assert apply_edits(module.code, its_edits) == edits.apply_plan(module, rewrite)[0].code


def test_a_hundred_findings_render_the_module_a_constant_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Linear time: each fix's edit comes from its block; the module is rendered a fixed number of
    # times (parsing, one position pass), not once per finding.
    body = (
        "\ndef f{i}(pool):\n    conn = pool.getconn()\n    cur = conn.cursor()\n"
        '    cur.execute("SELECT {i}")\n    pool.putconn(conn)\n'
    )
    header = (
        "from psycopg2.pool import ThreadedConnectionPool\npool = ThreadedConnectionPool(1, 5)\n"
    )
    renders = [0]
    real = cst.Module._codegen

    def counting(self: cst.Module, state: Any) -> None:
        renders[0] += 1
        real(self, state)

    monkeypatch.setattr(cst.Module, "_codegen", counting)
    seen = []
    for count in (10, 100):
        renders[0] = 0
        source = header + "".join(body.format(i=i) for i in range(count))
        result = check_source(source.encode(), "many.py", builtin_kinds())
        assert len([f for f in result.findings if f.fix is not None]) == count
        seen.append(renders[0])
    # Checking, placing the findings, computing the edits, verifying the fixes all together.
    assert seen[0] == seen[1] <= 8, f"renders of the module for 10 and 100 findings: {seen}"


def test_a_fix_the_fixer_would_refuse_is_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    # "fixable" counts only what --fix applies: a rewrite that leaves its finding is dropped.
    import leakcheck.engine

    def no_op(verdict: Any, facts: Any, helpers: Any = (), where: Any = None) -> list[Plan]:
        found = plan(verdict, facts, helpers)
        return [] if found is None else [Plan(found.old, found.old, "no-op", "safe")]

    source = b"def f(pool):\n    conn = pool.getconn()\n    conn.cursor()\n    pool.putconn(conn)\n"
    assert check_source(source, "a.py", builtin_kinds()).findings[0].fix is not None
    monkeypatch.setattr(leakcheck.engine, "candidates", no_op)
    [finding] = check_source(source, "a.py", builtin_kinds()).findings
    assert finding.fix is None


def test_an_inserted_try_takes_the_blank_lines_above_the_statements_it_wraps(
    tmp_path: Path,
) -> None:
    source = (
        "from app.database import SessionLocal\n\n\n"
        "def purge(slugs):\n"
        "    db = SessionLocal()\n"
        "\n"
        "    # one query per slug\n"
        "    for slug in slugs:\n"
        "        db.execute(slug)\n"
        "    db.commit()\n"
    )
    path = tmp_path / "jobs.py"
    path.write_text(source)
    fixed = fix_file(path).source.decode()
    assert fixed == (
        "from app.database import SessionLocal\n\n\n"
        "def purge(slugs):\n"
        "    db = SessionLocal()\n"
        "\n"
        "    try:\n"
        "        # one query per slug\n"
        "        for slug in slugs:\n"
        "            db.execute(slug)\n"
        "        db.commit()\n"
        "    finally:\n"
        "        db.close()\n"
    )


def test_inserted_lines_take_the_line_ending_of_their_region_in_a_mixed_file(
    tmp_path: Path,
) -> None:
    lf = "from app.database import SessionLocal\n\n\n"
    crlf = (
        "def purge(slugs):\r\n"
        "    db = SessionLocal()\r\n"
        "    for slug in slugs:\r\n"
        "        db.execute(slug)\r\n"
        "    db.commit()\r\n"
    )
    path = tmp_path / "jobs.py"
    path.write_bytes((lf + crlf).encode())
    fixed = fix_file(path).source
    assert (
        fixed
        == (
            lf
            + "def purge(slugs):\r\n"
            + "    db = SessionLocal()\r\n"
            + "    try:\r\n"
            + "        for slug in slugs:\r\n"
            + "            db.execute(slug)\r\n"
            + "        db.commit()\r\n"
            + "    finally:\r\n"
            + "        db.close()\r\n"
        ).encode()
    )
