"""A `try` whose `finally` releases the resource, started a few statements too late: the
statements between the acquisition and the `try` moved into it.

    db = sqlite3.connect(path)               db = sqlite3.connect(path)
    checked(path)                            try:
    try:                                         checked(path)
        return db.execute(q).fetchone()          return db.execute(q).fetchone()
    finally:                                 finally:
        db.close()                               db.close()

The code already says where the resource's life ends (its `finally`); only its start is late. On
the normal path the same statements run in the same order and the `finally` runs where it did;
when one of the moved statements raises, the `finally` now releases instead of leaving the
resource open. The smallest diff for the shape: the `try:` line moves up, the moved lines are
indented.

Only a `try` with a `finally` and neither `except` nor `else` (a handler would start catching
what the moved statements raise), whose `finally` releases the name as one of its statements;
only when the moved statements neither release the resource, nor rebind its name, nor leave the
function (`return`, `yield`, `break`, `continue`: an exit there is another shape), nor hand it
to code that keeps it or runs later.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import walk
from leakcheck.fix.ranges import (
    acquired_in_block,
    assigned,
    deferred_use,
    is_release,
    leaves,
    mentions_release,
)
from leakcheck.fix.recipes import Plan
from leakcheck.fix.statements import lift_blank_lines
from leakcheck.model import Applicability

_EXITS = (cst.Return, cst.Yield, cst.Break, cst.Continue)


def releasing_try(stmt: cst.BaseStatement, site: Site, facts: ModuleFacts, name: str) -> bool:
    """`try: ... finally: release(name)`, without `except` or `else`."""
    return (
        isinstance(stmt, cst.Try)
        and not stmt.handlers
        and stmt.orelse is None
        and stmt.finalbody is not None
        and isinstance(stmt.finalbody.body, cst.IndentedBlock)
        and any(is_release(s, site, facts, name) for s in stmt.finalbody.body.body)
    )


def try_from_acquisition(site: Site, facts: ModuleFacts) -> Plan | None:
    """The rewrite of the module docstring for `site` (bound by an assignment), or None when it
    does not apply or would not be right."""
    start = acquired_in_block(site, facts)
    if start is None:
        return None
    name, block, body, index = start.name, start.block, start.body, start.index
    late = next(
        (k for k in range(index + 1, len(body)) if releasing_try(body[k], site, facts, name)),
        None,
    )
    if late is None or late == index + 1:
        return None  # no such `try`, or it starts right after the acquisition already
    moved = list(body[index + 1 : late])
    if any(isinstance(n, _EXITS) for s in moved for n in walk(s)):
        return None
    if any(name in assigned(s) for s in moved) or mentions_release(tuple(moved), site, facts, name):
        return None
    if leaves(moved, name, set()) or deferred_use(moved, {name}) is not None:
        return None  # handed on before the `try`: its holder would find it released
    old_try = body[late]
    assert isinstance(old_try, cst.Try) and isinstance(old_try.body, cst.IndentedBlock)
    blank, lifted = lift_blank_lines(moved)
    inner = list(old_try.body.body)
    if old_try.leading_lines and inner and isinstance(inner[0], cst.SimpleStatementLine):
        # A comment above the old `try:` stays above the statements it introduced.
        inner[0] = inner[0].with_changes(
            leading_lines=[*old_try.leading_lines, *inner[0].leading_lines]
        )
    elif old_try.leading_lines:
        return None  # a comment we could not keep in place
    new_try = old_try.with_changes(
        body=old_try.body.with_changes(body=[*lifted, *inner]), leading_lines=blank
    )
    new_block = block.with_changes(body=[*body[: index + 1], new_try, *body[late + 1 :]])
    return Plan(
        block,
        new_block,
        f"Start the `try` that releases `{name}` right after it is acquired",
        Applicability.SAFE,
    )
