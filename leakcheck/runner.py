"""Check a set of paths: find the files, the configuration of each, and collect the results."""

from __future__ import annotations

from pathlib import Path

from leakcheck.config import ConfigFinder, kinds_for
from leakcheck.discovery import display_path, iter_files
from leakcheck.engine import check_source
from leakcheck.model import FileError, FileResult, Report


def run(paths: list[str], config_file: Path | None = None) -> Report:
    """Check every file under `paths`. Raises CatalogueError for a bad configuration."""
    finder = ConfigFinder(config_file)
    report = Report()
    for path in iter_files(paths):
        shown = display_path(path)
        kinds = kinds_for(finder.for_file(Path(path)))
        try:
            with open(path, "rb") as handle:
                source = handle.read()
        except OSError as error:
            report.files.append(
                FileResult(
                    shown, errors=(FileError(shown, None, f"cannot read: {error.strerror}"),)
                )
            )
            continue
        report.files.append(check_source(source, shown, kinds))
    return report
