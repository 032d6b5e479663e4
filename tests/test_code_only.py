"""The prefilter's second step sees code only: comments and string literals blanked."""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

from leakcheck.project.prefilter import _from_tree, _scan, code_only

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "fixtures").rglob("*.py"), *(ROOT / "leakcheck").rglob("*.py")], key=str)


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


def test_a_bom_and_carriage_returns_are_lexed_a_foreign_encoding_is_tested_whole() -> None:
    for source in (b"\xef\xbb\xbfx = 1  # engine\n", b"x = 1  # engine\r\ny = 'pool!'\r\n"):
        out = code_only(source, ast.parse(source))
        assert b"engine" not in out and b"pool" not in out and b"x = 1" in out
        assert _from_tree(source, ast.parse(source)) == source  # its offsets would shift
    latin = "# -*- coding: latin-1 -*-\nx = 1  # engine \xe9\n".encode("latin-1")
    assert code_only(latin, ast.parse(latin)) == latin
    utf8 = b"# -*- coding: utf-8 -*-\nx = 1  # engine\n"
    assert b"engine" not in code_only(utf8, ast.parse(utf8))


def expected(source: bytes) -> bytes:
    """`code_only` as CPython's own tokenizer splits `source`: every comment and every string
    literal blanked, but f-strings and annotation-like strings."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(row: int, column: int) -> int:  # tokenize counts characters, not bytes
        return starts[row - 1] + len(lines[row - 1].decode()[:column].encode())

    out = bytearray(source)
    for token in tokenize.tokenize(io.BytesIO(source).readline):
        if token.type == tokenize.STRING:
            prefix = token.string[: min(token.string.index(q) for q in "'\"" if q in token.string)]
            quotes = 3 if token.string[len(prefix) :][:3] in ('"""', "'''") else 1
            inner = token.string[len(prefix) + quotes : -quotes]
            if "f" in prefix.lower():
                continue
            if "b" not in prefix.lower() and re.fullmatch(r"[\w. \[\],|]*", inner, re.ASCII):
                continue
        elif token.type != tokenize.COMMENT:
            continue
        start, end = offset(*token.start), offset(*token.end)
        out[start:end] = bytes(10 if b == 10 else 32 for b in source[start:end])
    return bytes(out)


def test_the_scan_splits_files_as_cpythons_tokenizer_does() -> None:
    # The scan is what runs before Python 3.12, and after for files without f-strings.
    checked = 0
    for path in SOURCES:
        source = path.read_bytes()
        try:
            compile(source, str(path), "exec", ast.PyCF_ONLY_AST)
        except SyntaxError:
            continue
        if sys.version_info >= (3, 12) and re.search(rb"(?<!\w)[rRbB]?[fF][rR]?['\"]", source):
            continue
        assert _scan(source) == expected(source), path
        checked += 1
    assert checked > 200


def test_fstrings_with_their_own_quotes_go_by_the_tree() -> None:
    source = b"x = f\"{d['#']}\" + pool.getconn()  # engine\n"
    tree = ast.parse(source)
    out = _from_tree(source, tree)
    assert b"pool.getconn()" in out and b"engine" not in out


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


def test_prefixes_escapes_and_keywords_next_to_quotes() -> None:
    for source in (
        b'if"engine"in x: pass  # engine\n',
        b"x = rb'pool\\'s' + Rb\"\\\\\" + br'''engine\n'''\n",
        b"x = u'engine.connect()' if y else'pool.getconn()'\n",
        b"s = 'engine \\\n pool'\n",
    ):
        assert _scan(source) == expected(source), source
    assert _scan(b"x = 'never ends\n") == b"x = 'never ends\n"  # not Python: kept whole


def test_whole_words_are_found_as_the_word_boundary_expression_finds_them() -> None:
    """`prefilter._word` searches from the word's text (fast), and checks its left edge after:
    it must find exactly what `\\bword\\b` finds, on every fixture and on leakcheck's sources,
    for every word the built-in tests look for, and at the edges of a file."""
    from leakcheck.config.catalogue import builtin_kinds
    from leakcheck.config.settings import DEFAULT
    from leakcheck.project.prefilter import _word, acquisition_tokens

    test = acquisition_tokens(builtin_kinds(), DEFAULT.names, [("get_conn", "app.db")])
    words = {data for data, _ in test.plain}
    words |= {data for _, _, names in test.qualified for data, _ in names}
    words |= {data for (data, _), _, _ in test.exported}
    words |= {data for _, names, _ in test.exported for data, _ in names}
    words |= {b"x", b"a.b"}
    edges = [b"connect", b"xconnect", b"connectx", b" connect(", b"_connect", b"a.b", b"ya.b"]
    for source in [*edges, *(p.read_bytes() for p in SOURCES)]:
        for data in words:
            text, fast = _word(data.decode())
            reference = re.compile(rb"\b" + re.escape(data) + rb"\b")
            assert text == data
            found = [m.span() for m in fast.finditer(source)]
            assert found == [m.span() for m in reference.finditer(source)], (data, source[:40])


def test_exported_names_are_grouped_by_their_modules_last_name() -> None:
    """Two modules named `db` (in two top packages) are scanned for once; a relative import
    counts only inside the package of the module that exports the name."""
    from leakcheck.config.catalogue import builtin_kinds
    from leakcheck.config.settings import DEFAULT
    from leakcheck.project.prefilter import acquisition_tokens

    test = acquisition_tokens(
        builtin_kinds(), DEFAULT.names, [("get_conn", "app.db"), ("open_db", "other.db")]
    )
    assert [data for (data, _), _, _ in test.exported] == [b"db"]
    assert test.matches(b"from other.db import get_conn\nget_conn()\n", "third")
    assert test.matches(b"from . import open_db\nopen_db()\n", "other.api")
    assert not test.matches(b"from . import open_db\nopen_db()\n", "app.api")
