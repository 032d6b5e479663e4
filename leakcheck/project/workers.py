"""Parse and judge files in worker processes, one file per task, each file's failure its own.

`perform` is one file's work (parse once, summarise, judge); it runs in this process for
`--jobs 1` and in `WorkerPool`'s processes otherwise. A worker asks the parent for the summaries
of the modules its file imports while it works (the parent knows which are visible to that file),
so that names are resolved from summaries alone and no module is parsed twice.

Isolation: a worker that dies (a native crash; libcst's parser overflowing its stack on deep
chains is turned away before it by `analysis.depth`, and its aborting on a failed allocation
under the memory limit is reported as the memory limit, `DEATH_BY_MEMORY`), runs past the
per-file time limit (libcst's parser takes 8 s over 2,000 subscripts `a[0][0]...`, minutes over
8,000), or runs out of its address-space limit costs one error entry for the file it was
working on; the parent starts a new worker and the run goes on. The limits are `LIMITS`
(seconds, megabytes), overridable with the environment variables `LEAKCHECK_FILE_TIMEOUT` and
`LEAKCHECK_WORKER_MEMORY` (MB), and apply only to workers: `--jobs 1` runs in-process, where
neither limit applies and a native crash cannot be contained.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leakcheck.config.catalogue import Kind
from leakcheck.config.settings import Names
from leakcheck.model import FileError, FileResult
from leakcheck.project.names import Answer, ModuleFinder, NameResolver, SummarySource
from leakcheck.project.prefilter import Words, code_only
from leakcheck.project.summaries import Summary, summarise

if TYPE_CHECKING:  # multiprocessing (and the analysis) are imported only when workers start
    from multiprocessing.connection import Connection

    from leakcheck.analysis.django import DjangoContext

FILE_TIMEOUT = 120.0  # seconds for one file in a worker
NOT_ANALYSED = "not analysed: "  # how a file's error begins when its worker failed on it
WORKER_MEMORY = 2048  # megabytes of address space for one worker
# For the tests of isolation only: with this variable set to 1, a file whose bytes contain one of
# these comments makes its worker crash, hang or allocate without bound.
FAULTS = "LEAKCHECK_TEST_FAULTS"
_FAULT_MARKERS = (b"# leakcheck-test: crash", b"# leakcheck-test: hang", b"# leakcheck-test: oom")


@dataclass(frozen=True)
class Limits:
    """Per-file limits for worker processes: wall-clock seconds, and megabytes of memory."""

    seconds: float = FILE_TIMEOUT
    megabytes: int = WORKER_MEMORY

    @staticmethod
    def from_environment() -> Limits:
        """`LEAKCHECK_FILE_TIMEOUT` and `LEAKCHECK_WORKER_MEMORY`, else the defaults."""
        seconds = float(os.environ.get("LEAKCHECK_FILE_TIMEOUT") or FILE_TIMEOUT)
        megabytes = int(os.environ.get("LEAKCHECK_WORKER_MEMORY") or WORKER_MEMORY)
        return Limits(seconds, megabytes)


@dataclass(frozen=True)
class Task:
    """One file to parse: summarise it (`summarise`), judge it (`judge`), or both."""

    key: int
    path: str  # real path: how the parent knows the module
    shown: str  # how findings name it
    source: bytes
    kinds: tuple[Kind, ...]
    names: Names
    package: str
    roots: tuple[Path, ...]
    helpers: tuple[str, ...]
    judge: bool
    summarise: bool
    django: DjangoContext | None = None  # for the Django rules (LC5xx)
    # The prefilter's tests, to pass again on the code alone (comments and strings blanked)
    # before the file is parsed with libcst: `markers` for a module to summarise (failing it, the
    # module is handed back undone, `Done.defines`), `tokens` for one to judge; None: parse it.
    markers: Words | None = None
    tokens: Words | None = None


@dataclass(frozen=True)
class Done:
    """What a task produced: the raw result (before selection), the module's summary (None if it
    did not parse or was not asked for), and every imported name it looked up with the answer."""

    key: int
    result: FileResult
    summary: Summary | None
    answers: dict[str, Answer] = field(default_factory=dict)
    defines: bool = True  # False: no export marker in its code; nothing was done (`Task.markers`)
    code: bytes | None = None  # when not `defines`: its code alone (`prefilter.code_only`)


_FINDER = ModuleFinder()


def perform(task: Task, source: SummarySource) -> Done:
    """Parse `task`'s file once and do what it asks. Never raises for a problem in the file."""
    from leakcheck.analysis.django import relevant
    from leakcheck.engine import Screening, analyse

    resolver = NameResolver(_FINDER, task.roots, task.kinds, task.names, source)

    seen: list[bytes] = []

    def screen(tree: ast.Module | None) -> Screening | None:
        code = code_only(task.source, tree)
        if code is None:
            return None  # it needs CPython's tree: asked again with it
        seen.append(code)
        markers, tokens = task.markers, task.tokens
        return Screening(
            markers is None or markers.matches(code, task.package),
            # The Django rules' words count in code too: `Thread` or `objects` in a docstring
            # starts no `orm-thread`.
            tokens is None or tokens.matches(code, task.package) or relevant(code),
        )

    done = analyse(
        task.source,
        task.shown,
        task.kinds,
        task.package,
        resolver,
        task.helpers,
        task.judge,
        task.django,
        summarise=task.summarise,
        screen=screen if task.markers is not None or task.tokens is not None else None,
    )
    summary = None
    if task.summarise and done.exports is not None and done.imports is not None:
        summary = summarise(done.exports, done.imports)
    code = seen[0] if seen and not done.defines else None  # the parent's prefilter reads it
    return Done(task.key, done.result, summary, dict(resolver.queries), done.defines, code)


