"""libcst's parser, without validating each node it builds (a fifth of parsing).

`libcst.parse_module` builds every node through its dataclass constructor, whose
`CSTNode.__post_init__` calls `_validate()`: checks meant for trees written by hand (a `Name`
that is not an identifier, a keyword glued to its operand). A tree the parser built from source
is valid by construction; libcst says so itself above that method ("PERF: It might make more
sense to move validation work into the visitor, which would allow us to avoid validating the tree
when parsing a file", libcst/_nodes/base.py, 1.1 to 1.9). Validation is also where the parser
fails on some valid programs (Instagram/LibCST#1061: `() if 0 else(lambda:())` raises TypeError;
#1095: "space after 'while'" on the standard library's `difflib`).

The native parser also allocates far more than the tree it returns, and frees it when it is
done: for SQLAlchemy's `compiler.py` (300 KB) the process grows by 78 MB, of which the tree is
about 10 MB. glibc keeps what was freed for later allocations, so a process that parsed one big
file stays that big; `parse_module` gives it back to the system (`malloc_trim(0)`, glibc only; a
few milliseconds after a big file), which keeps a worker near its size at start between files.

So `parse_module` switches validation off for the duration of the parse, and only when
`CSTNode.__post_init__` does nothing but call `_validate` (checked once, on the installed
libcst): a later libcst whose `__post_init__` does more is called as it is. Nodes leakcheck builds
itself (the fixes) are always validated: the switch is undone before `parse_module` returns,
and parsing happens on one thread (a language server's request handler or a worker process).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import libcst as cst
from libcst._nodes.base import CSTNode


def _only_validates(method: Callable[..., object]) -> bool:
    code = getattr(method, "__code__", None)
    return code is not None and code.co_names == ("_validate",)


_VALIDATING = CSTNode.__post_init__
_SKIPPABLE = _only_validates(_VALIDATING)


def _trust(self: CSTNode) -> None:
    """A parsed node: nothing to check."""


def _trimmer() -> Callable[[], object]:
    """A call that returns the heap's free memory to the system: glibc's `malloc_trim(0)`; a
    call that does nothing elsewhere (macOS, Windows, musl)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: its C library
        except (OSError, AttributeError):
            pass
        else:
            trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
            return lambda: trim(0)
    return lambda: None


_give_back = _trimmer()


def parse_module(source: bytes | str) -> cst.Module:
    """`libcst.parse_module(source)`, the same tree, without per-node validation.

    Raises what `libcst.parse_module` raises (`ParserSyntaxError`, `UnicodeError`,
    `RecursionError`, ...).
    """
    if not _SKIPPABLE:
        module = cst.parse_module(source)
    else:
        CSTNode.__post_init__ = _trust  # type: ignore[method-assign]
        try:
            module = cst.parse_module(source)
        finally:
            CSTNode.__post_init__ = _VALIDATING  # type: ignore[method-assign]
    _give_back()
    return module
