"""Which files are worth parsing: byte-level tests for what can start an acquisition.

Parsing is most of a run's cost, and most files of a real tree never touch a pool, a session or an
engine. `Words` decides from the raw bytes, without decoding or tokenizing, with what the analysis
itself needs before it can call anything an acquisition (`ModuleFacts.acquisition`,
`source_kind`, `_session_param`, `context_manager_kind`):

- a qualified callable or constructor (`psycopg2.connect`, `sqlalchemy.orm.sessionmaker`, the
  annotation `sqlalchemy.orm.Session`) is only recognised through an import, so the file names its
  last part as a word *and* its top-level package (`psycopg2`), unless the file is inside that
  package (a relative import);
- a method (`<engine>.connect`, `<pool>.acquire`, `<factory>.begin`) counts only on a source: a
  receiver whose name matches the kind's `source-names` (`engine.connect`), a receiver the module
  releases through (`pool.release(conn)` with an argument: "the pair"), or a source that is
  constructed or imported, whose own word is then in the file;
- plain words: `contextmanager` / `asynccontextmanager`, the configured names, and every name a
  project module exports as a source, factory, releaser, provider or context manager, or re-exports
  (`from app.db import get_conn` makes `get_conn` one).

`export_markers` finds the modules that can *define* something others use (they get a summary);
`acquisition_tokens` the modules that can *hold* an acquisition. A file without either cannot have a
finding, so the findings with the prefilter equal those without it (tested on the fixtures and on
real trees). Files found by walking that fail the test are not parsed at all: their syntax errors
are not reported (a file named on the command line is always parsed).

The same tests run twice: on the raw bytes in the parent, and, for a file that passes, on
`code_only` of it in the worker, before libcst parses it (a word in a docstring or a comment is
no acquisition). That second test runs before CPython's parser when it can (`code_only` without
a tree): a file that fails it is not parsed at all, like a file that fails the first.
"""

from __future__ import annotations

import ast
import bisect
import fnmatch
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from leakcheck.config.catalogue import Kind
from leakcheck.config.settings import Names
from leakcheck.project.linescan import line_statements

_DECORATORS = ("contextmanager", "asynccontextmanager")  # facts.CONTEXT_DECORATORS


# A word that begins and ends with a name's character (`_word`).
_NAME_EDGES = re.compile(rb"\w(?:.*\w)?", re.DOTALL)


def _word(word: str) -> tuple[bytes, re.Pattern[bytes]]:
    r"""`word` and an expression that finds it as a whole word (what `\bword\b` finds).

    A word that begins and ends with a name's character is matched as itself first, and its
    left edge is checked after it (`(?<!\wword)`): an expression that begins with literal text
    is searched with a fast scan for that text, while one that begins with `\b` is tried at
    every byte (ten times slower on real code).
    """
    # A module whose file name is not UTF-8 (`bad\xff.py`: U+DCFF) cannot be named in source:
    # "surrogatepass" gives bytes no UTF-8 source holds, so its word never matches, never raises.
    data = word.encode("utf-8", "surrogatepass")
    text = re.escape(data)
    if _NAME_EDGES.fullmatch(data):
        return data, re.compile(text + rb"(?<!\w" + text + rb")\b")
    return data, re.compile(rb"\b" + text + rb"\b")


# The receiver before `.method(`: a name, or what `syntax.receiver_text` reads as one (a call
# without arguments, a subscript by a string: `get_read_engine().connect()`, `pools["main"]`).
_RECEIVER_BEFORE = re.compile(rb"([\w\[\]\"'()]*)[ \t]*$")
# `from .x import a, b` / `from .. import (a,\n b)`: the names a relative import imports (group 1).
_RELATIVE_IMPORT = re.compile(
    rb"^[ \t]*from[ \t]*\.[\w.]*[ \t]+import[ \t]+(\([^)]*\)|(?:[^\n\\]|\\\n)*)", re.MULTILINE
)
_RELATIVE_FROM = re.compile(rb"from[ \t]*\.")  # on every line `_RELATIVE_IMPORT` matches
Literal = tuple[bytes, re.Pattern[bytes]]  # a fast substring test, then the exact one


@dataclass(frozen=True)
class _Method:
    """`.name` calls that count on a receiver matching `receivers`, or in a module that releases
    through some receiver with an argument (`releases`: the pair)."""

    name: bytes
    call: re.Pattern[bytes]
    receivers: tuple[str, ...]
    releases: tuple[Literal, ...]


_ByTop = tuple[tuple[str, tuple[Literal, ...]], ...]  # names by their module's top package


