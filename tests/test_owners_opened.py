"""Owner classes that acquire in `open()` / `connect()` rather than in `__init__`
(analysis/owners.py, `opened_kind`), and the wording of a home-grown "pool" that keeps no free
list (`pool_kind`)."""

from __future__ import annotations

import json
from pathlib import Path

import libcst as cst
from cli_helpers import invoke

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.judge import all_verdicts
from leakcheck.config.catalogue import builtin_kinds

BOTDB = """\
import sqlite3


class BotDB:
    def __init__(self, path):
        self.path = path

    def open(self):
        self.conn = sqlite3.connect(self.path)

    def close(self):
        self.conn.close()
"""


def judged(body: str) -> set[tuple[str, str, int]]:
    """(function, leak, line of the acquiring call) for each verdict in a function."""
    module = cst.parse_module(BOTDB + body)
    found = ModuleFacts(module, builtin_kinds())
    lines = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    positions = lines.resolve(cst.metadata.PositionProvider)
    return {
        (v.site.scope.name.value, v.leak.value, positions[v.site.call].start.line)
        for v in all_verdicts(found)
        if isinstance(v.site.scope, cst.FunctionDef)
    }


def test_constructing_a_class_that_opens_later_acquires_nothing() -> None:
    found = ModuleFacts(cst.parse_module(BOTDB), builtin_kinds())
    kind, owned = found.owners["BotDB"]
    assert [o.method for o in owned] == ["open"]
    assert kind.resource_is_source and kind.acquire_methods == frozenset({"open"})
    assert "BotDB" not in found.factories  # `BotDB(path)` takes nothing
    assert judged("\n\ndef f():\n    d = BotDB('x')\n    return d.path\n") == set()


def test_the_open_call_is_the_acquisition_and_close_in_finally_releases() -> None:
    leaks = judged(
        """

def g(p):
    db = BotDB(p)
    db.open()
    db.conn.execute("select 1")


def h(p):
    db = BotDB(p)
    db.open()
    try:
        db.conn.execute("select 1")
    finally:
        db.close()
"""
    )
    assert leaks == {("g", "never", 17)}  # `db.open()`, not `BotDB(p)` on line 16


def test_a_module_object_opened_and_closed_by_hooks_is_the_processes() -> None:
    body = """

bot_db = BotDB("bot.db")


async def on_startup(dispatcher):
    bot_db.open()


async def on_shutdown(dispatcher):
    bot_db.close()
"""
    assert judged(body) == set()


def test_an_init_acquisition_still_makes_the_constructor_the_acquisition() -> None:
    found = ModuleFacts(
        cst.parse_module(BOTDB.replace("self.path = path", "self.conn = sqlite3.connect(path)")),
        builtin_kinds(),
    )
    kind, _ = found.owners["BotDB"]
    assert not kind.resource_is_source
    assert found.factories["BotDB"] is kind


def test_a_closing_class_without_a_free_list_is_not_called_a_pool(tmp_path: Path) -> None:
    """A class whose `open_connection()` returns a fresh Snowflake connection and whose
    `close_connection(conn)` closes it: its callers' messages say "closed through
    `close_connection()`", not "given back to the pool"."""
    target = tmp_path / "utils.py"
    target.write_text(
        """\
import snowflake.connector


class Utils:
    def open_connection(self):
        return snowflake.connector.connect(user="u", password="p", account="a")

    def close_connection(self, conn):
        conn.close()

    def run(self, sql):
        conn = self.open_connection()
        conn.cursor().execute(sql)
        self.close_connection(conn)
"""
    )
    code, out = invoke("check", "--no-cache", "--format", "json", str(target))
    assert code == 1, out
    (finding,) = json.loads(out)["findings"]
    assert "closed through `close_connection()`" in finding["message"]
    assert "pool" not in finding["message"]
