"""The `leakcheck` command line: a thin shell over `leakcheck.project.runner`."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

import click

from leakcheck import __version__
from leakcheck.checks import (
    EXAMPLE,
    pool_connection_not_returned_on_exception,
    rules,
    unused_suppression,
)
from leakcheck.config.catalogue import CatalogueError
from leakcheck.config.overrides import SettingsOverrides
from leakcheck.config.selection import Overrides
from leakcheck.config.settings import check_codes
from leakcheck.config.show import describe
from leakcheck.exits import GuardedGroup
from leakcheck.fix.writer import replace_text
from leakcheck.model import Report, Severity
from leakcheck.project import baseline
from leakcheck.project.addnoqa import add_noqa
from leakcheck.project.runner import Checker, Options, default_jobs, run
from leakcheck.report import formats
from leakcheck.report.destinations import prepare_file, writing
from leakcheck.report.output import (
    fixes_text,
    handoffs_text,
    print_text,
    statistics_json,
    statistics_text,
    to_json,
)
from leakcheck.report.ruledocs import find, render, rule_json
from leakcheck.shell import STDIN, check_stdin, parse_per_file_ignores, text_console
from leakcheck.shown import printable, shown

if TYPE_CHECKING:
    from rich.progress import Progress

# The rule the examples show (`leakcheck rule CODE`).
SHOWN = pool_connection_not_returned_on_exception.RULE.code
EPILOG = f"""\b
Examples:
  leakcheck check                       every Python file under the current directory
  leakcheck check app/ scripts/run.py   a package and one script
  leakcheck check --output-format json .   one JSON document for CI scripts
  leakcheck check --output-format sarif --output-file leakcheck.sarif .
  leakcheck check - --stdin-filename app/db.py < app/db.py   a buffer, as if at that path
  leakcheck check --write-baseline .leakcheck-baseline.json .
  leakcheck check --baseline .leakcheck-baseline.json .
  leakcheck rule {SHOWN}                  what a rule flags, and what to write instead
  leakcheck server                      the language server, for editors

