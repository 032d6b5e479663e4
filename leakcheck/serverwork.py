"""The language server's checks in worker processes, with the CLI's limits: no pygls here, so
that a worker (a `python -c` process, `_BOOT`) imports only the analysis.

A worker does `Job`s (check one buffer for its findings alone or with their fixes, or fix it:
`project.buffers`) one at a time; `Workers` keeps at most `MAX_WORKERS` of them, warm between
jobs, and enforces per job `LEAKCHECK_FILE_TIMEOUT` seconds (default `SERVER_TIMEOUT`) and
`LEAKCHECK_WORKER_MEMORY` MB of address space (default the CLI's `WORKER_MEMORY`, set with
RLIMIT_AS in the worker, as `project.workers` does). A job that
runs past them, or whose worker dies (libcst's native parser can overflow its stack, and aborts
when an allocation fails), is an `Outcome` with the CLI's reason ("it takes longer than the time
limit (30 s)"); its worker is replaced.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from leakcheck.config.catalogue import CatalogueError
from leakcheck.config.selection import Overrides
from leakcheck.engine import findings_only
from leakcheck.model import FileError, FileResult
from leakcheck.project.buffers import Fixed, check_buffer, fix_buffer
from leakcheck.project.runner import Checker, Options
from leakcheck.project.workers import RECYCLE_GROWTH_MB, WORKER_MEMORY, Limits, resident_mb
from leakcheck.server_units import Fixes, Snapshot, fixes_in
from leakcheck.server_units import check as incremental

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

SERVER_TIMEOUT = 30.0  # seconds for one check in the editor (the CLI's: 120 s per file)
MAX_WORKERS = 2  # one document stuck at its limit leaves the other worker to the rest
START_TIMEOUT = 120.0  # seconds for a worker to import the analysis, not counted in the limit
CANCEL_AFTER = 2.0  # a superseded check running longer than this is stopped (a restart is ~0.5 s)
SUPERSEDED = "superseded by a newer text"  # the failure of a check stopped for a newer one
_POLL = 0.1  # seconds between looks at a busy worker's cancellation


def server_limits() -> Limits:
    """The limits of one check: `LEAKCHECK_FILE_TIMEOUT` seconds (default `SERVER_TIMEOUT`) and
    `LEAKCHECK_WORKER_MEMORY` MB (default the CLI's `WORKER_MEMORY`), the CLI's variables.
    Raises ValueError for a value that is not a number, as the CLI does."""
    seconds = float(os.environ.get("LEAKCHECK_FILE_TIMEOUT") or SERVER_TIMEOUT)
    megabytes = int(os.environ.get("LEAKCHECK_WORKER_MEMORY") or WORKER_MEMORY)
    return Limits(seconds, megabytes)


@dataclass(frozen=True)
class Job:
    """One piece of work for a worker: check (`check_buffer`) or fix (`fix_buffer`) `source` as
    the file at `path`. "check" finds the findings without their fixes (`engine.findings_only`:
    what diagnostics need, a quarter of the work on a big module), "fixes" finds them with their
    fixes (what quick fixes need): with `lines`, only those of the units holding them
    (`server_units.fixes_in`, cut as `previous` allows); "fix" applies every safe fix."""

    action: Literal["check", "fixes", "fix"]
    source: bytes
    path: str
    previous: Snapshot | None = None  # the last check of this document (`server_units`)
    overrides: Overrides = field(default_factory=Overrides)  # the client's select / ignore
    lines: tuple[int, ...] = ()  # "fixes": the lines of the findings whose fixes are wanted


@dataclass(frozen=True)
class Outcome:
    """What a job produced (a FileResult for a check, a Fixed or None for a fix, Fixes or None
    for the fixes of some lines: None when only a full check gives them), or why it produced
    nothing (`failure`, the CLI's "not analysed: ..." reason; `value` is then None)."""

    value: FileResult | Fixed | Fixes | None
    failure: str | None = None
    snapshot: Snapshot | None = None  # what the next check of the document may reuse
    mode: str = ""  # a check's: "full" or "incremental (...)" (`server_units.Checked`)
    seconds: float = 0.0  # a check's time in the worker


def _checker(overrides: Overrides | None = None) -> Checker:
    """A fresh Checker per check (configuration and other modules may have changed on disk).
    As `ruff server` does for open files, what `exclude` or an ignore file skips is not checked:
    `--force-exclude` semantics."""
    return Checker(options=Options(force_exclude=True, overrides=overrides or Overrides()))


def perform(job: Job, megabytes: int = WORKER_MEMORY) -> Outcome:
    """Do `job` in this process (a worker's side). Never raises for a problem in the text: a bad
    configuration is an error on the first line (a check) or no fix; running out of memory, or a
    bug in leakcheck, is a failure."""
    from leakcheck.project.workers import injected_fault  # the isolation tests' faults

    try:
        injected_fault(job.source)
        if job.action == "fix":
            return Outcome(fix_buffer(_checker(job.overrides), job.source, job.path))
        started = time.perf_counter()
        checker = _checker(job.overrides)  # one per job: the texts of a job are one state
        kinds = checker.context(Path(job.path)).kinds
        if job.lines:
            if job.previous is None:
                return Outcome(None)
            found = fixes_in(
                lambda text: check_buffer(checker, text, job.path),
                job.source,
                kinds,
                job.previous,
                job.lines,
            )
            seconds = time.perf_counter() - started
            count = len(found.spans) if found is not None else 0
            mode = f"{count} {'unit' if count == 1 else 'units'} judged again" if count else ""
            return Outcome(found, mode=mode or "not possible", seconds=seconds)
        with findings_only() if job.action == "check" else contextlib.nullcontext():
            checked = incremental(
                lambda text: check_buffer(checker, text, job.path),
                job.source,
                kinds,
                job.previous,
            )
        # The server reads findings and errors, never the text it sent: not sent back.
        result = replace(checked.result, source="")
        seconds = time.perf_counter() - started
        return Outcome(result, snapshot=checked.snapshot, mode=checked.mode, seconds=seconds)
    except CatalogueError as error:  # a bad configuration: say so on the first line
        if job.action == "fix":
            return Outcome(None)
        return Outcome(FileResult(job.path, errors=(FileError(job.path, 1, str(error)),)))
    except MemoryError:
        return Outcome(None, f"it needs more than the memory limit ({megabytes} MB)")
    except Exception as error:  # a bug in leakcheck: this document's, not the worker's end
        detail = " ".join(f"{type(error).__name__}: {error}".split())
        return Outcome(None, f"internal error in leakcheck: {detail}")


# What a worker runs (`python -c`): the parent's `sys.path` first (the worker may not find
# leakcheck otherwise, as when it runs from a checkout), then `work`. Not multiprocessing's
# `spawn`: it runs the parent's main script again in the child (whatever embeds the server), and
# not `fork`: the server has threads (pygls reads standard input in one), and a child forked
# while one of them holds a lock can hang on it.
_BOOT = (
    "import sys\n"
    "from multiprocessing.connection import Connection\n"
    "jobs = Connection(int(sys.argv[1]), writable=False)\n"
    "sys.path[:] = jobs.recv()\n"
    "from leakcheck.serverwork import work\n"
    "results = Connection(int(sys.argv[2]), readable=False)\n"
    "work(jobs, results, int(sys.argv[3]), float(sys.argv[4]))\n"
)


def _limit(megabytes: int, seconds: float | None = None) -> None:
    """Limit this process's address space to `megabytes` MB (RLIMIT_AS, as the CLI's workers);
    with `seconds`, its CPU time to what it used so far plus `seconds` and a margin (RLIMIT_CPU:
    the kernel ends it with SIGXCPU). The server stops a job at `seconds` of wall time first;
    the CPU limit ends a worker the server can no longer stop (it was killed), which would
    otherwise go on with a pathological text for minutes. No-op where these limits do not
    exist."""
    with contextlib.suppress(ImportError, ValueError, OverflowError, OSError):
        import resource

        if seconds is None:
            limit = megabytes * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        budget = int(usage.ru_utime + usage.ru_stime + seconds) + 5
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        if hard != resource.RLIM_INFINITY:
            budget = min(budget, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (budget, hard))


def work(jobs: Connection, results: Connection, megabytes: int, seconds: float) -> None:
    """A worker's life (see `_BOOT`): limit the address space to `megabytes` MB, import the
    analysis, say "ready" on `results`, then do each job from `jobs` (within `seconds` of CPU,
    `_limit`) and send its Outcome, until `jobs` ends or sends None."""
    _limit(megabytes)
    import leakcheck.engine  # noqa: F401  (the first check pays no import)
    from leakcheck.project.workers import tuned_collector

    with tuned_collector():
        results.send("ready")
        while True:
            try:
                job = jobs.recv()
            except (EOFError, OSError):
                return
            if job is None:
                return
            _limit(megabytes, seconds)
            results.send(perform(job, megabytes))


# What Rust's allocator prints before it aborts the process (libcst's native parser, out of its
# address space): how a worker that died of the memory limit is told from one that crashed.
_ALLOCATION_FAILED = b"memory allocation of "


def _forward(stream: IO[bytes], worker: _Worker) -> None:
    """Copy a worker's output (standard output and error) to the server's standard error (the
    client's log, never its channel), keeping its last 4 kB in `worker.tail`."""
    target = getattr(sys.stderr, "buffer", None)
    with contextlib.suppress(OSError, ValueError):  # closed by `_stop`
        for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
            worker.tail = (worker.tail + chunk)[-4096:]
            if target is not None:
                with contextlib.suppress(OSError, ValueError):
                    target.write(chunk)
                    target.flush()


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    jobs: Connection
    results: Connection  # ends (EOF) when the process does
    ready: bool = False
    baseline: float | None = None  # resident MB after its first job (`RECYCLE_GROWTH_MB`)
    tail: bytes = b""  # the end of what it printed (`_forward`)
    forwarder: threading.Thread | None = None


class Workers:
    """At most `size` worker processes, each doing one job at a time under `limits`; `run` is
    called from threads (it blocks), never from the event loop."""

    def __init__(self, limits: Limits, size: int = MAX_WORKERS) -> None:
        self.limits = limits
        self.size = size
        # Passing the pipes to a worker needs POSIX (`pass_fds`); elsewhere jobs run in the
        # server's process, in a thread, without the limits (as the CLI's `--jobs 1`).
        self.isolated = os.name == "posix"
        self._lock = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._closed = False

    def warm(self, count: int = 1) -> None:
        """Start workers now until `count` (at most `size`) run, so that the first checks do
        not wait for them."""
        with self._lock, contextlib.suppress(OSError):  # if it cannot, `run` says why
            while self.isolated and len(self._all) < min(count, self.size) and not self._closed:
                self._idle.append(self._start())

    def _start(self) -> _Worker:
        from multiprocessing.connection import Connection

        jobs_in, jobs_out = os.pipe()
        results_in, results_out = os.pipe()
        fds = (str(jobs_in), str(results_out))
        limits = (str(self.limits.megabytes), repr(self.limits.seconds))
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, *fds, *limits],
                pass_fds=(jobs_in, results_out),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,  # never the client's channel: see `_forward`
                stderr=subprocess.STDOUT,
            )
        except BaseException:
            os.close(jobs_out)
            os.close(results_in)
            raise
        finally:
            os.close(jobs_in)
            os.close(results_out)
        jobs = Connection(jobs_out, readable=False)
        with contextlib.suppress(OSError):  # if it died at once, `_ask` says so
            jobs.send(sys.path)
        worker = _Worker(process, jobs, Connection(results_in, writable=False))
        assert process.stdout is not None
        worker.forwarder = threading.Thread(
            target=_forward, args=(process.stdout, worker), daemon=True
        )
        worker.forwarder.start()
        self._all.append(worker)
        return worker

    def _take(self) -> _Worker | None:
        with self._lock:
            while not self._closed:
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < self.size:
                    return self._start()
                self._lock.wait()
            return None

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
        if healthy:  # replaced when it grew, as the CLI's workers are (`RECYCLE_GROWTH_MB`)
            now = resident_mb(worker.process.pid)
            if worker.baseline is None:
                worker.baseline = now
            elif now is not None and now > worker.baseline + RECYCLE_GROWTH_MB:
                healthy = False
        with self._lock:
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                self._all.remove(worker)
                _stop(worker)
            self._lock.notify()

    def run(self, job: Job, cancelled: threading.Event | None = None) -> Outcome:
        """Do `job` in a worker within the limits; wait for a free worker first. A failure
        (time, memory, a crash, `cancelled` set after `CANCEL_AFTER` seconds of work, the
        server closing) is an Outcome with `failure` set; the worker is then replaced."""
        if cancelled is not None and cancelled.is_set():
            return Outcome(None, SUPERSEDED)  # still queued: never started
        if not self.isolated:
            return perform(job, self.limits.megabytes)
        try:
            worker = self._take()
        except OSError as error:  # no process could be started
            return Outcome(None, f"could not start a worker ({error})")
        if worker is None:
            return Outcome(None, "the server is shutting down")
        outcome, healthy = Outcome(None, "the server is shutting down"), False
        try:
            outcome, healthy = self._ask(worker, job, cancelled)
        finally:
            self._give_back(worker, healthy)
        return outcome

    def _ask(
        self, worker: _Worker, job: Job, cancelled: threading.Event | None
    ) -> tuple[Outcome, bool]:
        from multiprocessing.connection import wait

        results = worker.results
        try:
            if not worker.ready:
                if not wait([results], timeout=START_TIMEOUT):
                    return Outcome(None, self._died(worker, "could not start a worker")), False
                results.recv()
                worker.ready = True
            worker.jobs.send(job)
        except (EOFError, OSError):
            return Outcome(None, self._died(worker, "could not start a worker")), False
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= self.limits.seconds:
                limit = f"{self.limits.seconds:g} s"
                return Outcome(None, f"it takes longer than the time limit ({limit})"), False
            if cancelled is not None and cancelled.is_set() and elapsed >= CANCEL_AFTER:
                return Outcome(None, SUPERSEDED), False
            ready = wait([results], timeout=min(_POLL, self.limits.seconds - elapsed))
            if ready:
                try:
                    outcome: Outcome = results.recv()
                except (EOFError, OSError):  # it died
                    return Outcome(None, self._died(worker)), False
                # A job that failed (out of memory, a bug) may leave the worker in a bad state.
                return outcome, outcome.failure is None

    def _died(self, worker: _Worker, what: str = "") -> str:
        try:
            code: int | None = worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if worker.forwarder is not None:
            worker.forwarder.join(timeout=1)  # its output ends with it
        if _ALLOCATION_FAILED in worker.tail:
            return f"it needs more than the memory limit ({self.limits.megabytes} MB)"
        return f"{what or 'the worker analysing it crashed'} (exit code {code})"

    def close(self) -> None:
        """Stop every worker (a busy one's `run` returns a failure) and refuse new jobs."""
        with self._lock:
            self._closed = True
            idle, busy = list(self._idle), [w for w in self._all if w not in self._idle]
            self._idle.clear()
            self._lock.notify_all()
        for worker in busy:
            with contextlib.suppress(OSError):
                worker.process.kill()
        for worker in idle:
            with contextlib.suppress(OSError):
                worker.jobs.send(None)
        for worker in idle:
            _stop(worker, grace=1.0)


def _stop(worker: _Worker, grace: float = 0.0) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.process.wait(timeout=grace)
    if worker.process.poll() is None:
        worker.process.kill()
    worker.process.wait()
    worker.jobs.close()
    worker.results.close()
    if worker.forwarder is not None:
        worker.forwarder.join(timeout=1)
    if worker.process.stdout is not None:
        worker.process.stdout.close()
