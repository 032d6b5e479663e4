"""The command line's last line of defence: every failure becomes one line and an exit code.

| Exit | Meaning |
|---|---|
| 0, 1 | set by the command itself (no findings; findings or files that could not be analysed) |
| 2 | usage error, bad configuration or baseline, an output that cannot be written, or an
|   | internal failure of leakcheck (never 1, which CI reads as "found leaks") |
| 130 | interrupted by Ctrl-C (SIGINT) |
| 143 | terminated (SIGTERM) |

No traceback reaches the user; `LEAKCHECK_DEBUG=1` prints it after the one-line message, for
reporting a bug.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from typing import Any, NoReturn

import click

from leakcheck.config.catalogue import CatalogueError
from leakcheck.interrupts import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    forget_interrupt_in_exec,
    signals_noted,
)
from leakcheck.report.destinations import DestinationError
from leakcheck.shown import shown

EXIT_ERROR = 2


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    if code == EXIT_INTERRUPTED:
        forget_interrupt_in_exec()  # else CPython may die of SIGINT instead of exiting 130
    with contextlib.suppress(OSError):  # standard error itself gone: the exit code still says it
        click.echo(f"leakcheck: {shown(message)}", err=True)  # a path in it: valid UTF-8
    if os.environ.get("LEAKCHECK_DEBUG") and code == EXIT_ERROR:
        traceback.print_exc()
    sys.exit(code)


def _silence_broken_pipe() -> None:
    """After EPIPE, Python would complain again when flushing at exit: point stdout elsewhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        pass


class GuardedGroup(click.Group):
    """A click group whose commands never end in a traceback or an exit status of 1 by accident.

    Click already turns usage errors into exit 2; this adds the rest: configuration and output
    errors, anything unexpected (exit 2), Ctrl-C (130) and SIGTERM (143).
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        with signals_noted() as noted:
            try:
                result = super().main(*args, **kwargs)
            except SystemExit as done:
                if done.code not in (EXIT_INTERRUPTED, EXIT_TERMINATED):
                    _exit_if_signalled(noted.signum)
                raise
            _exit_if_signalled(noted.signum)
            return result

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except click.ClickException as error:
            if error.exit_code == EXIT_ERROR:  # usage errors: click's own message and exit
                raise
            error.show()  # a FileError, say, is exit 1 in click: CI would read "found leaks"
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED)
        except Terminated:
            _fail("terminated", EXIT_TERMINATED)
        except (CatalogueError, DestinationError) as error:
            _fail(f"error: {_one_line(str(error))}")
        except BrokenPipeError:
            _silence_broken_pipe()
            _fail("error: the output was closed before it was all written")
        except OSError as error:  # writing the output: a full disk, a vanished folder
            _fail(f"error: {_one_line(str(error))}")
        except RecursionError as error:
            _fail(f"error: internal error: {_one_line(str(error))}")
        except Exception as error:
            detail = "".join(traceback.format_exception_only(type(error), error))
            _fail(
                f"error: internal error: {_one_line(detail)} "
                "(a bug in leakcheck; LEAKCHECK_DEBUG=1 shows where)"
            )


def _exit_if_signalled(signum: int | None) -> None:
    """A signal whose exception Python swallowed (see `signals_noted`) still ends the run, with
    the exit status it would have had."""
    if signum == signal.SIGINT:
        _fail("interrupted", EXIT_INTERRUPTED)
    if signum is not None:
        _fail("terminated", EXIT_TERMINATED)


def _one_line(text: str) -> str:
    return " ".join(text.split())
