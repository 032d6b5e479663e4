"""Incremental checks for the language server: re-judge only the top-level functions and classes
whose text changed, and reuse the findings of the others, with the result a full check gives.

A module is cut into *pieces* (CPython's `ast`, about a tenth of libcst's cost): each top-level
`def` / `class` (decorators included) is a *unit*, the lines between them are *header* pieces.
The analysis is whole-module (`analysis.collect`: tables keyed by receiver text, the roles of the
module's functions, the names used in functions), so a unit's findings can be reused only while
everything another unit can read from it is unchanged. The *summary key* holds that, per unit:

- the unit's full text when one of its names (the `def` / `class` name, a class's members) is
  written anywhere outside it (a caller reads its role, `self.x` a member's), when it is a
  `@contextmanager` function (a fix may offer it), or when it names a key a call's result is
  stored under on a context (`g.db = connect()`: its release is searched for everywhere); else
  its signature;
- what it adds to the module-wide tables (`contributions`): imports, `global` names, names bound
  to a call whose callee can be a source constructor or factory, `<receiver>.<release>(x)` pairs,
  keys stored on a context, a binding of `closing`;
- the header's names it uses (`CollectedFacts.used_in_functions`, read for module-level sites);

and the header's text (blank lines aside). When the key is unchanged, the changed units are
checked in a *reduced* text: the header, the changed units and every unit another unit reads (or
whose contributions are not already there), one after the other, the names of the units left
out bound by one assignment. Its findings' lines (and the lines their messages name, "on line
12", and their fixes' lines) are mapped back to the whole text's; a finding of an unchanged
piece is moved by its piece's shift.

A full check is done instead (and said so, `Checked.mode`) when: no earlier check, the key
changed (an import, a signature, a helper's body, a new unit), more than `MAX_CHANGED` units
changed, the text does not parse or is not plain UTF-8, the module mentions `django` (the Django
rules judge the module as a whole), a unit holds a file-level `# leakcheck:` directive, the
reduced check reports an error, or a reused finding refers to a line of a changed piece.
"""

from __future__ import annotations

import ast
import bisect
import copy
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from leakcheck.analysis.facts import CONTEXT_DECORATORS
from leakcheck.config.catalogue import Kind
from leakcheck.model import Edit, FileResult, Finding

MAX_CHANGED = 3  # more changed units than this: a full check is as quick and simpler
# How Python counts lines (The Python Language Reference, 2.1.2 "Physical lines": CR LF, CR or LF
# end one), as libcst's positions do; `str.splitlines` also splits at form feeds and others.
_NEWLINE = re.compile(r"\r\n|\r|\n")
_WORD = re.compile(r"[^\W\d]\w*")
_DEFINED = re.compile(r"\b(?:def|class)\s+([^\W\d]\w*)")
_LINE_REF = re.compile(r"\bline (\d+)")
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)


@dataclass(frozen=True)
class Piece:
    """Lines `start`..`end` (1-based, inclusive) of a module: a top-level unit (`names`: what
    it binds, `members`: a class's) or a header piece (no names); `part`: its share of the key."""

    start: int
    end: int
    text: str
    unit: bool
    part: tuple[object, ...]
    names: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    contributions: frozenset[str] = frozenset()
    used: frozenset[str] = frozenset()  # the header's names it uses
    public: bool = False


@dataclass(frozen=True)
class Layout:
    """A module cut into pieces, with its summary key and what cutting an edited text of it
    again needs (`relayout`)."""

    pieces: tuple[Piece, ...]
    key: str
    newline: str
    imported: dict[str, str]  # header import: bound name -> what it names
    header_names: frozenset[str]
    nouns: frozenset[str]  # every unit's names and members


@dataclass(frozen=True)
class Snapshot:
    """What a check of one text leaves for the next: its layout and its findings, each with the
    index of the piece it lies in."""

    layout: Layout
    findings: tuple[tuple[int, Finding], ...]
    path: str


@dataclass(frozen=True)
class Checked:
    """A check's result, what the next check can reuse (None: nothing) and how it was made:
    "full", or "incremental (N of M units)"."""

    result: FileResult
    snapshot: Snapshot | None
    mode: str


