"""The import scan that orders a run (`summaries.read_imports`), checked against CPython's own
parser on every fixture and on leakcheck's sources."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from leakcheck.project.linescan import line_statements
from leakcheck.project.prefilter import _RELATIVE_FROM, _RELATIVE_IMPORT
from leakcheck.project.summaries import (
    _IMPORT,
    _IMPORT_WORD,
    import_table,
    read_imports,
    scan_imports,
)

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "fixtures").rglob("*.py"), *(ROOT / "leakcheck").rglob("*.py")], key=str)
# The rule modules hold whole programs in strings (their documentation, their examples): the scan,
# which reads bytes, takes their `from x import y` lines at a line's start for the module's own,
# as it would in any module; only the parser can tell them apart.
PROGRAMS_IN_STRINGS = ROOT / "leakcheck" / "checks"


def _absolute(module: str | None, level: int, package: str) -> str:
    if not level:
        return module or ""
    parts = package.split(".")
    anchor = ".".join(parts[: len(parts) - (level - 1)])
    return f"{anchor}.{module}" if module else anchor


def test_one_pass_gives_the_table_and_the_imports_of_every_module() -> None:
    package = "app.api"
    checked = 0
    for path in SOURCES:
        source = path.read_bytes()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # a fixture that is not meant to parse
        imports, table = read_imports(source, package)
        assert imports == scan_imports(source, package), path
        assert table == import_table(source, package), path
        assert read_imports(source, package, table=False) == (imports, {}), path
        expected: dict[str, str] = {}
        for node in tree.body:  # what a module-level `from ... import` binds
            if isinstance(node, ast.ImportFrom) and node.level <= 2:
                base = _absolute(node.module, node.level, package)
                for alias in node.names:
                    if alias.name != "*":
                        expected[alias.asname or alias.name] = f"{base}.{alias.name}"
        if PROGRAMS_IN_STRINGS not in path.parents:
            assert table == expected, path
        for node in ast.walk(tree):  # every module imported anywhere is listed
            if isinstance(node, ast.Import):
                assert all(a.name in imports for a in node.names), path
            elif isinstance(node, ast.ImportFrom) and node.level <= 2:
                assert _absolute(node.module, node.level, package) in imports, path
        checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("word", "statement", "tricky"),
    [
        (
            _IMPORT_WORD,
            _IMPORT,
            [
                b"import a; import b\nfrom c import (d,\n    import_e)\n",
                b"x = 'import y'\n  import z\nimportlib = 1\nfrom . import (\n f)  # import g\n",
                b"from a import b\nfrom a import b",
                b"import",
            ],
        ),
        (
            _RELATIVE_FROM,
            _RELATIVE_IMPORT,
            [
                b"from . import a; from .b import c\nx = 1  # from . import d\n",
                b"  from ..e import (f,\n g)\n",
                b"from .a import \\\n    b\nfrom .c import d",
                b"from . import (\n  from_,\n)\nfrom .x import y",
            ],
        ),
    ],
    ids=["imports", "relative imports"],
)
def test_the_line_scan_finds_what_the_expression_finds_everywhere(
    word: re.Pattern[bytes], statement: re.Pattern[bytes], tricky: list[bytes]
) -> None:
    """`linescan.line_statements` tries only the lines holding `word`; it must find exactly the
    statements the expression finds tried at every line start, on real files and on the shapes
    where a line search could differ (a statement after `;`, the word inside a parenthesised
    list or a comment, a longer word that holds it)."""
    for source in [*tricky, *(p.read_bytes() for p in SOURCES)]:
        fast = [(m.span(), m.groups()) for m in line_statements(source, word, statement)]
        assert fast == [(m.span(), m.groups()) for m in statement.finditer(source)], source[:60]
