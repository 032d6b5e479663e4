"""Check a set of paths: find the files, the configuration of each, and collect the results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from leakcheck import baseline
from leakcheck.config import ConfigFinder, kinds_for
from leakcheck.discovery import display_path, iter_files
from leakcheck.engine import check_source
from leakcheck.model import FileError, FileResult, Report
from leakcheck.project import ProjectIndex, module_name
from leakcheck.selection import Overrides, enabled, excluded, ignored_in_file
from leakcheck.suppressions import directives, suppress, unused


@dataclass(frozen=True)
class Options:
    config_file: Path | None = None
    isolated: bool = False  # ignore every configuration file
    overrides: Overrides = field(default_factory=Overrides)
    report_unused_noqa: bool = False
    force_exclude: bool = False  # apply `exclude` to files named on the command line too
    baseline: Path | None = None


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

    def check_file(self, path: str) -> FileResult:
        shown = display_path(path)
        config = self.finder.for_file(Path(path))
        kinds = kinds_for(config)
        try:
            with open(path, "rb") as handle:
                source = handle.read()
        except OSError as error:
            return FileResult(shown, errors=(FileError(shown, None, f"cannot read: {error}"),))
        _, package, _ = module_name(Path(path))
        resolver = self.index.resolver_for(Path(path), kinds, config.names)
        result = check_source(source, shown, kinds, package, resolver)
        findings = tuple(
            f
            for f in result.findings
            if enabled(f.code, config, self.options.overrides)
            and not ignored_in_file(f.code, Path(path), config)
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
        results.append(checker.check_file(path))
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
