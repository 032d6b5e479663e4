"""`leakcheck server`: a language server over standard input/output, a thin shell like `cli.py`.

Built on pygls 2 and lsprotocol (the optional `server` extra: `pip install 'leakcheck-db[server]'`),
which only this module imports. What it offers, following `ruff server`:

- diagnostics when a document is opened, changed or saved, for the text in the editor (unsaved
  changes included) checked as if it were the file on disk: that file's configuration,
  `per-file-ignores` and the project's other modules (read from disk) apply. Each diagnostic has
  the rule's code, `codeDescription.href` (the rule's page, `report.ruledocs.RULES_URL`), and the
  statement through which the resource escapes as related information;
- a `quickfix` code action per fixable finding ("(unsafe)" in the title when the fix may change
  behaviour, as ruff labels them), and "Disable CODE for this line" (`# noqa: CODE`, merged
  into the line's list: `server_actions.noqa_edit`);
- `source.fixAll.leakcheck`: every safe fix at once, as `leakcheck check --fix` would write it;
- hover on a finding: its rule's page (`leakcheck rule CODE`'s text);
- the client's settings (`server_actions.Settings`: `select`, `ignore`, `run`, `unsafeFixes`)
  from `initializationOptions` and `workspace/didChangeConfiguration`; a changed
  `pyproject.toml` / `leakcheck.toml` / `.leakcheck.toml` re-checks the open documents
  (`workspace/didChangeWatchedFiles`, whose watchers the server registers when the client
  supports dynamic registration: LSP 3.17, "DidChangeWatchedFiles Notification").

As you type: a change is checked `DEBOUNCE` seconds after the last one (open and save at once);
each check reuses what the previous check of the document found in the functions that did not
change (`server_units`: the result is a full check's); a text that does not parse keeps the last
findings, with the syntax error added. Diagnostics wait for no fix: they come from a check that
works out none (`engine.findings_only`; fixes are three quarters of judging a big module). The
fixes are worked out when a code action asks for them, for the functions and classes holding the
findings on its lines alone (judged again in a reduced text, as an edit is: `with_fixes`), and
kept for that state of the document; a full check with fixes where that cannot be done (a
module-level finding, a module `server_units` leaves to full checks, many findings at once).

Positions: findings count columns in characters; the document's position codec (pygls) converts
them to the encoding negotiated with the client (UTF-16 unless the client offers another).

Limits, as the CLI's workers have them (`project.workers`): every check and fix-all runs in a
worker process (`serverwork.Workers`: at most two, started with `spawn`, kept warm), limited to
`LEAKCHECK_FILE_TIMEOUT` seconds (default 30: shorter than the CLI's 120, since an editor waits
for the answer) and `LEAKCHECK_WORKER_MEMORY` MB of address space (the CLI's default, 2048). A
document that runs past either, or that crashes the parser, costs that document one Warning
diagnostic on its first line ("not analysed: ...", the CLI's words) and a `window/logMessage`;
the worker is replaced and the server goes on answering meanwhile (the wait is in a thread, not
in the event loop). A newer text of a document supersedes a check of an older one: its result is
never published, and the check is stopped when it has run longer than `CANCEL_AFTER` (2 s).
A lone surrogate in a document's text (JSON can carry one) is checked as U+FFFD (`encoded`).

JSON-RPC: a body that is not JSON gets a Parse error reply (-32700, `id` null), a message that is
not a JSON-RPC 2.0 request or notification an Invalid Request (-32600), a request whose params do
not fit its method an Invalid params (-32602) with its id (JSON-RPC 2.0, section 5.1); the server
goes on. `exit` ends the process with 0 after `shutdown`, with 1 otherwise (LSP 3.17, "Exit
Notification").
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from leakcheck import __version__
from leakcheck.checks import rules
from leakcheck.model import FileError, FileResult, Finding, Fix, Severity
from leakcheck.project.buffers import Fixed
from leakcheck.project.workers import NOT_ANALYSED, Limits
from leakcheck.report.ruledocs import url
from leakcheck.server_actions import ON_SAVE, Settings, documentation, noqa_edit, settings
from leakcheck.server_units import Fixes, Snapshot
from leakcheck.serverwork import SUPERSEDED, Job, Outcome, Workers, server_limits

SOURCE = "leakcheck"
FIX_ALL = "source.fixAll.leakcheck"  # a sub-kind of `source.fixAll`, as ruff's
_URLS = {rule.code: url(rule) for rule in rules()}
# A finding's weight as the editor shows it: a high one as before (Warning), lighter ones less
# loudly (LSP 3.17, DiagnosticSeverity: Information, Hint).
_SEVERITY = {
    Severity.HIGH: types.DiagnosticSeverity.Warning,
    Severity.MEDIUM: types.DiagnosticSeverity.Information,
    Severity.LOW: types.DiagnosticSeverity.Hint,
}
_LOG = logging.getLogger(__name__)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
DEBOUNCE = 0.2  # seconds after the last change before a check (a save or an open: at once)
CONFIG_FILES = ("pyproject.toml", "leakcheck.toml", ".leakcheck.toml")


def encoded(text: str) -> bytes:
    """`text` in UTF-8, each lone surrogate (which JSON can carry as `"\\ud800"`, UTF-8 cannot)
    replaced by U+FFFD: one character for one, so columns are unchanged."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


