"""Findings of the Django rules before positions are known, and how they become `Finding`s.

The Django analyses (settings, ORM threads, consumers) work on the libcst tree and name nodes;
positions are computed once per module for the nodes the drafts mention (see positions.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from leakcheck.analysis.positions import Span, locate
from leakcheck.checks import Rule, rules
from leakcheck.model import Applicability, Edit, Finding, Fix


@dataclass(frozen=True)
class InsertKey:
    """Add `"KEY": value` as the last entry of a dict literal, in the dict's own layout."""

    dict_node: cst.Dict
    key: str
    value: str


@dataclass(frozen=True)
class Replace:
    """Replace one expression by `text`."""

    node: cst.CSTNode
    text: str


@dataclass(frozen=True)
class InsertLineAfter:
    """A new line after the statement `node` (an import after the module's imports)."""

    node: cst.CSTNode
    text: str


Change = InsertKey | Replace | InsertLineAfter


@dataclass(frozen=True)
class FixDraft:
    """A fix before positions: its title, applicability and text changes."""

    title: str
    applicability: Applicability
    change: Change
    more: tuple[Change, ...] = ()  # further edits of the same fix

    def changes(self) -> tuple[Change, ...]:
        """Every change of the fix, in order."""
        return (self.change, *self.more)


@dataclass(frozen=True)
class Draft:
    """One finding: `code` at `node`, its message fields, and what identifies it across edits."""

    code: str
    node: cst.CSTNode
    fields: dict[str, str]
    function: str  # the enclosing function ("Class.method"), or the alias for settings rules
    acquisition: str  # what a baseline fingerprint keys on besides code and path
    related: cst.CSTNode | None = None
    related_label: str = ""
    fix: FixDraft | None = None
    extra_nodes: tuple[cst.CSTNode, ...] = field(default=())
    # Why this finding has no fix, when the rule's own reason (`Rule.no_fix`) is not the one.
    no_fix: str = ""


def rule(code: str) -> Rule:
    """The registry's rule for `code`. Raises KeyError for a code no rule module defines."""
    for candidate in rules():
        if candidate.code == code:
            return candidate
    raise KeyError(code)


def findings(module: cst.Module, drafts: Sequence[Draft], path: str) -> list[Finding]:
    """`Finding`s for the drafts, positions from one pass over `module`."""
    if not drafts:
        return []
    nodes: list[cst.CSTNode] = []
    for draft in drafts:
        nodes.append(draft.node)
        if draft.related is not None:
            nodes.append(draft.related)
        if draft.fix is not None:
            for change in draft.fix.changes():
                nodes.extend(_fix_nodes(change))
    spans = locate(module, nodes)
    lines = module.code.splitlines(keepends=True)
    out = []
    for draft in drafts:
        span = spans[id(draft.node)]
        known = rule(draft.code)
        related = spans[id(draft.related)] if draft.related is not None else None
        fix = None
        if draft.fix is not None:
            edits = [_edit(change, spans, lines) for change in draft.fix.changes()]
            if all(edit is not None for edit in edits):
                fix = Fix(
                    draft.fix.title,
                    tuple(edit for edit in edits if edit is not None),
                    draft.fix.applicability,
                )
        out.append(
            Finding(
                path=path,
                line=span.line,
                column=span.column,
                end_line=span.end_line,
                end_column=span.end_column,
                code=draft.code,
                rule=known.name,
                message=known.message.format(**draft.fields),
                related_line=related.line if related is not None else None,
                related_label=draft.related_label,
                related_column=related.column if related is not None else None,
                function=draft.function,
                acquisition=draft.acquisition,
                fixes=() if fix is None else (fix,),
                no_fix_reason="" if fix is not None else _no_fix_reason(draft, known),
                severity=known.severity,  # no kind to weigh: the rule's own
            )
        )
    return out


