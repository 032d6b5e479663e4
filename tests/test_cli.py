"""The command line as users and CI scripts meet it: output, JSON schema, exit codes, discovery."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import POOL
from click.testing import CliRunner

import leakcheck.engine
from leakcheck import __version__
from leakcheck.cli import main

LEAK = POOL  # a pool leak: LC102 on line 5

CLEAN = """\
def count(pool, sql):
    conn = pool.getconn()
    try:
        conn.cursor().execute(sql)
    finally:
        pool.putconn(conn)
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "leaky.py").write_text(LEAK)
    (tmp_path / "app" / "clean.py").write_text(CLEAN)
    return tmp_path


def test_text_output_names_path_line_column_code_and_the_escape(project: Path) -> None:
    code, out = invoke("check", "app")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "app/leaky.py:5:12: LC102 Connection from `pool.getconn()` is not returned to the pool "
        "if `conn.cursor()` on line 6 raises"
    )
    assert "5 |     conn = pool.getconn()" in out
    assert "^^^^^^^^^^^^^^ acquired here" in out
    assert "6 |     cur = conn.cursor()" in out
    assert lines[-1] == "Found 1 leak in 1 file; 1 fixable with `--fix` (2 files in all)."
    assert "\x1b[" not in out  # no colour when the output is not a terminal


def test_clean_tree_exits_zero(project: Path) -> None:
    code, out = invoke("check", "app/clean.py")
    assert (code, out.strip()) == (0, "All checks passed! (1 file in all)")


def test_default_path_is_the_current_directory(project: Path) -> None:
    code, out = invoke("check")
    assert code == 1
    assert out.startswith("app/leaky.py:5:12: LC102")


def test_json_document_follows_the_schema(project: Path) -> None:
    code, out = invoke("check", "--format", "json", ".")
    assert code == 1
    document = json.loads(out)  # exactly one document, nothing else on stdout
    assert list(document) == ["version", "findings", "errors", "handoffs", "summary"]
    assert document["version"] == __version__
    fix = {
        "title": "Release `conn` in `finally`",
        "applicability": "safe",
        "edits": [
            {
                "line": 6,
                "column": 1,
                "end_line": 9,
                "end_column": 1,
                "content": "    try:\n        cur = conn.cursor()\n"
                "        cur.execute(sql)\n    finally:\n        pool.putconn(conn)\n",
            }
        ],
    }
    assert document["findings"] == [
        {
            "path": "app/leaky.py",
            "line": 5,
            "column": 12,
            "end_line": 5,
            "end_column": 26,
            "code": "LC102",
            "rule": "pool-connection-not-returned-on-exception",
            "message": "Connection from `pool.getconn()` is not returned to the pool if "
            "`conn.cursor()` on line 6 raises",
            "fix": fix,
            "fixes": [fix],  # every candidate; `fix` is the first, the one --fix applies
            "no_fix_reason": None,  # why there is no fix, when there is none
            "severity": "high",  # a pooled connection (README, "Severity")
        }
    ]
    assert document["errors"] == []
    assert document["summary"] == {
        "files": 2,
        "findings": 1,
        "errors": 0,
        "fixable": 1,
        "fixed": 0,
        "handoffs_assumed": 0,
        "unknown_resources": 0,
    }


def test_syntax_error_is_reported_and_the_run_goes_on(project: Path) -> None:
    # The file mentions `getconn`: the prefilter sends it to the parser, which fails.
    (project / "app" / "broken.py").write_text("def f(:\n    conn = pool.getconn()\n")
    code, out = invoke("check", "--format", "json", "app")
    assert code == 1
    document = json.loads(out)
    assert document["errors"] == [
        {"path": "app/broken.py", "line": 1, "message": document["errors"][0]["message"]}
    ]
    assert document["errors"][0]["message"].startswith("syntax error")
    assert [f["path"] for f in document["findings"]] == ["app/leaky.py"]
    assert document["summary"] == {
        "files": 3,
        "findings": 1,
        "errors": 1,
        "fixable": 1,
        "fixed": 0,
        "handoffs_assumed": 0,
        "unknown_resources": 0,
    }


def test_a_broken_file_without_acquisition_tokens_is_skipped_unless_named(project: Path) -> None:
    # Found by walking, a file whose bytes name no acquisition is never parsed (it cannot leak),
    # so its syntax error is not leakcheck's to report; named on the command line, it is parsed.
    # So is a file that names one only in a comment or a string: its code names none.
    (project / "app" / "broken.py").write_text("def f(:\n    pass\n")
    (project / "app" / "commented.py").write_text("def f(:\n    pass  # pool.getconn()\n")
    code, out = invoke("check", "--format", "json", "app")
    assert code == 1  # app/leaky.py
    assert json.loads(out)["errors"] == []
    for name in ("broken", "commented"):
        code, out = invoke("check", "--format", "json", f"app/{name}.py")
        assert code == 1
        assert [e["path"] for e in json.loads(out)["errors"]] == [f"app/{name}.py"]


