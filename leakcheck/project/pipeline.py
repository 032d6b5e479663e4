"""One run over a project: summarise every module once, in dependency order, then judge.

1. Every checked file is stat'ed and looked up in the cache; it is read only when its size or
   mtime changed (and then reused if its bytes hash the same). Files whose bytes hold an export
   marker (`project.prefilter`) are *modules that can export*; their imports are read from the
   bytes with a regular expression, and imported project modules that are not among the checked
   paths join the run as summary-only units (pre-commit passes only the changed files).
2. Modules that can export are parsed in dependency order (strongly connected components of the
   import graph, deps first; inside a cycle, in file order, each seeing the summaries of the ones
   before it), each exactly once: one parse gives its summary and, if it is checked, its
   findings. Names are resolved from summaries alone (`project.names`). The modules without a
   marker that import names (*relays*) are nodes of the same graph, after what their names come
   from: when its turn comes, a relay that imports and uses a starter another summary exports is
   *promoted* and summarised like the others (`_relay`: wrappers of the project's own helpers);
   the others pass on their import table.
3. The other checked files are parsed only if their bytes hold an acquisition token (derived from
   the kinds, the configuration and the names the summaries export); files named on the command
   line are always parsed. In the worker, the markers and the tokens are looked for again in the
   code alone (`prefilter.code_only`): a module to summarise without a marker in its code is
   handed back (`_demote`) and joins step 3; a file to judge without a token is not parsed.
4. Every answer a file got about an imported name is recorded; a cached result is reused only
   while the file is unchanged and every one of its answers is still the same. At the end, the
   answers of all files are checked against the final summaries, and the rare file whose answer
   changed (an import the regular expression missed) is judged again.
5. The run as a whole is remembered (`project.manifest`): the same run again, with nothing it
   read changed, prints the stored results without loading an entry (`replay`).

With `jobs` > 1 parsing runs in `WorkerPool` processes; the results do not depend on which worker
finished first, so output is the same for any number of jobs.
"""

from __future__ import annotations

import contextlib
import os
import re
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from leakcheck import __version__
from leakcheck.config.catalogue import CatalogueError, Kind
from leakcheck.config.settings import Config, ConfigFinder, kinds_for
from leakcheck.model import FileError, FileResult
from leakcheck.project.cache import Cache, Entry, content_hash
from leakcheck.project.manifest import Manifest, renamed, results_as_shown, unchanged
from leakcheck.project.names import (
    Answer,
    ModuleFinder,
    NameResolver,
    import_roots,
    module_name,
    real_path,
    uses_a_starter,
)
from leakcheck.project.prefilter import Words, acquisition_tokens, export_markers
from leakcheck.project.summaries import Summary, digest, import_table, read_imports
from leakcheck.project.workers import (
    NOT_ANALYSED,
    Done,
    Limits,
    Task,
    WorkerPool,
    perform,
    tuned_collector,
)

Finish = Callable[[FileResult, bytes, "Unit"], FileResult]


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
    promoted: bool = False  # a relay that imports a starter: summarised too (`_relay`)
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
    code: bytes | None = None  # its code alone, when a worker found it (`_demote`)
    parsed: bool = False
    volatile: bool = False  # a Django settings module (see `_evidence`)
    evidence: str = ""
    done: bool = False
    dirty: bool = False  # to be written to the cache
    component: int = -1  # strongly connected component of the import graph (-1: none)
    position: int = 0  # place inside it


class _View:
    """The summaries one unit may see (a `SummarySource`)."""

    def __init__(self, project: Project, unit: Unit | None) -> None:
        self.project = project
        self.unit = unit

    def summary(self, path: str) -> Summary | None:
        return self.project.visible(self.unit, path)


