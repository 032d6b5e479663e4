"""What would overflow libcst's native parser, found on CPython's tree before libcst sees the file.

libcst's parser (Rust) recurses once per level of the tree it builds, on the calling thread's
stack, and a stack overflow there is a segmentation fault: the process dies without a word, the
whole report with it (with `--jobs 1`, standard input, the language server). CPython's parser
refuses brackets nested beyond 200 and blocks beyond 100, and (3.11) any expression nested about
3,000 levels deep, but some chains are flat in its tree and nested in libcst's: `a and b and ...`
is one `BoolOp` with all its operands for CPython and one `BooleanOperation` per `and` for
libcst, and so are adjacent string literals (`'a' 'b'`: one constant) and the `for` clauses of a
comprehension. Other Python versions set other limits. So the depth libcst's tree would have is
measured here on CPython's, and a file beyond `LIMIT` is never handed to libcst.

Measured with libcst 1.9.0 on CPython 3.11, main thread with an 8 MB stack (Linux's default),
each in a child process, by bisection: the parser crashes (SIGSEGV) at 7,075 `and` (or `or`)
operands, 6,978 `+` operands, 5,948 attribute accesses (`a.b.b...`) and 3,500 nested lambdas
(`lambda: lambda: ...`); comparison chains are flat in both trees and never crash it; 4,000
adjacent string literals make it raise a syntax error instead. CPython 3.11 itself refuses any of
these but the boolean chains, the literals and the comprehension clauses past about 3,000 levels
(RecursionError "during ast construction", or MemoryError). `LIMIT` is 1,000 levels on an 8 MB
stack, proportionally fewer on a smaller one (`_limit`): three and a half times under the lowest
crash point (the lambdas), and still above what leakcheck's own analysis can walk (a file judged
for leaks fails with "too deeply nested to analyse" from about 500 levels). Running the parse on
a thread with a 64 MB stack instead moves the crash past 50,000 operands, but costs 1.2 ms per
parse for the thread (against 0.06 ms to parse a one-line file), so the screen is the guard.

Cost (CPU, CPython 3.11): 46 ms for the first 100 standard-library modules (2.9 MB), 4% of
CPython's parse of them (1.15 s) and under 0.5% of libcst's (10.3 s); 0.8 ms for `typing.py`.
The walk skips every node whose source is too short to hold `LIMIT` levels (each level
takes at least one character of source; `_PER_CHAR` is the margin), so on ordinary code it visits
the compound statements and little else; a file shorter than that is not walked at all.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from itertools import accumulate

_MEASURED_STACK = 8 * 1024 * 1024  # the stack the crash points below were measured on


def _limit() -> int:
    """1,000 levels on a stack of 8 MB or more; proportionally fewer on a smaller one.

    The stack is the main thread's limit (`RLIMIT_STACK`, `ulimit -s`), which glibc also gives
    each new thread by default. libcst's use of it per level does not change, so the same share
    of it is kept as margin (measured: 1 MB holds 800 `and` operands; the limit there is 125).
    """
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_STACK)
    except (ImportError, ValueError, OSError, AttributeError):
        return 1_000
    if soft == resource.RLIM_INFINITY or soft <= 0 or soft >= _MEASURED_STACK:
        return 1_000
    return max(50, 1_000 * soft // _MEASURED_STACK)


LIMIT = _limit()  # levels of libcst's tree; see the module's docstring for the measurements
_PER_CHAR = 2  # at most this many levels per character of source (one, measured; doubled)
_SLACK = 16  # levels libcst adds around any statement (Module, SimpleStatementLine, Expr, ...)


@dataclass(frozen=True)
class TooDeep:
    """A file libcst must not parse: `line` (1-based) where the deepest chain starts; `reason`,
    one line for the error entry."""

    line: int | None
    reason: str


def too_deep(tree: ast.Module, source: bytes) -> TooDeep | None:
    """None when libcst's tree of `source` stays under `LIMIT` levels, else where and why not.

    `tree` is CPython's tree of `source` (`gate.cpython_parse`). The depth is libcst's: one level
    per node of `tree`, plus one per extra operand of a boolean chain, per extra `for` clause of a
    comprehension and per extra adjacent string literal (flat in CPython's tree, nested in
    libcst's). Never raises: the walk is iterative. Bounds on node spans assume each character
    of source is at least one byte, true of every text encoding CPython accepts in a
    declaration (UTF-8, Latin-1, CP1252, Shift-JIS, ...).
    """
    if len(source) * _PER_CHAR + _SLACK < LIMIT:
        return None
    starts = _line_starts(source)
    deepest = _deepest(tree, starts, source, prune=True)
    if deepest is None:
        return None
    return _describe(tree, starts, source)


def _line_starts(source: bytes) -> list[int]:
    """The byte offset where each line begins (index 0: line 1), then the end of the source.
    `bytes.splitlines` ends lines at `\\n`, `\\r\\n` and `\\r`, as CPython's tokenizer does."""
    return [0, *accumulate(map(len, source.splitlines(keepends=True)))]


def _span(node: ast.AST, starts: list[int]) -> int | None:
    """At least the number of characters `node` spans; None for a node without a position.

    On one line, the end column minus the start column (UTF-8 bytes, at least one per
    character); over several, the bytes of its whole lines (at least one per character)."""
    end: int | None = getattr(node, "end_lineno", None)
    if end is None:
        return None
    line: int = getattr(node, "lineno", end)
    if end == line:
        return int(getattr(node, "end_col_offset", 0)) - int(getattr(node, "col_offset", 0))
    last = min(end, len(starts) - 1)
    return starts[last] - starts[min(line, last) - 1]


def _extra(node: ast.AST, starts: list[int], source: bytes) -> int:
    """Levels libcst nests below `node` that CPython's tree has flat."""
    if isinstance(node, ast.BoolOp):
        return len(node.values) - 1
    if isinstance(node, _COMPREHENSIONS):
        return len(node.generators) - 1
    if isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))
    ):
        return max(0, _pieces(node, starts, source) - 1)
    return 0


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _pieces(node: ast.expr, starts: list[int], source: bytes) -> int:
    """How many adjacent literals make the string `node` (`'a' 'b'`: 2). Counted only when its
    quotes could be that many (two quotes a literal at least): a long docstring costs a count
    of its quote characters, a file of 5,000 adjacent literals one tokenization of them."""
    span = _span(node, starts)
    if span is None or span < 2 * (LIMIT // _PER_CHAR):
        return 1
    last = min(node.end_lineno or node.lineno, len(starts) - 1)
    text = source[starts[min(node.lineno, last) - 1] : starts[last]]
    quotes = text.count(b"'") + text.count(b'"')
    if quotes // 2 * _PER_CHAR < LIMIT // 2:
        return 1
    return _count_literals(text)


def _count_literals(text: bytes) -> int:
    """The number of string literals in `text` (whole lines of source holding one string
    expression), by CPython's tokenizer; at least 1."""
    import io
    import tokenize

    kinds = {tokenize.STRING, getattr(tokenize, "FSTRING_START", tokenize.STRING)}
    found = 0
    try:
        # In brackets, the lines tokenize as one expression whatever surrounds them in the file.
        wrapped = b"(\n" + text.lstrip() + b"\n)\n"
        for token in tokenize.tokenize(io.BytesIO(wrapped).readline):
            found += token.type in kinds
    except (tokenize.TokenError, SyntaxError, UnicodeError):
        pass
    return max(found, 1)


def _deepest(
    tree: ast.Module, starts: list[int], source: bytes, prune: bool
) -> tuple[ast.AST, int, dict[int, ast.AST]] | None:
    """With `prune`, the first node found past `LIMIT` levels and its depth, or None; a node
    whose span cannot hold the levels left is not entered. Without, the deepest node of all,
    its depth and each node's parent (by id), whatever the depth (for the message)."""
    parents: dict[int, ast.AST] = {}
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    pop, push = stack.pop, stack.append
    node_type, budget, last = ast.AST, LIMIT - _SLACK, len(starts) - 1
    deepest: tuple[ast.AST, int] = (tree, 1)
    while stack:
        node, depth = pop()
        if prune:
            end = getattr(node, "end_lineno", None)
            if end is not None:  # inlined `_span`: this loop is the screen's whole cost
                line = node.lineno  # type: ignore[attr-defined]
                if end == line:
                    span = node.end_col_offset - node.col_offset  # type: ignore[attr-defined]
                else:
                    span = starts[min(end, last)] - starts[min(line, last) - 1]
                if depth + span * _PER_CHAR < budget:
                    continue
        fields = node._fields
        if not fields:  # `Load()`, `Add()`: one node shared by the whole tree, a leaf
            continue
        depth += _extra(node, starts, source)
        if depth > deepest[1]:
            deepest = (node, depth)
            if prune and depth > LIMIT:
                return node, depth, parents
        depth += 1
        literal = type(node) is ast.JoinedStr  # its text parts are counted in `_extra`
        for name in fields:
            value = getattr(node, name, None)
            if isinstance(value, node_type):
                push((value, depth))
                if not prune:
                    parents[id(value)] = node
            elif type(value) is list:
                for item in value:
                    if isinstance(item, node_type) and not (literal and type(item) is ast.Constant):
                        push((item, depth))
                        if not prune:
                            parents[id(item)] = node
    if prune:
        return None
    return deepest[0], deepest[1], parents


# What the links of each kind of chain are called in a message.
_CHAINS: dict[type, str] = {
    ast.BinOp: "operands",
    ast.Attribute: "attribute accesses",
    ast.Call: "calls",
    ast.Subscript: "subscripts",
    ast.UnaryOp: "unary operators",
    ast.Lambda: "nested lambdas",
    ast.IfExp: "conditional expressions",
    ast.If: "`if`/`elif` branches",
    ast.Await: "`await`s",
}


def _describe(tree: ast.Module, starts: list[int], source: bytes) -> TooDeep:
    """The message for a file `_deepest` found too deep: the construct that makes most of the
    depth along the path to the deepest node, how long its chain is, and where it starts."""
    found = _deepest(tree, starts, source, prune=False)
    assert found is not None
    node, depth, parents = found
    path = [node]
    while id(path[-1]) in parents:
        path.append(parents[id(path[-1])])
    # Levels per kind of link along the path, and the outermost line of each.
    levels: dict[str, int] = {}
    lines: dict[str, int] = {}
    for link in path:
        label, count = _link(link, starts, source)
        if label is None:
            continue
        levels[label] = levels.get(label, 0) + count
        line = getattr(link, "lineno", None)
        if line is not None:
            lines[label] = line
    limit = f"(limit {LIMIT:,})"
    if levels:
        label = max(levels, key=lambda k: levels[k])
        count = levels[label]
        shown = count + 1 if label.endswith(_ONE_MORE) else count
        if count * 2 >= depth:  # one kind of chain makes at least half of the depth
            line = lines.get(label)
            where = f" on line {line}" if line is not None else ""
            return TooDeep(
                line,
                f"a chain of {shown:,} {label}{where} is longer than leakcheck's parser "
                f"(libcst) can read {limit}; skipped",
            )
    line = next((getattr(n, "lineno", None) for n in reversed(path) if hasattr(n, "lineno")), None)
    line = getattr(node, "lineno", line)
    where = f" on line {line}" if line is not None else ""
    return TooDeep(
        line,
        f"code nested more than {LIMIT:,} levels deep{where} is deeper than leakcheck's parser "
        f"(libcst) can read; skipped",
    )


def _link(node: ast.AST, starts: list[int], source: bytes) -> tuple[str | None, int]:
    """What kind of chain link `node` is for a message, and how many levels it makes."""
    if isinstance(node, ast.BoolOp):
        word = "and" if isinstance(node.op, ast.And) else "or"
        return f"`{word}` operands", len(node.values) - 1
    if isinstance(node, ast.BinOp):
        return f"`{_OPERATORS.get(type(node.op), '?')}` operands", 1
    if isinstance(node, _COMPREHENSIONS):
        return "`for` clauses in one comprehension", len(node.generators) - 1
    if isinstance(node, (ast.JoinedStr, ast.Constant)):
        extra = _extra(node, starts, source)
        return ("adjacent string literals", extra) if extra else (None, 0)
    label = _CHAINS.get(type(node))
    return (label, 1) if label is not None else (None, 0)


# Labels whose chain has one more element than levels (`a and b`: one level, two operands).
_ONE_MORE = ("operands", "clauses in one comprehension", "string literals")


_OPERATORS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.MatMult: "@",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
