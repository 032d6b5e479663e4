"""`with db.connection_context():` as a fix for a resource its source holds (peewee; issue 26).

`source-context-manager` in rules/kinds.toml names the context manager; fix/source_context.py
offers it beside the try/finally, and the smallest diff goes first (fix/smallest.py). Its entry
connects only when the database is closed, as `connect(reuse_if_open=True)` does, while a plain
`connect()` raises `OperationalError` there (peewee docs, API, `Database.connect` and
`Database.connection_context`): the form is safe only for the former. The fixes are executed
against a fake database in tests/test_execute_fixes.py (fixtures/kinds/peewee_database.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_helpers import invoke, write

HEAD = """\
from peewee import SqliteDatabase

db = SqliteDatabase("app.db")


"""


def fixes_of(tmp_path: Path, body: str) -> list[dict[str, Any]]:
    """The candidate fixes of the one finding of HEAD + `body`."""
    write(tmp_path, {"app.py": HEAD + body})
    code, out = invoke("check", "--isolated", "--output-format", "json", str(tmp_path / "app.py"))
    assert code == 1, out
    [finding] = json.loads(out)["findings"]
    fixes: list[dict[str, Any]] = finding["fixes"]
    return fixes


def content(fix: dict[str, Any]) -> str:
    return "".join(edit["content"] for edit in fix["edits"])


def test_reuse_if_open_gets_the_context_manager_first_and_safe(tmp_path: Path) -> None:
    fixes = fixes_of(
        tmp_path,
        "def archive(day):\n"
        "    db.connect(reuse_if_open=True)\n"
        "    db.execute_sql('DELETE FROM events WHERE day < ?', (day,))\n"
        "    db.close()\n",
    )
    first, second = fixes
    assert first["applicability"] == "safe"
    assert content(first).startswith("    with db.connection_context():\n")
    assert "db.close()" not in content(first) and "connect(" not in content(first)
    assert "finally:" in content(second)  # the try/finally stays offered, second (larger diff)


def test_a_plain_connect_keeps_try_finally_first_and_the_with_form_is_unsafe(
    tmp_path: Path,
) -> None:
    for call in ("db.connect()", "db.connect(reuse_if_open=False)"):
        fixes = fixes_of(
            tmp_path,
            f"def archive(day):\n    {call}\n    return db.execute_sql('SELECT 1').fetchone()\n",
        )
        first, second = fixes
        assert first["applicability"] == "safe" and "finally:" in content(first)
        assert second["applicability"] == "unsafe"
        assert "with db.connection_context():" in content(second)
        assert "does not raise where `db` is already open" in second["title"]


def test_no_with_form_where_it_cannot_say_the_same(tmp_path: Path) -> None:
    bodies = (
        # An argument the context manager does not take.
        "def a(timeout):\n    db.connect(reuse_if_open=timeout)\n"
        "    return db.execute_sql('SELECT 1').fetchone()\n",
        # A release with a comment is kept as written.
        "def b():\n    db.connect(reuse_if_open=True)\n    db.execute_sql('SELECT 1')\n"
        "    db.close()  # keep the file unlocked\n",
    )
    for body in bodies:
        fixes = fixes_of(tmp_path, body)
        assert fixes, body
        assert not any("connection_context" in content(f) for f in fixes), body
