"""The import scan that orders a run (`summaries.read_imports`), checked against CPython's own
parser on every fixture and on leakcheck's sources."""

from __future__ import annotations

import ast
from pathlib import Path

from leakcheck.project.summaries import import_table, read_imports, scan_imports

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "fixtures").rglob("*.py"), *(ROOT / "leakcheck").rglob("*.py")], key=str)


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
        assert table == expected, path
        for node in ast.walk(tree):  # every module imported anywhere is listed
            if isinstance(node, ast.Import):
                assert all(a.name in imports for a in node.names), path
            elif isinstance(node, ast.ImportFrom) and node.level <= 2:
                assert _absolute(node.module, node.level, package) in imports, path
        checked += 1
    assert checked > 100
