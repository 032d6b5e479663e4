"""The parser without per-node validation gives libcst's own tree, and leaves validation on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest

from leakcheck.analysis import parsing
from leakcheck.analysis.parsing import parse_module

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "fixtures").rglob("*.py"), *(ROOT / "leakcheck").rglob("*.py")], key=str)


def test_the_same_tree_as_libcst_on_every_fixture_and_on_leakcheck() -> None:
    assert len(SOURCES) > 100
    for path in SOURCES:
        source = path.read_bytes()
        try:
            expected = cst.parse_module(source)
        except Exception:
            continue  # a fixture that is not meant to parse
        ours = parse_module(source)
        assert ours.deep_equals(expected), path
        assert ours.bytes == source, path


def test_validation_is_skipped_while_parsing_and_on_again_after() -> None:
    assert parsing._SKIPPABLE  # the installed libcst's __post_init__ only validates
    calls: list[str] = []
    original = cst.Name._validate

    def counting(self: cst.Name) -> None:
        calls.append(self.value)
        original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cst.Name, "_validate", counting)
        parse_module("conn = pool.getconn()\n")
        assert calls == []
        with pytest.raises(cst.CSTValidationError):
            cst.Name("not a name")  # nodes built by hand (the fixes) are still checked
    assert calls == ["not a name"]


def test_validation_is_back_when_the_parse_fails() -> None:
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def (:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("1x")


def test_a_valid_program_libcst_validation_refuses_parses() -> None:
    # Instagram/LibCST#1061: the validation of `IfExp` raises TypeError on this valid program.
    source = "() if 0 else(lambda:())\n"
    compile(source, "<test>", "exec")
    assert parse_module(source).code == source


def test_a_post_init_that_does_more_than_validate_is_kept() -> None:
    def validates(self: object) -> None:
        self._validate()  # type: ignore[attr-defined]

    def does_more(self: object) -> None:
        self._validate()  # type: ignore[attr-defined]
        self._cache = {}  # type: ignore[attr-defined]

    assert parsing._only_validates(validates)
    assert not parsing._only_validates(does_more)


def test_memory_the_native_parser_freed_is_given_back(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("malloc_trim is glibc's")
    # A child process, so that nothing else this test run allocated is measured.
    script = (
        "import sys\n"
        "from leakcheck.analysis.parsing import parse_module\n"
        "def resident():\n"
        "    with open('/proc/self/statm') as handle:\n"
        "        return int(handle.read().split()[1])\n"
        "source = b''.join(b'def f%d(a, b):\\n    return g(a, [b, %d], c=a.b)\\n' % (i, i)"
        " for i in range(5000))\n"
        "start = resident()\n"
        "parse_module(source)\n"
        "print(resident() - start)\n"
    )
    grown = int(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
    )
    pages_per_mb = 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")
    assert grown < 60 * pages_per_mb  # measured: 14 MB; without malloc_trim, 224 MB
