"""The gate while it is on: one object per pytest session, registered as a plugin by
`plugin.pytest_configure` (see `plugin` for when a test is judged and who owns a checkout)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Generator
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from leakcheck.gate.ledger import Leak, Ledger
from leakcheck.gate.recorders import Undo, install_all
from leakcheck.gate.report import headline, render
from leakcheck.gate.static import StaticJoin

HANDOFF = "leakcheck_handoff"
# Where pytest calls project code (pytest 7-9): frames past these are pytest's and pluggy's.
STOPS = (
    ("_pytest.python", "pytest_pyfunc_call"),
    ("_pytest.fixtures", "call_fixture_func"),
    ("_pytest.unittest", "TestCaseFunction.runtest"),
)


class Gate:
    """Recorders installed for the session, the ledger, and the hooks that judge each test."""

    NAME = "leakcheck-gate"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.ledger = Ledger()
        self.static = StaticJoin()
        self.base = os.fspath(config.invocation_params.dir)
        self.watched: list[str] = []
        self.problems: list[str] = []
        self._undo: list[Undo] = []
        self.judged = 0  # tests judged
        self.failed: list[str] = []  # node ids of the tests that leaked (exempt ones too)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Patch every library that imports (see `recorders`); stop stack walks at pytest's
        call of a test function, a fixture or a unittest test (`STOPS`; skipped if they move)."""
        self.watched, self._undo, self.problems = install_all(self.ledger)
        stop = []
        for module, path in STOPS:
            target: Any = importlib.import_module(module)
            for name in path.split("."):
                target = getattr(target, name, None)
            code = getattr(target, "__code__", None)
            if code is not None:
                stop.append(code)
        self.ledger.frames.stop_at(stop)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """One header line: what the gate watches."""
        watched = ", ".join(self.watched) or "no supported library installed"
        lines = [f"leakcheck gate: on, watching {watched}"]
        lines += [f"leakcheck gate: cannot watch {problem}" for problem in self.problems]
        return lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line: how much the gate saw, so that a clean run is known to have looked. None
        where no test ran (pytest-xdist's controller: its workers run the tests)."""
        if not self.judged:
            return
        terminalreporter.write_line(
            f"leakcheck gate: {_count(self.ledger.recorded, 'checkout')} recorded in"
            f" {_count(self.judged, 'test')}; {_count(len(self.failed), 'test')} leaked"
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Undo every patch, newest first."""
        while self._undo:
            self._undo.pop()()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Generator[None, Any, None]:
        """While a wider-scoped fixture sets up, what is taken is nobody's."""
        if fixturedef.scope == "function":
            yield
            return
        saved = self.ledger.owner
        self.ledger.owner = None
        try:
            yield
        finally:
            self.ledger.owner = saved

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """Run the test's three phases unlogged, judge it, then log its reports."""
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        self.ledger.begin(item.nodeid)
        try:
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
        finally:
            leaks = self.ledger.settle(item.nodeid)
        self.judged += 1
        if leaks and item.get_closest_marker(HANDOFF) is None:
            self.failed.append(item.nodeid)
            self._fail(reports, leaks)
        for report in reports:
            ihook.pytest_runtest_logreport(report=report)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def _fail(self, reports: list[pytest.TestReport], leaks: list[Leak]) -> None:
        """A passed call becomes a failure with the leak as its text; any other outcome keeps
        its own and gets the leak as a section."""
        try:
            text = render(leaks, self.static, self.base)
        except Exception as exc:  # a bug in the report must not lose the verdict or the run
            text = (
                f"{headline(leaks, self.base)}\n(leakcheck could not write the details:"
                f" {type(exc).__name__}: {exc}; please report it)\n"
            )
        call = next((r for r in reports if r.when == "call"), None)
        if call is not None and call.passed and not hasattr(call, "wasxfail"):
            call.outcome = "failed"
            call.longrepr = text
            return
        target = call or reports[0]
        target.sections.append(("leakcheck: " + headline(leaks, self.base), text))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
