"""CPython's own parser as the gate every file passes before libcst sees it.

The running interpreter's parser is the reference for what is Python: a file it rejects is
reported with its message and line, and is never handed to libcst, whose native parser accepts
some programs CPython rejects (`except X, e:`, a NUL byte inside a string, 1,000 nested brackets)
and crashes the whole process on others (a 2,000-deep `((((1))))` overflows its stack). CPython's
parser never crashes: it refuses more than 200 nested brackets ("too many nested parentheses") and
raises RecursionError or MemoryError on expressions too deep for it.

CPython's tree also says what would overflow libcst's stack though CPython accepts it (a chain
of 8,000 `and` operands, flat in CPython's tree and 8,000 levels deep in libcst's): such a file
is refused here too, with the chain and its line (`depth.too_deep`), so that nothing reaches
libcst's parser that could crash the process.

The file is only compiled to an abstract syntax tree (`ast.PyCF_ONLY_AST`): nothing in it is ever
executed, imported or turned into bytecode.
"""

from __future__ import annotations

import ast
import os
import warnings
from dataclasses import dataclass

from leakcheck.analysis.depth import too_deep


@dataclass(frozen=True)
class Rejection:
    """Why CPython refuses a file, or why libcst must not see it: `line` is 1-based, None when
    not tied to a line."""

    line: int | None
    reason: str  # one line, in CPython's words


def cpython_rejects(source: bytes) -> Rejection | None:
    """None when the running interpreter's parser accepts `source`, else where and why not.

    `source` is the file's bytes: CPython applies the encoding declaration and BOM rules itself
    (PEP 263, PEP 3120), so a file it cannot decode is rejected here too. Never raises (short of
    KeyboardInterrupt). Messages are CPython's own (`SyntaxError.msg`, e.g. "too many nested
    parentheses", "multiple exception types must be parenthesized", "source code string cannot
    contain null bytes"); they vary between Python versions, as CPython's grammar does.
    """
    found = cpython_parse(source)
    return found if isinstance(found, Rejection) else None


def cpython_parse(source: bytes) -> ast.Module | Rejection:
    """`source`'s abstract syntax tree from the running interpreter's parser, or why it refuses
    it (as `cpython_rejects`), or why libcst's parser must not be given it (`depth.too_deep`:
    "a chain of 8,000 `and` operands on line 1 is longer than leakcheck's parser (libcst) can
    read (limit 1,000); skipped"). Never raises (short of KeyboardInterrupt)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning: invalid escape sequences and the like
            tree = compile(source, "<leakcheck>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:  # IndentationError and TabError included
        line = error.lineno if error.lineno else _null_byte_line(source)
        message = _one_line(error.msg or str(error))
        kind = "cannot decode" if message.startswith(_DECODING) else "syntax error"
        return Rejection(line, f"{kind}: {message}")
    except MemoryError as error:
        limit = _memory_limit()
        if limit is not None and len(source) * _TREE_BYTES_PER_BYTE >= limit - _address_space():
            size, cap = len(source) / 1e6, limit // (1024 * 1024)
            return Rejection(
                None,
                f"Python's parser ran out of memory on this {size:.1f} MB file "
                f"(memory limit {cap:,} MB)",
            )
        detail = _one_line(str(error)) or type(error).__name__
        return Rejection(None, f"too deeply nested for Python's parser ({detail})")
    except RecursionError as error:
        detail = _one_line(str(error)) or type(error).__name__
        return Rejection(None, f"too deeply nested for Python's parser ({detail})")
    except ValueError as error:  # older versions: "source code string cannot contain null bytes"
        return Rejection(_null_byte_line(source), f"syntax error: {_one_line(str(error))}")
    except Exception as error:  # SystemError and the like: CPython's own bugs on odd input
        detail = _one_line(f"{type(error).__name__}: {error}")
        return Rejection(None, f"Python's parser failed on this file ({detail})")
    assert isinstance(tree, ast.Module)
    deep = too_deep(tree, source)
    if deep is not None:
        return Rejection(deep.line, deep.reason)
    return tree


# CPython raises MemoryError both when its parser's own stack overflows (3.11: 6,000 levels, a
# few KB of source) and when the tree does not fit in memory. The tree takes up to about a
# thousand bytes per byte of source (measured with tracemalloc on 3.11: 66 for the standard
# library's `typing.py`, 330 for a 900 KB flat list of ints, a node per two or three bytes; a
# 5 MB such list peaks at 2.3 GB): a file smaller than the memory left under the limit over
# this cannot have run out of it, and its MemoryError is the parser's stack.
_TREE_BYTES_PER_BYTE = 1000


def _memory_limit() -> int | None:
    """This process's address-space limit in bytes (a worker's `LEAKCHECK_WORKER_MEMORY`), or
    None when there is none or the platform cannot say."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, ValueError, OSError, AttributeError):
        return None
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else soft


def _address_space() -> int:
    """This process's address space in bytes now (Linux: `/proc/self/statm`), else 0."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


# How CPython's messages begin when the bytes, not the grammar, are at fault (Parser/tokenizer.c).
_DECODING = ("unknown encoding", "(unicode error)", "encoding problem")


def _null_byte_line(source: bytes) -> int | None:
    """CPython 3.11 names no line for a NUL byte; the first one's line is where the file breaks."""
    at = source.find(b"\0")
    return source.count(b"\n", 0, at) + 1 if at >= 0 else None


def _one_line(text: str) -> str:
    return " ".join(text.split())