@dataclass(frozen=True)
class Checked:
    """One state of one document (`stamp`: see `LeakcheckServer.stamps`) and what was found."""

    stamp: int
    result: FileResult


_Running = tuple[int, "asyncio.Future[FileResult]", threading.Event]


@dataclass
class Track:
    """One kind of check of the open documents, per document: the result of its latest state
    (`checked`: an older state's is never kept), the check in flight, and what the next check
    may reuse (`server_units`). `action` "check": findings alone (diagnostics, hover); "fixes":
    findings with their fixes (quick fixes, when `with_fixes` cannot do with fewer). `cancel`:
    whether a newer text stops a check in flight (`CANCEL_AFTER`); a "fixes" check is left to
    finish, since the next one reuses it."""

    action: Literal["check", "fixes"]
    cancel: bool
    checked: dict[str, Checked] = field(default_factory=dict)
    running: dict[str, _Running] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)

    def drop(self, uri: str) -> None:
        """Forget `uri` (closed); a check in flight ends unpublished."""
        self.checked.pop(uri, None)
        self.snapshots.pop(uri, None)


def _path(document: TextDocument) -> str:
    path = to_fs_path(document.uri)
    return path if path is not None else document.uri


def _failed(path: str, why: str) -> FileResult:
    return FileResult(path, errors=(FileError(path, 1, f"{NOT_ANALYSED}{why}"),))


PARSE_ERROR = -32700  # JSON-RPC 2.0, section 5.1
INVALID_REQUEST = -32600


