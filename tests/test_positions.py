"""The position pass: spans of a few nodes, and the module's code from the same rendering."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from leakcheck.analysis.positions import locate, locate_with_code

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "fixtures").rglob("*.py"), *(ROOT / "leakcheck").rglob("*.py")], key=str)
SHAPES = [
    "",
    "\n",
    "# only a comment",
    "x = 1",
    "x = 1\r\ny = 2\r\n",
    "def f():\n    return 1\n\n\n# trailing comment\n",
    "if a:\n\tpass\n",
]


@pytest.mark.parametrize("source", SHAPES)
def test_the_code_is_what_libcst_renders(source: str) -> None:
    module = cst.parse_module(source)
    spans, code = locate_with_code(module, [])
    assert code == module.code == source
    assert spans == {}


def test_the_code_and_spans_on_every_fixture_and_on_leakcheck() -> None:
    assert len(SOURCES) > 100
    for path in SOURCES:
        try:
            module = cst.parse_module(path.read_bytes())
        except Exception:
            continue  # a fixture that is not meant to parse
        statements = list(module.body)
        spans, code = locate_with_code(module, statements)
        assert code == module.code, path
        assert spans == locate(module, statements), path
