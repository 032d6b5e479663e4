"""The README's "Supported resources" table has one source, `rules/kinds.toml`: it is what
scripts/gen_kinds_table.py makes of it, every kind has its row, and the check fails on drift."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from leakcheck.config.catalogue import CatalogueError, builtin_kinds

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_kinds_table.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_kinds_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def _check(root: Path, *flags: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *flags, "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(GEN.BEGIN) + len(GEN.BEGIN) + 1 : readme.index(GEN.END)]
    assert section == GEN.table(ROOT / "rules" / "kinds.toml"), (
        "README.md's Supported resources table is out of date: run "
        "`python scripts/gen_kinds_table.py`"
    )


def test_every_built_in_kind_has_its_row_with_its_release() -> None:
    rows = GEN.table(ROOT / "rules" / "kinds.toml").splitlines()[2:]
    kinds = builtin_kinds()
    assert len(rows) == len(kinds)
    for kind, row in zip(kinds, rows, strict=True):
        assert row.startswith(f"| `{kind.name}` |")
        methods = kind.release_methods | kind.self_release_methods | kind.release_all_methods
        assert all(f".{m}(" in row for m in methods), row
        if not kind.with_releases:
            assert "gives it back" not in row


def test_the_check_fails_on_drift_and_a_new_kind_gets_a_row(tmp_path: Path) -> None:
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "rules").mkdir()
    kinds = tmp_path / "rules" / "kinds.toml"
    shutil.copy(ROOT / "rules" / "kinds.toml", kinds)
    assert _check(tmp_path, "--check") == (0, "")
    kinds.write_text(
        kinds.read_text() + '\n[[kind]]\nname = "vault-handle"\nacquire = ["vaultlib.lend"]\n'
        'release = ["<resource>.give_back()"]\nwith-releases = false\n'
        'with-note = "a vault handle is not a context manager"\n'
    )
    assert _check(tmp_path, "--check") == (1, "out of date: README.md (Supported resources)\n")
    assert _check(tmp_path)[0] == 0
    readme = (tmp_path / "README.md").read_text()
    # The resource is named after the kind's `resource` (a connection unless it says).
    assert "| `vault-handle` | `vaultlib.lend()` | `conn.give_back()` |" in readme
    assert _check(tmp_path, "--check") == (0, "")


def test_a_malformed_kind_writes_no_table(tmp_path: Path) -> None:
    kinds = tmp_path / "kinds.toml"
    kinds.write_text('[[kind]]\nname = "x"\nacquire = ["not a pattern"]\nrelease = []\n')
    with pytest.raises(CatalogueError, match="`acquire` pattern 'not a pattern'"):
        GEN.table(kinds)


def test_the_readme_needs_its_markers() -> None:
    with pytest.raises(ValueError, match="lacks the markers"):
        GEN.updated("# README without the table\n", ROOT / "rules" / "kinds.toml")