def _is_id(value: object) -> bool:
    """Whether `value` can be a request's id (LSP: an integer or a string)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Rejected:
    """A message that cannot be handled, and the error it is answered with (`reply` False: a
    notification, which is never answered, JSON-RPC 2.0 section 4.1)."""

    id: int | str | None
    code: int
    message: str
    reply: bool = True


class LeakcheckProtocol(LanguageServerProtocol):
    """pygls's protocol, answering what it cannot read instead of only logging it."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        """pygls's reading of one JSON object (called for every object in a body, innermost
        first), except that a message that is not valid JSON-RPC 2.0, or whose params do not fit
        its method, becomes a `_Rejected` instead of an exception that loses its id."""
        if "jsonrpc" not in data:
            return data  # a nested object, or not JSON-RPC at all (`handle_message` answers)
        ident = data.get("id")
        request = "id" in data and "method" in data
        if data["jsonrpc"] != self.VERSION or ("id" in data and not _is_id(ident)):
            return _Rejected(ident if _is_id(ident) else None, INVALID_REQUEST, "Invalid Request")
        if "method" in data and not isinstance(data["method"], str):
            return _Rejected(ident if _is_id(ident) else None, INVALID_REQUEST, "Invalid Request")
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            response = error.to_response_error()
            return _Rejected(ident, response.code, response.message, reply=request)

    def handle_message(self, message: Any) -> None:
        """Answer a `_Rejected` message with its error, anything that is not a JSON-RPC message
        object (a dict without `jsonrpc`, an array, a number) with Invalid Request (-32600, id
        null: LSP has no batches); hand the rest to pygls."""
        if isinstance(message, _Rejected):
            _LOG.warning("rejected a message: %s (%s)", message.message, message.code)
            if message.reply:
                self.reply_error(message.id, message.code, message.message)
            return
        if not hasattr(message, "jsonrpc"):
            ident = message.get("id") if isinstance(message, dict) else None
            self.reply_error(ident if _is_id(ident) else None, INVALID_REQUEST, "Invalid Request")
            return
        super().handle_message(message)

    def reply_error(self, ident: int | str | None, code: int, message: str) -> None:
        """Send a JSON-RPC error response; `ident` None is sent as `"id": null`, as JSON-RPC 2.0
        (section 5) requires when the request's id could not be read."""
        error = {"code": code, "message": message}
        self._send_data({"jsonrpc": self.VERSION, "id": ident, "error": error})


MAX_PARTIAL = 8  # findings whose fixes are worked out in a reduced text; more: a full check


def _identity(finding: Finding) -> tuple[str, int, int, int, int]:
    return (finding.code, finding.line, finding.column, finding.end_line, finding.end_column)


def _meets(finding: Finding, wanted: types.Range) -> bool:
    """Whether `finding`'s lines meet `wanted`'s (0-based) lines."""
    return not (finding.end_line - 1 < wanted.start.line or finding.line - 1 > wanted.end.line)


@dataclass
class Partial:
    """The fixes of some units of one state (`stamp`) of a document: the lines the units span,
    and their findings with fixes by place and code."""

    stamp: int
    spans: list[tuple[int, int]] = field(default_factory=list)
    found: dict[tuple[str, int, int, int, int], Finding] = field(default_factory=dict)

    def covers(self, line: int) -> bool:
        """Whether the fixes of the unit holding `line` are known."""
        return any(start <= line <= end for start, end in self.spans)

    def add(self, fixes: Fixes) -> None:
        """Keep `fixes` (`server_units.fixes_in` of this state)."""
        self.spans.extend(fixes.spans)
        self.found.update((_identity(f), f) for f in fixes.findings)


