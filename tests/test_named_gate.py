"""A file named on the command line without a word that can start an acquisition (pre-commit on a
file that has nothing to do with connections) goes through CPython's parser only: its syntax
errors are reported, and with a warm cache libcst is not even imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import POOL


def check(folder: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKCHECK_")}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "leakcheck", "check", "--jobs", "2", *files],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_named_file_without_a_connection_never_imports_libcst(tmp_path: Path) -> None:
    """As pre-commit runs it: the project checked once (the cache is warm), then one file
    changed. (A cold run starts its workers before reading any file, and they import libcst.)"""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "db.py").write_text(POOL)
    (tmp_path / "plain.py").write_text("def total(rows):\n    return sum(rows)\n")
    assert check(tmp_path, ".").returncode == 1
    with (tmp_path / "plain.py").open("a") as handle:
        handle.write("# changed\n")
    done = check(tmp_path, "plain.py")
    assert done.returncode == 0, done.stdout + done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "leakcheck.cli" in imported  # the measurement itself works
    assert not any(name.split(".")[0] == "libcst" for name in imported)


def test_its_syntax_errors_are_still_reported(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "broken.py").write_text("def total(rows:\n    return sum(rows)\n")
    done = check(tmp_path, "broken.py")
    assert done.returncode == 1
    assert "broken.py:1: error: syntax error:" in done.stdout


def test_a_named_file_with_a_connection_is_judged(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "db.py").write_text(POOL)
    (tmp_path / "plain.py").write_text("def total(rows):\n    return sum(rows)\n")
    done = check(tmp_path, "db.py", "plain.py")
    assert done.returncode == 1
    assert "db.py:5:12: LC102" in done.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "libcst" in imported
