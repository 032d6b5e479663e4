"""Pathological input costs one error entry, never the run (issue 24, item 5 and smaller items).

Each attack sits next to a file with a real leak, and the CLI runs in a subprocess: a crash of
libcst's native parser there is an exit status here (139 or -11), not a dead test run. The run
must exit 1, report one error entry for the bad file naming the reason, and keep the good file's
finding: with `--jobs 1` (in-process parsing, the default on a one-CPU machine), with workers,
with standard input, and through `check_buffer` (the language server's path).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import timeit
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import POOL, write

from leakcheck.analysis.depth import LIMIT, too_deep
from leakcheck.analysis.gate import cpython_parse
from leakcheck.config.catalogue import builtin_kinds
from leakcheck.engine import check_source

# 8,000 `and` operands: valid Python (one BoolOp for CPython), 8,000 nested nodes for libcst,
# whose parser crashes at 7,075 on an 8 MB stack. It names an acquisition so that it is parsed
# even when found by walking (the prefilter skips a file without one).
AND_CHAIN = "import psycopg2\ny = " + " and ".join(["psycopg2.connect()"] * 8000) + "\n"
AND_REASON = (
    "a chain of 8,000 `and` operands on line 2 is longer than leakcheck's parser (libcst) can "
    f"read (limit {LIMIT:,}); skipped"
)


def run_cli(*args: str, cwd: Path, stdin: str | None = None, **env: str) -> Any:
    """`leakcheck check --no-cache --format json ARGS` in a subprocess: (exit code, document)."""
    environment = {k: v for k, v in os.environ.items() if k != "LEAKCHECK_CACHE_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "leakcheck", "check", "--no-cache", "--format", "json", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**environment, **env},
    )
    assert done.returncode in (0, 1), (done.returncode, done.stderr[-2000:])
    return done.returncode, json.loads(done.stdout)


def findings(document: Any) -> list[tuple[str, str]]:
    return [(f["path"], f["code"]) for f in document["findings"]]


def errors(document: Any) -> list[tuple[str, int | None, str]]:
    return [(e["path"], e["line"], e["message"]) for e in document["errors"]]


# --- Item 5: what overflows libcst's native parser is refused before libcst sees it -------------


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_chain_of_8000_and_operands_is_one_error_entry_not_a_segfault(
    tmp_path: Path, jobs: str
) -> None:
    write(tmp_path, {"deep.py": AND_CHAIN, "good.py": POOL})
    code, document = run_cli("-j", jobs, ".", cwd=tmp_path)
    assert code == 1  # not 139: before the screen, libcst took the whole process down
    assert errors(document) == [("deep.py", 2, AND_REASON)]
    assert findings(document) == [("good.py", "LC102")]


def test_a_chain_of_8000_and_operands_on_standard_input_is_one_error_entry(
    tmp_path: Path,
) -> None:
    code, document = run_cli("-", "--stdin-filename", "deep.py", cwd=tmp_path, stdin=AND_CHAIN)
    assert code == 1
    assert errors(document) == [("deep.py", 2, AND_REASON)]


def test_check_buffer_refuses_the_chain_without_crashing_its_process(tmp_path: Path) -> None:
    # The language server's path, in-process: a crash would kill the process (here, a child).
    (tmp_path / "deep.py").write_text(AND_CHAIN)
    probe = (
        "import sys\nfrom pathlib import Path\nfrom leakcheck.project.api import check_buffer\n"
        "path = Path(sys.argv[1])\n"
        "result = check_buffer(path.read_bytes(), path)\n"
        "print(repr([(e.line, e.message) for e in result.errors]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "deep.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert ast.literal_eval(done.stdout) == [(2, AND_REASON)]


def _chain(kind: str, n: int) -> str:
    return {
        "or": "y = " + " or ".join(["a"] * n),
        "+": "y = " + " + ".join(["a"] * n),
        "attribute": "y = a" + ".b" * n,
        "call": "y = f" + "()" * n,
        "subscript": "y = a" + "[0]" * n,
        "unary": "y = " + "-" * n + "a",
        "lambda": "y = " + "lambda: " * n + "a",
        "conditional": "y = " + "a if a else " * n + "a",
        "elif": "if a:\n    pass\n" + "elif a:\n    pass\n" * n,
        "strings": "y = (" + "\n".join(["'a'"] * n) + ")",
        "comprehension": "y = [a " + "for a in a " * n + "]",
    }[kind] + "\n"


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("or", "a chain of 1,500 `or` operands on line 1"),
        ("+", "a chain of 1,500 `+` operands on line 1"),
        ("attribute", "a chain of 1,500 attribute accesses on line 1"),
        ("call", "a chain of 1,500 calls on line 1"),
        ("subscript", "a chain of 1,500 subscripts on line 1"),
        ("unary", "a chain of 1,500 unary operators on line 1"),
        ("lambda", "a chain of 1,500 nested lambdas on line 1"),
        ("conditional", "a chain of 1,500 conditional expressions on line 1"),
        ("elif", "a chain of 1,501 `if`/`elif` branches on line 1"),
        ("strings", "a chain of 1,500 adjacent string literals on line 1"),
        ("comprehension", "a chain of 1,500 `for` clauses in one comprehension on line 1"),
    ],
)
def test_each_kind_of_chain_past_the_limit_is_named_with_its_length(kind: str, words: str) -> None:
    # 1,500 links: past the limit (1,000), far below where libcst crashes (5,900 attribute
    # accesses, 7,000 `and`s), so this runs in-process: CPython 3.11 accepts all of them.
    source = _chain(kind, 1500).encode()
    result = check_source(source, "deep.py", builtin_kinds())
    limit = f"(limit {LIMIT:,})"  # 1,000 on an 8 MB stack
    assert [(e.line, e.message) for e in result.errors] == [
        (1, f"{words} is longer than leakcheck's parser (libcst) can read {limit}; skipped")
    ]


@pytest.mark.parametrize("kind", ["or", "+", "attribute", "elif", "strings", "comprehension"])
def test_a_chain_under_the_limit_is_parsed(kind: str) -> None:
    source = _chain(kind, 400).encode()
    assert not isinstance(cpython_parse(source), type(cpython_parse(b"(\n")))  # not a Rejection
    assert too_deep(ast.parse(source), source) is None


def test_deep_code_in_a_big_ordinary_file_is_found_however_it_is_placed() -> None:
    # The screen skips what is too short to hold the limit: a deep chain inside a function
    # inside a class, after much ordinary code, is still found, at its line.
    ordinary = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(500))
    deep = "class C:\n    def m(self):\n        return " + " or ".join(["self"] * 1200) + "\n"
    source = (ordinary + deep).encode()
    found = too_deep(ast.parse(source), source)
    assert found is not None
    assert found.line == ordinary.count("\n") + 3
    assert "a chain of 1,200 `or` operands" in found.reason


def test_the_screen_costs_little_next_to_cpythons_parse() -> None:
    # Measured on the standard library's `typing.py` (114 KB): about 0.8 ms against 13 ms for
    # CPython's parse and 300 ms for libcst's (an idle machine). Held loosely here (shared CI).
    import typing

    source = Path(typing.__file__).read_bytes()
    tree = ast.parse(source)
    screen = min(timeit.repeat(lambda: too_deep(tree, source), number=5, repeat=5)) / 5
    parse = min(timeit.repeat(lambda: ast.parse(source), number=1, repeat=5))
    assert screen < parse / 3


# --- Smaller items ------------------------------------------------------------------------------

# 100,000 ints in one flat list (300 KB): nesting nothing, but its trees need hundreds of MB.
FLAT_LIST = "y = [" + ", ".join(["1"] * 100_000) + "]\n"


def test_a_flat_list_over_the_memory_limit_is_not_called_too_deeply_nested(
    tmp_path: Path,
) -> None:
    # Under 250 MB, CPython's parser raises MemoryError on it; before, the gate said "too deeply
    # nested for Python's parser", which is how CPython's stack overflow shows too.
    write(tmp_path, {"flat.py": FLAT_LIST, "good.py": POOL})
    code, document = run_cli(
        "-j", "2", "flat.py", "good.py", cwd=tmp_path, LEAKCHECK_WORKER_MEMORY="250"
    )
    assert code == 1
    [(path, line, message)] = errors(document)
    assert path == "flat.py" and line is None
    assert "too deeply nested" not in message
    assert "memory" in message and "250 MB" in message
    assert findings(document) == [("good.py", "LC102")]


def test_a_flat_list_is_analysed_when_memory_allows(tmp_path: Path) -> None:
    write(tmp_path, {"flat.py": "import psycopg2\nc = psycopg2.connect()\n" + FLAT_LIST})
    code, document = run_cli("-j", "1", "flat.py", cwd=tmp_path)
    assert code == 1
    assert errors(document) == []
    assert findings(document) == [("flat.py", "LC201")]


def test_a_worker_killed_by_its_memory_limit_is_not_reported_as_a_crash(tmp_path: Path) -> None:
    # With 350 MB, CPython's parser fits and libcst's (Rust) does not: it aborts the process,
    # as a crash would; the worker's peak memory tells the two apart.
    write(tmp_path, {"flat.py": FLAT_LIST, "good.py": POOL})
    code, document = run_cli(
        "-j", "2", "flat.py", "good.py", cwd=tmp_path, LEAKCHECK_WORKER_MEMORY="350"
    )
    assert code == 1
    assert errors(document) == [
        (
            "flat.py",
            None,
            "not analysed: it needs more than the memory limit (350 MB) set by "
            "LEAKCHECK_WORKER_MEMORY",
        )
    ]
    assert findings(document) == [("good.py", "LC102")]


def test_a_worker_that_really_crashes_is_still_reported_as_crashed(tmp_path: Path) -> None:
    crash = "# leakcheck-test: crash\nimport psycopg2\nconn = psycopg2.connect()\n"
    write(tmp_path, {"bad.py": crash, "good.py": POOL})
    code, document = run_cli(
        "-j", "2", "bad.py", "good.py", cwd=tmp_path, LEAKCHECK_TEST_FAULTS="1"
    )
    assert code == 1
    [(path, _line, message)] = errors(document)
    assert path == "bad.py"
    assert message.startswith("not analysed: the worker analysing it crashed")
    assert findings(document) == [("good.py", "LC102")]


def test_a_notebook_named_on_the_command_line_is_not_parsed_as_python(tmp_path: Path) -> None:
    notebook = {"cells": [{"cell_type": "code", "source": ["conn = pool.getconn()\n"]}]}
    write(tmp_path, {"analysis.ipynb": json.dumps(notebook), "good.py": POOL})
    code, document = run_cli("analysis.ipynb", "good.py", cwd=tmp_path)
    assert code == 1
    assert errors(document) == [
        ("analysis.ipynb", None, "not analysed: Jupyter notebooks are not supported")
    ]
    assert findings(document) == [("good.py", "LC102")]
    # Walking lists `*.py` files only: a notebook in a folder is not an error.
    code, document = run_cli(".", cwd=tmp_path)
    assert errors(document) == []
    assert findings(document) == [("good.py", "LC102")]
