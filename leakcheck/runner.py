"""Check a set of paths: find the files, the configuration of each, and collect the results."""

from __future__ import annotations

from pathlib import Path

from leakcheck.config import ConfigFinder, kinds_for
from leakcheck.discovery import display_path, iter_files
from leakcheck.engine import check_source
from leakcheck.model import FileError, FileResult, Report
from leakcheck.project import ProjectIndex, module_name


class Checker:
    """One run's shared state: configurations found so far and the project-wide name index."""

    def __init__(self, config_file: Path | None = None) -> None:
        self.finder = ConfigFinder(config_file)
        self.index = ProjectIndex()

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
        return check_source(source, shown, kinds, package, resolver)


def run(paths: list[str], config_file: Path | None = None) -> Report:
    """Check every file under `paths`. Raises CatalogueError for a bad configuration."""
    checker = Checker(config_file)
    return Report([checker.check_file(path) for path in iter_files(paths)])
