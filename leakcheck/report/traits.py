"""What the reports say about a rule besides its documentation: SARIF's `tags` and `precision`
(GitHub code scanning reads both from `reportingDescriptor.properties`), and the severity of a
GitLab Code Quality issue. Read from the rule's nature (`Rule.family`, `Rule.opt_in`), never
from its code, so a new rule gets them from what it is.

The choice, and why:

- A rule that judges a resource's lifetime (families "pool", "session", "any": the shared path
  analysis) is tagged as CodeQL tags its own database-leak query (`java/database-resource-leak`:
  `correctness`, `resources`, `external/cwe/cwe-404` "Improper Resource Shutdown or Release",
  `external/cwe/cwe-772` "Missing Release of Resource after Effective Lifetime"), with the same
  precision, `high`: the path analysis is sound about what it sees, but a callee it cannot read
  or a raise model that is too cautious can still make a finding wrong.
- A Django rule ("django": settings and ORM use on threads) reads settings values and the
  project's code: `high` as well; tagged `django` and `configuration`.
- An opt-in rule is opt-in because practice differs (its documentation says when it does not
  apply): `medium`.
- A suppression that matched nothing ("suppression") is a fact of the run, not a judgement:
  `very-high`, tagged `maintainability`.

GitLab severities (`info`, `minor`, `major`, `critical`, `blocker`; GitLab docs, "Code Quality",
"Implement a custom tool"): a leak or a Django finding is `major` (it fails the run, as ruff
marks its findings), an opt-in rule's finding or an unused suppression `minor`.
"""

from __future__ import annotations

from leakcheck.checks import Rule

__all__ = ["GITLAB_ERROR", "gitlab_severity", "judges_a_path", "precision", "tags"]

# The lifetime families, judged by the shared path analysis.
_LIFETIME = {"pool": ("connection-pool",), "session": ("session",), "any": ()}
_LEAK_TAGS = ("correctness", "resources", "external/cwe/cwe-404", "external/cwe/cwe-772")
# A file that could not be analysed, in GitLab's report.
GITLAB_ERROR = "major"


def judges_a_path(rule: Rule) -> bool:
    """Does `rule` judge a resource's lifetime along the paths of a function (so that its
    findings have an escaping path, SARIF's `codeFlows`)? Settings rules and unused
    suppressions do not."""
    return rule.family in _LIFETIME


def tags(rule: Rule) -> list[str]:
    """SARIF `properties.tags` of `rule` (unique strings: SARIF 2.1.0, "Property bags", "Tags")."""
    if rule.family in _LIFETIME:
        return [*_LEAK_TAGS, *_LIFETIME[rule.family]]
    if rule.family == "django":
        return ["correctness", "resources", "configuration", "django"]
    return ["maintainability"]


def precision(rule: Rule) -> str:
    """SARIF `properties.precision` of `rule`, one of GitHub's values (`very-high`, `high`,
    `medium`, `low`: GitHub docs, "SARIF support for code scanning", reportingDescriptor)."""
    if rule.family not in _LIFETIME and rule.family != "django":
        return "very-high"
    return "medium" if rule.opt_in else "high"


def gitlab_severity(rule: Rule | None) -> str:
    """GitLab Code Quality `severity` of a finding of `rule` (`major` for an unknown rule)."""
    if rule is None:
        return "major"
    return "minor" if rule.opt_in or precision(rule) == "very-high" else "major"
