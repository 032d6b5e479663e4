"""`# noqa` and `# leakcheck: ignore[...]` on the reported line, and `--report-unused-noqa`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import POOL, SESSION, found, invoke, script, write

from leakcheck.project.suppressions import directives


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def on_line_5(comment: str) -> str:
    lines = POOL.splitlines()
    lines[4] += f"  {comment}"
    return "\n".join(lines) + "\n"


LC102 = [("pool.py", 5, "LC102")]


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("# noqa: LC102", []),
        ("# noqa:LC102", []),
        ("# NOQA: LC102", []),
        ("# noqa: E501, LC102", []),
        ("# noqa: E501 LC102", []),
        ("# noqa", []),
        ("# leakcheck: ignore[LC102]", []),
        ("# leakcheck: ignore[LC101, LC102]", []),
        ("# leakcheck: ignore", []),
        ("# type: ignore  # noqa: LC102", []),
        ("# noqa: LC101", LC102),  # another code
        ("# noqa: lc102", LC102),  # codes are case-sensitive: not a directive
        ("# noqa:", LC102),
        ("# noqa-ish", LC102),
        ("# leakcheck: ignore[LC101]", LC102),
    ],
)
def test_directive_on_the_reported_line(
    here: Path, comment: str, expected: list[tuple[str, int, str]]
) -> None:
    write(here, {"pool.py": on_line_5(comment)})
    assert found("pool.py") == expected


def test_a_directive_on_another_line_of_the_path_does_not_suppress(here: Path) -> None:
    lines = POOL.splitlines()
    lines[5] += "  # noqa: LC102"  # the escaping statement, not the reported line
    write(here, {"pool.py": "\n".join(lines) + "\n"})
    assert found("pool.py") == LC102


def test_a_string_that_looks_like_a_directive_is_not_one(here: Path) -> None:
    lines = POOL.splitlines()
    lines[4] = '    conn = pool.getconn(); note = "# noqa"'
    write(here, {"pool.py": "\n".join(lines) + "\n"})
    assert found("pool.py") == LC102


def test_directive_positions_and_codes() -> None:
    source = b"a = 1  # noqa: LC101, LC102\nb = 2  # leakcheck: ignore[LC201]\nc = 3  # noqa\n"
    parsed = {
        line: [(d.column, d.end_column, d.style, d.codes) for d in found_here]
        for line, found_here in directives(source).items()
    }
    assert parsed == {
        1: [(8, 28, "noqa", ("LC101", "LC102"))],
        2: [(8, 34, "leakcheck: ignore", ("LC201",))],
        3: [(8, 14, "noqa", None)],
    }


UNUSED_SOURCE = """\
from psycopg2.pool import ThreadedConnectionPool
pool = ThreadedConnectionPool(1, 5)

def count(sql):
    conn = pool.getconn()  # noqa: LC102, LC101, E501
    cur = conn.cursor()
    cur.execute(sql)
    pool.putconn(conn)

