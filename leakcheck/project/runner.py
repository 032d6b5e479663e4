"""Check a set of paths: find the files, the configuration of each, and collect the results.

The work itself (summaries, prefilter, workers, cache) is `project.pipeline`'s; this module turns
options into a run, applies rule selection and suppressions to each file's findings, and applies
fixes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from leakcheck import __version__
from leakcheck.config.catalogue import Kind
from leakcheck.config.overrides import SettingsOverrides
from leakcheck.config.roots import project_root
from leakcheck.config.selection import Overrides, enabled, fix_allowed, ignored_in_file
from leakcheck.config.settings import Config, ConfigFinder, Names, kinds_for
from leakcheck.fix.boundary import fix_refusal
from leakcheck.fix.patch import patch_text
from leakcheck.model import Applicability, FileError, FileResult, Report
from leakcheck.project import baseline
from leakcheck.project.cache import Cache, cache_dir_for
from leakcheck.project.converge import fix_until_stable
from leakcheck.project.discovery import Discovery, display_path
from leakcheck.project.guard import guarded
from leakcheck.project.names import (
    LazySummaries,
    ModuleFinder,
    NameResolver,
    SummarySource,
    forget,
    import_roots,
    module_name,
    real_path,
)
from leakcheck.project.pipeline import Project, Unit, settings_digest
from leakcheck.project.summaries import Summary
from leakcheck.project.suppressions import directives, suppress, unused
from leakcheck.project.workers import Limits

if TYPE_CHECKING:
    from leakcheck.analysis.django import DjangoContext
    from leakcheck.fix.fixer import Outcome


@dataclass(frozen=True)
class Options:
    config_file: Path | None = None
    isolated: bool = False  # ignore every configuration file
    overrides: Overrides = field(default_factory=Overrides)
    # `--exclude`, `--extend-exclude`, `--fixable`, `--unfixable`, `--preview`
    settings: SettingsOverrides = field(default_factory=SettingsOverrides)
    report_unused_noqa: bool = False
    force_exclude: bool = False  # apply `exclude` to files named on the command line too
    baseline: Path | None = None
    fix: str = ""  # "" | "safe" | "unsafe": apply fixes of that applicability (and safer)
    diff: bool = False  # with `fix`: show the diff instead of writing
    respect_gitignore: bool | None = None  # None: each configuration's `respect-gitignore`
    jobs: int = 1  # worker processes; 1: everything in this process
    cache: bool = False  # read and write the result cache
    cache_dir: Path | None = None  # where (default: LEAKCHECK_CACHE_DIR, else the project root's)
    prefilter: bool = True  # parse only files whose bytes hold an acquisition token


def default_jobs() -> int:
    """The number of CPUs this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class FileContext:
    """One file as the engine sees it: where it is, how it is shown, and what applies to it."""

    path: Path
    shown: str
    config: Config
    kinds: tuple[Kind, ...]
    package: str
    resolver: NameResolver

    @property
    def django(self) -> DjangoContext:
        """The Django rules' view of this file: configured poolers and server, its real path."""
        from leakcheck.analysis.django import DjangoContext

        return DjangoContext(self.config.django_poolers, self.config.django_asgi, self.path)

    def fix(
        self,
        source: bytes,
        unsafe: bool = False,
        wanted: Callable[[str, int], bool] = lambda code, line: True,
    ) -> Outcome:
        """`source` (this file's bytes, or what they would be) with its fixes applied: those
        of the findings `wanted(code, line)` keeps whose code `fixable` / `unfixable` allow."""
        from leakcheck.fix.fixer import fix_source

        config = self.config

        return fix_source(
            source,
            self.kinds,
            self.package,
            self.resolver,
            unsafe,
            lambda code, line: fix_allowed(code, config) and wanted(code, line),
            self.config.fix_helpers,
            django=self.django,
            path=self.shown,
        )


