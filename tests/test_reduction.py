"""Blanking the functions that cannot matter (analysis/reduction.py): same lines, same verdicts.

The reduced text is judged before the full one (engine.analyse) and only when it finds nothing:
so what it must never do is hide a verdict, change a module's exports or the counts a run
prints. Checked on every fixture, example and held-out file, and on small cases that pin down
each rule of what is kept.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.flow import handoffs_assumed
from leakcheck.analysis.judge import all_verdicts
from leakcheck.analysis.parsing import parse_module
from leakcheck.analysis.reduction import kind_words, reduce_source
from leakcheck.analysis.syntax import call_text
from leakcheck.analysis.unknown import unknown_calls
from leakcheck.config.catalogue import builtin_kinds
from leakcheck.config.settings import DEFAULT
from leakcheck.engine import analyse
from leakcheck.project.prefilter import acquisition_tokens

ROOT = Path(__file__).resolve().parent.parent
KINDS = builtin_kinds()
FILES = sorted(
    p
    for folder in ("fixtures", "examples", "tests/heldout")
    for p in (ROOT / folder).rglob("*.py")
    if "__pycache__" not in p.parts
)


def words(source: bytes) -> frozenset[str]:
    tokens = acquisition_tokens(KINDS, DEFAULT.names)
    return tokens.identifiers(source) | kind_words(KINDS)


def judged(text: bytes, exports: bool) -> tuple[object, ...]:
    """What a judge of `text` yields that the reduction must keep: each verdict (leak, call, at
    module level or not), the exports (when summarised), the hand-offs assumed and the count of
    unknown kinds."""
    module = parse_module(text)
    facts = ModuleFacts(module, KINDS)
    verdicts = sorted(
        (v.leak, call_text(v.site.call), v.site.scope is module) for v in all_verdicts(facts)
    )
    return (
        verdicts,
        facts.exports() if exports else None,
        handoffs_assumed(facts),
        len(unknown_calls(facts)),
    )


def test_the_corpus_holds_files() -> None:
    assert len(FILES) > 100


@pytest.mark.parametrize("exports", [False, True], ids=["judged", "summarised"])
def test_reduced_text_judges_as_the_full_one(exports: bool) -> None:
    """On every fixture, example and held-out file: what is blanked changes no verdict, no
    export, no count; kept lines are byte for byte the same."""
    reduced_files = 0
    for path in FILES:
        source = path.read_bytes()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        reduced = reduce_source(source, tree, words(source), exports)
        if reduced is None:
            continue
        reduced_files += 1
        old, new = source.split(b"\n"), reduced.text.split(b"\n")
        assert len(old) == len(new), path
        assert all(a == b or b.strip() in (b"", b"raise") for a, b in zip(old, new, strict=True))
        try:
            full = judged(source, exports)
        except Exception:  # a file libcst cannot read (the hostile cases): not judged either way
            continue
        assert judged(reduced.text, exports) == full, path
    assert reduced_files > (5 if exports else 10)  # fixtures are small: few can be reduced


CASE = b"""\
import psycopg2


def get_conn():
    return psycopg2.connect("dbname=x")


def uses():
    conn = get_conn()
    conn.cursor()


def helper(value):
    total = 0
    for item in value:
        total += item
    return total


def holds():
    conn = psycopg2.connect("")
    n = lend(conn)
    conn.close()
    return n


def lend(c):
    return stash(c)


def stash(c):
    KEEP.append(c)


def unrelated(a, b):
    if a:
        raise ValueError(b)
    return [a, b]


class Report:
    def __init__(self, rows):
        self.rows = rows

    def render(self):
        for row in self.rows:
            print(row)

    def __len__(self):
        return len(self.rows)
"""


def _kept(text: bytes, name: str) -> bool:
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return not (len(node.body) == 1 and isinstance(node.body[0], ast.Raise))
    raise AssertionError(name)


def test_what_is_kept_and_what_is_blanked() -> None:
    tree = ast.parse(CASE)
    reduced = reduce_source(CASE, tree, words(CASE), exports=False)
    assert reduced is not None
    text = reduced.text
    assert _kept(text, "get_conn")  # acquires
    assert _kept(text, "uses")  # calls a function that gives a connection back
    assert _kept(text, "holds") and _kept(text, "lend") and _kept(text, "stash")  # a chain
    assert not _kept(text, "helper") and not _kept(text, "unrelated")
    assert not _kept(text, "render") and not _kept(text, "__len__")  # nothing kept names Report
    assert reduced.blanked == 5
    assert text.count(b"\n") == CASE.count(b"\n")
    # Kept code is where it was: the acquisition's line and column are the same.
    number = next(i for i, line in enumerate(CASE.split(b"\n")) if b'connect("")' in line)
    assert text.split(b"\n")[number] == CASE.split(b"\n")[number]


def test_a_summarised_module_keeps_what_it_exports() -> None:
    """For importers: top-level functions (their parameter effects) and methods that may be
    quiet stay; a method that cannot be quiet (a loop) is blanked with `raise`, still not quiet."""
    tree = ast.parse(CASE)
    reduced = reduce_source(CASE, tree, words(CASE), exports=True)
    assert reduced is not None
    assert _kept(reduced.text, "helper") and _kept(reduced.text, "unrelated")
    assert _kept(reduced.text, "__len__") and _kept(reduced.text, "__init__")
    assert not _kept(reduced.text, "render")
    assert judged(reduced.text, True) == judged(CASE, True)


def test_a_module_with_a_carriage_return_is_not_reduced() -> None:
    source = CASE.replace(b"\n", b"\r\n")
    assert reduce_source(source, ast.parse(source), words(source), exports=False) is None


def test_findings_and_fixes_come_from_the_full_text() -> None:
    """A file with a finding is judged again whole: the same findings, fixes and text as
    without the reduction."""
    source = CASE + b"\n\ndef leaks():\n    conn = psycopg2.connect('')\n    conn.cursor()\n"
    with_words = analyse(source, "case.py", KINDS, words=words(source), summarise=False)
    without = analyse(source, "case.py", KINDS, summarise=False)
    assert with_words.result.findings
    assert with_words.result == without.result
