"""Check a set of paths: find the files, the configuration of each, and collect the results."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from leakcheck.analysis.django import DjangoContext
from leakcheck.config.catalogue import Kind
from leakcheck.config.selection import Overrides, enabled, excluded, ignored_in_file
from leakcheck.config.settings import Config, ConfigFinder, kinds_for
from leakcheck.engine import check_source
from leakcheck.fix.fixer import Outcome, fix_source
from leakcheck.fix.writer import Changed, remove_stray_temporaries, write_atomically
from leakcheck.model import FileError, FileResult, Report
from leakcheck.project import baseline
from leakcheck.project.discovery import display_path, iter_files
from leakcheck.project.guard import guarded
from leakcheck.project.names import FileResolver, ProjectIndex, module_name
from leakcheck.project.suppressions import directives, suppress, unused


@dataclass(frozen=True)
class Options:
    config_file: Path | None = None
    isolated: bool = False  # ignore every configuration file
    overrides: Overrides = field(default_factory=Overrides)
    report_unused_noqa: bool = False
    force_exclude: bool = False  # apply `exclude` to files named on the command line too
    baseline: Path | None = None
    fix: str = ""  # "" | "safe" | "unsafe": apply fixes of that applicability (and safer)
    diff: bool = False  # with `fix`: show the diff instead of writing


@dataclass(frozen=True)
class FileContext:
    """One file as the engine sees it: where it is, how it is shown, and what applies to it."""

    path: Path
    shown: str
    config: Config
    kinds: tuple[Kind, ...]
    package: str
    resolver: FileResolver

    @property
    def django(self) -> DjangoContext:
        """The Django rules' view of this file: configured poolers and server, its real path."""
        return DjangoContext(self.config.django_poolers, self.config.django_asgi, self.path)

    def fix(
        self,
        source: bytes,
        unsafe: bool = False,
        wanted: Callable[[str, int], bool] = lambda code, line: True,
    ) -> Outcome:
        """`source` (this file's bytes, or what they would be) with its fixes applied."""
        return fix_source(
            source,
            self.kinds,
            self.package,
            self.resolver,
            unsafe,
            wanted,
            self.config.fix_helpers,
            django=self.django,
            path=self.shown,
        )


class Checker:
    """One run's shared state: configurations found so far and the project-wide name index."""

    def __init__(self, config_file: Path | None = None, options: Options | None = None) -> None:
        self.options = options or Options(config_file)
        self.finder = ConfigFinder(self.options.config_file, self.options.isolated)
        self.index = ProjectIndex()

    def excluded(self, path: str, named: bool = False) -> bool:
        """Whether `exclude` skips `path`; for a file named on the command line (`named`), also
        whether it skips a directory above it, below the configuration's own directory."""
        target = Path(path).resolve()
        config = self.finder.for_dir(target.parent)
        if excluded(target, config):
            return True
        if named:
            for parent in target.parents:
                if parent == config.root or config.root not in parent.parents:
                    break
                if excluded(parent, config):
                    return True
        return False

    def context(self, path: Path) -> FileContext:
        """What checking or fixing `path` needs: its configuration, kinds and imports."""
        config = self.finder.for_file(path)
        kinds = kinds_for(config)
        _, package, _ = module_name(path)
        resolver = self.index.resolver_for(path, kinds, config.names)
        return FileContext(path, display_path(str(path)), config, kinds, package, resolver)

    def check_file(self, path: str) -> FileResult:
        ctx = self.context(Path(path))
        try:
            with open(path, "rb") as handle:
                source = handle.read()
        except OSError as error:
            shown = ctx.shown
            return FileResult(shown, errors=(FileError(shown, None, f"cannot read: {error}"),))
        result = self._check(source, ctx)
        if not self.options.fix or not any(
            f.fix is not None and (f.fix.applicability == "safe" or self.options.fix == "unsafe")
            for f in result.findings
        ):
            return result
        return self._fix(result, source, ctx)

    def _fix(self, result: FileResult, source: bytes, ctx: FileContext) -> FileResult:
        reported = {(f.code, f.line) for f in result.findings}
        outcome = ctx.fix(source, self.options.fix == "unsafe", lambda c, n: (c, n) in reported)
        not_fixed = tuple(outcome.dropped) + (
            (f"not fixed: {outcome.refused}",) if outcome.refused else ()
        )
        if outcome.source == source:
            return replace(result, not_fixed=not_fixed)
        shown = ctx.shown
        if self.options.diff:
            diff = "".join(
                difflib.unified_diff(
                    source.decode(errors="replace").splitlines(keepends=True),
                    outcome.source.decode(errors="replace").splitlines(keepends=True),
                    shown,
                    shown,
                )
            )
            return replace(result, fixed=tuple(outcome.applied), not_fixed=not_fixed, diff=diff)
        target = ctx.path.resolve()  # through a symlink: the link stays, its target is fixed
        remove_stray_temporaries(target.parent)
        try:
            write_atomically(target, source, outcome.source)
        except (Changed, OSError) as error:
            why = "it changed on disk while being fixed"
            if not isinstance(error, Changed):
                why = str(error)
            failure = FileError(shown, None, f"not written: {why}")
            return replace(result, errors=(*result.errors, failure))
        after = self._check(outcome.source, ctx)
        return replace(after, fixed=tuple(outcome.applied), not_fixed=not_fixed)

    def _check(self, source: bytes, ctx: FileContext) -> FileResult:
        """Findings for one file's bytes, with selection and suppressions applied."""
        config, path, shown = ctx.config, ctx.path, ctx.shown
        result = check_source(
            source,
            shown,
            ctx.kinds,
            ctx.package,
            ctx.resolver,
            config.fix_helpers,
            django=ctx.django,
        )
        findings = tuple(
            f
            for f in result.findings
            if enabled(f.code, config, self.options.overrides)
            and not ignored_in_file(f.code, path, config)
        )
        if not findings and not self.options.report_unused_noqa:
            return replace(result, findings=())
        by_line = directives(source)
        findings = suppress(findings, by_line)
        if self.options.report_unused_noqa:
            findings += unused(by_line, shown)
        text = result.source or (source.decode("utf-8", "replace") if findings else "")
        return replace(result, findings=findings, source=text)

    def files(self, paths: list[str]) -> list[str]:
        """The files to check, `exclude` applied while walking (and to named files if forced)."""
        found = iter_files(paths, self.excluded)
        if self.options.force_exclude:
            return [path for path in found if not self.excluded(path, named=True)]
        return list(found)


def run(
    paths: list[str],
    config_file: Path | None = None,
    options: Options | None = None,
    progress: Callable[[list[str]], None] | None = None,
) -> Report:
    """Check every file under `paths`. Raises CatalogueError for a bad configuration or baseline.

    `progress`, if given, is called with the file list first and then once per file checked
    (with an empty list).
    """
    checker = Checker(config_file, options)
    known = (
        baseline.read(checker.options.baseline) if checker.options.baseline is not None else None
    )
    files = checker.files(paths)
    results = []
    if progress is not None:
        progress(files)
    for path in files:
        results.append(guarded(path, checker.check_file))
        if progress is not None:
            progress([])
    report = Report(results)
    if known is not None and checker.options.baseline is not None:
        report = _apply_baseline(report, checker.options.baseline, known)
    return report


def _apply_baseline(report: Report, path: Path, known: frozenset[str]) -> Report:
    fresh = {id(f) for f in baseline.new_findings(report.findings, path, known)}
    files = [
        replace(r, findings=tuple(f for f in r.findings if id(f) in fresh)) for r in report.files
    ]
    return Report(files, baselined=len(report.findings) - len(fresh))
