"""The parser without per-node validation gives libcst's own tree, and leaves validation on."""

from __future__ import annotations

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