class Project:
    """The modules of one run and what is known about them."""

    def __init__(
        self,
        configs: ConfigFinder,
        settings_digest: Callable[[Config], str],
        finish: Finish,
        cache: Cache | None = None,
        jobs: int = 1,
        limits: Limits | None = None,
        prefilter: bool = True,
    ) -> None:
        self.configs = configs
        self.settings_digest = settings_digest
        self.finish = finish
        self.cache = cache
        self.jobs = jobs
        self.limits = limits
        self.prefilter = prefilter
        self.modules = ModuleFinder()
        self.units: list[Unit] = []
        self.by_real: dict[str, Unit] = {}
        self._digests: dict[int, str] = {}
        self._components = 0
        self._pool: WorkerPool | None = None
        self.overrides: dict[str, bytes] = {}  # real path -> bytes to use instead of the file's
        self.parsed = 0  # files parsed in this run (for the benchmark)
        self.on_judged: Callable[[], None] | None = None  # called as each checked file is done
        self._demoted: list[Unit] = []  # checked modules found to define nothing (`_demote`)
        self._run_key = ""  # the run's identity for its manifest (`replay`)
        self._verified: set[int] = set()  # units whose answers this process looked up

    # -- units ---------------------------------------------------------------------------------

    def add(
        self, path: str, shown: str, judged: bool, named: bool, real: str | None = None
    ) -> Unit:
        """The unit for `path`, created (stat'ed, looked up in the cache, read if needed) once;
        `real`: its real path, when the caller has it already."""
        real = real_path(path) if real is None else real
        unit = self.by_real.get(real)
        if unit is not None:
            if judged and not unit.judged:
                unit.judged, unit.named, unit.shown = True, named, shown
                self._key(unit)
                self._load(unit)
            return unit
        config = self.configs.for_dir(os.path.dirname(real))
        kinds = kinds_for(config)
        _, package, _ = module_name(real)
        unit = Unit(
            len(self.units),
            path,
            real,
            shown,
            judged,
            named,
            config,
            kinds,
            package,
            import_roots(real),
        )
        self.units.append(unit)
        self.by_real[real] = unit
        self._key(unit)
        self._load(unit)
        return unit

    def _key(self, unit: Unit) -> None:
        unit.key = self._entry_key(unit.real, unit.config)

    def _entry_key(self, real: str, config: Config) -> str:
        """The cache entry's name for the file at `real` under `config` ("" without a cache)."""
        if self.cache is None:
            return ""
        digest_ = self._digests.get(id(config))
        if digest_ is None:
            digest_ = self.settings_digest(config)
            self._digests[id(config)] = digest_
        return self.cache.key(real, digest_)

    # -- the last run again ----------------------------------------------------------------------

    def replay(self, checked: list[tuple[str, str, str, bool]]) -> list[FileResult] | None:
        """The results of the last run, when it was this same run and nothing it read changed;
        else None (and `run` does the work, then remembers it for next time).

        `checked`: (path, real path, shown, named) of each file to check, in order. "The same run":
        the same files with the same configuration and options (their entry keys, in order).
        "Nothing changed": every module it read (checked or only summarised) has the size and
        mtime it had, every directory a module name was looked up in has its mtime (no module
        appeared or went), and every Django settings module finds the same `asgi.py`. Then
        every answer and summary the last run used still holds, and so does every result: the
        work of a warm run (an entry, a `stat` and the answers' check per file) is skipped.
        """
        if self.cache is None or self.overrides:
            return None
        # Created now, before any directory is stamped: creating it inside the project would
        # change the project root's mtime and make the next run miss its manifest.
        with contextlib.suppress(OSError):
            self.cache.prepare()
        parts = []
        for _, real, _, named in checked:
            config = self.configs.for_dir(os.path.dirname(real))
            parts.append((self._entry_key(real, config), named))
        self._run_key = digest((tuple(parts), self.prefilter))
        manifest = self.cache.load_manifest(self._run_key)
        if manifest is None or len(manifest.results) != len(checked):
            return None
        if not unchanged(manifest, lambda position: _evidence_at(checked[position][0])):
            return None
        try:
            return results_as_shown(manifest, [shown for _, _, shown, _ in checked])
        except ValueError:  # a damaged manifest
            return None

    def _remember(self, checked: list[Unit]) -> None:
        """Write the manifest `replay` reads (see there) for this run over `checked`."""
        if self.cache is None or not self._run_key or self.overrides:
            return
        if any(u.result is None for u in checked):
            return
        if any(u.unreadable or u.stat == (-1, -1) or _retried(u.result) for u in self.units):
            return  # (`checked` are among the units)
        for unit in self.units:  # every answer looked up here too: its directories are stamped
            if unit.index not in self._verified:
                self._answers_hold(unit, unit.answers)
        evidence = tuple((i, u.evidence) for i, u in enumerate(checked) if u.volatile and u.judged)
        self.cache.store_manifest(
            Manifest(
                self._run_key,
                tuple((u.real, *u.stat) for u in self.units),
                tuple(sorted(self.modules.watched().items())),
                tuple(u.result for u in checked if u.result is not None),
                tuple(u.result.path for u in checked if u.result is not None),
                evidence,
            )
        )

    def _load(self, unit: Unit) -> None:
        """Find out whether the file changed; read it only if it may have."""
        override = self.overrides.get(unit.real)
        entry = self.cache.load(unit.key) if self.cache is not None and unit.key else None
        if override is None:
            try:
                status = os.stat(unit.real)
            except OSError as error:
                unit.unreadable = f"cannot read: {error.strerror or error}"  # as discovery
                unit.done = not unit.judged
                return
            unit.stat = (status.st_size, status.st_mtime_ns)
            if entry is not None and (entry.size, entry.mtime_ns) == unit.stat:
                self._trust(unit, entry)
                return
        try:
            if override is not None:
                source = override
            else:
                with open(unit.real, "rb") as handle:
                    source = handle.read()
        except OSError as error:
            unit.unreadable = f"cannot read: {error.strerror or error}"  # as discovery
            unit.done = not unit.judged
            return
        # The bytes are not kept (an override is): every file is loaded before any is parsed,
        # so holding them made the run's memory grow with the size of the tree. `_bytes` reads
        # a file again when it is parsed.
        unit.source, unit.content = override, content_hash(source)
        if entry is not None and entry.content == unit.content and override is None:
            self._trust(unit, entry)
            unit.dirty = True  # a new mtime to remember
            return
        unit.dirty = True
        unit.marker = export_markers(unit.kinds, unit.config.names).matches(source, unit.package)
        imports, unit.table = read_imports(source, unit.package, table=not unit.marker)
        follow = unit.marker or unit.judged or bool(unit.table)
        unit.imports = imports if follow else ()

    def _trust(self, unit: Unit, entry: Entry) -> None:
        unit.entry, unit.content = entry, entry.content
        unit.marker, unit.imports, unit.table = entry.marker, entry.imports, entry.table

    def _bytes(self, unit: Unit) -> bytes:
        if unit.source is None and unit.real in self.overrides:
            return self.overrides[unit.real]
        if unit.source is None:
            try:
                with open(unit.real, "rb") as handle:
                    unit.source = handle.read()
            except OSError:
                unit.source = b""
            if unit.content:  # changed since it was first read: the cache keeps what was judged
                unit.content = content_hash(unit.source)
        return unit.source

    def expand(self) -> None:
        """Add the project modules that the modules already here import (transitively)."""
        queue = deque(self.units)
        while queue:
            unit = queue.popleft()
            for module in unit.imports:
                path = self.modules.find(unit.roots, module)
                if path is not None and path not in self.by_real:
                    added = self.add(path, path, judged=False, named=False)
                    if added.marker or added.table:  # it defines or passes on names
                        queue.append(added)

    # -- visibility ------------------------------------------------------------------------------

    def visible(self, asking: Unit | None, path: str) -> Summary | None:
        """The summary of the module at `path` as `asking` may see it: None for modules that
        cannot export, and, inside an import cycle, for the asking module and those after it."""
        unit = self.by_real.get(path)
        if unit is None:  # an import the scan missed: summarise it now, here
            unit = self.add(path, path, judged=False, named=False)
            if not unit.marker and unit.table and not unit.unreadable:
                unit.relay = True
            if unit.marker or (unit.relay and self._relay(unit)):
                unit.component = self._new_component()
                self._run_inline(unit)
                if unit.relay and self._relay(unit):  # demoted: it may still pass one on
                    self._run_inline(unit)
        if not unit.marker:
            # It defines nothing, but may pass on what it imports (`from .db import get_conn`
            # in a package's `__init__.py`): a summary of its import table alone.
            return Summary(dict(unit.table)) if unit.table else None
        if not unit.done:
            return None
        if (
            asking is not None
            and asking.component >= 0
            and unit.component == asking.component
            and unit.position >= asking.position
        ):
            return None
        return unit.summary

    def _new_component(self) -> int:
        self._components += 1
        return self._components - 1

    # -- processing ------------------------------------------------------------------------------

    def _task(self, unit: Unit) -> Task:
        django = None
        if unit.judged:
            from leakcheck.analysis.django import DjangoContext

            config = unit.config
            django = DjangoContext(config.django_poolers, config.django_asgi, Path(unit.path))
        return Task(
            unit.index,
            unit.real,
            unit.shown,
            self._bytes(unit),
            unit.kinds,
            unit.config.names,
            unit.package,
            unit.roots,
            unit.config.fix_helpers,
            judge=unit.judged,
            summarise=unit.marker,
            django=django,
            markers=(
                export_markers(unit.kinds, unit.config.names)
                if unit.marker and not unit.promoted
                else None
            ),
            tokens=unit.test if unit.judged and not unit.marker else None,
        )

    def _complete(self, unit: Unit, done: Done) -> None:
        self._verified.discard(unit.index)
        if not done.defines:
            self._demote(unit, done.code)
            return
        self.parsed += 1
        unit.summary = done.summary if unit.marker else None
        unit.answers = done.answers
        unit.parsed = True
        source = self._bytes(unit)
        unit.result = self.finish(done.result, source, unit) if unit.judged else None
        # A Django settings module's findings also depend on an asgi.py/wsgi.py beside it, which
        # no summary tracks: its result is reused only while the same one is found.
        unit.volatile = _SETTINGS_MODULE.search(source) is not None
        unit.evidence = _evidence(unit) if unit.volatile else ""
        unit.done = unit.dirty = True
        unit.source = None  # memory stays flat in the number of files (re-read if ever needed)
        self._judged(unit)

    def _demote(self, unit: Unit, code: bytes | None) -> None:
        """`unit`'s export marker was only in comments or strings: it can define nothing, and is
        from now on what any module without a marker is (its import table is its offer to
        importers; if checked, it is judged with the others, through the prefilter, on `code`,
        its code alone, as the worker found it). The cache remembers it so (`Entry.marker`), so
        a warm run orders it as a cold one would have."""
        unit.marker, unit.summary, unit.done, unit.dirty = False, None, True, True
        unit.code = code
        unit.table = import_table(self._bytes(unit), unit.package)
        unit.relay = bool(unit.table)  # decided next (`_relay`), before its importers run
        unit.source = None
        if unit.judged:
            self._demoted.append(unit)

    def _judged(self, unit: Unit) -> None:
        if unit.judged and self.on_judged is not None:
            self.on_judged()

    def _run_inline(self, unit: Unit) -> None:
        task = self._task(unit)
        try:
            done = perform(task, _View(self, unit))
        except CatalogueError:
            raise
        except Exception as error:  # a bug in leakcheck: this file's error, not the run's end
            detail = " ".join("".join(traceback.format_exception_only(type(error), error)).split())
            message = f"internal error in leakcheck: {detail}"
            failure = FileError(unit.shown, None, message, internal=True)
            done = Done(unit.index, FileResult(unit.shown, errors=(failure,)), None)
        self._complete(unit, done)

    def _reusable(self, unit: Unit) -> bool:
        entry = unit.entry
        if entry is None or (unit.judged and entry.result is None):
            return False
        if entry.promoted != unit.promoted:  # summarised then and not now, or the reverse
            return False
        if unit.judged and entry.volatile and entry.evidence != _evidence(unit):
            return False
        if unit.judged and not unit.marker:
            if unit.named or not self.prefilter:
                if not entry.parsed:
                    return False
            elif entry.tokens != unit.tokens:
                return False
        return self._answers_hold(unit, entry.answers)

    def _answers_hold(self, unit: Unit, answers: dict[str, Answer]) -> bool:
        if not answers:
            return True
        resolver = NameResolver(
            self.modules, unit.roots, unit.kinds, unit.config.names, _View(self, unit)
        )
        hold = all(resolver.answer(q) == a for q, a in answers.items())
        if hold:
            self._verified.add(unit.index)  # (a parse of it gives new answers: `_complete`)
        return hold

    def _reuse(self, unit: Unit) -> None:
        entry = unit.entry
        assert entry is not None
        unit.summary, unit.result, unit.answers = entry.summary, entry.result, entry.answers
        unit.volatile, unit.evidence = entry.volatile, entry.evidence  # checked in `_reusable`
        if unit.result is not None and entry.shown != unit.shown:
            unit.result = renamed(unit.result, unit.shown)  # `cd` elsewhere, same file
            unit.dirty = True
        unit.parsed = entry.parsed
        unit.done = True
        self._judged(unit)

    def _execute(self, ready: Iterable[Unit], advance: Callable[[Unit], list[Unit]]) -> None:
        """Process units as they become ready: reuse, or parse here or in a worker. `ready` is
        drawn from only when a worker is idle, so a generator's work overlaps the workers'."""
        queue: deque[Unit] = deque()
        more = iter(ready)
        pool = self._pool

        def finished(unit: Unit) -> None:
            if unit.relay:  # demoted just now: decided as a relay before its importers run
                queue.appendleft(unit)
            else:
                queue.extend(advance(unit))

        while True:
            while pool is None or pool.idle():
                if not queue:
                    unit = next(more, None)
                    if unit is None:
                        break
                    queue.append(unit)
                unit = queue.popleft()
                if unit.relay and not self._relay(unit):
                    queue.extend(advance(unit))
                    continue
                if unit.done:
                    queue.extend(advance(unit))
                    continue
                if self._reusable(unit):
                    self._reuse(unit)
                    queue.extend(advance(unit))
                    continue
                if pool is None:
                    self._run_inline(unit)
                    finished(unit)
                else:
                    pool.submit(self._task(unit))
            if pool is None or not pool.busy():
                if not queue:
                    return
                continue
            for done in pool.collect():
                unit = self.units[done.key]
                self._complete(unit, done)
                finished(unit)

    def start_early(self, files: int) -> None:
        """Start the workers before the `files` checked files are read, when the run is cold
        (no cache, or an empty one: a first run, CI on a fresh checkout). Each then imports the
        analysis (libcst, about 0.2 s) while this process walks and reads the tree, instead of
        this process importing it first while the workers wait. A run that may find its
        results cached starts them later (`_start_pool`), and only if something is to be
        parsed."""
        if self.jobs > 1 and files > 0 and (self.cache is None or self.cache.is_empty()):
            self._pool = WorkerPool(min(self.jobs, files), self._answer, self.limits)

    def stop_workers(self) -> None:
        """Stop the workers, if any were started."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _start_pool(self, work: int) -> None:
        if self._pool is not None:
            return  # started early (`start_early`)
        jobs = min(self.jobs, work)
        if jobs > 1 or (self.jobs > 1 and work > 0):
            # Import the analysis (libcst) here, once, before the workers fork: they inherit it
            # instead of each importing it again (a third of a one-file run's CPU). A run with
            # nothing to parse never gets here and never imports libcst.
            import leakcheck.engine  # noqa: F401

            self._pool = WorkerPool(jobs, self._answer, self.limits)

    def _answer(self, task: Task, path: str) -> Summary | None:
        return self.visible(self.units[task.key], path)

    # -- the run ---------------------------------------------------------------------------------

    def run(self, checked: list[Unit] | None = None) -> None:
        """Summarise and judge every unit (see the module's docstring); `checked`: the checked
        files' units in the order `replay` was given them, to remember the run by."""
        self.expand()
        nodes = [u for u in self.units if (u.marker or u.table) and not u.unreadable]
        for unit in nodes:
            unit.relay = not unit.marker
        components = self._order(nodes)
        for unit in self.units:
            if unit.unreadable and unit.judged:
                error = FileError(unit.shown, None, unit.unreadable)
                unit.result, unit.done = FileResult(unit.shown, errors=(error,)), True
                self._judged(unit)
        work = sum(1 for u in self.units if u.entry is None and (u.marker or u.judged))
        try:
            self._start_pool(work)
            with tuned_collector():
                self._phase_modules(components)
                for unit in self._demoted:
                    unit.done = unit.marker  # (promoted: summarised and judged already)
                rest = [u for u in self.units if u.judged and not u.done and not u.unreadable]
                rest.sort(key=lambda u: -u.stat[0])  # the largest first: no long file last
                self._phase_rest(rest)
                self._settle()
        finally:
            self.stop_workers()
        self._save()
        if checked is not None:
            self._remember(checked)

    def _order(self, nodes: list[Unit]) -> list[list[Unit]]:
        """Strongly connected components of the import graph among `nodes` (the modules with an
        export marker, and the relays: modules without one that import names), deps first."""
        edges: dict[int, list[Unit]] = {}
        for unit in nodes:
            targets: list[Unit] = []
            if unit.marker:
                for module in unit.imports:
                    self._depends(unit, module, targets)
            else:  # a relay needs only what its names come from: no cycle through its other imports
                for target in sorted(set(unit.table.values())):
                    for module in (target, target.rpartition(".")[0]):  # a submodule, or a name's
                        if module:
                            self._depends(unit, module, targets)
            edges[unit.index] = targets
        components = _tarjan(nodes, edges)
        for members in components:
            number = self._new_component()
            # By path, not by discovery order: a module sees the same part of its import cycle
            # whichever files a run was given, so answers stored by one run hold in the next.
            members.sort(key=lambda u: u.real)
            for position, unit in enumerate(members):
                unit.component, unit.position = number, position
        self._edges = edges
        return components

    def _depends(self, unit: Unit, module: str, targets: list[Unit]) -> None:
        """Add to `targets` the node of the import graph `unit` imports as `module`, if any."""
        path = self.modules.find(unit.roots, module)
        other = self.by_real.get(path) if path is not None else None
        if other is None or other is unit or other.unreadable:
            return
        if (other.marker or other.table) and all(other is not t for t in targets):
            targets.append(other)

    def _relay(self, unit: Unit) -> bool:
        """Decide, once its imports are done, whether `unit`, a module without an export marker,
        is summarised after all (`uses_a_starter`): then it is `promoted`, and True. Else it stays
        what it was: its import table is its offer to importers (`visible`)."""
        unit.relay = False
        resolver = NameResolver(
            self.modules, unit.roots, unit.kinds, unit.config.names, _View(self, unit)
        )

        def read() -> bytes:
            kept = unit.source is not None
            data = self._bytes(unit)
            if not kept:
                unit.source = None  # read again if it is parsed (see `_load`)
            return data

        if not uses_a_starter(unit.table, resolver, read):
            return False
        unit.marker = unit.promoted = True
        unit.done = False
        return True

    def _phase_modules(self, components: list[list[Unit]]) -> None:
        """Summarise (and judge) the modules that can export, each after what it depends on.

        A component (an import cycle) starts when the components it imports are done. Inside
        it, a member sees only the members before it (`visible`), so it may start as soon as the
        earlier members it imports are done: members of one large cycle (SQLAlchemy is one) run
        side by side, with the same findings as one after another.
        """
        by_number = {c[0].component: c for c in components}
        waiting: dict[int, int] = {}
        dependents: dict[int, set[int]] = {}
        left: dict[int, int] = {}  # component -> members not done yet
        blocked: dict[int, int] = {}  # unit index -> earlier members it still waits for
        unblocks: dict[int, list[Unit]] = {}  # unit index -> later members waiting for it
        for members in components:
            number = members[0].component
            needs = {t.component for u in members for t in self._edges[u.index]} - {number}
            waiting[number] = len(needs)
            for need in needs:
                dependents.setdefault(need, set()).add(number)
            left[number] = len(members)
            if len(members) > 1:
                for unit in members:
                    earlier = self._earlier_imports(unit)
                    blocked[unit.index] = len(earlier)
                    for other in earlier:
                        unblocks.setdefault(other.index, []).append(unit)

        def start(members: list[Unit]) -> list[Unit]:
            return [u for u in members if blocked.get(u.index, 0) == 0]

        def advance(unit: Unit) -> list[Unit]:
            ready = []
            for later in unblocks.get(unit.index, ()):
                blocked[later.index] -= 1
                if blocked[later.index] == 0:
                    ready.append(later)
            left[unit.component] -= 1
            if left[unit.component] == 0:
                for other in sorted(dependents.get(unit.component, ())):
                    waiting[other] -= 1
                    if waiting[other] == 0:
                        ready.extend(start(by_number[other]))
            return ready

        first = [u for c in components if waiting[c[0].component] == 0 for u in start(c)]
        self._execute(first, advance)

    def _earlier_imports(self, unit: Unit) -> list[Unit]:
        """The members of `unit`'s import cycle before it (by position) that it imports: whose
        summaries its names resolve through. A name re-exported through one of them from a
        further member is rare; if that member is not done yet, `_settle` judges `unit` again
        (its answer changed), so the findings are the same in any order."""
        found: dict[int, Unit] = {}
        for target in self._edges.get(unit.index, ()):
            if target.component == unit.component and target.position < unit.position:
                found[target.index] = target
        return list(found.values())

    def exported_names(self) -> set[tuple[str, str]]:
        """(name, module) for every name a summary exports as a way to acquire or release
        (`Summary.starters`), and for every local name a summary imports one under (a re-export)."""
        found: set[tuple[str, str]] = set()
        modules = [(module_name(u.real)[0], u.summary) for u in self.units if u.summary is not None]
        modules += [
            (module_name(u.real)[0], Summary(u.table))
            for u in self.units
            if not u.marker and u.table
        ]
        for module, summary in modules:
            found.update((name, module) for name in summary.starters)
        names = {name for name, _ in found}
        for module, summary in modules:
            found.update(
                (local, module)
                for local, target in summary.imports.items()
                if target.rsplit(".", 1)[-1] in names
            )
        return found

    def _phase_rest(self, units: list[Unit]) -> None:
        self._execute(self._worth_parsing(units), lambda unit: [])

    def _worth_parsing(self, units: list[Unit]) -> Iterator[Unit]:
        """The units to parse, each as soon as it is found (workers start on the first while the
        rest are tested); the others are done here: reused from the cache, or without a token."""
        exported = sorted(self.exported_names())
        tokens_by_settings: dict[tuple[int, int], tuple[str, Words]] = {}
        for unit in units:
            key = (id(unit.kinds), id(unit.config.names))
            if key not in tokens_by_settings:
                pattern = acquisition_tokens(unit.kinds, unit.config.names, exported)
                tokens_by_settings[key] = (digest((pattern.spec, "django in code")), pattern)
            unit.tokens, pattern = tokens_by_settings[key]
            if unit.named or not self.prefilter:
                yield unit
                continue
            entry = unit.entry
            if entry is not None and entry.tokens == unit.tokens and self._reusable(unit):
                self._reuse(unit)
                continue
            source, code, unit.code = self._bytes(unit), unit.code, None
            if pattern.matches(code or source, unit.package) or _django_relevant(source):
                # A word in a comment or a docstring is no acquisition: the worker passes the
                # test again on the code alone before it parses the file with libcst (unless
                # that is what was tested here).
                unit.test = pattern if code is None else None
                yield unit
                continue
            unit.entry = None  # skipped: no token, so no finding (see project.prefilter)
            unit.result = self.finish(FileResult(unit.shown), source, unit)
            unit.done = unit.dirty = True
            unit.source = None
            self._judged(unit)

    def _settle(self) -> None:
        """Judge again the few units whose answers changed after they were judged."""
        for _ in range(3):
            stale = [
                u
                for u in self.units
                if u.done and u.parsed and not self._answers_hold(u, u.answers)
            ]
            if not stale:
                return
            for unit in stale:
                unit.done, unit.entry = False, None
            self._execute(stale, lambda unit: [])

    def _save(self) -> None:
        if self.cache is None:
            return
        for unit in self.units:
            if not unit.dirty or not unit.done or unit.unreadable or not unit.key:
                continue
            if unit.stat == (-1, -1):
                continue  # a buffer, not the file on disk
            if _retried(unit.result):
                continue
            self.cache.store(
                unit.key,
                Entry(
                    unit.stat[0],
                    unit.stat[1],
                    unit.content,
                    unit.marker and not unit.promoted,  # what its bytes say (`_relay` decides)
                    unit.imports,
                    unit.summary,
                    unit.result,
                    unit.answers,
                    unit.tokens if unit.judged and not unit.marker and not unit.named else "",
                    unit.parsed,
                    unit.shown,
                    unit.volatile,
                    unit.evidence,
                    unit.table,
                    unit.promoted,
                ),
            )


# A module that assigns `DATABASES` (a Django settings module, see analysis/django/settings.py).
_SETTINGS_MODULE = re.compile(rb"^[ \t]*DATABASES[ \t]*(?::[^=\n]*)?=(?!=)", re.MULTILINE)


def _retried(result: FileResult | None) -> bool:
    """Whether `result` is not to be remembered: a bug in leakcheck, or a worker that failed on
    the file (its time or memory limit may have been the machine's load, not the file's)."""
    return result is not None and any(
        e.internal or e.message.startswith(NOT_ANALYSED) for e in result.errors
    )


def _evidence(unit: Unit) -> str:
    """What the LC5xx rules found beside a settings module that its findings depend on: the
    `asgi.py` that makes its project ASGI, as `asgi_file` finds it now ("" for none). Read from
    bytes, without libcst, so a warm run can check it."""
    return _evidence_at(unit.path)


def _evidence_at(path: str) -> str:
    from leakcheck.analysis.django.asgi import asgi_file

    found = asgi_file(Path(path))
    return str(found) if found is not None else ""


def _django_relevant(source: bytes) -> bool:
    """Whether the Django rules (LC5xx) look at `source` (their own prefilter)."""
    from leakcheck.analysis.django import relevant

    return relevant(source)


def _tarjan(nodes: list[Unit], edges: dict[int, list[Unit]]) -> list[list[Unit]]:
    """Strongly connected components, each after the components it has edges to (iterative)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[Unit] = []
    found: list[list[Unit]] = []
    counter = 0
    for root in nodes:
        if root.index in index:
            continue
        work: list[tuple[Unit, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node.index] = low[node.index] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node.index)
            targets = edges[node.index]
            recursed = False
            while child < len(targets):
                target = targets[child]
                child += 1
                if target.index not in index:
                    work.append((node, child))
                    work.append((target, 0))
                    recursed = True
                    break
                if target.index in on_stack:
                    low[node.index] = min(low[node.index], index[target.index])
            if recursed:
                continue
            if low[node.index] == index[node.index]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member.index)
                    members.append(member)
                    if member is node:
                        break
                found.append(members)
            if work:
                parent = work[-1][0]
                low[parent.index] = min(low[parent.index], low[node.index])
    return found


def settings_digest(config: Config, extra: object) -> str:
    """The digest of everything besides a file's bytes that can change its result."""
    return digest((__version__, config, kinds_for(config), extra))
