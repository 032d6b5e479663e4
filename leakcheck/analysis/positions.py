"""Line and column of a few nodes, computed by one code-generation pass only when needed.

libcst's PositionProvider records a range for every node through a MetadataWrapper (which
deep-copies the tree). We need positions only for the few nodes a finding mentions, and only in
files that have findings, so this state tracks the cursor and records just those.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import libcst as cst
from libcst._nodes.internal import CodegenState

_NEWLINE = re.compile(r"\r\n?|\n")


@dataclass(frozen=True)
class Span:
    """1-based line and column of the start; end is exclusive, same convention."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass
class _Locator(CodegenState):
    targets: frozenset[int] = frozenset()
    found: dict[int, Span] = field(default_factory=dict)
    line: int = 1
    column: int = 0
    _starts: dict[int, tuple[int, int]] = field(default_factory=dict)

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        if "\n" in value or "\r" in value:
            parts = _NEWLINE.split(value)
            self.line += len(parts) - 1
            self.column = len(parts[-1])
        else:
            self.column += len(value)

    def before_codegen(self, node: cst.CSTNode) -> None:
        if id(node) in self.targets:
            self._starts.setdefault(id(node), (self.line, self.column))

    def after_codegen(self, node: cst.CSTNode) -> None:
        key = id(node)
        if key in self.targets and key not in self.found:
            line, column = self._starts.pop(key)
            self.found[key] = Span(line, column + 1, self.line, self.column + 1)

    @contextmanager
    def record_syntactic_position(
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> Iterator[None]:
        # Statements emit their leading comments and indentation before this point: starting here
        # gives the position of the keyword, not of the blank lines above it.
        if id(node) in self.targets and start_node is None:
            self._starts[id(node)] = (self.line, self.column)
        yield


def locate(module: cst.Module, nodes: Sequence[cst.CSTNode]) -> dict[int, Span]:
    """Spans of `nodes` (keyed by `id(node)`), from one pass over `module`."""
    return locate_with_code(module, nodes)[0]


def locate_with_code(
    module: cst.Module, nodes: Sequence[cst.CSTNode]
) -> tuple[dict[int, Span], str]:
    """`locate`, and the module's code (`module.code`) from the same pass: a second rendering
    of the whole module costs as much as the first."""
    state = _Locator(
        default_indent=module.default_indent,
        default_newline=module.default_newline,
        targets=frozenset(id(n) for n in nodes),
    )
    module._codegen(state)
    return state.found, "".join(state.tokens)
