"""Issue 24, items 6 and 8, and "a full disk under `-o` does not name the file": names and paths a
repository (or an unlucky user) hands leakcheck never cost the run.

- A file or folder name that is not UTF-8 (byte 0xff; Python holds it as the lone surrogate
  U+DCFF) is checked like any other file, and shown as `\\xff` everywhere (text, JSON, SARIF
  messages, GitHub annotations, the baseline), so every output is valid UTF-8; SARIF's URIs
  percent-encode the bytes (`bad%FF.py`); a baseline keeps matching the file on the next run.
- A path named on the command line that cannot be read (or does not exist) is one error entry
  for that path (`cannot read: Permission denied`, as ruff's E902), exit 1, the rest checked.
- A report or baseline that cannot be written (a full disk) names the file and why, exit 2.

Each test puts the attack beside a normal file with a real leak and runs the command line.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cli_helpers import POOL, SESSION, write
from click.testing import CliRunner
from unprivileged import Runner

import leakcheck.cli
from leakcheck.cli import main

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
BAD_FILE = os.fsdecode(b"bad\xff.py")  # holds the lone surrogate U+DCFF
BAD_DIR = os.fsdecode(b"dir\xfe")
BROKEN = os.fsdecode(b"broken\xfc.py")  # a syntax error: one error entry, named
# As leakcheck shows them (leakcheck/shown.py): each undecodable byte as `\xNN`.
SHOWN_FILE, SHOWN_INNER, SHOWN_BROKEN = "bad\\xff.py", "dir\\xfe/inner.py", "broken\\xfc.py"
GOOD_FINDING = ("good.py", 5, "LC201")

Run = tuple[int, bytes, bytes]


def cli(*args: str, stdin: bytes | None = None) -> Run:
    """`leakcheck ARGS` through click's runner, whose standard output is strict UTF-8 (as under
    a UTF-8 locale): exit code, and standard output and error as bytes."""
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(main, list(args), input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr_bytes


def strictly(data: bytes) -> str:
    """`data` decoded as UTF-8 with no error allowed (a lone surrogate or 0xff fails)."""
    return data.decode("utf-8", "strict")


def errors_of(text: str, path: str) -> list[str]:
    """The text output's error lines for `path` (`path:LINE: error: ...`)."""
    return [
        line for line in text.splitlines() if line.startswith(f"{path}:") and ": error: " in line
    ]


def every_string_encodes(value: Any) -> None:
    """Each string in a JSON document is valid UTF-8 (no `\\udcff` escape sneaked in)."""
    if isinstance(value, str):
        value.encode("utf-8", "strict")
    elif isinstance(value, dict):
        for key, item in value.items():
            every_string_encodes(key)
            every_string_encodes(item)
    elif isinstance(value, list):
        for item in value:
            every_string_encodes(item)


@pytest.fixture()
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path (the working directory) holding `bad\\xff.py` (the POOL leak), `dir\\xfe/inner.py`
    (the same), `broken\\xfc.py` (a syntax error) and `good.py` (the SESSION leak)."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"good.py": SESSION})
    try:
        (tmp_path / BAD_DIR).mkdir()
        (tmp_path / BAD_FILE).write_text(POOL)
        (tmp_path / BAD_DIR / "inner.py").write_text(POOL)
        (tmp_path / BROKEN).write_text(POOL.replace("def count(sql):", "def (:"))
    except (OSError, UnicodeError):  # macOS, Windows: such names cannot exist
        pytest.skip("this file system refuses names that are not UTF-8")
    return tmp_path


CACHES = [pytest.param(("--no-cache",), id="no-cache"), pytest.param((), id="cache")]


