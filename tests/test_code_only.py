"""The prefilter's second step sees code only: comments and string literals blanked."""

from __future__ import annotations

import ast
from pathlib import Path

from leakcheck.project.prefilter import code_only

ROOT = Path(__file__).resolve().parent.parent


def blanked(source: str) -> str:
    data = source.encode()
    out = code_only(data, ast.parse(data))
    assert len(out) == len(data)
    assert out.count(b"\n") == data.count(b"\n")
    return out.decode()


def test_comments_docstrings_and_strings_are_blanked_code_is_kept() -> None:
    out = blanked(
        '"""Use engine.connect()."""\n'
        "import psycopg2  # psycopg2.connect() here\n"
        "HELP = 'call pool.getconn() # first'\n"
        "DATA = b'pool.getconn()'\n"
        "conn = psycopg2.connect('#')  # the real one\n"
    )
    assert "engine" not in out and "getconn" not in out and "the real one" not in out
    assert "import psycopg2" in out
    assert "conn = psycopg2.connect(   )" in out  # a `#` inside a string starts no comment


def test_fstrings_and_strings_that_may_be_annotations_are_kept() -> None:
    out = blanked(
        "def f(db: 'Session', other: \"Optional[orm.Session]\") -> None:\n"
        "    print(f\"#{pool.getconn()} {'x'}\")\n"
    )
    assert "'Session'" in out and '"Optional[orm.Session]"' in out
    assert "pool.getconn()" in out


def test_multiline_strings_keep_their_lines_and_utf8_offsets_hold() -> None:
    out = blanked("x = 'é!'; s = '''\nengine\n'''\nconn = pool.getconn()  # é\n")
    assert "engine" not in out and "conn = pool.getconn()" in out and "é" not in out


def test_bytes_whose_positions_cannot_be_trusted_are_tested_whole() -> None:
    for source in (
        b"\xef\xbb\xbfx = 1  # engine\n",
        b"# -*- coding: latin-1 -*-\nx = 1  # engine\n",
        b"x = 1  # engine\r\ny = 2\r\n",
    ):
        assert code_only(source, ast.parse(source)) == source


def test_every_fixture_keeps_its_length_and_lines() -> None:
    checked = 0
    for path in sorted((ROOT / "fixtures").rglob("*.py")):
        source = path.read_bytes()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        out = code_only(source, tree)
        assert len(out) == len(source) and out.count(b"\n") == source.count(b"\n"), path
        checked += 1
    assert checked > 100