\b
Exit codes: 0 no findings; 1 findings, or paths that could not be checked;
2 usage error, bad configuration or baseline, or internal failure.
"""
# A progress display is worth its flicker only on longer runs.
PROGRESS_MIN_FILES = 20


@click.group(
    cls=GuardedGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, "-V", "--version", prog_name="leakcheck")
def main() -> None:
    """Find database connections that are not given back on every path."""


def _codes(value: str | None, option: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    codes = tuple(c.strip() for c in value.split(",") if c.strip())
    if not codes and option == "--select":  # never a run that silently checks nothing
        raise click.BadParameter("no rule code given (every rule: ALL)", param_hint=option)
    try:
        return check_codes(codes, option)
    except CatalogueError as error:
        raise click.BadParameter(str(error).split(": ", 1)[1], param_hint=option) from error


TEXT_FORMATS = formats.TEXT  # for people: a summary line, progress, `--show-fixes`


def progress_wanted(output_format: str, quiet: bool, stream: IO[str], files: int) -> bool:
    """A progress display on stderr: text output, not quiet, a terminal, and many files."""
    return (
        output_format in TEXT_FORMATS
        and not quiet
        and stream.isatty()
        and files >= PROGRESS_MIN_FILES
        and not os.environ.get("CI")
    )


@contextmanager
def progress_display(output_format: str, quiet: bool) -> Iterator[Callable[[list[str]], None]]:
    bar: Progress | None = None
    task = None

    def advance(files: list[str]) -> None:
        nonlocal bar, task
        if files:
            if progress_wanted(output_format, quiet, sys.stderr, len(files)):
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                bar = Progress(
                    TextColumn("Checking"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("files"),
                    console=Console(file=sys.stderr),
                    transient=True,
                )
                bar.start()
                task = bar.add_task("check", total=len(files))
        elif bar is not None and task is not None:
            bar.advance(task)

    try:
        yield advance
    finally:
        if bar is not None:
            bar.stop()


@main.command(epilog=EPILOG, short_help="Check files and directories for leaks.")
@click.argument("paths", nargs=-1, type=click.Path(readable=False))
@click.option(
    "--output-format",
    "--format",
    "output_format",
    type=click.Choice(formats.NAMES),
    default="text",
    show_default=True,
    help="Output format: text for people (concise: one line per finding), json for scripts, "
    "sarif for code scanning, github for workflow annotations, gitlab for GitLab Code Quality, "
    "junit for test reports.",
)
@click.option(
    "-o",
    "--output-file",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the output to this file instead of standard output.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Use this pyproject.toml or leakcheck.toml instead of searching for one.",
)
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--select", help="Comma-separated codes or prefixes to check (replaces `select`).")
@click.option("--extend-select", help="Codes or prefixes to check besides the selected ones.")
@click.option("--ignore", help="Comma-separated codes or prefixes not to report.")
@click.option("--extend-ignore", help="Codes or prefixes not to report, besides `--ignore`.")
@click.option(
    "--per-file-ignores",
    "per_file_ignores",
    multiple=True,
    metavar="GLOB:CODES",
    help="Codes not to report in files matching GLOB (relative to the working directory), "
    f"e.g. 'tests/*:{EXAMPLE.code},LC2'. Repeatable; added to the configuration's.",
)
@click.option(
    "--respect-gitignore/--no-respect-gitignore",
    default=None,
    help="Skip files that .gitignore and .ignore files ignore (default: yes, or the "
    "configuration's `respect-gitignore`).",
)
@click.option(
    "--stdin-filename",
    metavar="PATH",
    help="Check standard input (PATHS `-` or none) as if it were the file at PATH: its "
    "configuration, per-file-ignores and project. With --fix, print the fixed source.",
)
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour the text output: auto means on a terminal, unless NO_COLOR is set.",
)
@click.option(
    "--force-exclude",
    is_flag=True,
    help="Apply `exclude` to files named on the command line too (for pre-commit).",
)
@click.option(
    "--report-unused-noqa",
    is_flag=True,
    help="Report `# noqa` / `# leakcheck: ignore` comments that suppress nothing "
    f"({unused_suppression.RULE.code}).",
)
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(dir_okay=False),
    help="Report only findings this baseline file does not record.",
)
@click.option(
    "--write-baseline",
    type=click.Path(dir_okay=False),
    help="Record the current findings in this file, then exit 0.",
)
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule.")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only: no summary line.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option(
    "--fix-only",
    is_flag=True,
    help="Apply fixes as --fix does, but report nothing left: print how many were applied "
    "(exit 0 unless a file could not be analysed or written).",
)
@click.option(
    "--fixable",
    metavar="CODES",
    help="Codes or prefixes whose fixes --fix may apply (replaces `fixable`; default ALL).",
)
@click.option(
    "--unfixable",
    metavar="CODES",
    help="Codes or prefixes whose fixes are never applied nor offered (replaces `unfixable`).",
)
@click.option(
    "--add-noqa",
    is_flag=True,
    help="Add `# noqa: CODES` to each line with a finding (merged into a `# noqa` already "
    "there), then print how many were added.",
)
@click.option(
    "--preview/--no-preview",
    default=None,
    help="Enable rules and fixes marked preview (replaces `preview`). None is marked yet: "
    "this changes nothing until one is.",
)
# `--min-severity`, not bandit's `--severity-level`: the name says the level is a floor (this level
# and above are reported), and it is the `min-severity` key's own name, as `--fixable` is
# `fixable`'s.
@click.option(
    "--min-severity",
    type=click.Choice([s.value for s in Severity]),
    default=None,
    help="Report only findings that weigh at least this much (replaces `min-severity`; "
    "default low: every finding). high: pooled and server connections; medium: local database "
    "files; module-level code is one step lower. Findings left out do not fail the run.",
)
@click.option(
    "--exclude",
    metavar="GLOBS",
    help="Comma-separated globs of files and folders to skip, relative to the working "
    "directory (replaces `exclude`).",
)
@click.option(
    "--extend-exclude",
    metavar="GLOBS",
    help="Globs to skip besides `exclude` (added to `extend-exclude`).",
)
@click.option(
    "--show-files", is_flag=True, help="List the files that would be checked, then exit 0."
)
@click.option(
    "--show-settings",
    is_flag=True,
    help="Print the settings in force for the first file that would be checked, then exit 0.",
)
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --diff, also apply unsafe fixes.")
@click.option(
    "--diff", is_flag=True, help="Print the diff --fix would apply; write nothing (exit 1 if any)."
)
@click.option("--show-fixes", is_flag=True, help="With --fix, list the fixes applied.")
@click.option(
    "--show-handoffs",
    is_flag=True,
    help="After the findings, list the acquisitions taken as handed over to code leakcheck "
    "does not see (their functions were not judged).",
)
@click.option(
    "--exit-non-zero-on-fix",
    is_flag=True,
    help="With --fix, exit 1 when something was fixed, even if no leak remains.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Worker processes (default: the number of CPUs; 1 checks in this process).",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    envvar="LEAKCHECK_CACHE_DIR",
    help="Where the cache lives (default: .leakcheck_cache at the project root).",
)
def check(
    paths: tuple[str, ...],
    output_format: str,
    output_file: str | None,
    config_file: str | None,
    isolated: bool,
    select: str | None,
    extend_select: str | None,
    ignore: str | None,
    extend_ignore: str | None,
    per_file_ignores: tuple[str, ...],
    respect_gitignore: bool | None,
    stdin_filename: str | None,
    color: str,
    force_exclude: bool,
    report_unused_noqa: bool,
    baseline_file: str | None,
    write_baseline: str | None,
    statistics: bool,
    quiet: bool,
    exit_zero: bool,
    fix: bool,
    fix_only: bool,
    fixable: str | None,
    unfixable: str | None,
    add_noqa: bool,
    preview: bool | None,
    min_severity: str | None,
    exclude: str | None,
    extend_exclude: str | None,
    show_files: bool,
    show_settings: bool,
    unsafe_fixes: bool,
    diff: bool,
    show_fixes: bool,
    show_handoffs: bool,
    exit_non_zero_on_fix: bool,
    jobs: int | None,
    no_cache: bool,
    cache_dir: str | None,
) -> None:
    """Check PATHS (files or directories; default: the current directory) for leaks."""
    if config_file and isolated:
        raise click.UsageError("--config and --isolated exclude each other")
    if statistics and output_format not in (*TEXT_FORMATS, "json"):
        raise click.UsageError("--statistics prints text or json")
    # What `check` does instead of reporting (`--fix-only` still fixes); one at a time.
    given = {
        "--fix-only": fix_only,
        "--add-noqa": add_noqa,
        "--show-files": show_files,
        "--show-settings": show_settings,
        "--diff": diff and not fix_only,
        "--write-baseline": write_baseline is not None,
    }
    modes = [mode for mode, on in given.items() if on]
    other = next((mode for mode in modes if mode in OTHER_MODES), None)
    if fix and other:
        raise click.UsageError(f"--fix and {other} exclude each other")
    if len(modes) > 1:
        raise click.UsageError(f"{modes[0]} and {modes[1]} exclude each other")
    fix = fix or fix_only
    if baseline_file and not Path(baseline_file).is_file():
        raise click.BadParameter(f"{baseline_file!r} does not exist", param_hint="--baseline")
    # Before anything is written (with --fix, before any file is rewritten):
    output = prepare_file(output_file, "--output-file") if output_file else None
    baseline_out = prepare_file(write_baseline, "--write-baseline") if write_baseline else None
    options = Options(
        config_file=Path(config_file) if config_file else None,
        isolated=isolated,
        overrides=Overrides(
            select=_codes(select, "--select"),
            extend_select=_codes(extend_select, "--extend-select") or (),
            ignore=(_codes(ignore, "--ignore") or ())
            + (_codes(extend_ignore, "--extend-ignore") or ()),
            per_file_ignores=parse_per_file_ignores(per_file_ignores),
        ),
        settings=SettingsOverrides(
            exclude=_globs(exclude),
            extend_exclude=_globs(extend_exclude) or (),
            fixable=_codes(fixable, "--fixable"),
            unfixable=_codes(unfixable, "--unfixable"),
            preview=preview,
            min_severity=Severity(min_severity) if min_severity is not None else None,
        ),
        respect_gitignore=respect_gitignore,
        report_unused_noqa=report_unused_noqa,
        force_exclude=force_exclude,
        baseline=Path(baseline_file) if baseline_file else None,
        fix=("unsafe" if unsafe_fixes else "safe") if (fix or diff) else "",
        diff=diff,
        jobs=jobs or default_jobs(),
        cache=not no_cache,
        cache_dir=Path(cache_dir) if cache_dir else None,
    )
    if stdin_filename is not None or STDIN in paths:
        if paths not in ((), (STDIN,)):
            raise click.UsageError("standard input (`-`, --stdin-filename) is checked alone")
        if other:
            raise click.UsageError(f"{other} takes files, not standard input")

        def emit(report: Report) -> None:  # as below for files: -o written whole, once
            handle = io.StringIO() if output is not None else None
            _emit(report, output_format, statistics, quiet, handle, color)
            if output is not None and handle is not None:
                with writing(output):
                    replace_text(output, handle.getvalue())

        check_stdin(options, stdin_filename, exit_zero, emit)
    if other:
        _other_mode(other, list(paths) or ["."], options, exit_zero)
    try:
        with progress_display(output_format, quiet or output_file is not None) as progress:
            report = run(list(paths) or ["."], options=options, progress=progress)
    except CatalogueError as error:
        click.echo(f"leakcheck: error: {error}", err=True)
        sys.exit(2)
    if write_baseline is not None and baseline_out is not None:
        with writing(baseline_out):
            baseline.write(baseline_out, report.findings)
        count = len(report.findings)
        click.echo(
            f"Wrote {count} finding{'s' if count != 1 else ''} to {shown(write_baseline)}",
            err=True,
        )
        sys.exit(2 if any(e.internal for e in report.errors) else 0)
    handle = io.StringIO() if output is not None else None  # written whole, once complete
    if diff:
        _emit_diff(report, handle)
    elif fix_only:  # as ruff: what was fixed, not what is left
        _emit_fix_only(report, quiet, show_fixes, handle)
    else:
        _emit(report, output_format, statistics, quiet, handle, color)
        if show_fixes and fix and output_format in TEXT_FORMATS:
            click.echo(fixes_text(report), file=handle, nl=False)
        if show_handoffs and output_format in TEXT_FORMATS:
            click.echo(handoffs_text(report), file=handle, nl=False)
    if output is not None and handle is not None:
        with writing(output):
            replace_text(output, handle.getvalue())
    if any(e.internal for e in report.errors):
        sys.exit(2)
    if diff:  # as ruff: 1 when --fix would change something, or a file could not be analysed
        failed = any(r.diff for r in report.files) or bool(report.errors)
        sys.exit(1 if failed and not exit_zero else 0)
    failed = bool(report.findings or report.errors)
    if fix_only:
        failed = bool(report.errors)
    if exit_non_zero_on_fix and fix and report.fixed:  # as ruff: a fixed file fails the hook
        sys.exit(1)
    sys.exit(1 if failed and not exit_zero else 0)


# What `check` does instead of checking (`_other_mode`).
OTHER_MODES = ("--add-noqa", "--show-files", "--show-settings")


def _globs(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(g.strip() for g in value.split(",") if g.strip())


def _other_mode(mode: str, paths: list[str], options: Options, exit_zero: bool) -> NoReturn:
    """`--show-files`, `--show-settings` or `--add-noqa` over `paths`; exits (2 for a bad
    configuration)."""
    try:
        if mode == "--add-noqa":
            noqa = add_noqa(paths, options)
            errors = noqa.errors
            for error in errors:
                where = f"{error.path}:{error.line}" if error.line is not None else error.path
                click.echo(f"{shown(where)}: error: {error.message}", err=True)
            plural = "directive" if noqa.added == 1 else "directives"
            click.echo(f"Added {noqa.added} noqa {plural}.", err=True)
            if any(e.internal for e in errors):
                sys.exit(2)
            sys.exit(1 if errors and not exit_zero else 0)
        checker = Checker(options=options)
        files, unreadable = checker.files(paths)
        for error in unreadable:
            click.echo(f"{shown(error.path)}: error: {error.message}", err=True)
        if mode == "--show-files":
            for path in files:
                click.echo(shown(path))
            sys.exit(0)
        if not files:
            raise click.UsageError("no Python file to show the settings of")
        real = Path(os.path.realpath(files[0]))
        config = checker.finder.for_file(real)
        click.echo(describe(real, shown(files[0]), config, options.overrides), nl=False)
        sys.exit(0)
    except CatalogueError as error:
        click.echo(f"leakcheck: error: {error}", err=True)
        sys.exit(2)


def _emit_fix_only(report: Report, quiet: bool, show_fixes: bool, handle: IO[str] | None) -> None:
    """`--fix-only`: the files that could not be analysed or written (standard error), the fixes
    applied if asked, and how many."""
    report = printable(report)
    for error in report.errors:
        where = f"{error.path}:{error.line}" if error.line is not None else error.path
        click.echo(f"{where}: error: {error.message}", err=True)
    if show_fixes:
        click.echo(fixes_text(report), file=handle, nl=False)
    if not quiet:
        count = report.fixed
        click.echo(f"Fixed {count} leak{'s' if count != 1 else ''}.", file=handle)


def _emit_diff(report: Report, handle: IO[str] | None) -> None:
    """The diffs on standard output; what would be fixed, and what would not, on standard error.
    Paths as `leakcheck.shown` shows them (valid UTF-8)."""
    report = printable(report)
    for result in report.files:
        if result.diff:
            click.echo(result.diff, file=handle, nl=False)
    for result in report.files:
        for line in result.not_fixed:
            click.echo(f"{result.path}: {line}", err=True)
    for error in report.errors:
        where = f"{error.path}:{error.line}" if error.line is not None else error.path
        click.echo(f"{where}: error: {error.message}", err=True)
    count = report.fixed
    left = len(report.findings) - count
    more = f" ({left} more without a safe fix: `leakcheck check` lists them)" if left > 0 else ""
    click.echo(f"Would fix {count} leak{'s' if count != 1 else ''}{more}.", err=True)


def _emit(
    report: Report,
    output_format: str,
    statistics: bool,
    quiet: bool,
    handle: IO[str] | None,
    color: str = "auto",
) -> None:

    if output_format in TEXT_FORMATS and not statistics:
        console = text_console(color, handle)
        print_text(report, console, quiet, concise=output_format == "concise")
        return
    if statistics:
        text = statistics_json(report) if output_format == "json" else statistics_text(report)
    elif output_format == "json":
        text = to_json(report)
    else:
        text = formats.render(output_format, report)
    if text:
        click.echo(text, file=handle)


@main.command(short_help="Run the language server (for editors) on stdin/stdout.")
def server() -> None:
    """Run leakcheck's language server over standard input and output, for an editor's LSP
    client: diagnostics as you type, quick fixes, and `source.fixAll.leakcheck`. Needs the
    `server` extra: pip install 'leakcheck-db[server]'."""
    try:
        from leakcheck.server import serve  # pygls is imported only here, never by `check`
    except ModuleNotFoundError as error:
        if error.name not in ("pygls", "lsprotocol") and not str(error.name).startswith("pygls."):
            raise
        click.echo(
            "leakcheck: error: the language server needs pygls: pip install 'leakcheck-db[server]'",
            err=True,
        )
        sys.exit(2)
    serve()


@main.command(short_help="List the resource kinds in effect, or calls of none (--unknown).")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option(
    "--unknown",
    is_flag=True,
    help="List the calls under PATHS whose result is closed or released but that belong to no "
    "kind, each with a [[tool.leakcheck.kinds]] entry to start from.",
)
def kinds(paths: tuple[str, ...], unknown: bool) -> None:
    """List the resource kinds in effect here (built in, and `[[tool.leakcheck.kinds]]` of the
    configuration), or, with --unknown, the resource-like calls under PATHS that none covers."""
    from leakcheck.analysis.unknown import kind_line, unknown_in_source
    from leakcheck.config.settings import ConfigFinder, kinds_for
    from leakcheck.project.runner import Checker, Options, default_jobs

    finder = ConfigFinder()
    if not unknown:
        for kind in kinds_for(finder.for_dir(os.path.realpath("."))):
            click.echo(kind_line(kind))
        return
    entries: dict[str, str] = {}
    count = 0
    # The check's own run (its files, prefilter and project names) says which files hold calls
    # of no kind (`unknown_resources`); each is read again with that run's summaries to list
    # them, so this list and the check's count are the same calls.
    checker = Checker(options=Options(jobs=default_jobs()))
    files, _ = checker.files(list(paths) or ["."])
    named = frozenset(os.path.normpath(p) for p in paths if os.path.isfile(p))
    results = checker.check_files(files, named)
    for path, result in zip(files, results, strict=True):
        if not result.unknown_resources:
            continue
        try:
            context = checker.context(Path(path))
            source = Path(path).read_bytes()
            found = unknown_in_source(source, context.kinds, context.package, context.resolver)
        except (OSError, SyntaxError, RecursionError, ValueError):
            continue  # `leakcheck check` reports files it cannot read
        for line, call in found:
            count += 1
            shown = f"{result.path}:{line}"
            click.echo(f"{shown}: `{call.callee}()` ({call.name}.{call.method}()): no kind")
            entries.setdefault(call.qualified, call.entry())
    calls = "call" if count == 1 else "calls"
    click.echo(f"{count} {calls} of resource-like types leakcheck does not know")
    for entry in entries.values():
        click.echo(f"\n{entry}")


@main.command(
    short_help="Show a rule's documentation.",
    help=f"Print the documentation of a rule, by code or name (`leakcheck rule {EXAMPLE.code}`,\n"
    f"`leakcheck rule {EXAMPLE.name}`), or of every rule (--all).",
)
@click.argument("code", required=False, metavar="CODE|NAME")
@click.option("--all", "show_all", is_flag=True, help="Show every rule's documentation.")
@click.option(
    "--output-format",
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: the rule's page; json: its fields, for scripts.",
)
def rule(code: str | None, show_all: bool, output_format: str) -> None:
    """Print the documentation of a rule, by code or name, or of every rule (`help` above)."""
    if show_all == (code is not None):
        raise click.UsageError("give one rule code or name, or --all")
    chosen = list(rules()) if show_all else [find(code or "")]
    if chosen[0] is None:
        known = ", ".join(r.code for r in rules())
        raise click.BadParameter(f"unknown rule {code!r} (known: {known})", param_hint="CODE|NAME")
    found = [r for r in chosen if r is not None]
    if output_format == "json":
        data = [rule_json(r) for r in found]
        click.echo(json.dumps(data if show_all else data[0], indent=2))
        return
    click.echo("\n".join(render(r) for r in found), nl=False)