class LeakcheckServer(LanguageServer):
    """The server: the latest check of each open document, the checks in flight, the workers."""

    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__(
            "leakcheck",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
            protocol_cls=LeakcheckProtocol,
        )
        self.workers = Workers(limits or server_limits())
        # The waits for workers: not pygls's pool, which also reads standard input.
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="leakcheck-check")
        self.stamps: dict[str, int] = {}  # per document, bumped by each open, change and save
        self.findings = Track("check", cancel=True)  # what diagnostics and hover read
        self.fixes = Track("fixes", cancel=False)  # what quick fixes read, worked out after
        self.partial: dict[str, Partial] = {}  # the fixes of some units (`with_fixes`)
        self._publishing: set[str] = set()
        self._tasks: set[asyncio.Future[None]] = set()
        self.generation = 0  # bumped when files on disk change: snapshots made before are stale
        self.good: dict[str, list[types.Diagnostic]] = {}  # last published without syntax error
        self.settings = Settings()
        self.modes: dict[str, str] = {}  # how each document's last check was made
        self._urgent: set[str] = set()  # publish without waiting (`DEBOUNCE`)
        self.shut_down = False  # `shutdown` received: `exit` then ends with 0
        self.closing = False  # no more checks: shut down, exiting, or the client is gone

    def report_server_error(self, error: Exception, source: Any) -> None:
        """A body that is not JSON (pygls's reading loop gives up on it and calls this with
        `JsonRpcException` as source) gets a Parse error reply (-32700, id null, JSON-RPC 2.0
        section 5.1) rather than pygls's pop-up; other errors go to pygls."""
        if source is JsonRpcException and isinstance(error, (ValueError, RecursionError)):
            _LOG.warning("a message that is not JSON: %s", error)
            assert isinstance(self.protocol, LeakcheckProtocol)
            self.protocol.reply_error(None, PARSE_ERROR, "Parse error")
            return
        super().report_server_error(error, source)

    def edited(self, uri: str) -> None:
        """Note that `uri`'s text (or what it depends on, on save) changed, and stop a check of
        its previous text if it runs long (`CANCEL_AFTER`)."""
        self.stamps[uri] = self.stamps.get(uri, 0) + 1
        running = self.findings.running.get(uri)
        if running is not None:
            running[2].set()

    async def check(self, document: TextDocument, fixes: bool = False) -> FileResult:
        """What is found in `document`'s current text, checked in a worker: the findings alone,
        or with `fixes` each finding's fixes too (`Track`). One check per state (`stamps`) of a
        document and kind, shared by whoever asks for it; a findings-only question is answered
        by a check with fixes of the same state if there is one. One check with fixes per
        document at a time: a newer state's waits for an older one's, and reuses it."""
        uri = document.uri
        track = self.fixes if fixes else self.findings
        while True:
            stamp = self.stamps.get(uri, 0)
            cached = track.checked.get(uri)
            if cached is not None and cached.stamp == stamp:
                return cached.result
            fixed = self.fixes.checked.get(uri)
            if fixed is not None and fixed.stamp == stamp and not _not_analysed(fixed.result):
                return fixed.result
            running = track.running.get(uri)
            if running is not None and running[0] != stamp and not track.cancel:
                await asyncio.shield(running[1])  # then the next state's check reuses it
                continue
            if running is None or running[0] != stamp:
                job = Job(
                    track.action,
                    encoded(document.source),
                    _path(document),
                    track.snapshots.get(uri),
                    self.settings.overrides,
                )
                cancelled = threading.Event()
                task = asyncio.ensure_future(self._check(track, uri, stamp, job, cancelled))
                running = (stamp, task, cancelled)
                track.running[uri] = running
            return await asyncio.shield(running[1])

    async def _check(
        self, track: Track, uri: str, stamp: int, job: Job, cancelled: threading.Event
    ) -> FileResult:
        loop = asyncio.get_running_loop()
        generation = self.generation
        outcome = await loop.run_in_executor(self.executor, self.workers.run, job, cancelled)
        current = generation == self.generation and uri in self.stamps
        if current:
            if outcome.snapshot is not None:
                track.snapshots[uri] = outcome.snapshot
            elif outcome.failure is None:
                track.snapshots.pop(uri, None)
            if track is self.findings:
                self.modes[uri] = outcome.mode
            what = "checked" if track is self.findings else "worked out the fixes of"
            self._log_check(f"{what} {job.path}", outcome)
        if track.running.get(uri, (None,))[0] == stamp:
            del track.running[uri]
        if outcome.failure is not None:
            if outcome.failure != SUPERSEDED:  # never published: nothing to explain
                self._log_failure(job.path, outcome.failure)
            result = _failed(job.path, outcome.failure)
        else:
            assert isinstance(outcome.value, FileResult)
            result = outcome.value
        if self.stamps.get(uri, 0) == stamp:
            track.checked[uri] = Checked(stamp, result)
            if track is self.findings and not result.findings and outcome.failure is None:
                # Nothing found: nothing to fix either, the check with fixes would be this one.
                self.fixes.checked[uri] = Checked(stamp, result)
                if current and outcome.snapshot is not None:
                    self.fixes.snapshots[uri] = outcome.snapshot
        return result

    async def with_fixes(self, document: TextDocument, wanted: types.Range) -> FileResult:
        """The findings of `document`'s current text, those on `wanted`'s lines with their
        fixes: the findings (`check`), then the fixes of the units holding those findings,
        judged again in a reduced text (`server_units.fixes_in`) and kept for this state of
        the document (`Partial`); a full check with fixes when that cannot be done, or when
        the findings are more than `MAX_PARTIAL`."""
        uri = document.uri
        stamp = self.stamps.get(uri, 0)
        known = self.fixes.checked.get(uri)
        if known is not None and known.stamp == stamp and not _not_analysed(known.result):
            return known.result
        found = await self.check(document)
        needed = [f for f in found.findings if _meets(f, wanted)]
        if self.stamps.get(uri, 0) != stamp or not needed or any(f.fixes for f in needed):
            return found  # edited meanwhile, nothing to fix there, or fixes known already
        partial = self.partial.get(uri)
        if partial is None or partial.stamp != stamp:  # an older state's: dropped
            partial = self.partial[uri] = Partial(stamp)
        missing = sorted({f.line for f in needed if not partial.covers(f.line)})
        snapshot = self.findings.snapshots.get(uri)
        if missing and snapshot is not None and len(missing) <= MAX_PARTIAL:
            job = Job(
                "fixes",
                encoded(document.source),
                _path(document),
                snapshot,
                self.settings.overrides,
                tuple(missing),
            )
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self.executor, self.workers.run, job, None)
            if isinstance(outcome.value, Fixes) and self.stamps.get(uri, 0) == stamp:
                partial.add(outcome.value)
                self._log_check(f"worked out the fixes of {job.path}", outcome)
        picked = [partial.found.get(_identity(f)) for f in needed]
        if all(p is not None for p in picked):
            return replace(found, findings=tuple(p for p in picked if p is not None))
        return await self.check(document, fixes=True)

    def _log_check(self, what: str, outcome: Outcome) -> None:
        """A check's time in the worker and how it was made, in the client's log (ruff logs
        its checks)."""
        if outcome.mode and not self.closing:
            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Log,
                    message=f"leakcheck: {what} in {outcome.seconds:.3f} s ({outcome.mode})",
                )
            )

    async def fixed(self, document: TextDocument) -> Fixed | None:
        """`document`'s text with every safe fix applied, worked out in a worker; None when it
        failed (the reason is logged)."""
        job = Job("fix", encoded(document.source), _path(document), None, self.settings.overrides)
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(self.executor, self.workers.run, job, None)
        if outcome.failure is not None:
            self._log_failure(job.path, outcome.failure)
            return None
        return outcome.value if isinstance(outcome.value, Fixed) else None

    def _log_failure(self, path: str, why: str) -> None:
        if self.closing:
            return
        self.window_log_message(
            types.LogMessageParams(
                type=types.MessageType.Warning, message=f"leakcheck: {path}: {NOT_ANALYSED}{why}"
            )
        )

    def forget(self) -> None:
        """Files on disk changed (a save, a configuration): what checks reuse is stale."""
        self.generation += 1
        self.findings.snapshots.clear()
        self.fixes.snapshots.clear()

    def publish(self, uri: str, wait: bool = False) -> None:
        """Check the open document `uri` and publish its diagnostics: its latest text's only
        (a check of a text edited meanwhile is not published; the latest is checked then).
        With `wait`, only once no change came for `DEBOUNCE` seconds."""
        if not wait:
            self._urgent.add(uri)
        if uri in self._publishing:
            return  # the loop in flight sees the new stamp and checks the latest text
        self._publishing.add(uri)
        task = asyncio.ensure_future(self._publish(uri))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, uri: str) -> None:
        try:
            while uri in self.stamps and not self.closing:
                stamp = self.stamps[uri]
                if uri not in self._urgent:
                    await asyncio.sleep(DEBOUNCE)
                    if self.stamps.get(uri) != stamp:
                        continue  # typed on: wait for the pause
                self._urgent.discard(uri)
                document = self.workspace.get_text_document(uri)
                result = await self.check(document)
                if self.stamps.get(uri) != stamp or self.closing:
                    continue  # edited (or closed) meanwhile
                found = diagnostics(document, result)
                if _syntax_error(result) and uri in self.good:
                    found = [*self.good[uri], *found]  # what was found stays while typing
                else:
                    self.good[uri] = found
                self.text_document_publish_diagnostics(
                    types.PublishDiagnosticsParams(
                        uri=uri, version=document.version, diagnostics=found
                    )
                )
                return
        finally:
            self._publishing.discard(uri)
            self._urgent.discard(uri)

    def close(self) -> None:
        """Stop the workers; checks in flight end as failures and are not published."""
        self.closing = True
        self.workers.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _not_analysed(result: FileResult) -> bool:
    """Whether `result` is that of a check that failed (a limit, a crash: `_failed`)."""
    return any(e.message.startswith(NOT_ANALYSED) for e in result.errors)


