"""Rule documentation has one source, the rule modules (`leakcheck/checks/`): `leakcheck rule`,
docs/rules/*.md and the README's rule table must agree with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import invoke, script

from leakcheck.checks import rules
from leakcheck.report.ruledocs import HEADINGS, generated, headings, render

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.code)
def test_every_rule_documents_the_same_headings_in_order(rule: object) -> None:
    assert headings(rule) == HEADINGS  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted(generated(ROOT)), ids=lambda p: p.name)
def test_generated_files_match_the_catalogue(path: Path) -> None:
    content = generated(ROOT)[path]
    assert path.read_text(encoding="utf-8") == content, (
        f"{path.relative_to(ROOT)} is out of date: run `python scripts/gen_rule_docs.py`"
    )


def test_no_stray_rule_pages() -> None:
    pages = sorted(p.name for p in (ROOT / "docs" / "rules").glob("*.md"))
    assert pages == sorted(f"{r.code}.md" for r in rules())


def test_the_check_script_fails_on_drift(tmp_path: Path) -> None:
    def check() -> tuple[int, str]:
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "gen_rule_docs.py"),
                "--check",
                "--root",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode, done.stdout

    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs" / "rules", tmp_path / "docs" / "rules")
    assert check() == (0, "")
    page = tmp_path / "docs" / "rules" / "LC103.md"
    page.write_text(page.read_text().replace("early", "eraly"))
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("| [LC205]", "| [LC250]"))
    assert check() == (1, "out of date: docs/rules/LC103.md\nout of date: README.md\n")


def test_rule_command_prints_one_rule() -> None:
    code, out = invoke("rule", "LC104")
    assert code == 0
    lc104 = next(r for r in rules() if r.code == "LC104")
    assert out == render(lc104)
    assert out.startswith(
        "# pool-release-in-finally-after-raising-statement (LC104)\n\n"
        "`putconn()` in `finally` after a statement that may raise"
    )
    assert "\n## What it does\n" in out and "\n## Fix safety\n" in out


def test_rule_all_prints_every_rule_in_catalogue_order() -> None:
    code, out = invoke("rule", "--all")
    assert code == 0
    assert out == "\n".join(render(r) for r in rules())
    titles = [line for line in out.splitlines() if line.startswith("# ")]
    assert titles == [f"# {r.name} ({r.code})" for r in rules()]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("rule", "LC999"), "unknown rule 'LC999'"),
        (("rule",), "give one rule code or name, or --all"),
        (("rule", "--all", "LC101"), "give one rule code or name, or --all"),
    ],
)
def test_rule_usage_errors(args: tuple[str, ...], complaint: str) -> None:
    code, out = invoke(*args)
    assert code == 2
    assert complaint in out


def test_rule_from_the_console_script() -> None:
    done = script("rule", "LC201")
    assert done.returncode == 0
    assert done.stdout == render(next(r for r in rules() if r.code == "LC201"))
