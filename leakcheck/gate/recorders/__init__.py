"""One recorder per library: `install(ledger)` patches the library to report checkouts and
returns to the ledger, and gives back the function that undoes the patch.

A recorder is installed only when its library can be imported (it is already imported, or
installed): the gate never adds a dependency, and a project without SQLAlchemy never imports it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from leakcheck.gate.ledger import Ledger

Undo = Callable[[], None]


@dataclass(frozen=True)
class Recorder:
    """A library the gate can watch: the module that must be importable, and where its
    recorder lives (`leakcheck.gate.recorders.<name>`, with `install(ledger, library) -> Undo`,
    given the imported library module: only this table names the libraries)."""

    library: str  # the module that must import: "sqlalchemy", "psycopg_pool", ...
    name: str  # the recorder module in this package


RECORDERS = (
    Recorder("sqlalchemy", "sqlalchemy"),
    Recorder("psycopg_pool", "psycopg_pool"),
    Recorder("psycopg2.pool", "psycopg2_pool"),
    Recorder("psycopg2", "psycopg2_connect"),
    Recorder("asyncpg.pool", "asyncpg_pool"),
    Recorder("django.db.backends.base.base", "django_threads"),
)


def importable(library: str) -> bool:
    """Whether `library` is installed, without importing it (nor, where avoidable, its parent)."""
    try:
        return importlib.util.find_spec(library.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def install_all(ledger: Ledger) -> tuple[list[str], list[Undo], list[str]]:
    """Install every recorder whose library imports. Returns the libraries watched, the undo
    functions (run them in reverse order), and one line per library that failed to import or
    patch (a broken install is reported, never fatal)."""
    watched: list[str] = []
    undos: list[Undo] = []
    problems: list[str] = []
    for recorder in RECORDERS:
        if not importable(recorder.library):
            continue
        try:
            library = importlib.import_module(recorder.library)
            module = importlib.import_module(f"{__name__}.{recorder.name}")
            undos.append(module.install(ledger, library))
        except Exception as exc:  # an installed library that does not import here
            problems.append(f"{recorder.library}: {type(exc).__name__}: {exc}")
            continue
        watched.append(recorder.library)
    return watched, undos, problems
