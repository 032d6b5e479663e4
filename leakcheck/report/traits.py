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

A finding's own weight (`model.Severity`: from its kind, one step lower at module level, or its
rule's) sets SARIF's `level` (SARIF 2.1.0, "level property": `error`, `warning`, `note`) and
GitLab's `severity` (`info`, `minor`, `major`, `critical`, `blocker`; GitLab docs, "Code Quality",
"Implement a custom tool"): high is `error` / `critical` (a pooled or server connection lost
exhausts production), medium `warning` / `major`, low `note` / `minor`; GitHub's annotation is
`::error`, `::warning` or `::notice`. A file that could not be
analysed is `major` in GitLab's report.
"""

from __future__ import annotations

from leakcheck.checks import Rule
from leakcheck.model import Severity

__all__ = [
    "GITLAB_ERROR",
    "github_command",
    "gitlab_severity",
    "judges_a_path",
    "precision",
    "sarif_level",
    "tags",
]

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


_SARIF_LEVEL = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
_GITHUB = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "notice"}
_GITLAB = {Severity.HIGH: "critical", Severity.MEDIUM: "major", Severity.LOW: "minor"}


def sarif_level(severity: Severity) -> str:
    """SARIF `level` of a finding (or a rule's `defaultConfiguration`) of `severity`."""
    return _SARIF_LEVEL[severity]


def github_command(severity: Severity) -> str:
    """The GitHub Actions workflow command that annotates a finding of `severity` (`error`,
    `warning`, `notice`: GitHub docs, "Workflow commands for GitHub Actions")."""
    return _GITHUB[severity]


def gitlab_severity(severity: Severity) -> str:
    """GitLab Code Quality `severity` of a finding of `severity`."""
    return _GITLAB[severity]
