"""The `leakcheck` command line: a thin shell over `leakcheck.runner`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from leakcheck import __version__
from leakcheck.catalogue import CatalogueError
from leakcheck.output import print_text, to_json
from leakcheck.runner import run

EPILOG = """\b
Examples:
  leakcheck check                       every Python file under the current directory
  leakcheck check app/ scripts/run.py   a package and one script
  leakcheck check --format json .       one JSON document for CI scripts

\b
Exit codes: 0 no findings; 1 findings, or files that could not be analysed;
2 usage error or internal failure.
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="leakcheck")
def main() -> None:
    """Find database connections that are not given back on every path."""


@main.command(epilog=EPILOG, short_help="Check files and directories for leaks.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=True, file_okay=True))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Use this pyproject.toml or leakcheck.toml instead of searching for one.",
)
def check(paths: tuple[str, ...], output_format: str, config_file: str | None) -> None:
    """Check PATHS (files or directories; default: the current directory) for leaks."""
    try:
        report = run(list(paths) or ["."], Path(config_file) if config_file else None)
    except CatalogueError as error:
        click.echo(f"leakcheck: error: {error}", err=True)
        sys.exit(2)
    if output_format == "json":
        click.echo(to_json(report))
    else:
        print_text(report, Console(highlight=False, soft_wrap=True))
    if any(e.internal for e in report.errors):
        sys.exit(2)
    sys.exit(1 if report.findings or report.errors else 0)
