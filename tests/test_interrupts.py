"""Ctrl-C and SIGTERM end a run with 130 and 143 and one line, wherever Python raised them.

Two ways CPython loses the exit status a program chose, each reproduced in a child process that
runs a command of leakcheck's own click group (`GuardedGroup`): an interrupt raised inside a
string `exec` (where dataclasses build their methods) makes `python -m` die of SIGINT even though
the exception was caught; an interrupt raised in a weakref callback is printed as "Exception
ignored" and then forgotten.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

COMMAND = """
import signal, sys, weakref

import click

from leakcheck.exits import GuardedGroup


@click.group(cls=GuardedGroup)
def main() -> None:
    pass


@main.command()
def exec_interrupted() -> None:
    exec("raise KeyboardInterrupt")  # as if Ctrl-C landed while a dataclass was being built


class Thing:
    pass


@main.command()
@click.argument("signum", type=int)
@click.argument("code", type=int)
def swallowed(signum: int, code: int) -> None:
    thing = Thing()
    watch = weakref.ref(thing, lambda ref: signal.raise_signal(signum))
    del thing  # the callback's exception is "ignored" by Python
    print("the command went on", watch() is None)
    sys.exit(code)


main()
"""


def _run_module(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "guarded_cli.py").write_text(textwrap.dedent(COMMAND))
    return subprocess.run(
        [sys.executable, "-m", "guarded_cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_interrupt_that_left_a_string_exec_exits_130_not_by_sigint(tmp_path: Path) -> None:
    done = _run_module(tmp_path, "exec-interrupted")
    assert (done.returncode, done.stderr) == (130, "leakcheck: interrupted\n")


@pytest.mark.parametrize("code", [0, 1])
@pytest.mark.parametrize(
    ("signum", "exit_code", "message"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_python_swallowed_still_ends_the_run(
    tmp_path: Path, signum: int, exit_code: int, message: str, code: int
) -> None:
    done = _run_module(tmp_path, "swallowed", str(int(signum)), str(code))
    assert done.stdout == "the command went on True\n"  # the signal did not stop it where it landed
    assert (done.returncode, done.stderr) == (exit_code, f"leakcheck: {message}\n")