@dataclass(frozen=True)
class Words:
    """A compiled test; `spec` is what it was built from (for the cache's digest).

    Each word is first looked for with `bytes.__contains__` (a fast substring scan); only a hit
    is confirmed by a regular expression, so a file pays a few scans, not a regex per position.
    """

    spec: tuple[object, ...]
    plain: tuple[Literal, ...]
    qualified: tuple[tuple[str, Literal, tuple[Literal, ...]], ...]
    methods: tuple[_Method, ...]
    # Names project modules export, by the last part of their module's name (`db` for app.db):
    # that word, every name exported by a module of that last name, and the names by the
    # module's top package (for relative imports). Grouped so that a tree holding many modules
    # of one name (`base`, `utils`) scans a file for that word once, not once per module.
    exported: tuple[tuple[Literal, tuple[Literal, ...], _ByTop], ...] = ()

    def matches(self, source: bytes, package: str = "") -> bool:
        """Whether `source` (a module in `package`) can hold what this test looks for."""
        if any(data in source and pattern.search(source) for data, pattern in self.plain):
            return True
        top = package.split(".", 1)[0]
        for head, (head_data, head_pattern), names in self.qualified:
            if head != top and not (head_data in source and head_pattern.search(source)):
                continue
            if any(data in source and pattern.search(source) for data, pattern in names):
                return True
        relative: bytes | None = None
        for (last, last_pattern), names, by_top in self.exported:
            # An imported name is reached through its module's name (`from app.db import X`,
            # `db.X`), or, inside the same top package, a relative import that names it
            # (`from . import X` when a package's `__init__` re-exports it).
            if last in source and last_pattern.search(source):
                if any(data in source and pattern.search(source) for data, pattern in names):
                    return True
                continue
            inside = next((names for module_top, names in by_top if module_top == top), None)
            if inside is None:
                continue
            if relative is None:
                matches = line_statements(source, _RELATIVE_FROM, _RELATIVE_IMPORT)
                relative = b"\n".join(m[1] for m in matches)
            if relative and any(
                data in relative and pattern.search(relative) for data, pattern in inside
            ):
                return True
        return any(_calls(method, source) for method in self.methods)


def _calls(method: _Method, source: bytes) -> bool:
    if method.name not in source:
        return False
    calls = list(method.call.finditer(source))
    if not calls:
        return False
    if any(data in source and pattern.search(source) for data, pattern in method.releases):
        return True
    for call in calls:
        before = _RECEIVER_BEFORE.search(source, max(0, call.start() - 200), call.start())
        text = before[1].decode("ascii", "replace").lower() if before else ""
        # As `Kind.matches_source_name` reads it, and the name right before the dot, whatever
        # precedes it (`if(pool.getconn())`).
        names = {text, text[len(text.rstrip("_0123456789abcdefghijklmnopqrstuvwxyz")) :]}
        if any(n and fnmatch.fnmatchcase(n, p) for n in names for p in method.receivers):
            return True
    return False


def _build(
    kinds: tuple[Kind, ...],
    names: Names,
    extra: frozenset[tuple[str, str]],
    markers: bool,
) -> Words:
    plain: set[str] = set(_DECORATORS)
    for group in (names.session_factories, names.pools, names.engines, names.conventional):
        plain |= {n.rsplit(".", 1)[-1] for n in group}
    qualified: dict[str, set[str]] = {}
    callables = [c for k in kinds for c in k.source_constructors | k.acquire_callables]
    if not markers:  # annotations that make a parameter a session (`Kind.annotations`)
        callables += [a for k in kinds for a in k.annotations]
    for name in callables:
        head, _, _ = name.partition(".")
        qualified.setdefault(head, set()).add(name.rsplit(".", 1)[-1])
    receivers: dict[str, set[str]] = {}
    releases: dict[str, set[str]] = {}
    for kind in kinds:
        methods = set(kind.acquire_methods)
        if not markers:
            methods |= kind.context_manager_methods
        for method in methods:
            receivers.setdefault(method, set()).update(p.lower() for p in kind.source_names)
            releases.setdefault(method, set()).update(kind.release_methods)
    by_module: dict[str, set[str]] = {}
    for name, module in extra:
        by_module.setdefault(module, set()).add(name)
    spec = (
        tuple(sorted((m, tuple(sorted(n))) for m, n in by_module.items())),
        tuple(sorted(plain)),
        tuple(sorted((h, tuple(sorted(n))) for h, n in qualified.items())),
        tuple(
            sorted((m, tuple(sorted(r)), tuple(sorted(releases[m]))) for m, r in receivers.items())
        ),
    )
    return Words(
        spec,
        tuple(_word(w) for w in sorted(plain) if w),
        tuple(
            (head, _word(head), tuple(_word(w) for w in sorted(last)))
            for head, last in sorted(qualified.items())
        ),
        tuple(_method(m, receivers[m], releases[m]) for m in sorted(receivers)),
        _exported(by_module),
    )