def _syntax_error(result: FileResult) -> bool:
    """Whether `result` is that of a text that does not parse (the gate's reason)."""
    return any(e.message.startswith("syntax error") for e in result.errors)


_LINES: list[tuple[str, Sequence[str]]] = []  # the last text split into lines, and its lines


def _lines(document: TextDocument) -> Sequence[str]:
    """`document.lines`, which pygls splits again at each call (0.5 ms on 3,000 lines, for
    each position of each diagnostic), split once per text."""
    source = document.source
    if not _LINES or _LINES[0][0] is not source:
        _LINES[:] = [(source, document.lines)]
    return _LINES[0][1]


def _range(
    document: TextDocument, line: int, column: int, end_line: int, end_column: int
) -> types.Range:
    """A 1-based, end-exclusive span in characters as an LSP range in the client's units."""
    span = types.Range(
        start=types.Position(line=max(line - 1, 0), character=max(column - 1, 0)),
        end=types.Position(line=max(end_line - 1, 0), character=max(end_column - 1, 0)),
    )
    return document.position_codec.range_to_client_units(_lines(document), span)


def _line_range(document: TextDocument, line: int, column: int | None) -> types.Range:
    lines = _lines(document)
    text = lines[line - 1].rstrip("\r\n") if 0 < line <= len(lines) else ""
    start = column if column is not None else len(text) - len(text.lstrip()) + 1
    return _range(document, line, start, line, len(text) + 1)


