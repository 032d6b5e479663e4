"""Issue 14: one bad file never costs the run, one crash never costs the report.

Each test is one row of the issue's table (the rows of helper 14): files CPython rejects, internal
errors, output paths, configuration errors and interruptions. Runs that could crash the process
(libcst overflows its stack on deep nesting) or that need signals or other privileges run the CLI
in a subprocess.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import libcst as cst
import pytest
from click.testing import CliRunner
from unprivileged import Runner

import leakcheck.cli
import leakcheck.fix.writer
import leakcheck.project.runner
import leakcheck.report.output
from leakcheck.cli import main
from leakcheck.config.catalogue import builtin_kinds
from leakcheck.engine import check_source
from leakcheck.fix.writer import write_atomically
from leakcheck.interrupts import deferred_signals

LEAK = """\
def count(pool, sql):
    conn = pool.getconn()
    conn.cursor().execute(sql)
    pool.putconn(conn)
"""
FIXED = """\
def count(pool, sql):
    conn = pool.getconn()
    try:
        conn.cursor().execute(sql)
    finally:
        pool.putconn(conn)
"""
DEEP_PARENS = b"x = " + b"(" * 2000 + b"1" + b")" * 2000 + b"\n"


def invoke(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the CLI run in-process."""
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def run_cli(*args: str, cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess: a crash there is an exit status here, not a dead test run."""
    return subprocess.run(
        [sys.executable, "-m", "leakcheck", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        **kwargs,
    )


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- Files CPython rejects: its parser is the reference, libcst never sees them -------------------


def test_2000_nested_parentheses_cost_one_error_entry_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "deep.py").write_bytes(DEEP_PARENS)
    (tmp_path / "leaky.py").write_text(LEAK)
    # Named: a file found by walking that names no acquisition is not parsed at all (prefilter).
    done = run_cli("check", "--format", "json", "deep.py", "leaky.py", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # not 139: libcst alone overflows its stack here
    document = json.loads(done.stdout)
    assert document["errors"] == [
        {"path": "deep.py", "line": 1, "message": "syntax error: too many nested parentheses"}
    ]
    assert [(f["path"], f["code"]) for f in document["findings"]] == [("leaky.py", "LC102")]
    assert done.stderr == ""


def _cpython_says(source: bytes) -> tuple[int | None, str]:
    """What the running interpreter reports: the reference the engine must repeat."""
    try:
        ast.parse(source)
    except SyntaxError as error:
        return error.lineno, error.msg
    raise AssertionError("CPython accepts this source; the row needs one it rejects")


@pytest.mark.parametrize(
    ("source", "line", "libcst_accepts"),
    [
        # libcst takes seconds over this one before accepting it: not re-run here.
        pytest.param(
            b"x = " + b"[" * 1000 + b"]" * 1000 + b"\n", 1, False, id="1000-nested-brackets"
        ),
        pytest.param(
            b"try:\n    pass\nexcept ValueError, e:\n    pass\n", 3, True, id="except-X-comma-e"
        ),
        pytest.param(b"x = 1\ns = 'a\x00b'\n", 2, True, id="NUL-in-a-string"),
    ],
)
def test_a_file_cpython_rejects_gets_cpythons_syntax_error(
    source: bytes, line: int, libcst_accepts: bool
) -> None:
    if libcst_accepts:
        cst.parse_module(source)  # the trap: libcst alone accepts it, and would analyse and fix it
    cpython_line, cpython_message = _cpython_says(source)
    result = check_source(source, "odd.py", builtin_kinds())
    assert result.findings == ()
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.message == f"syntax error: {cpython_message}"
    # CPython's line; where it names none (a NUL byte, on 3.11), the line of the first NUL.
    assert error.line == (cpython_line or line) == line
    assert not error.internal


def test_a_file_cpython_rejects_is_never_fixed(here: Path) -> None:
    source = LEAK.replace("    pool.putconn(conn)\n", "    pool.putconn(conn)\nexcept_ = 1\n")
    source = "try:\n    pass\nexcept ValueError, e:\n    pass\n" + source
    (here / "odd.py").write_text(source)
    code, out, _err = invoke("check", "--fix", "--format", "json", "odd.py")
    assert code == 1
    assert (here / "odd.py").read_text() == source
    assert json.loads(out)["errors"][0]["message"] == (
        "syntax error: multiple exception types must be parenthesized"
    )


def test_an_expression_too_deep_for_cpythons_ast_is_an_error_entry() -> None:
    source = b"x = " + b"-" * 100_000 + b"1\n"  # CPython: MemoryError (3.11) or SyntaxError
    result = check_source(source, "deep.py", builtin_kinds())
    assert [e.path for e in result.errors] == ["deep.py"]
    assert "\n" not in result.errors[0].message


# --- Every error is an entry; no traceback; internal errors exit 2 --------------------------------


def test_an_unexpected_exception_in_the_runner_is_one_entry_and_exit_2(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "a.py").write_text(LEAK)
    (here / "b.py").write_text(LEAK)
    real = leakcheck.project.runner.Checker._fixed  # each file's last step, under `guarded`

    def flaky(self: Any, unit: Any) -> Any:
        if unit.path.endswith("a.py"):
            raise ValueError("a bug\nover two lines")
        return real(self, unit)

    monkeypatch.setattr(leakcheck.project.runner.Checker, "_fixed", flaky)
    code, out, err = invoke("check", "--format", "json", ".")
    assert code == 2  # internal: never 1, which CI reads as "found leaks"
    document = json.loads(out)
    assert document["errors"] == [
        {
            "path": "a.py",
            "line": None,
            "message": "internal error in leakcheck: ValueError: a bug over two lines",
        }
    ]
    assert [f["path"] for f in document["findings"]] == ["b.py"]  # the run went on
    assert "Traceback" not in out + err


def test_an_exception_while_writing_the_output_is_one_line_and_exit_2(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "a.py").write_text(LEAK)

    def broken(*args: object) -> str:
        raise KeyError("findings")

    monkeypatch.setattr(leakcheck.cli, "to_json", broken)
    code, out, err = invoke("check", "--format", "json", ".")
    assert code == 2
    assert out == ""
    assert err == (
        "leakcheck: error: internal error: KeyError: 'findings' "
        "(a bug in leakcheck; LEAKCHECK_DEBUG=1 shows where)\n"
    )


def test_a_disk_error_while_writing_the_output_is_one_line_and_exit_2(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "a.py").write_text(LEAK)

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device", "out.txt")

    monkeypatch.setattr(leakcheck.cli, "replace_text", full)
    code, _out, err = invoke("check", "-o", "out.txt", ".")
    assert code == 2
    assert err == "leakcheck: error: cannot write out.txt: No space left on device\n"


def test_a_click_exception_that_click_exits_1_with_exits_2(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import click

    def refuse(*args: object, **kwargs: object) -> None:
        raise click.FileError("out.txt", "disk on fire")

    monkeypatch.setattr(leakcheck.cli, "run", refuse)
    code, _out, err = invoke("check", ".")
    assert code == 2
    assert "out.txt" in err and "disk on fire" in err
    assert "Traceback" not in err


def test_an_unexpected_exception_in_the_real_console_script_has_no_traceback(
    tmp_path: Path,
) -> None:
    # A bug planted in the runner, through the real entry point (not click's test runner).
    (tmp_path / "a.py").write_text(LEAK)
    code = (
        "import sys, leakcheck.cli as c\n"
        "def boom(*a, **k): raise RuntimeError('boom')\n"
        "c.run = boom\n"
        "sys.argv = ['leakcheck', 'check', '.']\n"
        "c.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr == (
        "leakcheck: error: internal error: RuntimeError: boom "
        "(a bug in leakcheck; LEAKCHECK_DEBUG=1 shows where)\n"
    )
    debug = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LEAKCHECK_DEBUG": "1"},
    )
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr  # only when asked for


# --- Output paths: checked before anything is written ---------------------------------------------


def test_output_file_in_a_missing_folder_creates_the_folder(here: Path) -> None:
    (here / "a.py").write_text(LEAK)
    code, out, _err = invoke("check", "--format", "json", "-o", "missing/dir/out.json", "a.py")
    assert code == 1
    assert out == ""
    written = json.loads((here / "missing" / "dir" / "out.json").read_text())
    assert [f["code"] for f in written["findings"]] == ["LC102"]
    assert [p.name for p in (here / "missing" / "dir").iterdir()] == ["out.json"]  # no probe left


def test_write_baseline_in_a_missing_folder_creates_the_folder(here: Path) -> None:
    (here / "a.py").write_text(LEAK)
    code, _out, err = invoke("check", "--write-baseline", "missing/dir/b.json", "a.py")
    assert code == 0
    assert err == "Wrote 1 finding to missing/dir/b.json\n"
    assert len(json.loads((here / "missing/dir/b.json").read_text())["findings"]) == 1


@pytest.mark.parametrize(
    ("option", "path", "message"),
    [
        (
            "--output-file",
            "a.py/out.txt",
            "leakcheck: error: --output-file a.py/out.txt: cannot create the folder {here}/a.py: "
            "a file is in the way\n",
        ),
        (
            "--write-baseline",
            "a.py/b.json",
            "leakcheck: error: --write-baseline a.py/b.json: cannot create the folder "
            "{here}/a.py: a file is in the way\n",
        ),
    ],
)
def test_an_impossible_output_path_fails_before_fix_rewrites_anything(
    here: Path, option: str, path: str, message: str
) -> None:
    (here / "a.py").write_text(LEAK)
    (here / "sub").mkdir()
    code, _out, err = invoke("check", "--fix", option, path, "a.py")
    assert code == 2
    assert err == message.format(here=here.resolve())
    assert (here / "a.py").read_text() == LEAK  # not rewritten first
    assert sorted(p.name for p in here.iterdir()) == ["a.py", "sub"]


@pytest.mark.parametrize("option", ["--output-file", "--write-baseline"])
def test_a_folder_given_for_an_output_file_is_a_usage_error_before_fix(
    here: Path, option: str
) -> None:
    (here / "a.py").write_text(LEAK)
    (here / "sub").mkdir()
    code, _out, err = invoke("check", "--fix", option, "sub", "a.py")
    assert code == 2
    assert "'sub' is a directory" in err
    assert (here / "a.py").read_text() == LEAK


def test_output_to_a_device_is_written_in_place(here: Path) -> None:
    (here / "a.py").write_text(LEAK)
    code, _out, _err = invoke("check", "-o", os.devnull, "a.py")
    assert code == 1
    assert Path(os.devnull).is_char_device()  # never replaced by a regular file


# --- Configuration errors: one line naming the file (and key), exit 2 ----------------------------


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        pytest.param(
            "[tool.leakcheck]\nselect = " + "[" * 600 + "]" * 600 + "\n",
            "{path}: invalid TOML: nested too deeply to read",
            id="toml-nested-600-deep",
        ),
        pytest.param(
            '[tool.leakcheck]\nselect = [""]\n',
            "{path}: `select`: empty rule code ''",
            id="select-empty-string",
        ),
        pytest.param(
            '[tool.leakcheck]\nignore = ["LC1", ""]\n',
            "{path}: `ignore`: empty rule code ''",
            id="ignore-empty-string",
        ),
        pytest.param(
            "[tool.leakcheck]\nselect = []\n",
            '{path}: `select` is empty: no rule would be checked (every rule: ["ALL"])',
            id="select-empty-list",
        ),
        pytest.param(
            "[tool]\nleakcheck = 1\n",
            "{path}: `tool.leakcheck` must be a table ([tool.leakcheck]), not int 1",
            id="tool-leakcheck-not-a-table",
        ),
    ],
)
def test_a_bad_configuration_is_one_line_naming_the_file_and_exit_2(
    here: Path, pyproject: str, message: str
) -> None:
    (here / "pyproject.toml").write_text(pyproject)
    (here / "a.py").write_text(LEAK)
    code, out, err = invoke("check", ".")
    assert code == 2
    assert out == ""
    expected = message.format(path=here.resolve() / "pyproject.toml")
    assert err == f"leakcheck: error: {expected}\n"


def test_select_with_extend_select_is_not_empty(here: Path) -> None:
    (here / "pyproject.toml").write_text('[tool.leakcheck]\nselect = []\nextend-select = ["LC1"]\n')
    (here / "a.py").write_text(LEAK)
    code, out, _err = invoke("check", "--format", "json", ".")
    assert code == 1
    assert [f["code"] for f in json.loads(out)["findings"]] == ["LC102"]


def test_select_nothing_on_the_command_line_is_a_usage_error(here: Path) -> None:
    (here / "a.py").write_text(LEAK)
    code, out, err = invoke("check", "--select", "", ".")
    assert out == ""
    assert code == 2
    assert "Invalid value for --select: no rule code given (every rule: ALL)" in err
    code, _out, err = invoke("check", "--select", " , ", ".")
    assert code == 2


def test_a_baseline_of_100000_brackets_is_one_line_and_exit_2(here: Path) -> None:
    (here / "a.py").write_text(LEAK)
    (here / "b.json").write_text("[" * 100_000)
    code, _out, err = invoke("check", "--baseline", "b.json", ".")
    assert code == 2
    assert err == "leakcheck: error: b.json: cannot read the baseline: nested too deeply\n"


def test_a_broken_pyproject_of_another_tool_nested_too_deep_is_not_ours(here: Path) -> None:
    (here / "pyproject.toml").write_text("[tool.other]\nx = " + "[" * 600 + "]" * 600 + "\n")
    (here / "a.py").write_text(LEAK)
    code, _out, err = invoke("check", ".")
    assert code == 1, err


# --- Unreadable files: as root, chmod blocks nothing, so drop privileges --------------------------


def test_an_unreadable_pyproject_is_one_line_naming_it_and_exit_2(
    unprivileged: tuple[Path, Runner],
) -> None:
    folder, as_nobody = unprivileged
    (folder / "a.py").write_text(LEAK)
    config = folder / "pyproject.toml"
    config.write_text("[tool.leakcheck]\nselect = ['LC1']\n")
    config.chmod(0o000)
    done = as_nobody("check", ".", cwd=folder)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"leakcheck: error: {config}: cannot read: Permission denied\n"


def test_an_output_folder_nobody_may_write_fails_before_fix(
    unprivileged: tuple[Path, Runner],
) -> None:
    folder, as_nobody = unprivileged
    (folder / "a.py").write_text(LEAK)
    (folder / "a.py").chmod(0o666)
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    done = as_nobody("check", "--fix", "-o", "locked/out.txt", "a.py", cwd=folder)
    assert done.returncode == 2
    assert done.stderr == (
        f"leakcheck: error: --output-file locked/out.txt: cannot write in {locked}: "
        "Permission denied\n"
    )
    assert (folder / "a.py").read_text() == LEAK
    assert list(locked.iterdir()) == []


# --- Interruptions: exit 130/143, every file old or new, no temporaries ---------------------------


def test_a_signal_during_a_write_is_delivered_after_it(tmp_path: Path) -> None:
    target = tmp_path / "db.py"
    target.write_text(LEAK)
    real_fsync = os.fsync

    def fsync_then_ctrl_c(fd: int) -> None:
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGINT)  # arrives with the temporary half-way to its place

    mp = pytest.MonkeyPatch()
    mp.setattr(leakcheck.fix.writer.os, "fsync", fsync_then_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            write_atomically(target, LEAK.encode(), FIXED.encode())
    finally:
        mp.undo()
    assert target.read_text() == FIXED  # fully written, then interrupted
    assert [p.name for p in tmp_path.iterdir()] == ["db.py"]


def test_deferred_signals_restore_the_handlers() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with deferred_signals():
        assert signal.getsignal(signal.SIGINT) not in before
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.fixture(scope="module")
def many_leaks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 files with a safe fix each, so that a run takes a while (seconds, not minutes)."""
    root = tmp_path_factory.mktemp("many")
    padding = "".join(f"    x{i} = [{i}] * 3\n" for i in range(20))
    for n in range(40):
        text = LEAK.replace("    conn = pool.getconn()\n", padding + "    conn = pool.getconn()\n")
        (root / f"m{n:03}.py").write_text(text)
    return root


def _old_and_new(root: Path) -> tuple[str, str]:
    old = (root / "m000.py").read_text()
    new = old.replace(
        "    conn.cursor().execute(sql)\n    pool.putconn(conn)\n",
        "    try:\n        conn.cursor().execute(sql)\n    finally:\n        pool.putconn(conn)\n",
    )
    return old, new


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -signal.SIGKILL)],
    ids=["SIGINT", "SIGTERM", "SIGKILL"],
)
def test_a_signal_mid_fix_leaves_each_file_old_or_new(
    many_leaks: Path, tmp_path: Path, signum: int, exit_code: int
) -> None:
    root = tmp_path / "project"
    subprocess.run(["cp", "-r", str(many_leaks), str(root)], check=True)
    old, new = _old_and_new(root)
    files = sorted(root.glob("m*.py"))
    child = subprocess.Popen(
        [sys.executable, "-m", "leakcheck", "check", "--fix", "-q", "."],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait until the run is writing: the first file fixed (it is checked first).
        for _ in range(6000):
            if files[0].read_text() == new or child.poll() is not None:
                break
            time.sleep(0.01)
        assert child.poll() is None, "the run ended before it could be interrupted"
        child.send_signal(signum)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == exit_code, err
    if signum != signal.SIGKILL:
        assert err == (
            "leakcheck: interrupted\n" if signum == signal.SIGINT else ("leakcheck: terminated\n")
        )
    states = [path.read_text() for path in files]
    assert all(text in (old, new) for text in states)  # never half-written
    assert states.count(new) < len(files)  # it was stopped mid-run
    names = {f.name for f in files} | {".leakcheck_cache"}
    left = sorted(p.name for p in root.iterdir() if p.name not in names)
    if signum == signal.SIGKILL:  # nothing can run: the next run removes what was left
        done = run_cli("check", "--fix", "-q", ".", cwd=root)
        assert done.returncode in (0, 1), done.stderr
        assert all(path.read_text() == new for path in files)
        left = sorted(p.name for p in root.iterdir() if p.name not in names)
    assert left == []


def test_the_output_file_replaces_an_old_one_whole_keeping_its_mode(here: Path) -> None:
    """(A link to it outside the project is followed and kept, one inside is refused:
    tests/test_hostile_writes.py.)"""
    (here / "a.py").write_text(LEAK)
    (here / "reports").mkdir()
    real = here / "reports" / "out.json"
    real.write_text("old report, longer than the new one will be" * 1000)
    real.chmod(0o640)
    code, _out, _err = invoke("check", "--format", "json", "-o", "reports/out.json", "a.py")
    assert code == 1
    assert json.loads(real.read_text())["summary"]["findings"] == 1
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (here / "reports").iterdir()) == ["out.json"]