def failed(task: Task, why: str) -> Done:
    """The outcome of a task whose worker died or was stopped: one error entry for its file."""
    error = FileError(task.shown, None, f"{NOT_ANALYSED}{why}")
    return Done(task.key, FileResult(task.shown, errors=(error,)), None)


class _Remote:
    """A worker's view of the parent's summaries: asked once per module and task."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.known: dict[tuple[str, bool], Summary | None] = {}

    def summary(self, path: str, whole: bool = False) -> Summary | None:
        if (path, whole) not in self.known:
            self.connection.send(("need", path, whole))
            self.known[path, whole] = self.connection.recv()
        return self.known[path, whole]


def injected_fault(source: bytes) -> None:
    """For the isolation tests only, with `LEAKCHECK_TEST_FAULTS=1`: die, hang or exhaust memory
    when `source` holds the matching marker (`# leakcheck-test: crash|hang|oom`); else nothing."""
    if os.environ.get(FAULTS) != "1":
        return
    if _FAULT_MARKERS[0] in source:
        os.abort()  # as a segfault does: the process dies without a word
    if _FAULT_MARKERS[1] in source:
        time.sleep(3600)
    if _FAULT_MARKERS[2] in source:
        hog = []
        while True:
            hog.append(bytearray(64 * 1024 * 1024))


# The cyclic garbage collector's thresholds while files are parsed. A libcst tree is millions of
# small objects: with the default (700, 10, 10) a full collection walks every live one over and
# over while a big file is parsed, a third of the run's CPU (measured on the benchmark's corpus).
# The trees hold no reference cycles (nodes are frozen dataclasses without parent links), so
# reference counting frees them and rarer collections cost no memory.
COLLECTOR_THRESHOLDS = (50_000, 20, 100)


@contextlib.contextmanager
def tuned_collector() -> Iterator[None]:
    """Within the block, collect cycles rarely and never scan what was alive on entry (the
    imported modules): `gc.freeze()`, then `COLLECTOR_THRESHOLDS`. Restores both on exit."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _worker(connection: Connection, megabytes: int) -> None:
    """A worker's life: import the analysis (inherited when the parent had imported it before
    forking, see `Project.start_early`), limit its memory, then perform tasks until told to
    stop."""
    import leakcheck.engine  # noqa: F401  (before the collector freezes what is alive)

    with tuned_collector():
        _serve(connection, megabytes)


