"""Absolute imports of a project's top folder from a nested file, in folders without
`__init__.py` (namespace packages, PEP 420), in a tree with no pyproject.toml, setup.cfg,
setup.py or .git: `from src.utils.db import get_connection` in src/transform/transform.py runs
when Python runs from the folder holding `src/`, so that folder (an ancestor of the file, up to
the working directory) is where leakcheck finds `src/utils/db.py` (`names.import_roots`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import found, write

from leakcheck.config.roots import ROOT_MARKERS

FACTORY = """\
import duckdb


def get_connection():
    return duckdb.connect("app.duckdb")
"""
# LC201 on line 5 (`get_connection()`, never closed); `run_with` is safe. Nothing in the file
# closes the result, so only the factory's summary can make `get_connection()` an acquisition.
USER = """\
from src.utils.db import get_connection


def run():
    con = get_connection()
    con.execute("select 1")


def run_with():
    with get_connection() as con:
        con.execute("select 1")
"""


def no_marker_above(path: Path) -> bool:
    return not any((d / m).exists() for d in (path, *path.parents) for m in ROOT_MARKERS)


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not no_marker_above(tmp_path):
        pytest.skip("a project marker above the temporary folder makes it a project root")
    root = tmp_path / "repo"
    main = "from src.transform.transform import run\n"
    write(root, {"src/utils/db.py": FACTORY, "main.py": main})
    monkeypatch.chdir(root)
    return root


def test_a_nested_file_importing_the_top_folder_absolutely_is_judged(tree: Path) -> None:
    write(tree, {"src/transform/transform.py": USER})
    assert found("--no-cache", ".") == [("src/transform/transform.py", 5, "LC201")]
    # The same when only the importing file is checked (pre-commit), and from tests/.
    assert found("--no-cache", "src/transform/transform.py") == [
        ("src/transform/transform.py", 5, "LC201")
    ]
    write(tree, {"tests/test_run.py": USER})
    assert ("tests/test_run.py", 5, "LC201") in found("--no-cache", "tests")


def test_no_folder_above_the_working_directory_is_an_import_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not no_marker_above(tmp_path):
        pytest.skip("a project marker above the temporary folder makes it a project root")
    # src/utils/db.py exists above the working directory only: Python run from repo/ would not
    # find it, and neither does leakcheck.
    write(tmp_path, {"src/utils/db.py": FACTORY, "repo/src/transform/transform.py": USER})
    monkeypatch.chdir(tmp_path / "repo")
    assert found("--no-cache", ".") == []
    # Run from the folder above, as `python -m repo.src.transform.transform` would be, it is.
    monkeypatch.chdir(tmp_path)
    assert found("--no-cache", "repo") == [("repo/src/transform/transform.py", 5, "LC201")]


def test_a_module_reached_through_a_link_out_of_the_tree_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not no_marker_above(tmp_path):
        pytest.skip("a project marker above the temporary folder makes it a project root")
    write(tmp_path, {"outside/utils/db.py": FACTORY, "repo/src/transform/transform.py": USER})
    os.symlink(tmp_path / "outside" / "utils", tmp_path / "repo" / "src" / "utils")
    monkeypatch.chdir(tmp_path / "repo")
    assert found("--no-cache", ".") == []
    # The same module inside the tree is read: the link is what keeps it out.
    os.unlink(tmp_path / "repo" / "src" / "utils")
    write(tmp_path, {"repo/src/utils/db.py": FACTORY})
    assert found("--no-cache", ".") == [("src/transform/transform.py", 5, "LC201")]


def test_a_root_found_today_is_still_tried_first(tree: Path) -> None:
    # The file's own folder holds a `src/utils/db.py` that returns no connection: it answers
    # before the ancestor's, as it did before ancestors were roots.
    write(
        tree,
        {
            "src/transform/transform.py": USER,
            "src/transform/src/utils/db.py": "def get_connection():\n    return 1\n",
        },
    )
    assert found("--no-cache", ".") == []
