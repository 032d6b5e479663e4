"""Issue 29: a release path dropped on purpose is kept (the fix over it is unsafe, and says why);
a fix covers every escaping statement of the path it repairs, or it is not applied."""

from __future__ import annotations

from pathlib import Path

from leakcheck.project.api import check_buffer, fix_file

ROOT = Path(__file__).resolve().parent.parent
DROPS = ROOT / "fixtures" / "pool" / "deliberate_drop.py"

HEAD = (
    "import psycopg2\nimport psycopg2.pool\n\n"
    "pool = psycopg2.pool.ThreadedConnectionPool(1, 5, dsn='dbname=app')\n\n\n"
)


def fixes_by_line(path: Path, source: str | None = None) -> dict[int, list[tuple[str, str]]]:
    data = source.encode() if source is not None else path.read_bytes()
    found = check_buffer(data, path).findings
    return {f.line: [(x.message, x.applicability) for x in f.fixes] for f in found}


def test_a_fix_over_a_dropping_branch_is_unsafe_and_names_it() -> None:
    fixes = fixes_by_line(DROPS)
    assert fixes[25] == [
        (
            "Release `conn` in `finally` instead of `except`; unsafe: the `except "
            "psycopg2.errors.AdminShutdown` branch on line 30 discards `conn` on purpose",
            "unsafe",
        )
    ]
    assert fixes[42] == [
        (
            "Release `conn` in `finally`; unsafe: the `except psycopg2.OperationalError` branch "
            "on line 45 discards `conn` on purpose",
            "unsafe",
        )
    ]
    assert fixes[53] == [("Release `conn` in `finally`", "safe")]  # no dropping branch


def test_the_discarding_release_is_never_the_one_moved_into_finally() -> None:
    fixed = fix_file(DROPS, unsafe=True).source.decode()
    refresh = fixed.split("def refresh(")[1].split("\ndef ")[0]
    # Before: `pool.putconn(conn, close=True)`, with its comment, went into `finally` and
    # discarded the connection on every path.
    assert "close=True" not in refresh
    assert "finally:\n        pool.putconn(conn)\n" in refresh
    # --fix alone leaves both dropping functions as they are.
    safe = fix_file(DROPS).source.decode()
    original = DROPS.read_text()
    for name in ("refresh(", "refresh_or_give_up("):
        assert (
            safe.split(f"def {name}")[1].split("\ndef ")[0]
            == (original.split(f"def {name}")[1].split("\ndef ")[0])
        )


def test_a_comment_alone_marks_the_branch_as_a_drop(tmp_path: Path) -> None:
    source = HEAD + (
        "def load(rows):\n"
        "    conn = pool.getconn()\n"
        "    try:\n"
        "        conn.cursor().execute('SELECT 1')\n"
        "    except psycopg2.OperationalError:\n"
        "        # the connection is broken: drop it, the pool opens a new one\n"
        "        return None\n"
        "    pool.putconn(conn)\n"
    )
    path = tmp_path / "load.py"
    fixes = fixes_by_line(path, source)
    # Every candidate (the release added to the `try` the code has, then the wrap) is unsafe,
    # and says why.
    assert len(fixes[8]) >= 1
    for title, applicability in fixes[8]:
        assert applicability == "unsafe"
        assert title.endswith(
            "unsafe: the `except psycopg2.OperationalError` branch on line 11 discards `conn` "
            "on purpose"
        )
    # Without the comment, the same rewrites are safe.
    plain = source.replace(
        "        # the connection is broken: drop it, the pool opens a new one\n", ""
    )
    assert {a for _, a in fixes_by_line(path, plain)[8]} == {"safe"}


def test_a_fix_guards_every_raising_statement_of_the_path(tmp_path: Path) -> None:
    # Two raising statements before the release, on the same path, in each shape a fix guards:
    # a plain range, a hand-off (returned), a release in `finally` after raising statements.
    source = HEAD + (
        "def plain(a, b):\n"
        "    conn = pool.getconn()\n"
        "    conn.cursor().execute(a)\n"
        "    conn.cursor().execute(b)\n"
        "    pool.putconn(conn)\n\n\n"
        "def handed(a, b):\n"
        "    conn = pool.getconn()\n"
        "    conn.cursor().execute(a)\n"
        "    conn.cursor().execute(b)\n"
        "    return conn\n\n\n"
        "def late_finally(a, b):\n"
        "    conn = pool.getconn()\n"
        "    try:\n"
        "        conn.cursor().execute(a)\n"
        "    finally:\n"
        "        conn.cursor().execute(b)\n"
        "        conn.commit()\n"
        "        pool.putconn(conn)\n"
    )
    path = tmp_path / "two.py"
    path.write_text(source)
    before = check_buffer(source.encode(), path).findings
    assert {(f.code, f.function) for f in before} == {
        ("LC102", "plain"),
        ("LC102", "handed"),
        ("LC104", "late_finally"),
    }
    guarded = {  # the statements each fix must put inside its guard, and the guard's ends
        "plain": (("execute(a)", "execute(b)"), "try:", "finally:"),
        "handed": (("execute(a)", "execute(b)"), "try:", "except BaseException:"),
        "late_finally": (("execute(b)", "commit()"), "    try:", "        finally:"),
    }
    for unsafe in (False, True):
        fixed = fix_file(path, unsafe=unsafe)
        after = check_buffer(fixed.source, path).findings
        # The re-run is clean for every function a fix was applied to; a finding is left only
        # where no fix was claimed.
        claimed = {int(line.split(" at line ")[1].split(":")[0]) for line in fixed.applied}
        fixed_functions = {f.function for f in before if f.line in claimed}
        assert fixed_functions == {"plain", "handed", "late_finally"}
        assert not [f for f in after if f.function in fixed_functions]
        text = fixed.source.decode()
        for name, (statements, opening, closing) in guarded.items():
            body = text.split(f"def {name}(")[1].split("\ndef ")[0]
            start = body.index(opening, body.index("conn = pool.getconn()"))
            if name == "late_finally":
                start = body.index(opening, body.index("finally:"))
            end = body.index(closing, start)
            assert all(start < body.index(s) < end for s in statements), body
