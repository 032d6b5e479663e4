"""The `examples/` application the README's first command checks, and the cases the PostgreSQL
proofs run (tests/postgres/cases): each reports exactly its `# expect:` comments, read by the
fixture harness."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_fixtures import expected

from leakcheck.cli import main
from leakcheck.project.runner import Checker

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.py"))
CASES = sorted((ROOT / "tests" / "postgres" / "cases").glob("*.py"))


def test_examples_cover_every_main_class() -> None:
    codes = {code for path in EXAMPLES for code, _ in expected(path.read_text())}
    assert codes >= {"LC103", "LC104", "LC201", "LC207", "LC301", "LC401"}


@pytest.mark.parametrize("path", EXAMPLES + CASES, ids=lambda p: str(p.relative_to(ROOT)))
def test_reports_exactly_the_expected(path: Path) -> None:
    result = Checker().check_file(str(path))
    assert result.errors == ()
    got = {(f.code, f.line) for f in result.findings}
    want = expected(path.read_text())
    assert sorted(got - want) == [], "reported but not expected (false alarms)"
    assert sorted(want - got) == [], "expected but not reported (misses)"


def test_readme_command_shows_the_example_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    # `leakcheck check examples/` from the repository root, as the README's first command runs it.
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["check", "examples/"])
    assert result.exit_code == 1, result.output
    want = {
        (f"examples/{p.relative_to(ROOT / 'examples')}", line, code)
        for p in EXAMPLES
        for code, line in expected(p.read_text())
    }
    got = {
        (path, int(line), rest.split()[0])
        for path, line, _, rest in (
            row.split(":", 3) for row in result.output.splitlines() if row.startswith("examples/")
        )
    }
    assert got == want


def test_fixing_the_examples_leaves_only_what_has_no_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A newcomer's next step: every finding goes (LC401 too, a session per poll) but LC301 on a
    # manager imported from another module (no fix for that yet), and what --fix writes still
    # compiles.
    copy = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", copy)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["check", "--isolated", "--fix", "--unsafe-fixes", "examples"]
    )
    assert result.exit_code == 1, result.output
    left = CliRunner().invoke(main, ["check", "--isolated", "-q", "examples"])
    codes = [
        row.split(":", 3)[3].split()[0]
        for row in left.output.splitlines()
        if row.startswith("examples/")
    ]
    assert sorted(codes) == ["LC301"]
    for path in copy.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
