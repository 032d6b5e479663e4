"""Pieces of the command-line shell kept out of `cli.py`: checking standard input, the text
console's colour, and parsing `--per-file-ignores`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, NoReturn

import click
from rich.console import Console

from leakcheck.checks import EXAMPLE
from leakcheck.config.catalogue import CatalogueError
from leakcheck.config.settings import check_codes
from leakcheck.model import Report
from leakcheck.project.buffers import STDIN, check_buffer, fix_buffer
from leakcheck.project.runner import Checker, Options
from leakcheck.report.output import print_text
from leakcheck.shown import shown

__all__ = ["STDIN", "check_stdin", "parse_per_file_ignores", "text_console"]


def text_console(color: str, handle: IO[str] | None = None) -> Console:
    """The console for text output. `color`: "always" forces colour, "never" removes every
    style (bold included), "auto" colours a terminal unless `NO_COLOR` is set to a non-empty
    value (https://no-color.org: "regardless of its value", but an empty one counts as unset)."""
    if color == "always":
        return Console(highlight=False, soft_wrap=True, file=handle, force_terminal=True)
    if color == "never" or os.environ.get("NO_COLOR"):
        return Console(highlight=False, soft_wrap=True, file=handle, color_system=None)
    return Console(highlight=False, soft_wrap=True, file=handle)


def parse_per_file_ignores(values: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`GLOB:CODES` pairs (codes comma-separated) as (glob, codes); raises click.BadParameter
    for a value without `:` or with an unknown code."""
    pairs = []
    for value in values:
        glob, sep, codes = value.rpartition(":")
        if not sep or not glob or not codes.strip():
            raise click.BadParameter(
                f"{value!r} is not GLOB:CODES (e.g. 'tests/*:{EXAMPLE.code}')",
                param_hint="--per-file-ignores",
            )
        listed = tuple(c.strip() for c in codes.split(",") if c.strip())
        try:
            pairs.append((glob, check_codes(listed, "--per-file-ignores")))
        except CatalogueError as error:
            message = str(error).split(": ", 1)[1]
            raise click.BadParameter(message, param_hint="--per-file-ignores") from error
    return tuple(pairs)


def check_stdin(
    options: Options, filename: str | None, exit_zero: bool, emit: Callable[[Report], None]
) -> NoReturn:
    """`leakcheck check - [--stdin-filename PATH]`: check standard input as if it were the file
    at PATH, print as `check` does, and exit. With `--fix`, as ruff: the fixed source on
    standard output, what remains on standard error; with `--diff`, the diff. `emit` prints a
    report as the options ask. Exits (0, 1, or 2 for a bad configuration)."""
    source = sys.stdin.buffer.read()
    path = filename if filename is not None else STDIN
    try:
        checker = Checker(options=options)
        if options.fix:
            fixed = fix_buffer(checker, source, path, options.fix == "unsafe", options.diff)
            result = fixed.result
        else:
            result = check_buffer(checker, source, path)
    except CatalogueError as error:
        click.echo(f"leakcheck: error: {error}", err=True)
        sys.exit(2)
    report = Report([result])
    if options.diff:
        click.echo(shown(result.diff), nl=False)  # its header names the path
        failed = bool(result.diff or result.errors)
    elif options.fix:
        sys.stdout.buffer.write(fixed.source)
        sys.stdout.flush()
        # ruff prints what --fix left on standard error when the source goes to standard output
        if result.findings or result.errors or result.not_fixed:
            print_text(report, text_console("never", sys.stderr), quiet=True)
        failed = bool(result.findings or result.errors)
    else:
        emit(report)
        failed = bool(result.findings or result.errors)
    if any(e.internal for e in result.errors):
        sys.exit(2)
    sys.exit(1 if failed and not exit_zero else 0)
