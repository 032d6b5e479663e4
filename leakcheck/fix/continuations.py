"""Backslash continuation lines follow their statement when a rewrite moves it deeper, and its
blank lines stay blank.

libcst keeps the whitespace after a backslash-newline as written (`x = a + \\` then the next
line's indentation, inside one `SimpleWhitespace`), while it indents the statement itself by its
new depth. A statement moved into a `try:` or `with` block would keep its continuation lines
where they were, under the new block's first column: valid Python, but not what anyone writes
(pycodestyle E122/E127). Parenthesised continuations carry no absolute indentation in libcst's
tree and need nothing.
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from leakcheck.analysis.syntax import children

_CONTINUATION = "\\\n"


def deepen_continuations(old: cst.CSTNode, new: cst.CSTNode, indent: str) -> cst.CSTNode:
    """`new` (the rewrite of `old`) with each backslash continuation line of a statement that is
    deeper in `new` than in `old` indented by `indent` once per level it went down. Statements
    are matched by identity: the recipes move the original nodes. Raises nothing."""
    before, after = _depths(old), _depths(new)
    moved = {key: after[key] - depth for key, depth in before.items() if after.get(key, 0) > depth}
    if not moved:
        return new
    deepened = new.visit(_Deepen(moved, indent))
    return deepened if isinstance(deepened, cst.CSTNode) else new


def _depths(root: cst.CSTNode) -> dict[int, int]:
    """Statement node id -> how many indented blocks enclose it under `root` (by the fast walk
    of `syntax.children`: whitespace is not where statements are)."""
    found: dict[int, int] = {}
    stack: list[tuple[cst.CSTNode, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, cst.IndentedBlock):
            depth += 1
        elif isinstance(node, cst.BaseStatement):
            found[id(node)] = depth
        stack.extend((child, depth) for child in children(node))
    return found


class _Deepen(cst.CSTTransformer):
    def __init__(self, moved: dict[int, int], indent: str) -> None:
        super().__init__()
        self.moved = moved
        self.indent = indent
        self.levels: list[int] = [0]

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BaseStatement):  # a statement inside keeps its own depth
            self.levels.append(self.moved.get(id(node), 0))
        return super().on_visit(node)

    def on_leave(self, original_node: Any, updated_node: Any) -> Any:
        if isinstance(original_node, cst.BaseStatement):
            self.levels.pop()
        return super().on_leave(original_node, updated_node)

    def leave_EmptyLine(
        self, original_node: cst.EmptyLine, updated_node: cst.EmptyLine
    ) -> cst.EmptyLine:
        """A blank line of a moved statement stays blank: libcst marks a module-level blank line
        as indented (to the module's empty indentation), which inside the new block would render
        as the block's indentation alone (pycodestyle W293)."""
        if self.levels[-1] <= 0 or updated_node.comment is not None or not updated_node.indent:
            return updated_node
        if updated_node.whitespace.value:
            return updated_node
        return updated_node.with_changes(indent=False)

    def leave_SimpleWhitespace(
        self, original_node: cst.SimpleWhitespace, updated_node: cst.SimpleWhitespace
    ) -> cst.SimpleWhitespace:
        levels = self.levels[-1]
        if levels <= 0 or _CONTINUATION not in updated_node.value:
            return updated_node
        value = updated_node.value.replace(_CONTINUATION, _CONTINUATION + self.indent * levels)
        return updated_node.with_changes(value=value)