x = 1  # noqa
y = 2  # noqa: E501
z = 3  # leakcheck: ignore[LC201]
w = 4  # leakcheck: ignore
"""


def test_report_unused_noqa_lists_directives_that_match_nothing(here: Path) -> None:
    write(here, {"pool.py": UNUSED_SOURCE})
    assert found("pool.py") == []
    code, out = invoke("check", "--format", "json", "--report-unused-noqa", "pool.py")
    assert code == 1
    assert [
        (f["line"], f["column"], f["end_column"], f["code"], f["message"])
        for f in json.loads(out)["findings"]
    ] == [
        (5, 28, 54, "LC001", "Unused `noqa` directive (unused: `LC101`)"),
        # line 10's bare `# noqa` is flake8's or ruff's as much as ours: not reported
        (12, 8, 34, "LC001", "Unused `leakcheck: ignore` directive (unused: `LC201`)"),
        (13, 8, 27, "LC001", "Unused blanket `leakcheck: ignore` directive"),
    ]


def test_unused_noqa_text_output_from_the_console_script(here: Path) -> None:
    write(here, {"clean.py": "x = 1  # noqa: LC101\n"})
    quiet = script("check", "clean.py", cwd=here)
    assert (quiet.returncode, quiet.stdout) == (0, "All checks passed! (1 file in all)\n")
    done = script("check", "--report-unused-noqa", "clean.py", cwd=here)
    assert done.returncode == 1
    assert done.stdout == (
        "clean.py:1:8: LC001 Unused `noqa` directive (unused: `LC101`)\n"
        "1 | x = 1  # noqa: LC101\n"
        "  |        ^^^^^^^^^^^^^ unused suppression\n"
        "\n"
        "Found 1 leak in 1 file (1 file in all).\n"
    )


def test_a_noqa_for_a_rule_the_configuration_turns_off_is_unused(here: Path) -> None:
    write(here, {"pool.py": on_line_5("# noqa: LC102"), "pyproject.toml": ""})
    (here / "pyproject.toml").write_text('[tool.leakcheck]\nignore = ["LC102"]\n')
    assert found("--report-unused-noqa", "pool.py") == [("pool.py", 5, "LC001")]


def whole_file(comment: str, text: str = POOL) -> str:
    """`text` with `comment` on a line of its own after the imports (line 2 of the result)."""
    lines = text.splitlines()
    lines.insert(1, comment)
    return "\n".join(lines) + "\n"


TWO_FINDINGS = POOL + SESSION.replace("SessionLocal", "Sessions")  # LC102 on 5, LC201 on 13
BOTH = [("pool.py", 6, "LC102"), ("pool.py", 14, "LC201")]  # after whole_file's extra line


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("# leakcheck: noqa", []),
        ("#leakcheck:noqa", []),
        ("# leakcheck: NOQA  because the pool outlives the module", []),
        ("# leakcheck: noqa: LC102, LC201", []),
        ("# leakcheck: noqa: LC102", BOTH[1:]),
        ("# leakcheck: noqa: E501 LC201", BOTH[:1]),
        ("# leakcheck: noqa: LC2", BOTH[:1]),  # a prefix: every LC2xx rule
        ("# leakcheck: noqa: LC", BOTH),  # not a code: ruff reads no directive either
        ("# leakcheck: noqa: lc102", BOTH),  # codes are case-sensitive
        ("# Leakcheck: noqa", BOTH),  # `leakcheck:` is case-sensitive, as `ruff:`
        ("# leakcheck: noqa-ish", BOTH),
        ("# noqa", BOTH),  # a bare line directive covers only its own line
        ('NOTE = "# leakcheck: noqa"', BOTH),  # a string, not a comment
        ('NOTE = """\n# leakcheck: noqa\n"""', [("pool.py", 8, "LC102"), ("pool.py", 16, "LC201")]),
    ],
)
def test_whole_file_directive(
    here: Path, comment: str, expected: list[tuple[str, int, str]]
) -> None:
    write(here, {"pool.py": whole_file(comment, TWO_FINDINGS)})
    assert found("pool.py") == expected


def test_a_whole_file_directive_may_stand_anywhere_but_not_after_code(here: Path) -> None:
    write(here, {"pool.py": POOL + "    # leakcheck: noqa\n"})
    assert found("pool.py") == []
    write(here, {"pool.py": POOL.replace("(1, 5)", "(1, 5)  # leakcheck: noqa")})
    assert found("pool.py") == LC102  # after code: neither kind of directive


def test_whole_file_directive_positions() -> None:
    source = b"# leakcheck: noqa\n  #leakcheck:NOQA: LC101, LC2 why\nx = 1  # leakcheck: noqa\n"
    parsed = {
        line: [(d.column, d.end_column, d.style, d.codes, d.whole_file) for d in found_here]
        for line, found_here in directives(source).items()
    }
    assert parsed == {
        1: [(1, 18, "leakcheck: noqa", None, True)],
        2: [(3, 30, "leakcheck: noqa", ("LC101", "LC2"), True)],
    }


def test_report_unused_noqa_and_whole_file_directives(here: Path) -> None:
    source = whole_file("# leakcheck: noqa: LC102, LC3, E501", TWO_FINDINGS)
    write(here, {"pool.py": source, "clean.py": "# leakcheck: noqa\nx = 1\n"})
    code, out = invoke("check", "--format", "json", "--report-unused-noqa", "pool.py", "clean.py")
    assert code == 1
    assert [
        (f["path"], f["line"], f["column"], f["end_column"], f["code"], f["message"][:30])
        for f in json.loads(out)["findings"]
    ] == [
        ("clean.py", 1, 1, 18, "LC001", "Unused blanket `leakcheck: noq"),
        ("pool.py", 2, 1, 36, "LC001", "Unused `leakcheck: noqa` direc"),
        ("pool.py", 14, 10, 20, "LC201", "Session from `Sessions()` is n"),
    ]
    assert "(unused: `LC3`)" in out  # LC102 was used, and E501 is another tool's


def test_a_finding_the_whole_file_suppresses_is_not_fixed(here: Path) -> None:
    source = whole_file("# leakcheck: noqa: LC2", SESSION)
    write(here, {"db.py": source})
    assert invoke("check", "--fix", "--unsafe-fixes", "db.py")[0] == 0
    assert (here / "db.py").read_text() == source
    unsuppressed = whole_file("# leakcheck: noqa: LC1", SESSION)
    write(here, {"db.py": unsuppressed})
    assert invoke("check", "--fix", "--unsafe-fixes", "db.py")[0] == 0
    assert (here / "db.py").read_text() != unsuppressed  # fixed when it is not suppressed