def test_unparseable_file_alone_exits_one(project: Path) -> None:
    (project / "broken.py").write_text("x = (\n")
    code, out = invoke("check", "broken.py")
    assert code == 1
    assert "broken.py:" in out and "error: syntax error" in out


def test_a_missing_path_alone_is_an_error_entry(project: Path) -> None:
    code, out = invoke("check", "no/such/dir")
    assert code == 1  # as ruff's E902: a file that could not be analysed, not a usage error
    assert "no/such/dir: error: cannot read: No such file or directory" in out


def test_unknown_format_is_a_usage_error(project: Path) -> None:
    assert invoke("check", "--format", "xml", ".")[0] == 2


def test_internal_failure_exits_two(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(leakcheck.engine, "_check_module", boom)
    code, out = invoke("check", "app/clean.py")
    assert code == 2
    assert "internal error in leakcheck: RuntimeError: bug" in out


def test_version_and_help() -> None:
    code, out = invoke("--version")
    assert (code, out.strip()) == (0, f"leakcheck, version {__version__}")
    code, out = invoke("check", "--help")
    assert code == 0
    assert "Examples:" in out and "leakcheck check --output-format json ." in out
    assert "Exit codes:" in out


def test_discovery_skips_environments_and_build_output(project: Path) -> None:
    for skipped in (
        ".git",
        ".hidden",
        "__pycache__",
        "build",
        "dist",
        "node_modules",
        "pkg.egg-info",
    ):
        (project / skipped).mkdir()
        (project / skipped / "x.py").write_text(LEAK)
    venv = project / "myenv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr\n")
    (venv / "x.py").write_text(LEAK)
    (project / "notes.txt").write_text(LEAK)
    _, out = invoke("check", "--format", "json", ".")
    assert sorted({f["path"] for f in json.loads(out)["findings"]}) == ["app/leaky.py"]
    assert json.loads(out)["summary"]["files"] == 2


def test_a_file_named_explicitly_is_always_checked(project: Path) -> None:
    (project / ".hidden").mkdir()
    (project / ".hidden" / "script").write_text(LEAK)
    code, out = invoke("check", "--format", "json", ".hidden/script")
    assert code == 1
    assert [f["path"] for f in json.loads(out)["findings"]] == [".hidden/script"]


def test_custom_kind_from_pyproject(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.leakcheck]\n[[tool.leakcheck.kinds]]\nname = "inhouse"\n'
        'acquire = ["<pool>.borrow"]\nrelease = ["<pool>.give_back(<resource>)"]\n'
        'source-names = ["*handles*"]\n'
    )
    (project / "app" / "inhouse.py").write_text(
        "def f(handles):\n    h = handles.borrow()\n    h.run()\n"
    )
    code, out = invoke("check", "app/inhouse.py")
    assert code == 1
    assert out.startswith(
        "app/inhouse.py:2:9: LC101 Connection from `handles.borrow()` is never returned to the pool"
    )


