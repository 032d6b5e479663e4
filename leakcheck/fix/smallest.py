"""The smallest correct diff first: a finding's candidate fixes ordered by what they change.

A reviewer merges a two-line change sooner than a forty-line re-indent, and a fix that pushes
lines past the project's configured length (`config.line_length`) fails its formatter check. So
among a finding's candidates (candidates.py, in its rule's order of preference):

1. safety first, as the rule ordered it: a fix moves only among its neighbours of the same
   applicability (a run of safe ones, a run of unsafe ones), so an unsafe fix is never put before
   a safe one, and a safe one does not jump an unsafe first choice (a configured `fix-helpers`
   form that is unsafe: `--fix` then applies nothing, as the project asked);
2. within a run, one whose every added line keeps within the line length before one that does
   not;
3. then the one whose unified diff has the fewest lines (`+` and `-` lines);
4. then the rule's order.

The diff measured is the block's: an import a fix adds is left out (a name added to a `from`
import is one more changed line for the project's own helper, which would lose to the plain form
over its import alone; the project's import sorter formats that line anyway).

Where no candidate of a run keeps within the length, the rule's order stands: which overlong
form to prefer is the rule's call, not a line count's.
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass

import libcst as cst

from leakcheck.fix.continuations import deepen_continuations
from leakcheck.fix.recipes import Plan


@dataclass(frozen=True)
class Size:
    """What a rewrite changes: the lines of its unified diff, and whether each line it adds keeps
    within the line length it was measured against."""

    diff_lines: int
    fits: bool


def size(module: cst.Module, plan: Plan, line_length: int) -> Size:
    """The diff `plan` makes to `module`: its `+`/`-` lines counted, its added lines measured
    against `line_length` (characters, as ruff's E501 counts them for ASCII code). The imports the
    plan needs are not part of it (module docstring).

    Only the block is rendered, before and after (rendering the module for each candidate made a
    large file's check twenty times slower); the indentation of the blocks around it is added to
    each line's width."""
    new = deepen_continuations(plan.old, plan.new, module.default_indent)
    old_lines = module.code_for_node(plan.old).splitlines()
    new_lines = module.code_for_node(new).splitlines()
    outer = len(_outer_indent(module, plan.old))
    changed = 0
    fits = True
    for line in difflib.unified_diff(old_lines, new_lines, lineterm="", n=0):
        if line.startswith(("+++", "---", "@@")):
            continue
        if line.startswith("+"):
            changed += 1
            fits = fits and (not line[1:].strip() or outer + len(line) - 1 <= line_length)
        elif line.startswith("-"):
            changed += 1
    return Size(changed, fits)


# The indentation of every node of the last module asked about: candidates of one module are
# ordered one verdict after another, so one entry serves them all.
_LAST: list[tuple[cst.Module, dict[int, str]]] = []


def _outer_indent(module: cst.Module, node: cst.CSTNode) -> str:
    """The indentation of the blocks around `node`, which `code_for_node` leaves out."""
    if not _LAST or _LAST[0][0] is not module:
        _LAST[:] = [(module, _indents(module))]
    return _LAST[0][1].get(id(node), "")


# What sits at an indentation: statements, blocks, and the clauses of compound statements.
_BLOCKS = (
    cst.BaseStatement,
    cst.BaseSuite,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Else,
    cst.Finally,
    cst.MatchCase,
)


def _indents(module: cst.Module) -> dict[int, str]:
    """For each statement and block of `module`, by `id`, the indentation it sits under."""
    out: dict[int, str] = {}
    stack: list[tuple[cst.CSTNode, str]] = [(module, "")]
    while stack:
        node, prefix = stack.pop()
        out[id(node)] = prefix
        inner = prefix
        if isinstance(node, cst.IndentedBlock):
            inner = prefix + (node.indent if node.indent is not None else module.default_indent)
        for child in node.children:
            if isinstance(child, _BLOCKS):
                stack.append((child, inner))
    return out


def smallest_first(plans: list[Plan], module: cst.Module, line_length: int) -> list[Plan]:
    """`plans` (in the rule's order) reordered as the module docstring says; a list of one (or
    none) is returned as it is, without rendering anything."""
    if len(plans) < 2:
        return plans
    out: list[Plan] = []
    for _, group in itertools.groupby(plans, key=lambda p: p.applicability):
        run = list(group)
        if len(run) < 2:
            out += run
            continue
        sizes = [size(module, p, line_length) for p in run]
        if not any(s.fits for s in sizes):
            out += run
            continue
        order = sorted(range(len(run)), key=lambda i: (not sizes[i].fits, sizes[i].diff_lines, i))
        out += [run[i] for i in order]
    return out
