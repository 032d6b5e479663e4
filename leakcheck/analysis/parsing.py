"""libcst's parser, without validating each node it builds (a fifth of parsing).

`libcst.parse_module` builds every node through its dataclass constructor, whose
`CSTNode.__post_init__` calls `_validate()`: checks meant for trees written by hand (a `Name`
that is not an identifier, a keyword glued to its operand). A tree the parser built from source
is valid by construction; libcst says so itself above that method ("PERF: It might make more
sense to move validation work into the visitor, which would allow us to avoid validating the tree
when parsing a file", libcst/_nodes/base.py, 1.1 to 1.9). Validation is also where the parser
fails on some valid programs (Instagram/LibCST#1061: `() if 0 else(lambda:())` raises TypeError;
#1095: "space after 'while'" on the standard library's `difflib`).

So `parse_module` switches validation off for the duration of the parse, and only when
`CSTNode.__post_init__` does nothing but call `_validate` (checked once, on the installed
libcst): a later libcst whose `__post_init__` does more is called as it is. Nodes leakcheck builds
itself (the fixes) are always validated: the switch is undone before `parse_module` returns,
and parsing happens on one thread (a language server's request handler or a worker process).
"""

from __future__ import annotations

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


def parse_module(source: bytes | str) -> cst.Module:
    """`libcst.parse_module(source)`, the same tree, without per-node validation.

    Raises what `libcst.parse_module` raises (`ParserSyntaxError`, `UnicodeError`,
    `RecursionError`, ...).
    """
    if not _SKIPPABLE:
        return cst.parse_module(source)
    CSTNode.__post_init__ = _trust  # type: ignore[method-assign]
    try:
        return cst.parse_module(source)
    finally:
        CSTNode.__post_init__ = _VALIDATING  # type: ignore[method-assign]