def _lines(text: str) -> list[str]:
    parts = _NEWLINE.split(text)
    ends = _NEWLINE.findall(text)
    lines = [p + e for p, e in zip(parts, ends, strict=False)]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _unit_span(node: ast.stmt) -> tuple[int, int]:
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)])
    return start, node.end_lineno or node.lineno


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    shell = copy.copy(node)
    if isinstance(node, ast.ClassDef):
        members = sorted(_members(node))
        shell.body = [ast.Expr(ast.Constant(",".join(members)))]
    else:
        shell.body = [ast.Pass()]
    return ast.unparse(shell)


def _members(node: ast.ClassDef) -> set[str]:
    found: set[str] = set()
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            found.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return found


def _bound(statements: list[ast.stmt]) -> tuple[set[str], dict[str, str]]:
    """Names the header binds, and what its imports bind each imported name to."""
    names: set[str] = set()
    imported: dict[str, str] = {}
    for stmt in statements:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.partition(".")[0]
                    imported[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    imported[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}"
    return names | set(imported), imported


def _manager(node: Unit) -> bool:
    """Whether `node` is a `@contextmanager` function: a helper any leak's fix may offer
    (`fix.project_helpers`), though no other unit names it."""
    for decorator in getattr(node, "decorator_list", []):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target).rsplit(".", 1)[-1] in CONTEXT_DECORATORS:
            return True
    return False


def _stored_keys(targets: Sequence[ast.expr], value: ast.expr | None) -> Iterator[str]:
    """The keys `targets = value` stores a call's result under on a context object, as
    `CallRecords._stored_call` reads them: `g.db` (not on `self` / `cls`), `context["db"]`;
    a name's value too (`rv = connect(); g.db = rv`), whatever it is bound to."""
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, (ast.Call, ast.Name)):
        return
    for target in targets:
        if isinstance(target, ast.Attribute):
            holder = target.value
            if not (isinstance(holder, ast.Name) and holder.id in ("self", "cls")):
                yield target.attr
        elif (
            isinstance(target, ast.Subscript)
            and isinstance(target.slice, ast.Constant)
            and isinstance(target.slice.value, str)
        ):
            yield target.slice.value