def diagnostic(document: TextDocument, finding: Finding) -> types.Diagnostic:
    """One finding as an LSP diagnostic."""
    related = None
    if finding.related_line is not None:
        where = _line_range(document, finding.related_line, finding.related_column)
        related = [
            types.DiagnosticRelatedInformation(
                location=types.Location(uri=document.uri, range=where),
                message=finding.related_label or "the resource escapes here",
            )
        ]
    href = _URLS.get(finding.code)
    return types.Diagnostic(
        range=_range(document, finding.line, finding.column, finding.end_line, finding.end_column),
        message=finding.message,
        severity=_SEVERITY[finding.severity],
        code=finding.code,
        code_description=types.CodeDescription(href=href) if href else None,
        source=SOURCE,
        related_information=related,
    )


def diagnostics(document: TextDocument, result: FileResult) -> list[types.Diagnostic]:
    """Findings and file errors (a syntax error, a bad configuration: Error; "not analysed", a
    limit or a crash: Warning) as diagnostics."""
    found = [diagnostic(document, f) for f in result.findings]
    for error in result.errors:
        line = error.line or 1
        found.append(
            types.Diagnostic(
                range=_line_range(document, line, None),
                message=error.message,
                # A document that was not analysed (a limit, a crash) has no error in it.
                severity=types.DiagnosticSeverity.Warning
                if error.message.startswith(NOT_ANALYSED)
                else types.DiagnosticSeverity.Error,
                source=SOURCE,
            )
        )
    return found


def _edit(document: TextDocument, fix: Fix) -> types.WorkspaceEdit:
    edits = [
        types.TextEdit(
            range=_range(document, e.line, e.column, e.end_line, e.end_column), new_text=e.content
        )
        for e in fix.edits
    ]
    return types.WorkspaceEdit(changes={document.uri: edits})