@pytest.mark.parametrize("cache", CACHES)
@pytest.mark.parametrize("output_format", ["text", "json", "sarif", "github"])
def test_undecodable_file_and_folder_names_are_checked_and_shown_as_valid_utf8(
    hostile: Path, output_format: str, cache: tuple[str, ...]
) -> None:
    args = ("check", "--format", output_format, "--cache-dir", str(hostile / "cache"), *cache, ".")
    for run in ("cold", "warm"):  # the second run replays the cache (when there is one)
        code, out, err = cli(*args)
        assert code == 1, (run, err)
        assert err == b"", run
        text = strictly(out)
        assert "\\udc" not in text and "\ufffd" not in text
        if output_format == "text":
            assert f"{SHOWN_FILE}:5:12: LC102 " in text
            assert f"{SHOWN_INNER}:5:12: LC102 " in text
            assert "good.py:5:10: LC201 " in text
            assert len(errors_of(text, SHOWN_BROKEN)) == 1
        elif output_format == "json":
            document = json.loads(text)
            every_string_encodes(document)
            found = [(f["path"], f["line"], f["code"]) for f in document["findings"]]
            assert found == [
                (SHOWN_FILE, 5, "LC102"),
                (SHOWN_INNER, 5, "LC102"),
                GOOD_FINDING,
            ]
            assert [e["path"] for e in document["errors"]] == [SHOWN_BROKEN]
        elif output_format == "sarif":
            document = json.loads(text)
            jsonschema.Draft4Validator(SCHEMA).validate(document)
            every_string_encodes(document)
            (sarif_run,) = document["runs"]
            uris = [
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                for r in sarif_run["results"]
            ]
            assert uris == ["bad%FF.py", "dir%FE/inner.py", "good.py"]  # the bytes, exactly
            [notification] = sarif_run["invocations"][0]["toolExecutionNotifications"]
            where = notification["locations"][0]["physicalLocation"]["artifactLocation"]
            assert where["uri"] == "broken%FC.py"
        else:
            lines = text.splitlines()
            assert len(lines) == 4
            assert lines[0].startswith(f"::error title=leakcheck (LC102),file={SHOWN_FILE},")
            assert lines[1].startswith(f"::error title=leakcheck (LC102),file={SHOWN_INNER},")
            assert lines[2].startswith("::error title=leakcheck (LC201),file=good.py,")
            assert lines[3].startswith(f"::error title=leakcheck,file={SHOWN_BROKEN},")


@pytest.mark.parametrize("cache", CACHES)
def test_a_baseline_of_undecodable_names_is_valid_utf8_and_matches_them_on_the_next_run(
    hostile: Path, cache: tuple[str, ...]
) -> None:
    common = ("--cache-dir", str(hostile / "cache"), *cache)
    target = os.fsdecode(b"base\xff.json")  # the baseline's own name is not UTF-8 either
    code, out, err = cli("check", *common, "--write-baseline", target, ".")
    assert code == 0, err
    assert strictly(err) == "Wrote 3 findings to base\\xff.json\n"
    document = json.loads(strictly((hostile / target).read_bytes()))
    every_string_encodes(document)
    recorded = {e["path"] for e in document["findings"]}
    assert recorded == {SHOWN_FILE, SHOWN_INNER, "good.py"}
    # SARIF's partialFingerprints are the baseline's: the same identity for the same file.
    code, out, _ = cli("check", *common, "--format", "sarif", ".")
    results = json.loads(strictly(out))["runs"][0]["results"]
    assert {r["partialFingerprints"]["leakcheck/v1"] for r in results} == {
        e["fingerprint"] for e in document["findings"]
    }
    # The next run: every recorded finding matches; only a new file's leak is reported.
    code, out, err = cli("check", *common, "--baseline", target, "--format", "json", ".")
    assert code == 1, err  # the broken file's error entry is not a finding: it stays
    report = json.loads(strictly(out))
    assert report["findings"] == []
    assert [e["path"] for e in report["errors"]] == [SHOWN_BROKEN]
    (hostile / os.fsdecode(b"new\xfd.py")).write_text(POOL)
    code, out, err = cli("check", *common, "--baseline", target, "--format", "json", ".")
    assert code == 1, err
    report = json.loads(strictly(out))
    assert [(f["path"], f["code"]) for f in report["findings"]] == [("new\\xfd.py", "LC102")]


@pytest.mark.parametrize("cache", CACHES)
@pytest.mark.parametrize("output_format", ["text", "json", "sarif", "github"])
def test_stdin_filename_that_is_not_utf8_is_shown_as_valid_utf8(
    hostile: Path, output_format: str, cache: tuple[str, ...]
) -> None:
    name = os.fsdecode(b"std\xff.py")
    code, out, err = cli(
        "check",
        "--format",
        output_format,
        "--cache-dir",
        str(hostile / "cache"),
        *cache,
        "--stdin-filename",
        name,
        "-",
        stdin=SESSION.encode(),
    )
    assert code == 1, err
    text = strictly(out)
    assert "\\udc" not in text
    if output_format in ("text", "github"):
        assert "std\\xff.py:5:10: LC201 " in text
    elif output_format == "sarif":
        document = json.loads(text)
        jsonschema.Draft4Validator(SCHEMA).validate(document)
        [result] = document["runs"][0]["results"]
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location["uri"] == "std%FF.py"
    elif output_format == "json":
        document = json.loads(text)
        every_string_encodes(document)
        assert [(f["path"], f["code"]) for f in document["findings"]] == [("std\\xff.py", "LC201")]


