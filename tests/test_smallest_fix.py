"""The smallest correct diff first, within the project's line length (issue 29)."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from leakcheck.config import line_length as lengths
from leakcheck.fix.recipes import Plan
from leakcheck.fix.smallest import size, smallest_first
from leakcheck.model import Applicability

SOURCE = "def work(pool):\n    conn = pool.getconn()\n    use(conn)\n    pool.putconn(conn)\n"


def _plan(module: cst.Module, new_source: str, title: str, safe: bool = True) -> Plan:
    old = module.body[0]
    new = cst.parse_module(new_source).body[0]
    applicability = Applicability.SAFE if safe else Applicability.UNSAFE
    return Plan(old, new, title, applicability, "" if safe else "why")


MODULE = cst.parse_module(SOURCE)
# The rule's first form re-indents the range; the second changes one line.
WIDE = (
    "def work(pool):\n    conn = pool.getconn()\n    try:\n        use(conn)\n"
    "    finally:\n        pool.putconn(conn)\n"
)
NARROW = "def work(pool):\n    conn = pool.getconn()\n    use(conn)\n    pool.putconn(conn)  # ok\n"
LONG = NARROW.replace("# ok", "# " + "x" * 100)


def titles(plans: list[Plan]) -> list[str]:
    return [p.title for p in plans]


def test_the_diff_is_counted_in_changed_lines_and_measured_against_the_length() -> None:
    wide = size(MODULE, _plan(MODULE, WIDE, "wide"), 88)
    assert (wide.diff_lines, wide.fits) == (6, True)  # -2 lines re-indented, +4 lines
    narrow = size(MODULE, _plan(MODULE, NARROW, "narrow"), 88)
    assert (narrow.diff_lines, narrow.fits) == (2, True)
    assert not size(MODULE, _plan(MODULE, LONG, "long"), 88).fits
    assert size(MODULE, _plan(MODULE, LONG, "long"), 200).fits


def test_fewest_changed_lines_first_within_the_length() -> None:
    plans = [_plan(MODULE, WIDE, "wide"), _plan(MODULE, NARROW, "narrow")]
    assert titles(smallest_first(plans, MODULE, 88)) == ["narrow", "wide"]


def test_a_fix_past_the_length_goes_after_one_within_it() -> None:
    plans = [_plan(MODULE, LONG, "long"), _plan(MODULE, WIDE, "wide")]
    assert titles(smallest_first(plans, MODULE, 88)) == ["wide", "long"]
    # Every candidate past the length: the rule's order stands, even against a smaller diff.
    plans = [
        _plan(MODULE, WIDE.replace("use(conn)", "use(conn, " + "y" * 90 + ")"), "w"),
        _plan(MODULE, LONG, "long"),
    ]
    assert titles(smallest_first(plans, MODULE, 88)) == ["w", "long"]


def test_safety_keeps_the_rules_order() -> None:
    # An unsafe fix is never put before a safe one, however small.
    plans = [_plan(MODULE, WIDE, "wide"), _plan(MODULE, NARROW, "narrow", safe=False)]
    assert titles(smallest_first(plans, MODULE, 88)) == ["wide", "narrow"]
    # Nor does a safe one jump an unsafe first choice (a configured helper's form).
    plans = [_plan(MODULE, WIDE, "wide", safe=False), _plan(MODULE, NARROW, "narrow")]
    assert titles(smallest_first(plans, MODULE, 88)) == ["wide", "narrow"]
    # Within a run of equally safe fixes, the smaller goes first.
    plans = [
        _plan(MODULE, WIDE, "wide", safe=False),
        _plan(MODULE, NARROW, "narrow", safe=False),
        _plan(MODULE, WIDE, "safe"),
    ]
    assert titles(smallest_first(plans, MODULE, 88)) == ["narrow", "wide", "safe"]


def test_equal_diffs_keep_the_rules_order() -> None:
    other = NARROW.replace("# ok", "# fine")
    plans = [_plan(MODULE, other, "first"), _plan(MODULE, NARROW, "second")]
    assert titles(smallest_first(plans, MODULE, 88)) == ["first", "second"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, 88),
        ({"pyproject.toml": "[tool.black]\nline-length = 79\n"}, 79),
        (
            {"pyproject.toml": "[tool.ruff]\nline-length = 100\n[tool.black]\nline-length = 79\n"},
            100,
        ),
        (
            {
                "ruff.toml": "line-length = 120\n",
                "pyproject.toml": "[tool.ruff]\nline-length = 100\n",
            },
            120,
        ),
        ({".ruff.toml": "line-length = 99\n", "ruff.toml": "line-length = 120\n"}, 99),
        ({"pyproject.toml": "[tool.ruff]\nline-length = 'long'\n"}, 88),
        ({"pyproject.toml": "not toml ["}, 88),
    ],
)
def test_the_line_length_is_read_from_ruff_then_black(
    tmp_path: Path, files: dict[str, str], expected: int
) -> None:
    lengths.forget()
    (tmp_path / ".git").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "pkg").mkdir()
    assert lengths.line_length(tmp_path / "pkg" / "mod.py") == expected


def test_the_width_counts_the_blocks_around_the_rewritten_one() -> None:
    nested = cst.parse_module(
        "class Jobs:\n" + "".join("    " + line + "\n" for line in SOURCE.splitlines())
    )
    klass = nested.body[0]
    assert isinstance(klass, cst.ClassDef) and isinstance(klass.body, cst.IndentedBlock)
    method = klass.body.body[0]
    comment = "# " + "z" * 70
    new = cst.parse_module(NARROW.replace("# ok", comment)).body[0]
    plan = Plan(method, new, "narrow", Applicability.SAFE)
    # `        pool.putconn(conn)  # zzz...`: 8 columns of indentation inside the class.
    width = len("        pool.putconn(conn)  " + comment)
    assert size(nested, plan, width).fits
    assert not size(nested, plan, width - 1).fits