def quick_fixes(
    document: TextDocument, result: FileResult, wanted: types.Range, unsafe: bool = True
) -> list[types.CodeAction]:
    """A `quickfix` per candidate fix of each finding whose lines meet `wanted` (without
    `unsafe`, only the safe ones); the one `--fix` applies is preferred when it is safe. Then,
    per finding, "Disable CODE for this line" (`server_actions.noqa_edit`)."""
    actions = []
    silencing = []
    for finding in result.findings:
        if not _meets(finding, wanted):
            continue
        silence = noqa_edit(document.source, finding.line, finding.code)
        if silence is not None:
            where = _range(document, silence.line, silence.start + 1, silence.line, silence.end + 1)
            silencing.append(
                types.CodeAction(
                    title=f"Disable {finding.code} for this line",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic(document, finding)],
                    edit=types.WorkspaceEdit(
                        changes={document.uri: [types.TextEdit(range=where, new_text=silence.text)]}
                    ),
                )
            )
        for number, fix in enumerate(finding.fixes):
            if fix.applicability != "safe" and not unsafe:
                continue
            title = fix.message
            if fix.applicability != "safe":
                title += " (unsafe)"
            actions.append(
                types.CodeAction(
                    title=f"{title} ({finding.code})",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic(document, finding)],
                    edit=_edit(document, fix),
                    is_preferred=number == 0 and fix.applicability == "safe",
                )
            )
    return actions + silencing


def hover(document: TextDocument, result: FileResult, where: types.Position) -> types.Hover | None:
    """The documentation of the rules of the findings whose range holds `where`, as
    `leakcheck rule CODE` prints it (Markdown); None when no finding is there."""
    pages = []
    for finding in result.findings:
        span = diagnostic(document, finding).range
        after_start = (where.line, where.character) >= (span.start.line, span.start.character)
        before_end = (where.line, where.character) <= (span.end.line, span.end.character)
        page = documentation(finding.code) if after_start and before_end else None
        if page is not None and page not in pages:
            pages.append(page)
    if not pages:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n---\n".join(pages))
    )


def fix_all(document: TextDocument, fixed: Fixed | None) -> types.CodeAction | None:
    """Every safe fix (`fixed`, from `fix_buffer` on the document's text), as one edit replacing
    the document; None when nothing changes or the fixes could not be worked out. None too for a
    text with a lone surrogate: the edit would replace it (`encoded`)."""
    source = document.source
    if fixed is None or fixed.source == encoded(source) or _LONE_SURROGATE.search(source):
        return None
    lines = document.lines
    end = types.Position(line=len(lines), character=0)
    whole = types.TextEdit(
        range=types.Range(start=types.Position(line=0, character=0), end=end),
        new_text=fixed.source.decode("utf-8"),
    )
    return types.CodeAction(
        title="leakcheck: fix all safe fixes",
        kind=FIX_ALL,
        edit=types.WorkspaceEdit(changes={document.uri: [whole]}),
    )


def _wants(only: list[str] | None, kind: str) -> bool:
    """Whether a client asking for kinds `only` wants actions of `kind` (LSP: a kind matches
    itself and its sub-kinds, `source` covers `source.fixAll.leakcheck`)."""
    if not only:
        return kind == types.CodeActionKind.QuickFix  # source actions only when asked for
    return any(kind == k or kind.startswith(f"{k}.") for k in only)