class Checker:
    """One run's shared state: configurations found so far, module summaries, the cache."""

    def __init__(self, config_file: Path | None = None, options: Options | None = None) -> None:
        self.options = options or Options(config_file)
        forget()  # a new run looks at the tree afresh
        self.finder = ConfigFinder(
            self.options.config_file, self.options.isolated, self.options.settings.apply
        )
        self.modules = ModuleFinder()
        self.cache: Cache | None = None
        if self.options.cache:
            directory, chosen = cache_dir_for(project_root(), self.options.cache_dir)
            self.cache = Cache(directory, __version__, chosen)
        self.summaries: SummarySource = LazySummaries(self.modules, self._settings)
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        """The project root, where every link is the repository's (`fix.boundary`)."""
        if self._root is None:
            self._root = project_root()
        return self._root

    def _settings(self, path: Path) -> tuple[tuple[Kind, ...], Names]:
        config = self.finder.for_file(path)
        return kinds_for(config), config.names

    def context(self, path: Path) -> FileContext:
        """What checking or fixing `path` needs: its configuration, kinds and imports."""
        config = self.finder.for_file(path)
        kinds = kinds_for(config)
        _, package, _ = module_name(path)
        resolver = NameResolver(
            self.modules, import_roots(path), kinds, config.names, self.summaries
        )
        return FileContext(path, display_path(str(path)), config, kinds, package, resolver)

    def project(self, jobs: int | None = None) -> Project:
        """A new run over this checker's configuration, options and cache."""
        options = self.options
        extra = (options.overrides, options.report_unused_noqa)
        return Project(
            self.finder,
            lambda config: settings_digest(config, extra),
            self._finish,
            self.cache,
            options.jobs if jobs is None else jobs,
            Limits.from_environment(),
            options.prefilter,
        )

    def check_files(
        self,
        files: list[str],
        named: frozenset[str] = frozenset(),
        progress: Callable[[list[str]], None] | None = None,
    ) -> list[FileResult]:
        """Results for `files`, in their order; `named`: files given explicitly (always parsed)."""
        project = self.project()
        checked = []
        for path in files:
            real = real_path(path)
            checked.append((path, real, display_path(path, real), path in named))
        if not self.options.fix:  # fixes need the run's summaries (`_Final`)
            replayed = project.replay(checked)
            if replayed is not None:
                if progress is not None:
                    for _ in replayed:
                        progress([])
                return replayed
        project.start_early(len(checked))
        try:
            units = [
                project.add(path, shown, judged=True, named=is_named, real=real)
                for path, real, shown, is_named in checked
            ]
        except BaseException:  # (Ctrl-C while reading): `run` would have stopped the workers
            project.stop_workers()
            raise
        if progress is not None:
            project.on_judged = lambda: progress([])
        project.run(units)
        self.summaries = _Final(project)
        by_path = {unit.path: unit for unit in units}

        def finished(path: str) -> FileResult:
            return self._fixed(by_path[path])

        return [guarded(unit.path, finished) for unit in units]

    def check_file(self, path: str) -> FileResult:
        """The result for one file, checked as if named on the command line (in this process)."""
        return self.check_files([path], frozenset({path}))[0]

    def _check(self, source: bytes, ctx: FileContext) -> FileResult:
        """Findings for `source` as if it were `ctx.path`'s content (`project.buffers`)."""
        return self.check_buffer(source, ctx.path)

    def check_buffer(self, source: bytes, path: Path) -> FileResult:
        """Findings for `source` as if it were the content of `path` (see `project.api`)."""
        project = self.project(jobs=1)
        real = os.path.realpath(path)
        project.overrides[real] = source
        unit = project.add(str(path), display_path(str(path)), judged=True, named=True)
        project.run()
        assert unit.result is not None
        return unit.result

    def _fixed(self, unit: Unit) -> FileResult:
        result = unit.result
        assert result is not None
        if not self.options.fix or not any(
            f.fix is not None
            and (f.fix.applicability == Applicability.SAFE or self.options.fix == "unsafe")
            for f in result.findings
        ):
            return result
        # A file --fix would not write is reported as it is, with why (`fix.boundary`).
        refusal = fix_refusal(unit.path, self.root, unit.shown)
        if refusal is not None:
            return replace(result, errors=(*result.errors, FileError(unit.shown, None, refusal)))
        with open(unit.real, "rb") as handle:
            source = handle.read()
        return self._fix(result, source, self.context(Path(unit.real)))

    def _fix(self, result: FileResult, source: bytes, ctx: FileContext) -> FileResult:
        unsafe = self.options.fix == "unsafe"
        done = fix_until_stable(
            source,
            result,
            lambda text, wanted: ctx.fix(text, unsafe, wanted),
            lambda text: self.check_buffer(text, ctx.path),
        )
        if done.source == source:
            return replace(result, not_fixed=done.result.not_fixed)
        shown = ctx.shown
        if self.options.diff:
            diff = patch_text(source, done.source, shown)
            return replace(
                result, fixed=done.result.fixed, not_fixed=done.result.not_fixed, diff=diff
            )
        from leakcheck.fix.writer import Changed, remove_stray_temporaries, write_atomically

        target = ctx.path  # the real path, reached through no link of the repository's
        remove_stray_temporaries(target.parent)
        try:
            write_atomically(target, source, done.source)
        except (Changed, OSError) as error:
            why = "it changed on disk while being fixed"
            if not isinstance(error, Changed):
                why = str(error)
            failure = FileError(shown, None, f"not written: {why}")
            return replace(result, errors=(*result.errors, failure))
        return done.result

    def _finish(self, result: FileResult, source: bytes, unit: Unit) -> FileResult:
        """`result` with rule selection and suppressions applied (`source`: the file's bytes)."""
        config, path = unit.config, Path(unit.real)
        findings = tuple(
            f if not f.fixes or fix_allowed(f.code, config) else replace(f, fixes=())
            for f in result.findings
            if enabled(f.code, config, self.options.overrides)
            and not ignored_in_file(f.code, path, config, self.options.overrides)
        )
        if not findings and not self.options.report_unused_noqa:
            return replace(result, findings=())
        by_line = directives(source)
        findings = suppress(findings, by_line)
        if self.options.report_unused_noqa:
            findings += unused(by_line, unit.shown)
        # After the suppressions, so that a suppression comment on a finding below the level
        # still counts as used; the findings left out count nowhere (report, baseline, exit status).
        floor = config.min_severity.rank
        findings = tuple(f for f in findings if f.severity.rank >= floor)
        text = result.source or (source.decode("utf-8", "replace") if findings else "")
        return replace(result, findings=findings, source=text)

    def files(self, paths: list[str]) -> tuple[list[str], list[FileError]]:
        """The files to check (`exclude` and ignore files applied while walking, and to named
        files if forced), and the paths that cannot be checked (missing, unreadable, a FIFO)."""
        discovery = Discovery(
            self.finder.for_dir,
            self.options.respect_gitignore,
            self.options.force_exclude,
            listed=self.finder.listed,
        )
        return discovery.files(paths), discovery.errors


class _Final:
    """The summaries a finished run computed, for fixes applied after it."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def summary(self, path: str, whole: bool = False) -> Summary | None:
        return self.project.visible(None, path, whole)


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
    files, unreadable = checker.files(paths)
    results = [FileResult(error.path, errors=(error,)) for error in unreadable]
    if progress is not None:
        progress(files)
    named = frozenset(os.path.normpath(p) for p in paths if os.path.isfile(p))
    results += checker.check_files(files, named, progress)
    cache = checker.cache
    if cache is not None and cache.problem is not None:  # a link planted where it keeps files
        where = display_path(str(cache.directory))
        results.append(FileResult(where, errors=(FileError(where, None, cache.problem),)))
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