def test_a_custom_kind_may_release_every_handle_of_its_pool(project: Path) -> None:
    # `<pool>.shutdown()`: every handle taken from that pool is closed (as `closeall()` is).
    (project / "pyproject.toml").write_text(
        '[tool.leakcheck]\n[[tool.leakcheck.kinds]]\nname = "inhouse"\n'
        'acquire = ["<pool>.borrow"]\n'
        'release = ["<pool>.give_back(<resource>)", "<pool>.shutdown()"]\n'
        'source-names = ["*handles*"]\n'
    )
    (project / "app" / "inhouse.py").write_text(
        "def f(handles, other_handles):\n    h = handles.borrow()\n    try:\n        h.run()\n"
        "    finally:\n        handles.shutdown()\n\n\n"
        "def g(handles, other_handles):\n    h = handles.borrow()\n    h.run()\n"
        "    other_handles.shutdown()\n"
    )
    code, out = invoke("check", "--format", "json", "app/inhouse.py")
    assert code == 1
    assert [(f["line"], f["code"]) for f in json.loads(out)["findings"]] == [(10, "LC101")]


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ("[tool.leakcheck]\ncolour = true\n", "unknown key `colour` in [tool.leakcheck]"),
        (
            '[tool.leakcheck]\n[[tool.leakcheck.kinds]]\nname = "x"\nacquire = ["<pool>.b"]\n'
            'release = ["give_back"]\n',
            "`release` pattern 'give_back' is none of `<pool>.METHOD(<resource>)`",
        ),
        (
            '[tool.leakcheck]\n[[tool.leakcheck.kinds]]\nname = "x"\nacquire = ["borrow"]\n'
            'release = ["<pool>.give_back(<resource>)"]\n',
            "`acquire` pattern 'borrow' is none of `<pool>.METHOD`",
        ),
        (
            '[tool.leakcheck]\n[[tool.leakcheck.kinds]]\nname = "x"\nacquire = ["<pool>.b"]\n'
            'release = ["<pool>.g(<resource>)"]\nwith_releases = true\n',
            "unknown key `with_releases` in a resource kind",
        ),
        ("[tool.leakcheck\n", "invalid TOML"),
    ],
)
def test_bad_configuration_names_the_file_and_key(
    project: Path, config: str, complaint: str
) -> None:
    (project / "pyproject.toml").write_text(config)
    result = CliRunner().invoke(main, ["check", "app"])
    assert result.exit_code == 2
    assert "pyproject.toml" in result.output
    assert complaint in result.output


def test_installed_console_script(project: Path) -> None:
    script = shutil.which("leakcheck", path=os.path.dirname(sys.executable))
    assert script is not None, "the leakcheck console script is not installed beside python"
    done = subprocess.run(
        [script, "check", "--format", "json", "app"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["summary"] == {
        "files": 2,
        "findings": 1,
        "errors": 0,
        "fixable": 1,
        "fixed": 0,
        "handoffs_assumed": 0,
        "unknown_resources": 0,
    }
    clean = subprocess.run(
        [script, "check", "app/clean.py"], capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"# -*- coding: uft-8 -*-\nx = 1\n", "cannot decode: unknown encoding: uft-8"),
        (b"x = '\xff\xfe'\n", "cannot decode"),
        (b"\x00\x01\x02binary", "syntax error"),
    ],
)
def test_undecodable_files_are_errors_not_crashes(
    project: Path, content: bytes, message: str
) -> None:
    (project / "odd.py").write_bytes(content)
    code, out = invoke("check", "--format", "json", "odd.py", "app/leaky.py")
    assert code == 1
    document = json.loads(out)
    assert [e["path"] for e in document["errors"]] == ["odd.py"]
    assert document["errors"][0]["message"].startswith(message)
    assert document["summary"]["findings"] == 1


def test_a_broken_pyproject_of_another_tool_is_ignored(project: Path) -> None:
    (project / "app" / "pyproject.toml").write_text("[tool.other\nbroken = \n")
    code, out = invoke("check", "app/leaky.py")
    assert code == 1
    assert out.startswith("app/leaky.py:5:12: LC102")


def test_the_same_file_named_twice_is_checked_once(project: Path) -> None:
    code, out = invoke("check", "--format", "json", "app/leaky.py", "./app/../app/leaky.py")
    assert code == 1
    assert json.loads(out)["summary"] == {
        "files": 1,
        "findings": 1,
        "errors": 0,
        "fixable": 1,
        "fixed": 0,
        "handoffs_assumed": 0,
        "unknown_resources": 0,
    }


def test_valid_python_that_libcst_cannot_read_is_not_called_a_syntax_error(
    project: Path,
) -> None:
    # With an acquisition word: a named file without one is read by CPython's parser only.
    odd = "x = 1\n(pars): bool = True\nimport psycopg2\npsycopg2.connect\n"
    (project / "odd.py").write_text(odd)
    code, out = invoke("check", "--format", "json", "odd.py")
    errors = json.loads(out)["errors"]
    assert code == 1  # libcst 1.x rejects this valid annotated assignment
    assert errors[0]["line"] == 2
    assert errors[0]["message"].startswith("valid Python that leakcheck's parser")


def test_caret_lines_up_under_tabs(project: Path) -> None:
    (project / "tabs.py").write_text(
        "def f(pool):\n\tconn = pool.getconn()\n\tconn.cursor().execute('x')\n"
    )
    code, out = invoke("check", "tabs.py")
    assert code == 1
    lines = out.splitlines()
    source = next(i for i, text in enumerate(lines) if text.startswith("2 |"))
    code_column = lines[source].index("pool.getconn()")
    assert lines[source + 1].index("^") == code_column


def test_short_version_flag() -> None:
    code, out = invoke("-V")
    assert (code, out.strip()) == (0, f"leakcheck, version {__version__}")
