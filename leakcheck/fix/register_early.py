"""Register on the `ExitStack` right after acquiring: the fix a person writes for a late hand-off.

    source = pool.getconn()                      source = pool.getconn()
    target = pool.getconn()             ->       stack.callback(pool.putconn, source)
    stack.callback(pool.putconn, source)         target = pool.getconn()
    stack.callback(pool.putconn, target)         stack.callback(pool.putconn, target)

The registration (`callback`, `push`, `push_async_callback` of a stack entered by `with
ExitStack() as stack:`) moves up to right after the acquiring statement, in the same block. Only
when that cannot change what it registers or the order of the stack's callbacks: its arguments are
names and attributes of names, none of them bound between the two statements (so they mean the
same there, the acquired name included), and nothing between mentions the stack (another
registration would then run in another order at exit). On the normal path the stack holds the same
callbacks in the same order; an error between the two statements now finds the resource on it.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import bound_names, dotted, import_bindings, walk
from leakcheck.fix.ranges import acquired_in_block, assigned
from leakcheck.fix.recipes import Plan
from leakcheck.model import Applicability

STACKS = frozenset({"contextlib.ExitStack", "contextlib.AsyncExitStack"})
REGISTERING = frozenset({"callback", "push", "push_async_callback"})


def register_early(site: Site, facts: ModuleFacts, handed: cst.CSTNode) -> Plan | None:
    """The plan moving the statement holding `handed` (where `site`'s resource is handed to an
    `ExitStack`) to right after the acquiring statement; None when it is not such a registration
    in the acquisition's block, or moving it could change what it registers or reorder the
    stack's callbacks. Safe when returned."""
    start = acquired_in_block(site, facts)
    if start is None:
        return None
    name, block, body, index = start.name, start.block, start.body, start.index
    position = next(
        (i for i in range(index + 1, len(body)) if any(n is handed for n in walk(body[i]))), None
    )
    if position is None or position == index + 1:
        return None  # handed over in a nested block, or already right after the acquisition
    moved = body[position]
    stack = _registration(moved, name)
    if stack is None or not _entered_stack(stack, block, site, facts):
        return None
    between = body[index + 1 : position]
    needed = {n.value for n in walk(moved) if isinstance(n, cst.Name)}
    if any(_binds(s) & (needed | {"*"}) for s in between):
        return None  # an argument (or the stack) means something else after the acquisition
    if any(isinstance(n, cst.Name) and n.value == stack for s in between for n in walk(s)):
        return None  # another registration (or use) of the stack: the order at exit would change
    assert isinstance(moved, cst.SimpleStatementLine)
    blank, lines = _split_blank(moved)
    after: list[cst.BaseStatement] = []
    if position + 1 < len(body) and blank:
        following = body[position + 1]
        gap = list(getattr(following, "leading_lines", ()))
        after = [following.with_changes(leading_lines=[*blank, *gap])]
    rest = body[position + 1 + len(after) :]
    new_body = [
        *body[: index + 1],
        moved.with_changes(leading_lines=lines),
        *between,
        *after,
        *rest,
    ]
    title = f"Register `{name}` on `{stack}` right after taking it"
    return Plan(block, block.with_changes(body=new_body), title, Applicability.SAFE)


def _registration(stmt: cst.BaseStatement, name: str) -> str | None:
    """The stack's name when `stmt` is only `stack.callback(...)` (`push`, `push_async_callback`)
    whose arguments mention `name` and are names or attributes of names (evaluating them earlier
    runs nothing); None otherwise."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    expr = stmt.body[0]
    if not isinstance(expr, cst.Expr) or not isinstance(expr.value, cst.Call):
        return None
    call = expr.value
    func = call.func
    if not isinstance(func, cst.Attribute) or not isinstance(func.value, cst.Name):
        return None
    if func.attr.value not in REGISTERING:
        return None
    if any(a.star or dotted(a.value) is None for a in call.args):
        return None  # `*args`, a call or an expression: it may run code, or raise, earlier
    if not any(isinstance(a.value, cst.Name) and a.value.value == name for a in call.args):
        return None
    return func.value.value


def _entered_stack(
    stack: str, block: cst.IndentedBlock | cst.Module, site: Site, facts: ModuleFacts
) -> bool:
    """Is `stack` bound by a `with ExitStack() as stack:` (`AsyncExitStack`) of `site`'s scope
    whose body holds `block`?"""
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    for node in walk(root):
        if not isinstance(node, cst.With):
            continue
        for item in node.items:
            value = item.item
            if (
                isinstance(value, cst.Call)
                and facts.qualify(value.func) in STACKS
                and item.asname is not None
                and isinstance(item.asname.name, cst.Name)
                and item.asname.name.value == stack
                and any(n is block for n in walk(node.body))
            ):
                return True
    return False


def _binds(stmt: cst.BaseStatement) -> set[str]:
    """Every name `stmt` may (re)bind or unbind: assignments, `for`/`with`/`except` targets,
    walruses, `def`, `class`, imports, `del`, `global` and `nonlocal`; "*" for `from x import *`."""
    out = assigned(stmt)
    for node in walk(stmt):
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            out.add(node.name.value)
        elif isinstance(node, cst.ImportFrom) and isinstance(node.names, cst.ImportStar):
            out.add("*")  # `from x import *`: any name
        elif isinstance(node, (cst.Import, cst.ImportFrom)):
            out.update(import_bindings(node))
        elif isinstance(node, cst.Del):
            out |= bound_names(node.target)
        elif isinstance(node, (cst.Global, cst.Nonlocal)):
            out.update(n.name.value for n in node.names)
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            out |= bound_names(node.name.name)
    return out


def _split_blank(stmt: cst.SimpleStatementLine) -> tuple[list[cst.EmptyLine], list[cst.EmptyLine]]:
    """The blank lines above `stmt` before its first comment, and the rest (its comments go with
    it; the blank lines stay where it was, above the statement that followed it)."""
    lines = list(stmt.leading_lines)
    count = 0
    while count < len(lines) and lines[count].comment is None:
        count += 1
    return lines[:count], lines[count:]
