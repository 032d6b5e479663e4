"""`# noqa` and `# leakcheck: ignore[...]` on the reported line, and `--report-unused-noqa`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import POOL, found, invoke, script, write

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
        (10, 8, 14, "LC001", "Unused blanket `noqa` directive"),
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