def _no_fix_reason(draft: Draft, known: Rule) -> str:
    """Why `draft` has no fix: its own reason, else its rule's, else (a rule whose fix this shape
    is outside of) a pointer to where the rule says which shapes it fixes."""
    if draft.no_fix or known.no_fix:
        return draft.no_fix or known.no_fix
    if known.fixes or draft.fix is not None or "## Fix safety" in known.doc:
        return "this shape is outside the ones its fix handles (see the rule's Fix safety)"
    return ""


def _fix_nodes(change: Change) -> list[cst.CSTNode]:
    if isinstance(change, (Replace, InsertLineAfter)):
        return [change.node]
    nodes: list[cst.CSTNode] = [change.dict_node]
    elements = [e for e in change.dict_node.elements]
    if elements:
        nodes.append(elements[-1])
        nodes.append(
            elements[-1].value if isinstance(elements[-1], cst.DictElement) else elements[-1]
        )
    return nodes


def _edit(change: Change, spans: dict[int, Span], lines: list[str]) -> Edit | None:
    if isinstance(change, Replace):
        span = spans[id(change.node)]
        return Edit(span.line, span.column, span.end_line, span.end_column, change.text)
    if isinstance(change, InsertLineAfter):
        span = spans[id(change.node)]
        # A statement's span ends after its newline (column 1 of the next line).
        row = span.end_line - 1 if span.end_column == 1 else span.end_line
        if row >= len(lines) or not lines[row - 1].endswith("\n"):
            return None  # the statement ends the file: no line after it to insert before
        newline = "\r\n" if lines[row - 1].endswith("\r\n") else "\n"
        return Edit(row + 1, 1, row + 1, 1, change.text + newline)
    return _insert_key(change, spans, lines)


def _insert_key(change: InsertKey, spans: dict[int, Span], lines: list[str]) -> Edit | None:
    """The text edit adding a key to a dict literal, keeping its layout and comments.

    Multi-line dict: a new line before the closing brace, indented like the last entry (a comma
    is added after the last entry's value when it has none). One-line dict: `, KEY: value` after
    the last entry. Empty dict: the entry between the braces.
    """
    node = change.dict_node
    whole = spans[id(node)]
    quote = _quote(node)
    entry = f"{quote}{change.key}{quote}: {change.value}"
    if not node.elements:
        return Edit(whole.line, whole.column + 1, whole.end_line, whole.end_column - 1, entry)
    last = node.elements[-1]
    value = last.value if isinstance(last, cst.DictElement) else last
    last_span, value_span = spans[id(last)], spans[id(value)]
    closing_line = whole.end_line
    if closing_line == value_span.end_line:  # `}` on the last entry's line
        has_comma = not isinstance(last.comma, cst.MaybeSentinel)
        text = f" {entry}" if has_comma else f", {entry}"
        if has_comma:  # after the comma, before the closing brace
            line = lines[closing_line - 1]
            brace = whole.end_column - 1  # 1-based column of `}`
            before = line[: brace - 1].rstrip()
            return Edit(closing_line, len(before) + 1, closing_line, brace, text)
        return Edit(
            value_span.end_line,
            value_span.end_column,
            value_span.end_line,
            value_span.end_column,
            text,
        )
    indent_line = lines[last_span.line - 1]
    indent = indent_line[: len(indent_line) - len(indent_line.lstrip())]
    newline = "\r\n" if indent_line.endswith("\r\n") else "\n"
    new_line = f"{indent}{entry},{newline}"
    closing_text = lines[closing_line - 1]
    if closing_text[: whole.end_column - 2].strip():  # something before `}` on its line
        return None
    if isinstance(last.comma, cst.MaybeSentinel):
        # The last entry's line gets a comma after its value; the new line goes after it.
        row = value_span.end_line
        text_line = lines[row - 1]
        cut = value_span.end_column - 1
        rebuilt = text_line[:cut] + "," + text_line[cut:]
        following = "".join(lines[row : closing_line - 1])
        return Edit(row, 1, closing_line, 1, rebuilt + following + new_line)
    return Edit(closing_line, 1, closing_line, 1, new_line)


def _quote(node: cst.Dict) -> str:
    for element in node.elements:
        if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
            return "'" if element.key.value.startswith("'") else '"'
    return '"'
