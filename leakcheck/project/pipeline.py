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
   *promoted* and summarised like the others (`promote`: wrappers of the project's own helpers);
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

`Project` keeps the units and decides what is done with each (load, promote, demote, parse,
prefilter); `project.schedule` decides when and where, `project.reuse` what comes from the
cache, and `project.django_evidence` what a Django settings module's result depends on.
"""

from __future__ import annotations

import os
import re
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import astuple, replace

from leakcheck import __version__
from leakcheck.analysis.gate import cpython_rejects
from leakcheck.config.catalogue import CatalogueError
from leakcheck.config.settings import Config, ConfigFinder, kinds_for
from leakcheck.model import FileError, FileResult
from leakcheck.project import django_evidence
from leakcheck.project.cache import Cache, Entry, content_hash
from leakcheck.project.names import (
    STORED,
    STORED_OTHER,
    STORES,
    ModuleFinder,
    NameResolver,
    import_roots,
    module_name,
    real_path,
    uses_a_starter,
)
from leakcheck.project.prefilter import Words, acquisition_tokens, export_markers
from leakcheck.project.reuse import Reuse
from leakcheck.project.schedule import Schedule
from leakcheck.project.summaries import Summary, digest, import_table, read_imports, summarise
from leakcheck.project.unit import Unit
from leakcheck.project.workers import Done, Limits, Task, perform, tuned_collector

# The largest named file without an acquisition word that this process reads with CPython's
# parser itself (its tree takes at most about a thousand bytes per byte: `analysis.gate`).
GATE_HERE = 64 * 1024
# The largest module without an export marker that is summarised on demand (`Project.whole`),
# in this process: a helper that is given a connection is a small module.
WHOLE_AT_MOST = 256 * 1024
# A release call, as `analysis.unknown` counts resource-like calls by it (its `RELEASES`).
_RELEASE = re.compile(rb"\.[ \t]*(?:close|release|aclose)\b")

__all__ = ["Finish", "Project", "Unit", "settings_digest"]

Finish = Callable[[FileResult, bytes, Unit], FileResult]


class _View:
    """The summaries one unit may see (a `SummarySource`)."""

    def __init__(self, project: Project, unit: Unit | None) -> None:
        self.project = project
        self.unit = unit

    def summary(self, path: str, whole: bool = False) -> Summary | None:
        return self.project.visible(self.unit, path, whole)


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
        self.finish = finish
        self.prefilter = prefilter
        self.modules = ModuleFinder()
        self.units: list[Unit] = []
        self.by_real: dict[str, Unit] = {}
        self.reuse = Reuse(cache, settings_digest, prefilter, self.modules)
        self.schedule = Schedule(jobs, limits)
        self.overrides: dict[str, bytes] = {}  # real path -> bytes to use instead of the file's
        self.parsed = 0  # files parsed in this run (for the benchmark)
        self.on_judged: Callable[[], None] | None = None  # called as each checked file is done
        self._demoted: list[Unit] = []  # checked modules found to define nothing (`_demote`)
        # Stored sources (`stores`): export name -> unit index -> digest, each unit's names, and
        # the merged summary per asking unit until a summary changes.
        self._stored: dict[str, dict[int, str]] = {}
        self._stored_names: dict[int, tuple[str, ...]] = {}
        self._stores_seen: dict[int, Summary | None] = {}
        # Modules without a marker summarised on demand (`whole`), by unit index; and those being
        # summarised now (an import cycle among them answers None).
        self._wholes: dict[int, Summary | None] = {}
        self._summarising: set[int] = set()

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
        unit.key = self.reuse.entry_key(unit.real, unit.config)

    def replay(self, checked: list[tuple[str, str, str, bool]]) -> list[FileResult] | None:
        """The results of the last run, when it was this same run and nothing it read changed
        (`Reuse.replay`); else None (and `run` does the work, then remembers it for next time).
        A run over buffers (`overrides`) is never replayed nor remembered."""
        if self.overrides:
            return None
        return self.reuse.replay(checked, self.configs)

    def _load(self, unit: Unit) -> None:
        """Find out whether the file changed; read it only if it may have."""
        override = self.overrides.get(unit.real)
        entry = self.reuse.entry(unit)
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

    def visible(self, asking: Unit | None, path: str, whole: bool = False) -> Summary | None:
        """The summary of the module at `path` as `asking` may see it: None for modules that
        cannot export, and, inside an import cycle, for the asking module and those after it.
        `whole`: a module without an export marker is summarised all the same (`whole`)."""
        if path == STORES:
            return self.stores(asking)
        unit = self.by_real.get(path)
        if unit is None:  # an import the scan missed: summarise it now, here
            unit = self.add(path, path, judged=False, named=False)
            if not unit.marker and unit.table and not unit.unreadable:
                unit.relay = True
            if unit.marker or (unit.relay and self.promote(unit)):
                unit.component = self.schedule.new_component()
                self.run_inline(unit)
                if unit.relay and self.promote(unit):  # demoted: it may still pass one on
                    self.run_inline(unit)
        if not unit.marker:
            summary = self.whole(unit) if whole else None
            if summary is not None:
                return summary
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

    def whole(self, unit: Unit) -> Summary | None:
        """The summary of `unit`, a module without an export marker, made here on demand once
        a module passes a resource to one of its functions (`SummarySource.summary`'s `whole`):
        a helper that names no database word (`def run_query(db, q): return db.execute(q)`)
        would otherwise be unknown code, and the connection taken as handed over to it.

        Made at most once per run, and only once every project module it imports that can
        export is done: before that it answers None (the asking module is judged again at the
        end if the answer then differs, `_settle`, so the result does not depend on timing).
        None too for an unreadable module, one larger than `WHOLE_AT_MOST`, one in an import
        cycle of such modules, and one that does not parse."""
        if unit.index in self._wholes:
            return self._wholes[unit.index]
        if unit.unreadable or unit.index in self._summarising:
            return None
        source = self._bytes(unit)
        if len(source) > WHOLE_AT_MOST:
            self._wholes[unit.index] = None
            return None
        for module in read_imports(source, unit.package, table=False)[0]:
            dependency = self.imported(unit, module)
            if dependency is not None and dependency.marker and not dependency.done:
                return None  # not yet: asked again later
        task = replace(
            self.task(unit), judge=False, summarise=True, django=None, markers=None, tokens=None
        )
        self._summarising.add(unit.index)
        try:
            done = perform(task, _View(self, unit))
        except CatalogueError:
            raise
        except Exception:  # a bug in leakcheck: this module stays unknown code, as before
            done = Done(unit.index, FileResult(unit.shown), None)
        finally:
            self._summarising.discard(unit.index)
        self.parsed += 1
        self._wholes[unit.index] = done.summary
        return done.summary

    def stores(self, asking: Unit | None) -> Summary | None:
        """What the other summarised modules store under each key as a source or an acquiring
        callable (`analysis/stored.py`), merged: a key stored as two different things (two
        sources, or a source and anything else, `STORED_OTHER`) is "stored-other". None when
        no module stores one. The digests say which loads to judge again when a store changes;
        kept per asking module until a summary changes (`_index_stores`)."""
        key = asking.index if asking is not None else -1
        if key in self._stores_seen:
            return self._stores_seen[key]
        exports = {}
        for name, held in sorted(self._stored.items()):
            if not name.startswith(STORED):
                continue
            digests = {d for i, d in held.items() if i != key and self.units[i].done}
            if not digests:
                continue
            other = self._stored.get(STORED_OTHER + name[len(STORED) :], {})
            if len(digests) > 1 or any(i != key and self.units[i].done for i in other):
                from leakcheck.analysis.stored import conflict  # only when a key is stored

                exports[name] = conflict()
                continue
            unit = next(self.units[i] for i in held if i != key and self.units[i].done)
            found = unit.summary.exports().get(name) if unit.summary is not None else None
            if found is not None:
                exports[name] = found
        made = summarise(exports, {}) if exports else None
        self._stores_seen[key] = made
        return made

    def _index_stores(self, unit: Unit) -> None:
        """Keep `_stored` (export name -> unit index -> digest) in step with `unit`'s summary."""
        for name in self._stored_names.pop(unit.index, ()):
            self._stored[name].pop(unit.index, None)
        digests = unit.summary.digests if unit.summary is not None else {}
        names = tuple(n for n in digests if n.startswith(STORES))
        if names:
            self._stored_names[unit.index] = names
            for name in names:
                self._stored.setdefault(name, {})[unit.index] = digests[name]
        self._stores_seen.clear()

    def imported(self, unit: Unit, module: str) -> Unit | None:
        """The unit `unit` imports as `module`, if it is one of the run's."""
        path = self.modules.find(unit.roots, module)
        return self.by_real.get(path) if path is not None else None

    def promote(self, unit: Unit) -> bool:
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

    # -- processing ------------------------------------------------------------------------------

    def task(self, unit: Unit) -> Task:
        """What a worker needs to parse `unit`."""
        django = django_evidence.context(unit.config, unit.path) if unit.judged else None
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

    def complete(self, unit: Unit, done: Done) -> None:
        """Take what parsing `unit` gave (here or in a worker)."""
        self.reuse.forget(unit)
        if not done.defines:
            self._demote(unit, done.code)
            return
        self.parsed += 1
        unit.summary = done.summary if unit.marker else None
        self._index_stores(unit)
        unit.answers = done.answers
        unit.parsed = True
        source = self._bytes(unit)
        unit.result = self.finish(done.result, source, unit) if unit.judged else None
        # A Django settings module's findings also depend on an asgi.py/wsgi.py beside it, which
        # no summary tracks: its result is reused only while the same one is found.
        unit.volatile = django_evidence.is_settings_module(source)
        unit.evidence = django_evidence.evidence(unit.path) if unit.volatile else ""
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
        self._index_stores(unit)
        unit.code = code
        unit.table = import_table(self._bytes(unit), unit.package)
        unit.relay = bool(unit.table)  # decided next (`promote`), before its importers run
        unit.source = None
        if unit.judged:
            self._demoted.append(unit)

    def _judged(self, unit: Unit) -> None:
        if unit.judged and self.on_judged is not None:
            self.on_judged()

    def run_inline(self, unit: Unit) -> None:
        """Parse `unit` in this process."""
        task = self.task(unit)
        try:
            done = perform(task, _View(self, unit))
        except CatalogueError:
            raise
        except Exception as error:  # a bug in leakcheck: this file's error, not the run's end
            detail = " ".join("".join(traceback.format_exception_only(type(error), error)).split())
            message = f"internal error in leakcheck: {detail}"
            failure = FileError(unit.shown, None, message, internal=True)
            done = Done(unit.index, FileResult(unit.shown, errors=(failure,)), None)
        self.complete(unit, done)

    def reused(self, unit: Unit) -> bool:
        """Whether `unit` was done from its cached entry (`Reuse.reusable`)."""
        if not self.reuse.reusable(unit, _View(self, unit)):
            return False
        self.reuse.reuse(unit)
        self._index_stores(unit)
        self._judged(unit)
        return True

    def start_early(self, files: int) -> None:
        """Start the workers before the `files` checked files are read, when the run is cold
        (`Schedule.start_early`)."""
        self.schedule.start_early(files, self.reuse.cold(), self._answer)

    def stop_workers(self) -> None:
        """Stop the workers, if any were started."""
        self.schedule.stop()

    def _answer(self, task: Task, path: str, whole: bool) -> Summary | None:
        return self.visible(self.units[task.key], path, whole)

    # -- the run ---------------------------------------------------------------------------------

    def run(self, checked: list[Unit] | None = None) -> None:
        """Summarise and judge every unit (see the module's docstring); `checked`: the checked
        files' units in the order `replay` was given them, to remember the run by."""
        self.expand()
        nodes = [u for u in self.units if (u.marker or u.table) and not u.unreadable]
        for unit in nodes:
            unit.relay = not unit.marker
        components = self.schedule.order(nodes, self)
        for unit in self.units:
            if unit.unreadable and unit.judged:
                error = FileError(unit.shown, None, unit.unreadable)
                unit.result, unit.done = FileResult(unit.shown, errors=(error,)), True
                self._judged(unit)
        work = sum(
            1
            for u in self.units
            if u.entry is None and (u.marker or (u.judged and not self._gate_only(u)))
        )
        try:
            self.schedule.start(work, self._answer)
            with tuned_collector():
                self.schedule.phase_modules(components, self)
                for unit in self._demoted:
                    unit.done = unit.marker  # (promoted: summarised and judged already)
                rest = [u for u in self.units if u.judged and not u.done and not u.unreadable]
                rest.sort(key=lambda u: -u.stat[0])  # the largest first: no long file last
                self._phase_rest(rest)
                self._settle()
        finally:
            self.stop_workers()
        self.reuse.save(self.units)
        if checked is not None and not self.overrides:
            self.reuse.remember(checked, self.units, lambda unit: _View(self, unit))

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
        self.schedule.execute(self._worth_parsing(units), lambda unit: [], self)

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
            if self._gate_here(pattern, unit):
                # Named on the command line but without a word that can start an acquisition,
                # nor a release a count looks at: read by CPython's parser only, for its syntax
                # errors; libcst is not even imported (pre-commit on a file with no connection).
                source = self._bytes(unit)
                rejected = cpython_rejects(source)
                errors = () if rejected is None else (FileError(unit.shown, *astuple(rejected)),)
                unit.entry = None
                unit.result = self.finish(FileResult(unit.shown, errors=errors), source, unit)
                unit.done = unit.dirty = True
                unit.source = None
                self._judged(unit)
                continue
            if unit.named or not self.prefilter:
                yield unit
                continue
            entry = unit.entry
            if entry is not None and entry.tokens == unit.tokens and self.reused(unit):
                continue
            source, code, unit.code = self._bytes(unit), unit.code, None
            if pattern.matches(code or source, unit.package) or django_evidence.relevant(source):
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

    def _gate_only(self, unit: Unit) -> bool:
        """Whether `unit` is a file named on the command line that, tested before any module is
        summarised (without the names they export), will only go through CPython's parser: no
        worker is started for it. If the full test later finds it worth parsing after all, it
        is parsed in this process (a name another module exports as a source: rare)."""
        return self._gate_here(acquisition_tokens(unit.kinds, unit.config.names), unit)

    def _gate_here(self, pattern: Words, unit: Unit) -> bool:
        """Whether `unit` is named, has no word of `pattern` (`_worth`) and is small enough for
        CPython's parser to read it in this process (`GATE_HERE` bytes): a larger file goes to
        a worker as before, where the memory limit applies (a 300 KB flat list needs hundreds
        of MB of tree)."""
        if not (unit.named and self.prefilter) or unit.marker or unit.unreadable:
            return False
        return len(self._bytes(unit)) <= GATE_HERE and not self._worth(pattern, unit)

    def _worth(self, pattern: Words, unit: Unit) -> bool:
        """Whether `unit`'s bytes hold a word of `pattern`, a Django rule's word, or a release
        (`.close()`, `.release()`, `.aclose()`: the count of resource-like calls of no kind)."""
        source = self._bytes(unit)
        return (
            pattern.matches(source, unit.package)
            or django_evidence.relevant(source)
            or _RELEASE.search(source) is not None
        )

    def _settle(self) -> None:
        """Judge again the few units whose answers changed after they were judged."""
        for _ in range(3):
            stale = [
                u
                for u in self.units
                if u.done and u.parsed and not self.reuse.answers_hold(u, u.answers, _View(self, u))
            ]
            if not stale:
                return
            for unit in stale:
                unit.done, unit.entry = False, None
            self.schedule.execute(stale, lambda unit: [], self)


def settings_digest(config: Config, extra: object) -> str:
    """The digest of everything besides a file's bytes that can change its result."""
    return digest((__version__, config, kinds_for(config), extra))
