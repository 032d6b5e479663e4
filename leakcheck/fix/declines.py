"""Why a finding has no fix: one short reason, for the finding's code frame and JSON.

A recipe that declines returns None; the conditions it declines on are its preconditions, which
are asked again here in the order they most often decide (a hand-off before a `yield`, say). The
reason is the first that holds; where none does, "no rewrite known for this shape". The reasons
about wrapping (a release nested in a branch, no statement to wrap) are given only for rules that
offer the `with` / try/finally form (`Recipe.WRAP`). Reasons name lines of the checked file, so a
reader can see the statement that stops the rewrite.

Read only for findings without a fix. A reason names its line through a node (`Decline`), which
the engine locates with the findings' own nodes: one position pass over the module for them all
(a pass per finding cost a large file seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.records import Origin
from leakcheck.analysis.syntax import call_text, referenced_names, unwrap_value, walk
from leakcheck.analysis.verdicts import Verdict
from leakcheck.checks import rule_for
from leakcheck.fix.candidates import candidates
from leakcheck.fix.drops import described_around, drops_in
from leakcheck.fix.helper_releases import releases_through_busy_helper
from leakcheck.fix.ranges import (
    LAZY,
    acquired_in_block,
    handed_to_later,
    hands_over,
    is_release,
    live_names,
    used_after,
)
from leakcheck.fix.recipes import handed_over_at
from leakcheck.model import Recipe

UNKNOWN = "no rewrite known for this shape"


@dataclass(frozen=True)
class Decline:
    """Why there is no fix: `before`, then the line of `node` (when there is one), then `after`."""

    before: str
    node: cst.CSTNode | None = None
    after: str = ""

    def text(self, line: int | None = None) -> str:
        """The reason, `line` being where `node` starts."""
        return self.before if self.node is None else f"{self.before}{line}{self.after}"


def _returns(node: cst.CSTNode, name: str) -> bool:
    """`return name` (or a tuple or call holding it: `ranges.hands_over`), or an object still
    reading from it (`return conn.cursor()`, `return conn.execute(q)`); not a value read from it
    (`return await conn.fetch(q)`, `return conn.execute(q).fetchone()`)."""
    if not isinstance(node, cst.Return) or node.value is None:
        return False
    value = unwrap_value(node.value)
    if hands_over(value, name):
        return True
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
        root: cst.BaseExpression = value.func.value
        while isinstance(root, (cst.Call, cst.Attribute, cst.Subscript)):
            root = root.func if isinstance(root, cst.Call) else root.value
        return isinstance(root, cst.Name) and root.value == name and value.func.attr.value in LAZY
    return False


def _returned_live(
    root: cst.CSTNode, body: list[cst.BaseStatement], name: str
) -> cst.Return | None:
    """`return cur` where `cur = conn.cursor()` (`ranges.live_names`): the caller reads
    through it."""
    live = live_names(body, name)
    for node in walk(root):
        if isinstance(node, cst.Return) and node.value is not None:
            value = unwrap_value(node.value)
            if isinstance(value, cst.Name) and value.value in live:
                return node
    return None


def _released_next(
    node: cst.CSTNode, root: cst.CSTNode, site: Site, facts: ModuleFacts, name: str
) -> bool:
    """Is the statement right after `node` in its block the release of `name`? Then the use
    after the `with` is only that release."""
    for block in walk(root):
        if isinstance(block, (cst.IndentedBlock, cst.Module)):
            body = list(block.body)
            at = next((i for i, s in enumerate(body) if s is node), None)
            if at is not None:
                return at + 1 < len(body) and is_release(body[at + 1], site, facts, name)
    return False


def _with_used_after(site: Site, root: cst.CSTNode, name: str) -> cst.With | None:
    """The `with` that binds the resource (`with psycopg2.connect() as conn:`), when the code goes
    on using the name after it."""
    for node in walk(root):
        if isinstance(node, cst.With) and any(
            unwrap_value(item.item) is site.call for item in node.items
        ):
            return node if used_after(node, root, name) else None
    return None


def _nested_use(node: cst.CSTNode, root: cst.CSTNode, name: str) -> bool:
    """A function or lambda nested in `root` that mentions `name` (a closure over it)."""
    return (
        node is not root
        and isinstance(node, (cst.FunctionDef, cst.Lambda))
        and any(n.value == name for n in referenced_names(node, into_scopes=True))
    )


def _nested_release(verdict: Verdict, facts: ModuleFacts, name: str) -> cst.Call | None:
    """A release of `name` after its acquisition, inside a compound statement of the acquisition's
    block (the rewrites remove only releases written as statements of that block)."""
    site = verdict.site
    start = acquired_in_block(site, facts)
    if start is None:
        return None
    for stmt in start.body[start.index + 1 :]:
        if is_release(stmt, site, facts, name):
            continue
        for node in walk(stmt):
            if isinstance(node, cst.Call) and any(
                isinstance(a, cst.Name) and a.value == name
                for a in facts.released_args(node, site.class_name, site.kind)
            ):
                return node
    return None


def why_no_fix(verdict: Verdict, facts: ModuleFacts) -> Decline:
    """The reason `verdict` gets no fix (module docstring); never an empty one, and never raises
    for a verdict of `facts`' module."""
    site = verdict.site
    name = site.binding.name
    if name is None:
        return Decline(
            "the result is not bound to a name (discarded, chained or passed straight on): "
            "there is no name a rewrite could release"
        )
    root: cst.CSTNode = site.scope if isinstance(site.scope, cst.Module) else site.scope.body
    drops = drops_in(root, site, facts, name)
    if drops:
        before, after = described_around(drops[0], facts, name)
        tail = ": a `finally` would give it back on that path too"
        return Decline(before, drops[0].handler, after + tail)
    handed = handed_over_at(verdict) or handed_to_later(site, facts)
    if handed is not None:
        return Decline(
            f"`{name}` is handed over on line ",
            handed,
            ": no rewrite releases it on every path and keeps that",
        )
    returned = next((n for n in walk(root) if _returns(n, name)), None)
    if isinstance(returned, cst.Return) and returned.value is not None:
        value = unwrap_value(returned.value)
        if isinstance(value, cst.Call) and any(hands_over(a.value, name) for a in value.args):
            return Decline(  # `return run_query(db, q)`, `return Repo(conn)`
                f"`{call_text(value)}` is given `{name}` and its result is returned on line ",
                returned,
                f": the result may hold `{name}` or read from it once this function has "
                "returned, so no rewrite here may release it on every path",
            )
        return Decline(
            f"`{name}` is returned on line ",
            returned,
            ": the caller releases it there, so no rewrite here may release it on every path",
        )
    statements = list(root.body) if isinstance(root, (cst.Module, cst.IndentedBlock)) else []
    live = _returned_live(root, statements, name)
    if live is not None:
        returned_name = unwrap_value(live.value) if live.value is not None else None
        what = returned_name.value if isinstance(returned_name, cst.Name) else "a cursor"
        return Decline(
            f"`{what}` reads from `{name}` and is returned on line ",
            live,
            f": the caller reads through it, so `{name}` must stay open for the caller",
        )
    nested = next((n for n in walk(root) if _nested_use(n, root, name)), None)
    if nested is not None:
        return Decline(
            f"`{name}` is used inside the function defined on line ",
            nested,
            ", which may run after this one ends: no rewrite here knows when that is",
        )
    if not isinstance(site.scope, cst.Module):
        found = next((n for n in walk(root) if isinstance(n, cst.Yield)), None)
        if found is not None:
            return Decline(
                "a `yield` on line ",
                found,
                " is inside the range: when the generator resumes, if ever, is its consumer's "
                "choice",
            )
    rule = rule_for(site.kind.family, verdict.leak)
    wraps = rule is not None and Recipe.WRAP in rule.fixes  # the try/finally form is offered
    nested_release = _nested_release(verdict, facts, name) if wraps else None
    if nested_release is not None:
        return Decline(
            f"`{name}` is released on line ",
            nested_release,
            " inside a branch, loop or `try` of its own: a new `finally` would release it twice "
            "on that path",
        )
    if wraps and site.binding.how == Origin.ASSIGN and acquired_in_block(site, facts) is None:
        return Decline(
            f"`{name}` is not bound by a `{name} = ...` statement of its own (a condition, a "
            "loop header, a tuple): there is no statement to wrap"
        )
    if site.binding.how == Origin.WITH:
        holder = _with_used_after(site, root, name)
        if holder is not None and not _released_next(holder, root, site, facts, name):
            return Decline(
                f"`{name}` is used after the `with` on line ",
                holder,
                " ends: a release when the `with` ends would come before that use, and the "
                "statements after it are not covered by the `with`",
            )
        if holder is not None:
            at = next(
                i for i, item in enumerate(holder.items) if unwrap_value(item.item) is site.call
            )
            if at > 0:
                first = facts.module.code_for_node(holder.items[0].item)
                return Decline(
                    f"`{first}` is let go when the `with` on line ",
                    holder,
                    f" ends, before `{name}` is given back after it: a release inside the `with` "
                    "would change that order",
                )
    if releases_through_busy_helper(site, facts, name):
        return Decline(
            "it is released through a helper that also does other work (a commit): "
            "a rewrite would move that work with the release"
        )
    proposed = candidates(verdict, facts)
    if proposed:
        return Decline(
            f"the rewrite known ({proposed[0].title}) leaves this finding or adds "
            "another, so it is not offered"
        )
    return Decline(UNKNOWN)
