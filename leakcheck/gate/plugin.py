"""The pytest hooks of the gate (`pytest --leakcheck`, or `leakcheck = true` in the pytest
configuration); registered through the `pytest11` entry point, so it loads with pytest and does
nothing, imports nothing and patches nothing until it is turned on.

When is a test judged? After `runtestprotocol` has run its setup, call and teardown: only then are
its function-scoped fixtures torn down, and a fixture that returns the connection in its teardown
is not a leak. pytest logs each phase's report as soon as the phase ends, so a verdict reached
after teardown could only be a teardown error ("1 passed, 1 error"). The gate therefore runs the
protocol itself with `log=False` (the way pytest-rerunfailures does), turns a passed call report
into a failure carrying the leak, and logs the reports afterwards: the test shows as one failure.
A test that failed on its own keeps its failure, with the leak added as a "leakcheck" section.

Who took a connection? The running test, unless a fixture of a wider scope (class, module,
package, session) is being set up (`pytest_fixture_setup`): those checkouts are nobody's, and so
are those made during collection or between tests.
"""

from __future__ import annotations

import pytest

HANDOFF = "leakcheck_handoff"
HELP = "fail a test that leaks a pooled database connection (leakcheck's runtime gate)"


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--leakcheck` and the ini key `leakcheck` (bool)."""
    group = parser.getgroup("leakcheck")
    group.addoption("--leakcheck", action="store_true", default=False, help=HELP)
    parser.addini("leakcheck", HELP, type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (always, for `--strict-markers`); start the gate when it is on."""
    config.addinivalue_line(
        "markers",
        f"{HANDOFF}: this test hands a connection on on purpose; leakcheck's gate does not fail it",
    )
    if config.getoption("leakcheck", False) or config.getini("leakcheck"):
        from leakcheck.gate.session import Gate

        config.pluginmanager.register(Gate(config), Gate.NAME)
