"""Several candidate fixes per finding, in order: the project's own helpers (issue 12)."""

from __future__ import annotations

from pathlib import Path

from leakcheck.project.api import check_buffer

ROOT = Path(__file__).resolve().parent.parent
HELPERS = ROOT / "fixtures" / "helpers"


def offered(path: Path) -> dict[int, list[tuple[str, str]]]:
    result = check_buffer(path.read_bytes(), path)
    return {f.line: [(x.message, x.applicability) for x in f.fixes] for f in result.findings}


def test_a_helper_of_the_module_on_the_same_pool_comes_first() -> None:
    fixes = offered(HELPERS / "inventory_pool.py")
    assert fixes[62] == [
        ("Use `with pooled() as conn:`", "safe"),
        ("Release `conn` in `finally`", "safe"),
        ("Use `with transaction() as conn:`; unsafe: `transaction()` also commits", "unsafe"),
    ]
    # Another pool: the plain form first; the helpers only as unsafe alternatives.
    assert fixes[70] == [
        ("Release `conn` in `finally`", "safe"),
        (
            "Use `with pooled() as conn:`; unsafe: `pooled()` takes its connection from `pool`, "
            "not `reports_pool`",
            "unsafe",
        ),
        ("Use `with transaction() as conn:`; unsafe: `transaction()` also commits", "unsafe"),
    ]
    # `pooled_for(tenant)` needs an argument; `get_connection` is a dependency, not a helper.
    assert not any("pooled_for" in t or "get_connection" in t for f in fixes.values() for t, _ in f)


def test_a_helper_beside_the_imported_factory_is_imported_for_the_fix() -> None:
    fixes = offered(HELPERS / "shop" / "orders.py")
    assert fixes[19] == [
        ("Use `with session_scope() as db:`", "safe"),
        ("Use `with` for `db`", "safe"),
    ]
    # `session_scope` is imported only inside another function, and not beside this factory.
    assert fixes[34] == [("Use `with` for `db`", "safe")]
    [edit, _] = (
        check_buffer((HELPERS / "shop" / "orders.py").read_bytes(), HELPERS / "shop" / "orders.py")
        .findings[0]
        .fixes[0]
        .edits
    )
    assert edit.content == "from shop.db import SessionLocal, engine, session_scope\n"


def test_a_helper_that_drops_the_acquisitions_arguments_is_unsafe(tmp_path: Path) -> None:
    source = (
        "from contextlib import contextmanager\n"
        "from psycopg2.pool import ThreadedConnectionPool\n\n"
        "pool = ThreadedConnectionPool(1, 5)\n\n\n"
        "@contextmanager\ndef pooled():\n    conn = pool.getconn()\n    try:\n"
        "        yield conn\n    finally:\n        pool.putconn(conn)\n\n\n"
        "def tagged(sql):\n    conn = pool.getconn(key='reports')\n"
        "    conn.cursor().execute(sql)\n    pool.putconn(conn)\n"
    )
    path = tmp_path / "reports.py"
    path.write_text(source)
    [finding] = check_buffer(source.encode(), path).findings
    assert [(f.message, f.applicability) for f in finding.fixes] == [
        ("Release `conn` in `finally`", "safe"),
        (
            "Use `with pooled() as conn:`; unsafe: `pooled()` does not acquire with the same "
            "arguments",
            "unsafe",
        ),
    ]
