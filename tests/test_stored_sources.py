"""Stored sources (analysis/stored.py): a source or an acquiring callable kept under an attribute or
a constant key of a container (`app.state.session_factory = sessionmaker(e)`,
`FACTORIES = {"main": SessionLocal}`) and loaded by the same path in any module of the run.

The fixture project fixtures/callables/app_state/ is checked as a whole: each file's findings must
be exactly its `# expect:` comments (what it gets alone, tests/test_fixtures.py) plus its
`# expect-project:` ones (loads of stores in a module it does not import). A change in the storing
module must change the loading module's result on a warm run (the answer is recorded)."""

from __future__ import annotations

import io
import re
import shutil
import tokenize
from pathlib import Path

import libcst as cst
import pytest

from leakcheck.analysis import stored
from leakcheck.project import names
from leakcheck.project.runner import Checker, Options

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "fixtures" / "callables" / "app_state"
EXPECT = re.compile(r"#\s*expect(?:-project)?:\s*(?P<codes>LC\d{3}(?:\s*,\s*LC\d{3})*)\s*$")


def expected(source: str) -> set[tuple[str, int]]:
    """(code, line) of each `# expect:` and `# expect-project:` comment."""
    found = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and (match := EXPECT.search(token.string)):
            found.update((code.strip(), token.start[0]) for code in match["codes"].split(","))
    return found


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.py") if not p.name.endswith(".fixed.py"))


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_project_run_finds_loads_of_other_modules_stores(jobs: int) -> None:
    paths = files(PROJECT)
    results = Checker(options=Options(jobs=jobs)).check_files([str(p) for p in paths])
    assert any("expect-project" in p.read_text() for p in paths)
    for path, result in zip(paths, results, strict=True):
        assert result.errors == ()
        got = {(f.code, f.line) for f in result.findings}
        assert got == expected(path.read_text()), path.name


def test_a_changed_store_judges_the_loading_module_again(tmp_path: Path) -> None:
    project = tmp_path / "app_state"
    shutil.copytree(PROJECT, project)
    options = Options(cache=True, cache_dir=tmp_path / "cache")
    routes = project / "routes.py"

    def routes_lines() -> set[int]:
        results = Checker(options=options).check_files([str(p) for p in files(project)])
        (result,) = [r for p, r in zip(files(project), results, strict=True) if p == routes]
        return {f.line for f in result.findings}

    before = routes_lines()
    line = next(
        n
        for n, text in enumerate(routes.read_text().splitlines(), 1)
        if "request.app.state.async_sessions()  # expect-project" in text
    )
    assert line in before
    main = project / "main.py"
    text = main.read_text()
    main.write_text(text.replace("async_sessionmaker(async_engine)", "dict()"))
    assert routes_lines() == before - {line}  # stored as something else now: no finding
    main.write_text(text)
    assert routes_lines() == before


def key(code: str) -> str | None:
    return stored.store_key(cst.parse_expression(code))


def test_store_keys_meet_across_container_paths() -> None:
    assert key("app.state.pool") == key("request.app.state.pool") == "state.pool"
    assert key('FACTORIES["main"]') == "FACTORIES['main']"
    assert key('current_app.extensions["pool"]') == key('app.extensions["pool"]')
    assert key("self.pool") is None  # the object's own attribute (collaborators.py)
    assert key("request.state.db") is None  # per-request state, not the application's
    assert key("FACTORIES[name]") is None  # a computed key


def test_the_query_prefix_is_the_projects() -> None:
    # The analysis asks with `stored.PREFIX`; the project answers names starting with STORED.
    assert stored.PREFIX == names.STORED
    assert stored.OTHER_PREFIX == names.STORED_OTHER
    assert stored.PREFIX.rstrip(":") == names.STORES