def _exported(
    by_module: dict[str, set[str]],
) -> tuple[tuple[Literal, tuple[Literal, ...], _ByTop], ...]:
    """`Words.exported` from the names each module exports (module -> names)."""
    by_last: dict[str, dict[str, set[str]]] = {}
    for module, names in by_module.items():
        if module:
            top, last = module.split(".", 1)[0], module.rsplit(".", 1)[-1]
            by_last.setdefault(last, {}).setdefault(top, set()).update(names)
    return tuple(
        (
            _word(last),
            tuple(_word(n) for n in sorted(set().union(*by_top.values()))),
            tuple(
                (top, tuple(_word(n) for n in sorted(names)))
                for top, names in sorted(by_top.items())
            ),
        )
        for last, by_top in sorted(by_last.items())
    )


def _method(name: str, receivers: set[str], releases: set[str]) -> _Method:
    data = name.encode()
    return _Method(
        data,
        re.compile(rb"\.[ \t]*" + re.escape(data) + rb"\b"),
        tuple(sorted(receivers)),
        tuple(
            (
                r.encode(),
                re.compile(rb"\.[ \t]*" + re.escape(r.encode()) + rb"[ \t]*\([ \t]*[A-Za-z_]"),
            )
            for r in sorted(releases)
        ),
    )


@cache
def export_markers(kinds: tuple[Kind, ...], names: Names) -> Words:
    """The test for modules that can define a source, factory, releaser or helper."""
    return _build(kinds, names, frozenset(), markers=True)


def acquisition_tokens(
    kinds: tuple[Kind, ...], names: Names, exported: Iterable[tuple[str, str]] = ()
) -> Words:
    """The test for modules that can hold an acquisition or a session parameter.

    `exported`: (name, module) for each name a project module exports (or re-exports) as a
    source, factory, etc.: `("get_conn", "app.db")`.
    """
    return _tokens(kinds, names, frozenset(exported))


@cache
def _tokens(kinds: tuple[Kind, ...], names: Names, exported: frozenset[tuple[str, str]]) -> Words:
    return _build(kinds, names, exported, markers=False)


# A string that may be an annotation (`"Session"`, `"Optional[AsyncSession]"`, `"Session | None"`)
# keeps its words: the analysis reads parameters' annotations, forward references included.
_ANNOTATION_LIKE = re.compile(r"[\w. \[\],|]*")
_ANNOTATION_BYTES = re.compile(rb"[\w. \[\],|]*")
_BLANK = bytes(10 if b == 10 else 32 for b in range(256))  # every byte but "\n" -> " "
# An encoding declaration other than UTF-8 may make a quote or a backslash byte part of a
# character (Shift-JIS, Big5): such bytes are tested whole.
_COOKIE = re.compile(
    rb"\A(?:[^\n]*\n)?[ \t\f]*#[^\n]*coding[:=][ \t]*(?!utf-?8(?![-\w]))[-\w.]+", re.IGNORECASE
)
# CPython's offsets are into the decoded, newline-normalised text: a BOM or a carriage return
# would shift them (`_from_tree` only).
_SHIFTED = re.compile(rb"\A\xef\xbb\xbf|\r")
# Python 3.12 lets an f-string's `{...}` hold its own quotes and comments (PEP 701): `_scan`
# would end such an f-string early, so a file with f-strings then goes by the tree.
_FSTRING = re.compile(rb"(?<!\w)(?:[rRbB]?[fF]|[fF][rRbB])['\"]")
_NESTED_FSTRINGS = sys.version_info >= (3, 12)


def code_only(source: bytes, tree: ast.Module | None) -> bytes | None:
    """`source` with its comments and string literals blanked out (same length, same lines):
    the words a token test should see. None when `tree` is None and it is needed (from Python
    3.12, a file with f-strings).

    `tree` is `source`'s tree from CPython's parser (`gate.cpython_parse`), or None before the
    file has been through it: on a file CPython would refuse, the result may be wrong, which
    matters only for a file that is then not parsed (it has no finding either way). F-strings
    stay as they are (their `{...}` parts are code), and so do strings that may be annotations.
    Comments and strings are found by a scan of the bytes (`_scan`), which splits a file CPython
    accepts as its tokenizer does, except, from Python 3.12, an f-string holding its own quotes
    (PEP 701): a file with f-strings then goes by `tree`'s nodes, whose positions are UTF-8 byte
    offsets into each line (Python docs, `ast` "col_offset"). When neither can be trusted on the
    raw bytes (an encoding declaration other than UTF-8; for the tree, a BOM or a carriage
    return), `source` is returned whole: the test is then the byte test, never narrower than
    the analysis.
    """
    if _COOKIE.search(source):
        return source
    if _NESTED_FSTRINGS and _FSTRING.search(source):
        return None if tree is None else _from_tree(source, tree)
    return _scan(source)