def _serve(connection: Connection, megabytes: int) -> None:
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform, or not allowed
        pass
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            injected_fault(task.source)
            done = perform(task, _Remote(connection))
        except MemoryError:
            done = failed(task, memory_message(megabytes))
        except Exception as error:  # a bug in leakcheck: this file's error, not the worker's end
            detail = " ".join(f"{type(error).__name__}: {error}".split())
            internal = FileError(task.shown, None, f"internal error in leakcheck: {detail}", True)
            done = Done(task.key, FileResult(task.shown, errors=(internal,)), None)
        connection.send(("done", done))


# A worker that dies having used at least this share of its memory limit (peak resident memory
# against `LEAKCHECK_WORKER_MEMORY`) died of it: libcst's parser (Rust) aborts the process when an
# allocation fails, where Python would raise MemoryError (measured: a worker limited to 500 MB
# dies at 4xx MB resident parsing a 900 KB list; one that crashes otherwise is at about 60 MB).
DEATH_BY_MEMORY = 0.5


def memory_message(megabytes: int) -> str:
    """The reason given for a file whose worker went over its memory limit of `megabytes`."""
    return f"it needs more than the memory limit ({megabytes} MB) set by LEAKCHECK_WORKER_MEMORY"


def _reap(process: Any) -> tuple[int | None, float | None]:
    """Wait for a dead (or dying) worker and return its exit code (negative: the signal) and
    its peak resident memory in MB (`os.wait4`'s rusage; None where there is none). Waits at
    most 5 s, then kills it. The exit code is handed to `process` as `multiprocessing` would
    have set it, so that it is not waited for again."""
    wait4 = getattr(os, "wait4", None)
    popen = getattr(process, "_popen", None)
    if wait4 is None or popen is None or getattr(popen, "returncode", 0) is not None:
        process.join(timeout=5)
        return process.exitcode, None
    deadline = time.monotonic() + 5
    while True:
        try:
            pid, status, usage = wait4(process.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere
            return process.exitcode, None
        if pid == process.pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            deadline = float("inf")
        time.sleep(0.01)
    code = os.waitstatus_to_exitcode(status)
    popen.returncode = code
    # ru_maxrss: kilobytes on Linux, bytes on macOS.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return code, usage.ru_maxrss / scale


# A worker whose resident memory grew this much beyond what it had when it started is replaced
# by a fresh one after its task: memory freed after a big file is not always given back to the
# system (a few live objects keep whole arenas), so over thousands of files a long-lived worker
# only grows (measured: 115 MB per worker on the benchmark's corpus, 175 MB on it copied 3 times).
RECYCLE_GROWTH_MB = 48


def resident_mb(pid: int) -> float | None:
    """The resident memory of process `pid` in MB (Linux `/proc/PID/statm`), else None."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


@dataclass
class _Slot:
    process: Any
    connection: Connection
    task: Task | None = None
    started: float = 0.0
    baseline: float | None = None  # resident MB after its first task (see `RECYCLE_GROWTH_MB`)


class WorkerPool:
    """`jobs` worker processes fed one task at a time.

    `answer(task, path, whole)` gives the summary a task may see for the module at `path`
    (`whole`: as `SummarySource.summary`).
    """

    def __init__(
        self,
        jobs: int,
        answer: Callable[[Task, str, bool], Summary | None],
        limits: Limits | None = None,
    ) -> None:
        import multiprocessing

        # fork when the platform has it: a worker starts in milliseconds and inherits what the
        # parent imported; elsewhere spawn (the worker imports leakcheck itself).
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        self._context: Any = multiprocessing.get_context(method)
        self.answer = answer
        self.limits = limits or Limits.from_environment()
        self.slots = [self._start() for _ in range(jobs)]

    def _start(self) -> _Slot:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker, args=(child, self.limits.megabytes), daemon=True
        )
        process.start()
        child.close()
        return _Slot(process, parent)

    def idle(self) -> int:
        """How many workers wait for a task."""
        return sum(1 for s in self.slots if s.task is None)

    def busy(self) -> int:
        """How many workers have a task."""
        return len(self.slots) - self.idle()

    def submit(self, task: Task) -> None:
        """Give `task` to an idle worker (there must be one)."""
        slot = next(s for s in self.slots if s.task is None)
        slot.task, slot.started = task, time.monotonic()
        try:
            slot.connection.send(task)
        except OSError:  # it died while idle: a fresh one takes the task
            self._replace(slot)
            fresh = self.slots[-1]
            fresh.task, fresh.started = task, time.monotonic()
            fresh.connection.send(task)

    def collect(self) -> list[Done]:
        """Wait until at least one task finishes (or fails); answer workers' questions meanwhile."""
        from multiprocessing.connection import wait

        finished: list[Done] = []
        while not finished:
            busy = [s for s in self.slots if s.task is not None]
            if not busy:
                return finished
            now = time.monotonic()
            deadline = min(s.started + self.limits.seconds for s in busy)
            waitables: list[Any] = [s.connection for s in busy] + [s.process.sentinel for s in busy]
            ready = wait(waitables, timeout=max(0.0, deadline - now))
            for slot in busy:
                task = slot.task
                assert task is not None
                if slot.connection in ready:
                    try:
                        message = slot.connection.recv()
                    except (EOFError, OSError):
                        finished.append(failed(task, self._death(slot)))
                        self._replace(slot)
                        continue
                    if message[0] == "need":
                        slot.connection.send(self.answer(task, message[1], message[2]))
                    else:
                        slot.task = None
                        finished.append(message[1])
                        self._recycle_if_grown(slot)
                elif slot.process.sentinel in ready:
                    finished.append(failed(task, self._death(slot)))
                    self._replace(slot)
                elif time.monotonic() >= slot.started + self.limits.seconds:
                    limit = f"{self.limits.seconds:g} s"
                    finished.append(failed(task, f"it takes longer than the time limit ({limit})"))
                    self._replace(slot)
        return finished

    def _death(self, slot: _Slot) -> str:
        """Why the worker in `slot` died on its task, for the file's error entry: over its
        memory limit (`memory_message`) when it had used at least `DEATH_BY_MEMORY` of it,
        else a crash with its exit code. Reaps it (it has died, or closed its end of the pipe
        to die)."""
        code, peak = _reap(slot.process)
        if peak is not None and peak >= DEATH_BY_MEMORY * self.limits.megabytes:
            return memory_message(self.limits.megabytes)
        shown = f" (exit code {code})" if code is not None else ""
        return f"the worker analysing it crashed{shown}"

    def _recycle_if_grown(self, slot: _Slot) -> None:
        """Replace an idle worker whose memory grew by `RECYCLE_GROWTH_MB` since its first task
        (a fork is milliseconds: the parent has the analysis imported)."""
        now = resident_mb(slot.process.pid)
        if now is None:
            return
        if slot.baseline is None:
            slot.baseline = now
        elif now > slot.baseline + RECYCLE_GROWTH_MB:
            with contextlib.suppress(OSError):
                slot.connection.send(None)  # it stops between tasks: nothing is lost
            slot.process.join(timeout=1)
            self._replace(slot)

    def _replace(self, slot: _Slot) -> None:
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join()
        slot.connection.close()
        self.slots.remove(slot)
        self.slots.append(self._start())

    def close(self) -> None:
        """Stop every worker."""
        for slot in self.slots:
            with contextlib.suppress(OSError):
                slot.connection.send(None)
        for slot in self.slots:
            slot.process.join(timeout=1)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            slot.connection.close()
