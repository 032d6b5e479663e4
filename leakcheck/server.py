"""`leakcheck server`: a language server over standard input/output, a thin shell like `cli.py`.

Built on pygls 2 and lsprotocol (the optional `server` extra: `pip install 'leakcheck-db[server]'`),
which only this module imports. What it offers, following `ruff server`:

- diagnostics when a document is opened, changed or saved, for the text in the editor (unsaved
  changes included) checked as if it were the file on disk: that file's configuration,
  `per-file-ignores` and the project's other modules (read from disk) apply. Each diagnostic has
  the rule's code, `codeDescription.href` (the rule's page, `report.ruledocs.RULES_URL`), and the
  statement through which the resource escapes as related information;
- a `quickfix` code action per fixable finding ("(unsafe)" in the title when the fix may change
  behaviour, as ruff labels them);
- `source.fixAll.leakcheck`: every safe fix at once, as `leakcheck check --fix` would write it.

Positions: findings count columns in characters; the document's position codec (pygls) converts
them to the encoding negotiated with the client (UTF-16 unless the client offers another).
"""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from leakcheck import __version__
from leakcheck.config.catalogue import CatalogueError, rules
from leakcheck.model import FileError, FileResult, Finding, Fix
from leakcheck.project.buffers import check_buffer, fix_buffer
from leakcheck.project.runner import Checker, Options
from leakcheck.report.ruledocs import url

SOURCE = "leakcheck"
FIX_ALL = "source.fixAll.leakcheck"  # a sub-kind of `source.fixAll`, as ruff's
_URLS = {rule.code: url(rule) for rule in rules()}


@dataclass(frozen=True)
class Checked:
    """One version of one document and what was found in it."""

    version: int | None
    result: FileResult


class LeakcheckServer(LanguageServer):
    """The server, with the latest check of each open document."""

    def __init__(self) -> None:
        super().__init__(
            "leakcheck", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full
        )
        self.checked: dict[str, Checked] = {}

    def check(self, document: TextDocument) -> FileResult:
        """Check `document`'s current text (cached per version)."""
        cached = self.checked.get(document.uri)
        if cached is not None and cached.version == document.version:
            return cached.result
        result = _check_text(document)
        self.checked[document.uri] = Checked(document.version, result)
        return result


def _path(document: TextDocument) -> str:
    path = to_fs_path(document.uri)
    return path if path is not None else document.uri


def _checker() -> Checker:
    """A fresh Checker per check (configuration and other modules may have changed on disk).
    As `ruff server` does for open files, what `exclude` or an ignore file skips is not checked:
    `--force-exclude` semantics."""
    return Checker(options=Options(force_exclude=True))


def _check_text(document: TextDocument) -> FileResult:
    try:
        return check_buffer(_checker(), document.source.encode("utf-8"), _path(document))
    except CatalogueError as error:  # a bad configuration: say so on the first line
        return FileResult(document.uri, errors=(FileError(document.uri, 1, str(error)),))


def _range(
    document: TextDocument, line: int, column: int, end_line: int, end_column: int
) -> types.Range:
    """A 1-based, end-exclusive span in characters as an LSP range in the client's units."""
    span = types.Range(
        start=types.Position(line=max(line - 1, 0), character=max(column - 1, 0)),
        end=types.Position(line=max(end_line - 1, 0), character=max(end_column - 1, 0)),
    )
    return document.position_codec.range_to_client_units(document.lines, span)


def _line_range(document: TextDocument, line: int, column: int | None) -> types.Range:
    lines = document.lines
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
        severity=types.DiagnosticSeverity.Warning,
        code=finding.code,
        code_description=types.CodeDescription(href=href) if href else None,
        source=SOURCE,
        related_information=related,
    )


def diagnostics(document: TextDocument, result: FileResult) -> list[types.Diagnostic]:
    """Findings and file errors (a syntax error, a bad configuration) as diagnostics."""
    found = [diagnostic(document, f) for f in result.findings]
    for error in result.errors:
        line = error.line or 1
        found.append(
            types.Diagnostic(
                range=_line_range(document, line, None),
                message=error.message,
                severity=types.DiagnosticSeverity.Error,
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
    document: TextDocument, result: FileResult, wanted: types.Range
) -> list[types.CodeAction]:
    """A `quickfix` per candidate fix of each finding whose lines meet `wanted`; the one `--fix`
    applies is preferred when it is safe."""
    actions = []
    for finding in result.findings:
        if finding.end_line - 1 < wanted.start.line or finding.line - 1 > wanted.end.line:
            continue
        for number, fix in enumerate(finding.fixes):
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
    return actions


def fix_all(document: TextDocument) -> types.CodeAction | None:
    """Every safe fix, as one edit replacing the document; None when nothing changes."""
    source = document.source.encode("utf-8")
    try:
        fixed = fix_buffer(_checker(), source, _path(document))
    except CatalogueError:
        return None
    if fixed.source == source:
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


def build() -> LeakcheckServer:
    """The server with its handlers registered (not started)."""
    server = LeakcheckServer()

    def publish(document: TextDocument) -> None:
        result = server.check(document)
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=document.uri,
                version=document.version,
                diagnostics=diagnostics(document, result),
            )
        )

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LeakcheckServer, params: types.DidOpenTextDocumentParams) -> None:
        publish(ls.workspace.get_text_document(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LeakcheckServer, params: types.DidChangeTextDocumentParams) -> None:
        publish(ls.workspace.get_text_document(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: LeakcheckServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.checked.pop(params.text_document.uri, None)  # other modules may have changed too
        publish(ls.workspace.get_text_document(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LeakcheckServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.checked.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
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
    def code_action(ls: LeakcheckServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        document = ls.workspace.get_text_document(params.text_document.uri)
        only = list(params.context.only) if params.context.only else None
        actions: list[types.CodeAction] = []
        if _wants(only, types.CodeActionKind.QuickFix):
            actions += quick_fixes(document, ls.check(document), params.range)
        if only and _wants(only, FIX_ALL):
            action = fix_all(document)
            if action is not None:
                actions.append(action)
        return actions

    return server


def serve() -> None:
    """Run the server on standard input/output until the client says `exit`."""
    build().start_io()
