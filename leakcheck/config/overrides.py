"""Settings given on the command line that replace or extend those of every configuration file,
as ruff's command-line overrides do: `--exclude`, `--extend-exclude`, `--fixable`,
`--unfixable`, `--preview`, `--min-severity`. (Rule selection on the command line is
`selection.Overrides`.)

Globs given on the command line are relative to the working directory, as ruff's are: each is
rewritten relative to the directory of every configuration it is applied to (`inherit.rebase`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from leakcheck.config.inherit import rebase
from leakcheck.config.settings import Config
from leakcheck.model import Severity


@dataclass(frozen=True)
class SettingsOverrides:
    """What the command line sets; None (or empty) leaves a configuration's value alone."""

    exclude: tuple[str, ...] | None = None  # replaces `exclude`
    extend_exclude: tuple[str, ...] = ()  # added to `extend-exclude`
    fixable: tuple[str, ...] | None = None  # replaces `fixable`
    unfixable: tuple[str, ...] | None = None  # replaces `unfixable`
    preview: bool | None = None
    min_severity: Severity | None = None  # replaces `min-severity`
    cwd: Path | None = None  # where the globs are relative to (default: the working directory)

    def apply(self, config: Config) -> Config:
        """`config` with these overrides in force (the same object when there are none)."""
        changes: dict[str, Any] = {}
        if self.exclude is not None or self.extend_exclude:
            cwd = (self.cwd or Path.cwd()).resolve()
            root = config.root

            def moved(patterns: tuple[str, ...]) -> tuple[str, ...]:
                rebased = (rebase(pattern, cwd, root) for pattern in patterns)
                return tuple(p for p in rebased if p is not None)

            if self.exclude is not None:
                changes["exclude"] = moved(self.exclude)
            if self.extend_exclude:
                changes["extend_exclude"] = config.extend_exclude + moved(self.extend_exclude)
        if self.fixable is not None:
            changes["fixable"] = self.fixable
        if self.unfixable is not None:
            changes["unfixable"] = self.unfixable
        if self.preview is not None:
            changes["preview"] = self.preview
        if self.min_severity is not None:
            changes["min_severity"] = self.min_severity
        return replace(config, **changes) if changes else config
