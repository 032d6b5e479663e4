"""Results as values: findings, file errors and the report of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class TextEnum(str, Enum):
    """A value of a fixed set that is also its text, as `enum.StrEnum` (Python 3.11) is: `str()`,
    f-strings, JSON, comparison and hashing see the value (`Applicability.SAFE == "safe"`), so
    reports and cache records read and write the same text as before there was an enum."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)

    def __hash__(self) -> int:
        return str.__hash__(self)


class Applicability(TextEnum):
    """Whether applying a fix keeps what the code does (ruff's `Applicability`): `--fix` applies
    "safe" fixes; "unsafe" ones (a fix that moves a commit, say) need `--unsafe-fixes`."""

    SAFE = "safe"
    UNSAFE = "unsafe"


class Recipe(TextEnum):
    """A way of rewriting a leak that a rule offers (`Rule.fixes`, in order of preference); the
    fixer maps each to its function (`fix/offers.py`), which checks what it needs."""

    # Offered beside the others, in the rule's order.
    REGISTER_EARLY = "register-early"  # a late `ExitStack` registration moved up to the acquisition
    FUNCTION_SCOPE = "function-scope"  # a dependency's session made function-scoped (FastAPI)
    CLOSE_BEFORE_WAIT = "close-before-wait"  # the session released before the long wait
    PER_ITERATION = "per-iteration"  # a short-lived session per iteration of a stream or loop
    PROJECT_HELPER = "project-helper"  # `with helper() as name:`, a helper found in the project
    SOURCE_CONTEXT = "source-context"  # `with db.connection_context():` for a source-held resource
    # The main forms: alternatives, the first that applies gives the one main rewrite.
    RELEASE_BEFORE_HANDOFF = "release-before-handoff"  # `except BaseException:` release, before
    WRAP = "wrap"  # `with` (or `fix-helpers`), or try/finally with the release, around the range
    WITH_THAT_RELEASES = "with-that-releases"  # a `with` that does not release made to release
    ENTER = "enter"  # a context manager called without `with` entered with `with`
    NEST_RELEASE = "nest-release"  # the statements before a release in `finally` in try/finally
    RELEASE_IN_FINALLY = "release-in-finally"  # a release in `except` moved into `finally`
    RELEASE_INTO_WITH = "release-into-with"  # a release after a `with` block into its `finally`
    RELEASE_WITH_ITEMS = "release-with-items"  # a connection item of a multi-item `with` released
    RELEASE_PER_ITERATION = "release-per-iteration"  # released in each iteration, not once after
    RELEASE_BEFORE_REUSE = "release-before-reuse"  # the first released before the name is reused
    RELEASE_IN_EXIT = "release-in-exit"  # a context-manager class: `__exit__` release in finally
    RELEASE_NEVER_IN_EXIT = "release-never-in-exit"  # the release added to an `__exit__`


class Severity(TextEnum):
    """How much a finding weighs (issue 28, section 3), from the resource's kind and where it is.

    high    a pooled or server connection: leaking it exhausts the pool or the server's
            `max_connections` in a long-running process
    medium  a local database file (sqlite3, DuckDB): it holds the file and its locks until the
            garbage collector closes it
    low     a finding one step lower still (a file database at module level), or one that is no
            leak (an unused suppression)
    Module-level code is one step lower than the kind says: it runs once, in a script or at
    import, and the process's exit closes what it opened.
    """

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for low, 1 for medium, 2 for high: `a.rank >= b.rank` is "at least as severe"."""
        return _SEVERITY_ORDER.index(self)

    def lower(self) -> Severity:
        """One step lower (low stays low)."""
        return _SEVERITY_ORDER[max(0, self.rank - 1)]


_SEVERITY_ORDER = (Severity.LOW, Severity.MEDIUM, Severity.HIGH)


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, column) to (end_line, end_column), 1-based, end exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str


@dataclass(frozen=True)
class Fix:
    """A change that resolves a finding, and whether it keeps behaviour (`applicability`)."""

    message: str
    edits: tuple[Edit, ...]
    applicability: Applicability = Applicability.SAFE


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    rule: str
    message: str
    related_line: int | None = None  # the statement through which the resource escapes
    related_label: str = ""
    related_column: int | None = None
    # What a baseline fingerprint is made of, besides code and path (see leakcheck/baseline.py):
    function: str = ""  # the enclosing function ("Class.method"), "" at module level
    acquisition: str = ""  # the acquiring call, normalised ("pool.getconn()")
    # The candidate fixes, in order of preference: `--fix` applies the first (when its
    # applicability is allowed); editors, JSON and SARIF offer them all.
    fixes: tuple[Fix, ...] = ()
    # Why there is no fix, when `fixes` is empty and the finding comes from the shared analysis
    # (`fix/declines.py`): "`conn` is handed over on line 12: ...". "" otherwise.
    no_fix_reason: str = ""
    # How much it weighs (`Severity`): from the kind of the resource, one step lower in
    # module-level code; the rule's own for findings of no kind (framework hooks, Django).
    severity: Severity = Severity.HIGH

    @property
    def fix(self) -> Fix | None:
        """The fix `--fix` applies: the first candidate, or None when there is none."""
        return self.fixes[0] if self.fixes else None

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)


@dataclass(frozen=True)
class FileError:
    path: str
    line: int | None
    message: str
    internal: bool = False  # a bug in leakcheck rather than a problem with the file


@dataclass(frozen=True)
class Handoff:
    """An acquisition taken as handed over to code leakcheck does not see, so its function was
    not judged on never-closed and error paths: `line`/`column` (1-based) and `acquired` (its
    source text) say what was acquired; `taken_line` and `taken` the statement that took it (0
    and "" where no statement of the function did); `why` the reason in words."""

    line: int
    column: int
    acquired: str
    taken_line: int
    taken: str
    why: str


@dataclass(frozen=True)
class FileResult:
    path: str
    findings: tuple[Finding, ...] = ()
    errors: tuple[FileError, ...] = ()
    source: str = ""
    fixed: tuple[str, ...] = ()  # fixes applied (or, with --diff, that would be)
    not_fixed: tuple[str, ...] = ()  # fixes dropped by the safety checks, with why
    diff: str = ""  # with --diff: the unified diff of what --fix would write
    # acquisitions taken as handed over to code the analysis cannot see: their function went
    # silent on that assumption (`analysis/flow.handoffs_assumed`; the summary counts them)
    handoffs: tuple[Handoff, ...] = ()
    # calls whose result is closed or released but that belong to no kind (`analysis/unknown.py`)
    unknown_resources: int = 0


@dataclass
class Report:
    files: list[FileResult] = field(default_factory=list)
    baselined: int = 0  # findings left out because the baseline records them

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for r in self.files for f in r.findings), key=Finding.sort_key)

    @property
    def fixed(self) -> int:
        return sum(len(r.fixed) for r in self.files)

    @property
    def handoffs_assumed(self) -> int:
        """Acquisitions of the run taken as handed over to code leakcheck cannot see."""
        return sum(len(r.handoffs) for r in self.files)

    @property
    def unknown_resources(self) -> int:
        """Resource-like calls of no kind in the run's judged modules (`leakcheck kinds
        --unknown` lists them)."""
        return sum(r.unknown_resources for r in self.files)

    @property
    def errors(self) -> list[FileError]:
        return [e for r in self.files for e in r.errors]
