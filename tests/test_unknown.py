"""Resource-like calls of no kind (analysis/unknown.py): which calls count, and that the entry
offered for one, pasted into the configuration, makes leakcheck judge it."""

from __future__ import annotations

import sys
from pathlib import Path

import libcst as cst
import pytest
from click.testing import CliRunner

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.judge import all_verdicts
from leakcheck.analysis.unknown import unknown_calls, unknown_in_source
from leakcheck.cli import main
from leakcheck.config.catalogue import builtin_kinds, parse_kind
from leakcheck.project.names import forget

SOURCE = """\
import socket

import cv2

import vertica_python


def report(factory):
    conn = vertica_python.connect(host="db")
    conn.cursor().execute("SELECT 1")
    conn.close()
    lease = factory.get_conn()
    lease.release()
    sock = socket.socket()
    sock.close()
    handle = open("x")
    handle.close()
    kept = vertica_python.connect(host="db")
    return kept


def helper():
    return vertica_python.connect(host="db")


def uses_helper():
    conn = helper()
    conn.close()


def not_database(conn):
    cap = cv2.VideoCapture(0)
    cap.release()
    cur = conn.cursor()
    cur.close()
"""


def test_counts_closed_calls_of_no_kind_outside_the_stdlib_and_the_module() -> None:
    found = unknown_in_source(SOURCE.encode(), builtin_kinds())
    assert [(line, u.callee, u.method, u.imported) for line, u in found] == [
        (9, "vertica_python.connect", "close", True),
        (12, "factory.get_conn", "release", False),
        # `helper()`'s result is closed in `uses_helper`: the call it returns, where written.
        (23, "vertica_python.connect", "close", True),
    ]


def test_the_offered_entry_makes_the_call_judged() -> None:
    module = cst.parse_module(SOURCE)
    (first, second, third) = unknown_calls(ModuleFacts(module, builtin_kinds()))
    assert third.qualified == first.qualified  # one entry covers both
    added = tuple(
        parse_kind(tomllib.loads(u.entry())["tool"]["leakcheck"]["kinds"][0], "test")
        for u in (first, second)
    )
    facts = ModuleFacts(module, builtin_kinds() + added)
    assert unknown_calls(facts) == []
    judged = {(v.site.kind.name, v.leak.value) for v in all_verdicts(facts)}
    # `conn` is closed after a call that may raise; `lease` is released at once.
    assert judged == {(added[0].name, "exception")}


def test_kinds_command_lists_kinds_and_unknown_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "report.py").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)  # no configuration adds kinds
    runner = CliRunner()
    listed = runner.invoke(main, ["kinds"])
    assert listed.exit_code == 0
    names = [line.split("  ", 1)[0] for line in listed.output.splitlines()]
    assert names == [k.name for k in builtin_kinds()]
    unknown = runner.invoke(main, ["kinds", "--unknown", str(tmp_path / "report.py")])
    assert unknown.exit_code == 0, unknown.output
    assert "3 calls of resource-like types leakcheck does not know" in unknown.output
    assert unknown.output.count("[[tool.leakcheck.kinds]]") == 2


def test_a_project_name_counts_unless_its_module_says_what_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `leakcheck check` judges the file: with its package and the project's names.
    from leakcheck.project.runner import Checker

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "utils").mkdir()
    (tmp_path / "app").mkdir()
    module = tmp_path / "app" / "user.py"
    source = "from utils.db import Database\n\n\ndef f():\n    db = Database()\n    db.close()\n"
    module.write_text(source)

    def found() -> int:
        context = Checker().context(module)
        resolver, package = context.resolver, context.package
        return len(unknown_in_source(source.encode(), context.kinds, package, resolver))

    # A factory of a known kind: judged, not counted.
    (tmp_path / "utils" / "db.py").write_text(
        "import duckdb\n\n\ndef Database():\n    return duckdb.connect('x')\n"
    )
    assert found() == 0
    # A module that says nothing of `Database`: what it returns is unknown, counted.
    (tmp_path / "utils" / "db.py").write_text("")
    forget()
    assert found() == 1
