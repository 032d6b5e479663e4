"""Reuse: what a run may take from the last one instead of working it out again.

Two levels, both in the cache. Per file, an `Entry` is reused only while the file is unchanged
and every answer it got about an imported name is still the same (`reusable`, `answers_hold`).
Per run, a `Manifest` answers the same run again at once while nothing it read changed
(`replay`, `remember`). What is not to be trusted next time (a bug in leakcheck, a worker that
failed, a buffer rather than the file) is never stored (`retried`, `save`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from leakcheck.config.settings import Config, ConfigFinder
from leakcheck.model import FileResult
from leakcheck.project import django_evidence
from leakcheck.project.cache import Cache, Entry
from leakcheck.project.manifest import Manifest, renamed, results_as_shown, unchanged
from leakcheck.project.names import Answer, ModuleFinder, NameResolver, SummarySource
from leakcheck.project.summaries import digest
from leakcheck.project.unit import Unit
from leakcheck.project.workers import NOT_ANALYSED


class Reuse:
    """The cache's side of one run: entry keys, the entries' and the manifest's checks, and
    what is written back. Without a cache, nothing is reused and nothing stored.

    Stored answers are checked against a `SummarySource` given with each question (the summaries
    the unit may see now); it is not kept, so the run and its reuse hold no cycle.
    """

    def __init__(
        self,
        cache: Cache | None,
        settings_digest: Callable[[Config], str],
        prefilter: bool,
        modules: ModuleFinder,
    ) -> None:
        self.cache = cache
        self.settings_digest = settings_digest
        self.prefilter = prefilter
        self.modules = modules
        self._digests: dict[int, str] = {}
        self._run_key = ""  # the run's identity for its manifest (`replay`)
        self._verified: set[int] = set()  # units whose answers this process looked up

    def cold(self) -> bool:
        """Whether nothing can be reused: no cache, or an empty one (a first run, fresh CI)."""
        return self.cache is None or self.cache.is_empty()

    def entry_key(self, real: str, config: Config) -> str:
        """The cache entry's name for the file at `real` under `config` ("" without a cache)."""
        if self.cache is None:
            return ""
        digest_ = self._digests.get(id(config))
        if digest_ is None:
            digest_ = self.settings_digest(config)
            self._digests[id(config)] = digest_
        return self.cache.key(real, digest_)

    def entry(self, unit: Unit) -> Entry | None:
        """`unit`'s cached entry, if any (whether it still holds is for the caller to check)."""
        return self.cache.load(unit.key) if self.cache is not None and unit.key else None

    # -- the last run again ----------------------------------------------------------------------

    def replay(
        self, checked: list[tuple[str, str, str, bool]], configs: ConfigFinder
    ) -> list[FileResult] | None:
        """The results of the last run, when it was this same run and nothing it read changed;
        else None (and the run does the work, then `remember`s it for next time).

        `checked`: (path, real path, shown, named) of each file to check, in order. "The same run":
        the same files with the same configuration and options (their entry keys, in order).
        "Nothing changed": every module it read (checked or only summarised) has the size and
        mtime it had, every directory a module name was looked up in has its mtime (no module
        appeared or went), and every Django settings module finds the same `asgi.py`. Then
        every answer and summary the last run used still holds, and so does every result: the
        work of a warm run (an entry, a `stat` and the answers' check per file) is skipped.
        """
        if self.cache is None:
            return None
        # Created now, before any directory is stamped: creating it inside the project would
        # change the project root's mtime and make the next run miss its manifest.
        with contextlib.suppress(OSError):
            self.cache.prepare()
        parts = []
        for _, real, _, named in checked:
            config = configs.for_dir(os.path.dirname(real))
            parts.append((self.entry_key(real, config), named))
        self._run_key = digest((tuple(parts), self.prefilter))
        manifest = self.cache.load_manifest(self._run_key)
        if manifest is None or len(manifest.results) != len(checked):
            return None
        evidence = django_evidence.evidence
        if not unchanged(manifest, lambda position: evidence(checked[position][0])):
            return None
        try:
            return results_as_shown(manifest, [shown for _, _, shown, _ in checked])
        except ValueError:  # a damaged manifest
            return None

    def remember(
        self, checked: list[Unit], units: list[Unit], view: Callable[[Unit], SummarySource]
    ) -> None:
        """Write the manifest `replay` reads (see there) for this run over `checked`, one of
        `units`, every module the run read (`view(unit)`: what `unit` may see)."""
        if self.cache is None or not self._run_key:
            return
        if any(u.result is None for u in checked):
            return
        if any(u.unreadable or u.stat == (-1, -1) or retried(u.result) for u in units):
            return  # (`checked` are among the units)
        for unit in units:  # every answer looked up here too: its directories are stamped
            if unit.index not in self._verified:
                self.answers_hold(unit, unit.answers, view(unit))
        evidence = tuple((i, u.evidence) for i, u in enumerate(checked) if u.volatile and u.judged)
        self.cache.store_manifest(
            Manifest(
                self._run_key,
                tuple((u.real, *u.stat) for u in units),
                tuple(sorted(self.modules.watched().items())),
                tuple(u.result for u in checked if u.result is not None),
                tuple(u.result.path for u in checked if u.result is not None),
                evidence,
            )
        )

    # -- one file's entry ------------------------------------------------------------------------

    def reusable(self, unit: Unit, source: SummarySource) -> bool:
        """Whether `unit`'s cached entry gives what parsing it would give now, seeing `source`."""
        entry = unit.entry
        if entry is None or (unit.judged and entry.result is None):
            return False
        if entry.promoted != unit.promoted:  # summarised then and not now, or the reverse
            return False
        if unit.judged and entry.volatile and entry.evidence != django_evidence.evidence(unit.path):
            return False
        if unit.judged and not unit.marker:
            if unit.named or not self.prefilter:
                if not entry.parsed:
                    return False
            elif entry.tokens != unit.tokens:
                return False
        return self.answers_hold(unit, entry.answers, source)

    def answers_hold(self, unit: Unit, answers: dict[str, Answer], source: SummarySource) -> bool:
        """Whether every name `unit` looked up still resolves as it did (`answers`), seeing
        `source`."""
        if not answers:
            return True
        resolver = NameResolver(self.modules, unit.roots, unit.kinds, unit.config.names, source)
        hold = all(resolver.answer(q) == a for q, a in answers.items())
        if hold:
            self._verified.add(unit.index)  # (a parse of it gives new answers: `forget`)
        return hold

    def forget(self, unit: Unit) -> None:
        """`unit` was parsed again: its answers are new, not the ones checked."""
        self._verified.discard(unit.index)

    def reuse(self, unit: Unit) -> None:
        """Take `unit`'s products from its entry (`reusable` said they hold)."""
        entry = unit.entry
        assert entry is not None
        unit.summary, unit.result, unit.answers = entry.summary, entry.result, entry.answers
        unit.volatile, unit.evidence = entry.volatile, entry.evidence  # checked in `reusable`
        if unit.result is not None and entry.shown != unit.shown:
            unit.result = renamed(unit.result, unit.shown)  # `cd` elsewhere, same file
            unit.dirty = True
        unit.parsed = entry.parsed
        unit.done = True

    def save(self, units: list[Unit]) -> None:
        """Store the entry of every unit this run learnt something new about."""
        if self.cache is None:
            return
        for unit in units:
            if not unit.dirty or not unit.done or unit.unreadable or not unit.key:
                continue
            if unit.stat == (-1, -1):
                continue  # a buffer, not the file on disk
            if retried(unit.result):
                continue
            self.cache.store(
                unit.key,
                Entry(
                    unit.stat[0],
                    unit.stat[1],
                    unit.content,
                    unit.marker and not unit.promoted,  # what its bytes say (`Project.promote`)
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


def retried(result: FileResult | None) -> bool:
    """Whether `result` is not to be remembered: a bug in leakcheck, or a worker that failed on
    the file (its time or memory limit may have been the machine's load, not the file's)."""
    return result is not None and any(
        e.internal or e.message.startswith(NOT_ANALYSED) for e in result.errors
    )