@pytest.mark.parametrize("stream_errors", ["surrogateescape", "strict"])
def test_the_console_script_prints_valid_utf8_for_undecodable_names(
    hostile: Path, stream_errors: str
) -> None:
    # What Python's standard output does with a lone surrogate depends on the locale: a C or
    # C.UTF-8 locale writes the raw byte (invalid UTF-8 in a CI log), a UTF-8 locale raises.
    path = shutil.which("leakcheck", path=os.path.dirname(sys.executable))
    assert path is not None, "the leakcheck console script is not installed beside python"
    env = {**os.environ, "PYTHONIOENCODING": f"utf-8:{stream_errors}"}
    done = subprocess.run(
        [path, "check", "--no-cache", "."], capture_output=True, cwd=hostile, env=env, check=False
    )
    assert done.returncode == 1, done.stderr
    text = strictly(done.stdout)
    assert f"{SHOWN_FILE}:5:12: LC102 " in text
    assert "good.py:5:10: LC201 " in text
    assert len(errors_of(text, SHOWN_BROKEN)) == 1
    strictly(done.stderr)


# An unreadable path named on the command line, checked as a user chmod 000 stops
# (`tests/unprivileged.py`).


@pytest.mark.parametrize("cache", CACHES)
def test_an_unreadable_or_missing_named_path_is_one_error_entry_and_the_rest_is_checked(
    unprivileged: tuple[Path, Runner], cache: tuple[str, ...]
) -> None:
    folder, run = unprivileged
    (folder / "good.py").write_text(SESSION)
    (folder / "secret.py").write_text(POOL)
    (folder / "secret.py").chmod(0o000)
    (folder / "locked").mkdir()
    (folder / "locked" / "inner.py").write_text(POOL)
    (folder / "locked").chmod(0o000)
    named = ("good.py", "secret.py", "locked", "missing.py")
    done = run("check", "--format", "json", *cache, *named, cwd=folder)
    assert done.returncode == 1, done.stderr  # as ruff's E902: not a usage error
    document = json.loads(done.stdout)
    found = [(f["path"], f["line"], f["code"]) for f in document["findings"]]
    assert found == [GOOD_FINDING]
    errors = sorted((e["path"], e["message"]) for e in document["errors"])
    assert errors == [
        ("locked", "cannot read: Permission denied"),
        ("missing.py", "cannot read: No such file or directory"),
        ("secret.py", "cannot read: Permission denied"),
    ]
    done = run("check", "--no-cache", "secret.py", "good.py", cwd=folder)  # text, either order
    assert done.returncode == 1, done.stderr
    assert "secret.py: error: cannot read: Permission denied" in done.stdout
    assert "good.py:5:10: LC201 " in done.stdout


# A full disk under -o / --write-baseline: the message names the file and why, exit 2.


def _full_disk(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("option", ["--output-file", "--write-baseline"])
def test_a_full_disk_under_an_output_file_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"good.py": SESSION, "pool.py": POOL})
    monkeypatch.setattr(leakcheck.cli, "replace_text", _full_disk)
    monkeypatch.setattr("leakcheck.project.baseline.replace_text", _full_disk)
    code, out, err = cli("check", "--no-cache", "--format", "json", option, "report.json", ".")
    assert code == 2
    assert out == b""
    assert strictly(err) == "leakcheck: error: cannot write report.json: No space left on device\n"
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize("option", ["--output-file", "--write-baseline"])
def test_dev_full_as_the_output_file_names_it(tmp_path: Path, option: str) -> None:
    # /dev/full: a device on which every write fails with ENOSPC, a real full disk.
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    write(tmp_path, {"good.py": SESSION})
    code, _, err = cli("check", "--no-cache", option, "/dev/full", str(tmp_path / "good.py"))
    assert code == 2
    assert strictly(err).splitlines()[-1] == (
        "leakcheck: error: cannot write /dev/full: No space left on device"
    )


def test_a_full_disk_under_the_output_file_of_stdin_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(leakcheck.cli, "replace_text", _full_disk)
    name = os.fsdecode(b"report\xff.json")
    code, _, err = cli(
        "check", "--no-cache", "-o", name, "--stdin-filename", "db.py", "-", stdin=POOL.encode()
    )
    assert code == 2
    assert strictly(err) == (
        "leakcheck: error: cannot write report\\xff.json: No space left on device\n"
    )
