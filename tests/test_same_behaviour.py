"""scripts/same_behaviour.py's comparison: what it calls the same, and what it reports as different.

The script itself runs leakcheck many times (minutes); these tests only feed its pure functions
small fake outputs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "same_behaviour.py"


@pytest.fixture(scope="module")
def sb() -> ModuleType:
    spec = importlib.util.spec_from_file_location("same_behaviour", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["same_behaviour"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


REPORT = (
    b'{\n  "version": "0.2.0",\n  "findings": [],\n'
    b'  "summary": {"files": 3, "findings": 0, "errors": 1}\n}\n'
)


def run(sb: ModuleType, stdout: bytes, stderr: bytes = b"", code: int = 0) -> object:
    return sb.Run(stdout, stderr, code, 0.1)


def test_identical_runs_are_the_same_whatever_their_timing(sb: ModuleType) -> None:
    base = sb.Run(REPORT, b"Would fix 1 leak\n", 1, 0.5)
    head = sb.Run(REPORT, b"Would fix 1 leak\n", 1, 9.0)
    assert sb.compare("fixtures", "json", base, head, ("base", "head"), 40) == []


def test_a_changed_line_is_reported_with_its_diff(sb: ModuleType) -> None:
    base = run(sb, b"a\nleak on line 3\nz\n")
    head = run(sb, b"a\nleak on line 4\nz\n")
    [difference] = sb.compare("p", "diff", base, head, ("base", "head"), 40)
    assert (difference.path, difference.mode, difference.stream) == ("p", "diff", "stdout")
    assert "-leak on line 3" in difference.lines
    assert "+leak on line 4" in difference.lines


def test_stderr_and_the_exit_code_are_compared_too(sb: ModuleType) -> None:
    base = run(sb, REPORT, b"Would fix 2 leaks\n", 1)
    head = run(sb, REPORT, b"Would fix 3 leaks\n", 0)
    streams = [d.stream for d in sb.compare("p", "diff", base, head, ("base", "head"), 40)]
    assert streams == ["stderr", "exit code"]


def test_bytes_that_differ_in_no_line_still_differ(sb: ModuleType) -> None:
    [difference] = sb.compare("p", "json", run(sb, b"x\n"), run(sb, b"x\r\n"), ("base", "head"), 40)
    assert difference.lines[0].startswith("bytes differ")


def test_a_long_difference_is_capped(sb: ModuleType) -> None:
    base = run(sb, b"".join(b"%d\n" % i for i in range(100)))
    head = run(sb, b"".join(b"%d!\n" % i for i in range(100)))
    [difference] = sb.compare("p", "json", base, head, ("base", "head"), 10)
    assert len(difference.lines) == 11
    assert difference.lines[-1].endswith("more lines")


def test_undecodable_output_is_shown_not_fatal(sb: ModuleType) -> None:
    [difference] = sb.compare(
        "p", "diff", run(sb, b"--- caf\xe9.py\n"), run(sb, b"--- caf\\xe9.py\n"), ("b", "h"), 40
    )
    assert "-<not UTF-8> b'--- caf\\xe9.py'" in difference.lines
    assert "+--- caf\\xe9.py" in difference.lines


def test_only_the_version_field_is_normalised(sb: ModuleType) -> None:
    base = sb.normalise_version(REPORT, "0.2.0")
    head = sb.normalise_version(REPORT.replace(b"0.2.0", b"0.3.0"), "0.3.0")
    assert base == head
    assert b'"version": "<version>"' in base
    # Only the first (top-level) field: the same bytes later in the document are kept.
    text = REPORT.replace(b'"findings": []', b'"findings": [{"version": "0.2.0"}]')
    assert b'[{"version": "0.2.0"}]' in sb.normalise_version(text, "0.2.0")


def test_counts_come_from_the_json_summary(sb: ModuleType) -> None:
    assert sb.counts(REPORT) == ("3", "0", "1")
    assert sb.counts(b"Traceback (most recent call last):\n") == ("?", "?", "?")


def test_the_table_says_which_output_differs(sb: ModuleType) -> None:
    row = sb.Row(
        "examples", "6", "7", "0", {"json": True, "diff": False, "stderr": True}, (1.0, 2.0)
    )
    header, _, line = sb.table([row])
    assert header.split()[:7] == ["path", "files", "findings", "errors", "json", "diff", "stderr"]
    assert line.split() == ["examples", "6", "7", "0", "same", "DIFFERS", "same", "1.0", "2.0"]