# A comment or a string's opening quote: where the scan stops next.
_OPENING = re.compile(rb"[#'\"]")
_LINE_END = re.compile(rb"[\r\n]")
# A string's body from its opening quote (escapes included, as the tokenizer reads them).
_BODIES = {
    b"'''": re.compile(rb"'''(?:\\[\s\S]|[^\\])*?'''"),
    b'"""': re.compile(rb'"""(?:\\[\s\S]|[^\\])*?"""'),
    b"'": re.compile(rb"'(?:\\[\s\S]|[^\\'\r\n])*'"),
    b'"': re.compile(rb'"(?:\\[\s\S]|[^\\"\r\n])*"'),
}
_PREFIX = frozenset(b"rRbBuUfF")
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _scan(source: bytes) -> bytes:
    """`code_only` by scanning the bytes from one comment or string to the next, as CPython's
    tokenizer splits a file it accepts (before Python 3.12: f-strings hold no quotes of their
    own). Returns `source` whole if a string does not end (a file CPython would refuse)."""
    out = bytearray(source)
    at = 0
    while (opening := _OPENING.search(source, at)) is not None:
        start = at = opening.start()
        if source[at] == 35:  # "#": a comment, to the end of its line
            end = _LINE_END.search(source, at)
            at = len(source) if end is None else end.start()
            out[start:at] = b" " * (at - start)
            continue
        while start > 0 and at - start < 2 and source[start - 1] in _PREFIX:
            start -= 1
        if start < at and start > 0 and source[start - 1] in _WORD:
            start = at  # `if"x"`, `or"x"`: the letters end a word, they are no prefix
        prefix = source[start:at].lower()
        quotes = source[at : at + 3] if source[at : at + 3] in _BODIES else source[at : at + 1]
        body = _BODIES[quotes].match(source, at)
        if body is None:
            return source
        at = body.end()
        if b"f" in prefix:
            continue  # an f-string: its `{...}` parts are code
        inner = (body.start() + len(quotes), at - len(quotes))
        if b"b" not in prefix and _ANNOTATION_BYTES.fullmatch(source, *inner):
            continue
        out[start:at] = source[start:at].translate(_BLANK)
    return bytes(out)


def _from_tree(source: bytes, tree: ast.Module) -> bytes:
    """`code_only` from `tree`'s string nodes (for f-strings that may nest quotes)."""
    if _SHIFTED.search(source):
        return source
    starts = [0]
    at = source.find(b"\n")
    while at >= 0:
        starts.append(at + 1)
        at = source.find(b"\n", at + 1)
    spans: list[tuple[int, int, bool]] = []  # (start, end, blank it)
    inside_fstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstrings.update(id(n) for n in ast.walk(node) if n is not node)
        elif not isinstance(node, ast.Constant) or not isinstance(node.value, str | bytes):
            continue
        if id(node) in inside_fstrings or node.end_lineno is None or node.end_col_offset is None:
            continue
        start = starts[node.lineno - 1] + node.col_offset
        end = starts[node.end_lineno - 1] + node.end_col_offset
        keep = isinstance(node, ast.JoinedStr) or (
            isinstance(node.value, str) and _ANNOTATION_LIKE.fullmatch(node.value) is not None
        )
        spans.append((start, end, not keep))
    spans.sort()
    out = bytearray(source)
    for start, end, blank in spans:
        if blank:
            out[start:end] = source[start:end].translate(_BLANK)
    # A `#` outside every string literal starts a comment, to the end of its line.
    ends = [end for _, end, _ in spans]
    at = source.find(b"#")
    while at >= 0:
        index = bisect.bisect_right(ends, at)
        if index < len(spans) and spans[index][0] <= at:
            at = source.find(b"#", spans[index][1])  # inside a string: go on after it
            continue
        line_end = source.find(b"\n", at)
        line_end = len(source) if line_end < 0 else line_end
        out[at:line_end] = b" " * (line_end - at)
        at = source.find(b"#", line_end)
    return bytes(out)
