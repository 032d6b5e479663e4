"""The join with the static analysis: what `leakcheck check` reports at the acquisition the gate
caught, and the diff `leakcheck check --fix` would apply to it.

Runs only when a test fails, once per file per session, in this process, through the public
entry points (`Checker.check_buffer` as `leakcheck.project.api.check_buffer` does, the file's
`FileContext.fix` as `api.fix_file` does, `fix.patch.patch_text` as `--diff` does) and with the
project's own configuration, so what it says is what the CLI would say.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from leakcheck.gate.frames import RawFrame
from leakcheck.model import Applicability, FileResult, Finding

if TYPE_CHECKING:
    from leakcheck.project.runner import Checker


@dataclass(frozen=True)
class Join:
    """The static finding at a caught leak's acquisition, with its fix as a diff ("" if none)."""

    finding: Finding
    shown: str  # the file as the CLI names it
    diff: str
    unsafe: bool  # the diff needs `--unsafe-fixes`


class StaticJoin:
    """The analysis of the files the gate's failures point into; one `Checker` per session."""

    def __init__(self) -> None:
        self._checker: Checker | None = None
        self._results: dict[str, FileResult | str] = {}

    def _checked(self) -> Checker:
        if self._checker is None:
            from leakcheck.project.runner import Checker

            self._checker = Checker()
        return self._checker

    def result(self, filename: str) -> FileResult | str:
        """The CLI's result for `filename`, or why there is none (unreadable, bad config)."""
        known = self._results.get(filename)
        if known is None:
            try:
                source = Path(filename).read_bytes()
                checker = self._checked()
                known = checker.check_buffer(source, Path(filename))
            except Exception as exc:  # the failure report must not crash the test run
                known = f"{type(exc).__name__}: {exc}"
            self._results[filename] = known
        return known

    def join(self, sites: list[RawFrame]) -> Join | str | None:
        """The finding at the first of `sites` (innermost first) that has one on its line, else
        the nearest finding above the innermost site's line in the same function; None when the
        analysis reports nothing there, a string when it could not run."""
        error: str | None = None
        exact: list[tuple[RawFrame, Finding]] = []
        for site in sites:
            result = self.result(site.filename)
            if isinstance(result, str):
                error = error or result
                continue
            exact += [(site, f) for f in result.findings if f.line == site.lineno]
        if not exact and sites:
            site = sites[0]
            result = self.result(site.filename)
            if not isinstance(result, str):
                near = [
                    f
                    for f in result.findings
                    if site.first_line <= f.line <= site.lineno
                    and f.function.rsplit(".", 1)[-1] == site.function
                ]
                exact = [(site, max(near, key=lambda f: f.line))] if near else []
        if not exact:
            return error
        site, finding = exact[0]
        try:
            diff, unsafe = self._diff(site.filename, finding)
        except Exception as exc:
            diff, unsafe = f"(the fix could not be computed: {type(exc).__name__}: {exc})", False
        return Join(finding, finding.path, diff, unsafe)

    def _diff(self, filename: str, finding: Finding) -> tuple[str, bool]:
        """The unified diff `--fix` (or, for an unsafe fix only, `--fix --unsafe-fixes`) would
        apply for this one finding; ("", False) when it has no fix."""
        from leakcheck.fix.patch import patch_text

        if finding.fix is None:
            return "", False
        source = Path(filename).read_bytes()
        context = self._checked().context(Path(filename))
        unsafe = finding.fix.applicability == Applicability.UNSAFE
        wanted = (finding.code, finding.line)
        outcome = context.fix(source, unsafe, lambda code, line: (code, line) == wanted)
        if outcome.source == source:
            return "", unsafe
        return patch_text(source, outcome.source, context.shown), unsafe