def build(limits: Limits | None = None) -> LeakcheckServer:
    """The server with its handlers registered (not started); `limits` default to
    `server_limits()`."""
    server = LeakcheckServer(limits)

    @server.feature(types.INITIALIZE)
    def initialize(ls: LeakcheckServer, params: types.InitializeParams) -> None:
        ls.settings = settings(params.initialization_options)

    @server.feature(types.INITIALIZED)
    def initialized(ls: LeakcheckServer, params: types.InitializedParams) -> None:
        # Both: a code action's fixes need not wait for a diagnostics check, nor for a start.
        ls.workers.warm(ls.workers.size)
        workspace = ls.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace else None
        if watched is not None and watched.dynamic_registration:
            patterns = [f"**/{name}" for name in CONFIG_FILES] + ["**/*.py"]
            ls.client_register_capability(
                types.RegistrationParams(
                    registrations=[
                        types.Registration(
                            id="leakcheck-watched-files",
                            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                                watchers=[types.FileSystemWatcher(glob_pattern=p) for p in patterns]
                            ),
                        )
                    ]
                )
            )

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: LeakcheckServer, params: types.DidChangeConfigurationParams
    ) -> None:
        ls.settings = settings(params.settings, ls.settings)
        ls.forget()
        for uri in list(ls.stamps):
            ls.edited(uri)
            ls.publish(uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(
        ls: LeakcheckServer, params: types.DidChangeWatchedFilesParams
    ) -> None:
        ls.forget()  # another module's summary, or the configuration, may have changed
        if any(c.uri.rsplit("/", 1)[-1] in CONFIG_FILES for c in params.changes):
            for uri in list(ls.stamps):
                ls.edited(uri)
                ls.publish(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LeakcheckServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.edited(params.text_document.uri)
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LeakcheckServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.edited(params.text_document.uri)
        if ls.settings.run != ON_SAVE:
            ls.publish(params.text_document.uri, wait=True)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: LeakcheckServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.forget()  # other modules may have changed too
        ls.edited(params.text_document.uri)
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: LeakcheckServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        stamp = ls.stamps.get(uri, 0)
        result = await ls.check(document)
        if ls.stamps.get(uri, 0) != stamp:
            return None
        return hover(document, result, params.position)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LeakcheckServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.edited(uri)
        ls.stamps.pop(uri, None)
        ls.findings.drop(uri)
        ls.fixes.drop(uri)
        ls.partial.pop(uri, None)
        ls.good.pop(uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[
                types.CodeActionKind.QuickFix,
                types.CodeActionKind.SourceFixAll,
                FIX_ALL,
            ]
        ),
    )
    async def code_action(
        ls: LeakcheckServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        stamp = ls.stamps.get(uri, 0)
        only = list(params.context.only) if params.context.only else None
        actions: list[types.CodeAction] = []
        if _wants(only, types.CodeActionKind.QuickFix):
            result = await ls.with_fixes(document, params.range)
            if _not_analysed(result):  # the fixes past a limit: the findings' own actions
                result = await ls.check(document)
            if ls.stamps.get(uri, 0) != stamp:
                return []  # edited meanwhile: the client asks again for the new text
            actions += quick_fixes(document, result, params.range, ls.settings.unsafe_fixes)
        if only and _wants(only, FIX_ALL):
            fixed = await ls.fixed(document)
            if ls.stamps.get(uri, 0) != stamp:
                return []
            action = fix_all(document, fixed)
            if action is not None:
                actions.append(action)
        return actions

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: LeakcheckServer, params: None) -> None:
        ls.shut_down = True
        ls.close()

    @server.feature(types.EXIT)
    def exit_(ls: LeakcheckServer, params: None) -> None:
        ls.close()  # before pygls closes standard output and ends the loop

    return server


def serve() -> None:
    """Run the server on standard input/output until the client says `exit` (or closes its
    end), then exit: with 0 if `shutdown` came first, else 1 (LSP 3.17, "Exit Notification":
    "The server should exit with success code 0 if the shutdown request has been received
    before; otherwise with error code 1"). pygls swallows its own `sys.exit` for `exit`
    (`JsonRPCServer._start_io_async`), hence the exit here. Raises SystemExit."""
    server = build()
    server.workers.warm()  # its import of the analysis overlaps the client's `initialize`
    try:
        server.start_io()
    finally:
        server.close()
    raise SystemExit(0 if server.shut_down else 1)