def _binds_closing(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "closing" and isinstance(node.ctx, ast.Store)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == "closing"
    return False


class _Reader:
    """What one statement adds to the module-wide tables (see the module docstring)."""

    def __init__(
        self,
        kinds: tuple[Kind, ...],
        imported: dict[str, str],
        top: set[str],
        header: set[str] | frozenset[str],
    ) -> None:
        self.header = header
        self.release = frozenset(m for k in kinds for m in k.release_methods)
        self.acquiring = frozenset(c for k in kinds for c in k.acquire_callables)
        self.imported = imported
        self.heads = top | {"self", "cls"}

    def _callee(self, value: ast.expr | None) -> str | None:
        """The callee of a call that may make a source (constructor, factory), else None."""
        if isinstance(value, ast.Await):
            value = value.value
        if not isinstance(value, ast.Call):
            return None
        callee = ast.unparse(value.func)
        head, _, rest = callee.partition(".")
        if head in self.imported:
            qualified = self.imported[head] + (f".{rest}" if rest else "")
            return None if qualified in self.acquiring else callee
        return callee if head in self.heads else None

    def contributions(self, node: ast.AST, names: set[str] | None = None) -> Iterator[str]:
        """What `node` adds to the module-wide tables; with `names`, each name it reads or
        writes is added to it (one walk for both)."""
        for inner in ast.walk(node):
            if _binds_closing(inner):  # how a fix spells `closing` (`fix.statements`)
                yield "N:closing"
            if isinstance(inner, ast.Name):  # the commonest node: nothing else to look for
                if names is not None:
                    names.add(inner.id)
                continue
            if isinstance(inner, (ast.Import, ast.ImportFrom)):
                yield f"I:{ast.unparse(inner)}"
            elif isinstance(inner, (ast.Global, ast.Nonlocal)):
                yield from (f"G:{name}" for name in inner.names)
            elif isinstance(inner, (ast.Assign, ast.AnnAssign)):
                targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                callee = self._callee(inner.value)
                if callee is not None:
                    yield from (f"A:{ast.unparse(t)}={callee}" for t in targets)
                yield from (f"S:{key}" for key in _stored_keys(targets, inner.value))
            elif isinstance(inner, (ast.With, ast.AsyncWith)):
                for item in inner.items:
                    callee = self._callee(item.context_expr)
                    if callee is not None and item.optional_vars is not None:
                        yield f"A:{ast.unparse(item.optional_vars)}={callee}"
            elif (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and inner.func.attr in self.release
                and inner.args
                and isinstance(inner.args[0], (ast.Name, ast.Attribute))
            ):
                yield f"B:{ast.unparse(inner.func.value)}.{inner.func.attr}"


def _plain(source: bytes) -> str | None:
    """`source` as text, None for what is left to full checks (a coding cookie, a BOM, not
    UTF-8, a mention of Django: its rules judge the module as a whole)."""
    if _COOKIE.search(b"\n".join(source.split(b"\n", 2)[:2])) or source.startswith(b"\xef\xbb\xbf"):
        return None
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "django" in text else text


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _words(text: str) -> Counter[str]:
    """Identifiers written in `text`, a `def` / `class` statement's own name not counted."""
    words = Counter(m.group() for m in _WORD.finditer(text))
    words.subtract(m.group(1) for m in _DEFINED.finditer(text))
    return words


Unit = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _unit(node: Unit, chunk: str, span: tuple[int, int], reader: _Reader, public: bool) -> Piece:
    names = (node.name,)
    members = tuple(sorted(_members(node))) if isinstance(node, ast.ClassDef) else ()
    named: set[str] = set()
    found = frozenset(reader.contributions(node, named))
    used = frozenset(named & reader.header)
    part = ("unit", names, public, chunk if public else _signature(node), sorted(found))
    return Piece(*span, chunk, True, part, names, members, found, used, public)


def _key(pieces: tuple[Piece, ...]) -> str:
    used = sorted(set().union(*(p.used for p in pieces)))
    parts = [p.part for p in pieces]
    return hashlib.sha256(repr((parts, used)).encode("utf-8", "surrogatepass")).hexdigest()


def layout(source: bytes, kinds: tuple[Kind, ...]) -> Layout | None:
    """`source` cut into pieces with its summary key; None when it cannot be (it does not
    parse, is not plain UTF-8, or is a module the incremental check leaves to a full one)."""
    text = _plain(source)
    tree = _parse(text) if text is not None else None
    if text is None or tree is None:
        return None
    lines = _lines(text)
    units: list[tuple[int, int, Unit]] = []
    header: list[ast.stmt] = []
    previous_end = 0
    body = tree.body
    for index, stmt in enumerate(body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start, end = _unit_span(stmt)
            following = body[index + 1].lineno if index + 1 < len(body) else len(lines) + 1
            if start <= previous_end or end >= following:
                return None  # a line shared with another statement (`;`)
            units.append((start, end, stmt))
        else:
            header.append(stmt)
        previous_end = stmt.end_lineno or stmt.lineno
    header_names, imported = _bound(header)
    reader = _Reader(kinds, imported, {u[2].name for u in units}, header_names)
    words = _words(text)
    found_units: list[tuple[Unit, str, tuple[int, int], set[str], bool]] = []
    headers: list[Piece] = []
    nouns: set[str] = set()
    line = 1
    for start, end, node in [*units, (len(lines) + 1, len(lines), None)]:
        if start > line:
            chunk = "".join(lines[line - 1 : start - 1])
            stmts = [s for s in header if line <= s.lineno < start]
            found = frozenset(c for s in stmts for c in reader.contributions(s))
            part = ("header", [x for x in _lines(chunk) if x.strip()])
            headers.append(Piece(line, start - 1, chunk, False, part, contributions=found))
        if node is None:
            break
        chunk = "".join(lines[start - 1 : end])
        if "leakcheck:" in chunk:
            return None
        own = _words(chunk)
        named = (node.name, *(_members(node) if isinstance(node, ast.ClassDef) else ()))
        nouns.update(named)
        public = any(words[n] - own[n] > 0 for n in named) or _manager(node)
        found_units.append((node, chunk, (start, end), set(own), public))
        line = end + 1
    built = [
        _unit(node, chunk, span, reader, public) for node, chunk, span, _, public in found_units
    ]
    # A resource stored on a context (`g.db = connect()`) is judged by searching the whole
    # module for its release (`analysis.contexts`): every unit naming the key is read.
    stored = {c[2:] for p in [*headers, *built] for c in p.contributions if c.startswith("S:")}
    nouns |= stored
    for index, (node, chunk, span, own_words, public) in enumerate(found_units):
        if not public and stored & own_words:
            built[index] = _unit(node, chunk, span, reader, True)
    pieces = sorted([*headers, *built], key=lambda p: p.start)
    first = _NEWLINE.search(text)
    done = tuple(pieces)
    newline = first.group() if first else "\n"
    return Layout(done, _key(done), newline, imported, frozenset(header_names), frozenset(nouns))


def relayout(before: Layout, source: bytes, kinds: tuple[Kind, ...]) -> Layout | None:
    """`layout(source)` when `source` is `before`'s text with one unit edited (its names and
    members, and the other units' names it mentions, unchanged): only that unit is parsed, since
    a text of complete top-level statements tokenizes the same whatever precedes it. Else
    `layout(source)` itself."""
    text = _plain(source)
    old = "".join(p.text for p in before.pieces)
    if text is None:
        return None
    if text == old:
        return before
    prefix = _common(old, text, lambda a, k: a[:k])
    room = min(len(old), len(text)) - prefix
    suffix = min(room, _common(old, text, lambda a, k: a[len(a) - k :]))
    offset = 0
    for index, piece in enumerate(before.pieces):
        if offset <= prefix and len(old) - suffix <= offset + len(piece.text) and piece.unit:
            tail = len(old) - offset - len(piece.text)  # the same in both texts
            edited = _edited(before, index, text[offset : len(text) - tail], kinds)
            if edited is not None:
                return edited
            break
        offset += len(piece.text)
    return layout(source, kinds)


def _common(a: str, b: str, part: Callable[[str, int], str]) -> int:
    """The length of the longest common `part` (prefix or suffix) of `a` and `b`."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if part(a, middle) == part(b, middle):
            low = middle
        else:
            high = middle - 1
    return low


def _edited(before: Layout, index: int, chunk: str, kinds: tuple[Kind, ...]) -> Layout | None:
    """`before` with unit `index`'s text now `chunk`, or None if that is not a plain edit."""
    piece = before.pieces[index]
    tree = _parse(chunk)
    count = len(_lines(chunk))
    if tree is None or len(tree.body) != 1 or "leakcheck:" in chunk or "django" in chunk:
        return None
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return None
    last = index + 1 == len(before.pieces)
    if _unit_span(node) != (1, count) or (not last and not chunk.endswith(("\n", "\r"))):
        return None
    members = tuple(sorted(_members(node))) if isinstance(node, ast.ClassDef) else ()
    if (node.name,) != piece.names or members != piece.members:
        return None
    mentioned = set(_words(chunk)) ^ set(_words(piece.text))
    if mentioned & before.nouns:
        return None
    top = {n for p in before.pieces for n in p.names}
    reader = _Reader(kinds, before.imported, top, before.header_names)
    moved = count - (piece.end - piece.start + 1)
    unit = _unit(node, chunk, (piece.start, piece.start + count - 1), reader, piece.public)
    pieces = [*before.pieces[:index], unit]
    pieces += [
        replace(p, start=p.start + moved, end=p.end + moved) for p in before.pieces[index + 1 :]
    ]
    done = tuple(pieces)
    return replace(before, pieces=done, key=_key(done))


def _conflicting(pieces: tuple[Piece, ...]) -> set[str]:
    """Targets bound to calls of more than one callee (`A:` contributions): which binding the
    analysis keeps depends on their order (`Sources.construct`), so all of them stay."""
    callees: dict[str, set[str]] = {}
    for piece in pieces:
        for item in piece.contributions:
            if item.startswith("A:"):
                target, _, callee = item[2:].rpartition("=")
                callees.setdefault(target, set()).add(callee)
    return {target for target, found in callees.items() if len(found) > 1}


def _kept(now: Layout, changed: set[int]) -> list[bool]:
    """Which pieces a reduced check reads (see the module docstring)."""
    conflicting = _conflicting(now.pieces)
    present: set[str] = set()
    keep: list[bool] = []
    for index, piece in enumerate(now.pieces):
        ordered = any(
            c.startswith("A:") and c[2:].rpartition("=")[0] in conflicting
            for c in piece.contributions
        )
        kept = not piece.unit or index in changed or piece.public or ordered
        keep.append(kept)
        if kept:
            present |= piece.contributions
    for index, piece in enumerate(now.pieces):
        if not keep[index] and not piece.contributions <= present:
            keep[index] = True
            present |= piece.contributions
    return keep


def _reduced(now: Layout, changed: set[int]) -> tuple[str, dict[int, int]]:
    """The text a reduced check reads: the pieces `_kept` says, one after the other, then one
    `a = b = None` binding the names of the units left out (a fix reads which names the module
    binds); and, for each of its lines from a piece, that line's number in the whole text."""
    keep = _kept(now, changed)
    out: list[str] = []
    moves: dict[int, int] = {}
    line = 1
    for index, piece in enumerate(now.pieces):
        if keep[index] and (piece.unit or piece.text.strip()):  # blank lines: nothing to read
            out.append(piece.text)
            size = piece.end - piece.start + 1
            moves.update((line + i, piece.start + i) for i in range(size))
            line += size
    hidden = [name for i, p in enumerate(now.pieces) if not keep[i] for name in p.names]
    if hidden:
        if out and not out[-1].endswith(("\n", "\r")):
            out.append(now.newline)
        out.append(" = ".join([*hidden, "None"]) + now.newline)
    return "".join(out), moves


def _shift_line(line: int, moves: dict[int, int]) -> int:
    if line not in moves:
        raise _Unmappable
    return moves[line]


class _Unmappable(Exception):
    """A reused finding refers to a line of a changed piece."""


def _moved(finding: Finding, moves: dict[int, int]) -> Finding:
    def text(message: str) -> str:
        return _LINE_REF.sub(lambda m: f"line {_shift_line(int(m[1]), moves)}", message)

    def edit(e: Edit) -> Edit:
        # An edit that ends at the start of a line ends with the line before it, whatever
        # follows (whole lines replaced: the next line may be another piece's, or blank).
        if (e.line, e.column) == (e.end_line, e.end_column) == (e.line, 1):
            before = moves.get(e.line - 1)
            if before is not None and before + 1 != moves.get(e.line):
                raise _Unmappable  # after the line before, or before this one: not known
        if e.end_column == 1 and e.end_line > e.line:
            moved_end = _shift_line(e.end_line - 1, moves) + 1
        else:
            moved_end = _shift_line(e.end_line, moves)
        return replace(e, line=_shift_line(e.line, moves), end_line=moved_end)

    fixes = tuple(
        replace(f, message=text(f.message), edits=tuple(edit(e) for e in f.edits))
        for f in finding.fixes
    )
    related = finding.related_line
    return replace(
        finding,
        line=_shift_line(finding.line, moves),
        end_line=_shift_line(finding.end_line, moves),
        message=text(finding.message),
        related_line=_shift_line(related, moves) if related is not None else None,
        fixes=fixes,
    )


def _piece_of(pieces: tuple[Piece, ...], line: int) -> int:
    """The index of the piece holding `line` (the last piece for a line past the end)."""
    index = bisect.bisect_right([p.start for p in pieces], line) - 1
    return min(max(index, 0), len(pieces) - 1)


def _snapshot(now: Layout, result: FileResult) -> Snapshot | None:
    if result.errors:
        return None
    found = tuple((_piece_of(now.pieces, f.line), f) for f in result.findings)
    return Snapshot(now, found, result.path)


def _moves(before: Layout, now: Layout, changed: set[int]) -> dict[int, int]:
    """Old line -> new line, for the lines of unchanged pieces (header pieces: by their
    non-blank lines, which the key says are the same)."""
    moves: dict[int, int] = {}
    for index, (old, new) in enumerate(zip(before.pieces, now.pieces, strict=True)):
        if index in changed:
            continue
        if old.text == new.text:
            moves.update((old.start + i, new.start + i) for i in range(old.end - old.start + 1))
            continue
        olds = [old.start + i for i, x in enumerate(_lines(old.text)) if x.strip()]
        news = [new.start + i for i, x in enumerate(_lines(new.text)) if x.strip()]
        moves.update(zip(olds, news, strict=True))
    return moves


@dataclass(frozen=True)
class Fixes:
    """The findings of some units of a text with their fixes (`fixes_in`), and the lines
    (1-based, inclusive) each of those units spans."""

    findings: tuple[Finding, ...]
    spans: tuple[tuple[int, int], ...]


def fixes_in(
    full: Callable[[bytes], FileResult],
    source: bytes,
    kinds: tuple[Kind, ...],
    previous: Snapshot,
    lines: Sequence[int],
) -> Fixes | None:
    """The findings, with their fixes, of the units of `source` that hold `lines`, judged in a
    reduced text as `check` judges changed units again (`full`: a check that works out fixes),
    cut as `previous` (a check of this document) allows. None when that cannot be done: no
    layout, a line outside every unit (a module-level finding), an error in the reduced text,
    a finding that does not map back; then only a full check gives them."""
    now = relayout(previous.layout, source, kinds)
    if now is None or not lines:
        return None
    wanted = {_piece_of(now.pieces, line) for line in lines}
    if any(not now.pieces[i].unit for i in wanted):
        return None
    text, back = _reduced(now, wanted)
    reduced = full(text.encode("utf-8", "surrogatepass"))
    if reduced.errors:
        return None
    try:
        found = tuple(
            _moved(f, back)
            for f in reduced.findings
            if _piece_of(now.pieces, _shift_line(f.line, back)) in wanted
        )
    except _Unmappable:
        return None
    spans = tuple((now.pieces[i].start, now.pieces[i].end) for i in sorted(wanted))
    return Fixes(found, spans)


def check(
    full: Callable[[bytes], FileResult],
    source: bytes,
    kinds: tuple[Kind, ...],
    previous: Snapshot | None,
) -> Checked:
    """`source` checked with `full` (a whole check of a text as the document's file), or, when
    `previous` (the last check of this document) allows it, only its changed units checked in a
    reduced text and the rest reused; the result is `full(source)`'s, findings sorted by place."""
    now = relayout(previous.layout, source, kinds) if previous else layout(source, kinds)

    def whole() -> Checked:
        result = full(source)
        return Checked(result, _snapshot(now, result) if now else None, "full")

    if now is None or previous is None:
        return whole()
    before = previous.layout
    if before.key != now.key or len(before.pieces) != len(now.pieces):
        return whole()
    changed = {
        i
        for i, (old, new) in enumerate(zip(before.pieces, now.pieces, strict=True))
        if new.unit and old.text != new.text
    }
    if len(changed) > MAX_CHANGED:
        return whole()
    moves = _moves(before, now, changed)
    try:
        reused = [(i, _moved(f, moves)) for i, f in previous.findings if i not in changed]
    except _Unmappable:
        return whole()
    fresh: list[tuple[int, Finding]] = []
    if changed:
        text, back = _reduced(now, changed)
        reduced = full(text.encode("utf-8", "surrogatepass"))
        if reduced.errors:
            return whole()
        try:
            for finding in reduced.findings:
                index = _piece_of(now.pieces, _shift_line(finding.line, back))
                if index in changed:
                    fresh.append((index, _moved(finding, back)))
        except _Unmappable:
            return whole()
    merged = sorted([*reused, *fresh], key=lambda pair: pair[1].sort_key())
    findings = tuple(f for _, f in merged)
    units = sum(p.unit for p in now.pieces)
    mode = f"incremental ({len(changed)} of {units} units)"
    text = source.decode("utf-8") if findings else ""
    result = FileResult(previous.path, findings, source=text)
    return Checked(result, Snapshot(now, tuple(merged), previous.path), mode)
