"""One module of a run, as the run's parts share it: what was read, decided and produced.

The record is its own module because every part of a run reads and writes it (`pipeline` loads
and judges it, `schedule` orders it, `reuse` matches it with its cache entry) and none of them
should import another to name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from leakcheck.config.catalogue import Kind
from leakcheck.config.settings import Config
from leakcheck.model import FileResult
from leakcheck.project.cache import Entry
from leakcheck.project.names import Answer
from leakcheck.project.prefilter import Words
from leakcheck.project.summaries import Summary


@dataclass(eq=False)
class Unit:
    """One module of the run: a checked file (`judged`) or a module a checked file imports."""

    index: int
    path: str  # as given
    real: str
    shown: str
    judged: bool
    named: bool
    config: Config
    kinds: tuple[Kind, ...]
    package: str
    roots: tuple[Path, ...]
    key: str = ""
    entry: Entry | None = None  # the cached entry, when the file is unchanged
    stat: tuple[int, int] = (-1, -1)
    source: bytes | None = None
    content: str = ""
    marker: bool = False  # summarised: its bytes hold an export marker, or it is `promoted`
    promoted: bool = False  # a relay that imports a starter: summarised too (`Project.promote`)
    relay: bool = False  # a module without a marker in the import graph, not yet decided
    imports: tuple[str, ...] = ()
    table: dict[str, str] = field(default_factory=dict)  # a non-marker's re-exports (import_table)
    unreadable: str = ""
    # This run's products:
    summary: Summary | None = None
    result: FileResult | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    tokens: str = ""
    test: Words | None = None  # the prefilter's test, passed again on the code alone
    code: bytes | None = None  # its code alone, when a worker found it (`Project._demote`)
    parsed: bool = False
    volatile: bool = False  # a Django settings module (see `project.django_evidence`)
    evidence: str = ""
    done: bool = False
    dirty: bool = False  # to be written to the cache
    component: int = -1  # strongly connected component of the import graph (-1: none)
    position: int = 0  # place inside it
