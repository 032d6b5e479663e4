"""What a rule module declares: the `Rule` and its examples.

A rule names one way a resource escapes (`leak`, an `Escape` value of the shared lifetime
analysis) for one family of kinds, or a Django settings finding; the analysis computes the path,
the rule names it. `message` placeholders: {what} the acquisition ("connection from
`pool.getconn()`"), {released} the kind's phrase ("returned to the pool", "closed"), {how} the
path from the analysis; Django rules have their own fields.

`fixes` lists the rewrites the rule offers for its verdicts (`Recipe` values of the model), in
order of preference: the fixer walks it (`fix/candidates.py`) and maps each to its function
(`fix/offers.py`), which checks what it needs. A rule with no recipe offers no rewrite; the Django
rules' text edits are drafted with their findings (`analysis/django/`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leakcheck.model import Recipe, Severity

__all__ = ["Invalid", "Recipe", "Rule", "Severity", "Valid", "documentation"]


@dataclass(frozen=True)
class Invalid:
    """Code the rule flags: exactly `findings`, as (code, line); `fixed` is what `--fix` (or,
    when `unsafe`, `--unsafe-fixes`) writes, None when the rule offers no fix for it."""

    source: str
    findings: tuple[tuple[str, int], ...]
    fixed: str | None = None
    unsafe: bool = False


@dataclass(frozen=True)
class Valid:
    """Code the rule does not flag (the "Use instead" of its documentation)."""

    source: str


@dataclass(frozen=True)
class Rule:
    """One rule: its identity, the verdicts it names, its message, documentation and examples."""

    code: str
    name: str  # kebab-case, the pattern flagged
    summary: str  # one line for tables: what the rule flags
    family: str  # the kind family it judges ("pool", "session"), "any", "django", "suppression"
    leak: str  # the escape class of the verdicts it names (`Escape` values), or its own tag
    message: str
    doc: str  # under the fixed headings: the rule module's docstring
    invalid: tuple[Invalid, ...] = ()
    valid: tuple[Valid, ...] = ()
    opt_in: bool = False  # not in the default selection: enabled only when named by its full code
    fixes: tuple[Recipe, ...] = ()  # the rewrites offered for its verdicts, preferred first
    # How much its findings weigh when they come from no acquisition the kind catalogue judges
    # (framework hooks and middleware, Django settings and threads, an unused suppression). A
    # finding about an acquisition weighs what its kind says (`rules/kinds.toml`, `severity`),
    # one step lower in module-level code; this is also SARIF's `defaultConfiguration.level`.
    severity: Severity = Severity.HIGH

    @property
    def no_fix(self) -> str:
        """Why the rule offers no fix, from its documentation: the text after "No fix:" that opens
        its `## Fix safety` section, on one line; "" for a rule that offers fixes or gives no
        reason. The documentation is the single place the reason is written."""
        found = re.search(r"^## Fix safety\nNo fix: (.*?)(?:\n\n|\n## |\Z)", self.doc, re.M | re.S)
        return " ".join(found.group(1).split()).rstrip(".") if found else ""

    def judges(self, family: str, leak: str) -> bool:
        """Does this rule name a verdict of a kind of `family` that escapes by `leak`?"""
        return self.family in (family, "any") and self.leak == leak


def documentation(docstring: str | None) -> str:
    """A rule module's docstring as its documentation (a module without one is a bug)."""
    if not docstring:
        raise ValueError("a rule module needs its documentation as its docstring")
    return docstring.strip()
