"""Check one module: parse once, collect facts, judge each acquisition, place the findings."""

from __future__ import annotations

import ast
import os
import re
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from leakcheck.analysis.django import DjangoContext, django_findings
from leakcheck.analysis.facts import Export, ModuleFacts, Resolver, Site
from leakcheck.analysis.flow import Assumed, handoffs_assumed
from leakcheck.analysis.frameworks import framework_findings
from leakcheck.analysis.gate import Rejection, cpython_parse
from leakcheck.analysis.judge import all_verdicts
from leakcheck.analysis.parsing import parse_module
from leakcheck.analysis.positions import Span, locate_with_code
from leakcheck.analysis.syntax import call_text, dotted, unwrap_value, walk
from leakcheck.analysis.unknown import unknown_calls
from leakcheck.analysis.verdicts import Verdict
from leakcheck.checks import rule_for
from leakcheck.config.catalogue import Kind
from leakcheck.fix.candidates import candidates
from leakcheck.fix.declines import Decline, why_no_fix
from leakcheck.fix.edits import edits_for
from leakcheck.fix.fixer import applicable
from leakcheck.fix.recipes import Plan
from leakcheck.model import FileError, FileResult, Finding, Fix, Handoff, Severity

# False within `findings_only`: checks leave out fixes and no-fix reasons.
_OFFER_FIXES: ContextVar[bool] = ContextVar("leakcheck_offer_fixes", default=True)


@contextmanager
def findings_only() -> Iterator[None]:
    """Within it, checks in this thread report findings without working out their fixes (each
    `Finding.fixes` empty, no `no_fix_reason`): about three quarters of judging a big module.
    The language server publishes diagnostics this way, and works out fixes when asked."""
    token = _OFFER_FIXES.set(False)
    try:
        yield
    finally:
        _OFFER_FIXES.reset(token)


@dataclass(frozen=True)
class Analysis:
    """One parse's products: the file's findings (empty when not judged) and, when the file
    parsed, what it offers importers (`ModuleFacts.exports()`) and its import table."""

    result: FileResult
    exports: dict[str, Export] | None = None  # None: the file did not parse
    imports: dict[str, str] | None = None
    defines: bool = True  # False: the screen found nothing it can define (not parsed)


@dataclass(frozen=True)
class Screening:
    """What CPython's tree of a file says is worth doing: `defines`, the module can define
    something importers use (summarise it); `acquires`, it can hold an acquisition (judge it)."""

    defines: bool = True
    acquires: bool = True


def check_source(
    source: bytes,
    path: str,
    kinds: tuple[Kind, ...],
    package: str = "",
    resolver: Resolver | None = None,
    helpers: tuple[str, ...] = (),
    django: DjangoContext | None = None,
) -> FileResult:
    """Findings for one file's bytes. Never raises: problems become `errors` entries.

    `package` (`app.routers`) resolves relative imports; `resolver` answers for imported names;
    `django` configures the LC5xx rules (poolers, ASGI, where the file is on disk).
    """
    return analyse(source, path, kinds, package, resolver, helpers, django=django).result


def analyse(
    source: bytes,
    path: str,
    kinds: tuple[Kind, ...],
    package: str = "",
    resolver: Resolver | None = None,
    helpers: tuple[str, ...] = (),
    judge: bool = True,
    django: DjangoContext | None = None,
    summarise: bool = True,
    screen: Callable[[ast.Module | None], Screening | None] | None = None,
) -> Analysis:
    """Parse once; summarise the module (unless `summarise` is false: a module nothing can import
    anything from, whose exports would be thrown away), and judge it too unless `judge` is false.
    Never raises.

    `screen`, if given, may say the module can define nothing, or hold no acquisition
    (`Screening`): then it is not summarised, or not judged; with neither left to do, it is not
    parsed at all (`project.prefilter.code_only`). It is asked first with no tree, and answers
    None if it needs CPython's tree of the file: then it is asked again with the gate's tree
    (about an eighth of libcst's cost, which a file screened out before it does not pay).

    The tree is dropped before returning: only the summary and the findings survive.
    """
    screening = screen(None) if screen is not None else Screening()
    if screening is not None and _nothing_to_do(screening, summarise, judge):
        return _screened_out(path, summarise)
    gate = cpython_parse(source)  # the reference; libcst never sees what it refuses
    if isinstance(gate, Rejection):
        return Analysis(FileResult(path, errors=(FileError(path, gate.line, gate.reason),)))
    if screening is None:
        assert screen is not None
        screening = screen(gate) or Screening()
    del gate  # not kept alive next to libcst's tree
    if _nothing_to_do(screening, summarise, judge):
        return _screened_out(path, summarise)
    judge = judge and screening.acquires
    try:
        module = parse_module(source)
    except cst.ParserSyntaxError as error:
        where = re.search(r"error at (\d+):", error.message)
        line = int(where[1]) if where else error.raw_line
        reason = "valid Python that leakcheck's parser (libcst) cannot read; skipped"
        return Analysis(FileResult(path, errors=(FileError(path, line, reason),)))
    except (SyntaxError, UnicodeError, LookupError) as error:  # encoding cookie or bad bytes
        lineno: int | None = getattr(error, "lineno", None)
        reason = getattr(error, "msg", None) or str(error)
        return Analysis(
            FileResult(path, errors=(FileError(path, lineno, f"cannot decode: {reason}"),))
        )
    except RecursionError:
        return Analysis(
            FileResult(path, errors=(FileError(path, None, "too deeply nested to analyse"),))
        )
    exports: dict[str, Export] | None = None
    imports: dict[str, str] | None = None
    try:
        facts = ModuleFacts(module, kinds, package, resolver, path)
        exports, imports = (facts.exports() if summarise else {}), facts.imports
        if not judge:
            return Analysis(FileResult(path), exports, imports)
        django_found = django_findings(module, source, path, django)
        django_found += framework_findings(facts, source, path)
        on_disk = django.file if django is not None and django.file is not None else Path(path)
        result = _check_module(module, path, facts, helpers, tuple(django_found), on_disk)
        return Analysis(result, exports, imports)
    except RecursionError:
        error_entry = FileError(path, None, "too deeply nested to analyse")
        return Analysis(FileResult(path, errors=(error_entry,)), exports, imports)
    except Exception as error:  # a bug in leakcheck: report it, keep checking other files
        if os.environ.get("LEAKCHECK_DEBUG"):  # where it happened, as for any internal error
            traceback.print_exc()
        detail = " ".join("".join(traceback.format_exception_only(type(error), error)).split())
        internal = FileError(path, None, f"internal error in leakcheck: {detail}", internal=True)
        return Analysis(FileResult(path, errors=(internal,)), exports, imports)


def _nothing_to_do(screening: Screening, summarise: bool, judge: bool) -> bool:
    """Whether `screening` leaves a module neither to summarise nor to judge."""
    if summarise:
        return not screening.defines
    return not (judge and screening.acquires)


def _screened_out(path: str, summarise: bool) -> Analysis:
    """The outcome for a module `_nothing_to_do` says to leave unparsed: a module to summarise
    (it defines nothing) is handed back to be judged later, if at all, as a non-exporter."""
    return Analysis(FileResult(path), defines=not summarise)


def _check_module(
    module: cst.Module,
    path: str,
    facts: ModuleFacts,
    helpers: tuple[str, ...] = (),
    extra: tuple[Finding, ...] = (),
    where: Path | None = None,
) -> FileResult:
    verdicts = all_verdicts(facts)
    assumed = handoffs_assumed(facts)
    unknown = len(unknown_calls(facts))
    if not verdicts:
        source = module.code if extra else ""
        spans = locate_with_code(module, _handoff_nodes(assumed))[0] if assumed else {}
        return FileResult(
            path,
            findings=extra,
            source=source,
            handoffs=_handoffs(assumed, spans),
            unknown_resources=unknown,
        )
    offer = _OFFER_FIXES.get()
    kept = _plans(verdicts, facts, helpers, where) if offer else [[] for _ in verdicts]
    # Why a finding has no fix, its line located in the same pass as the others.
    declines = [
        None if chosen or not offer else why_no_fix(v, facts)
        for v, chosen in zip(verdicts, kept, strict=True)
    ]
    # One rendering of the module gives the positions of the findings and the fixes' blocks and
    # the text (each full rendering is a tenth of judging a big file).
    found = [p for chosen in kept for p in chosen]
    nodes = [node for v in verdicts for node in v.nodes()] + [p.old for p in found]
    nodes += [d.node for d in declines if d is not None and d.node is not None]
    nodes += _handoff_nodes(assumed)
    spans, text = locate_with_code(module, nodes)
    fixes = _fixes(kept, facts, text, spans)
    judged = (
        _finding(v, spans, path, facts, f, d)
        for v, f, d in zip(verdicts, fixes, declines, strict=True)
    )
    findings = tuple(f for f in judged if f is not None) + extra
    return FileResult(
        path,
        findings=findings,
        source=text,
        handoffs=_handoffs(assumed, spans),
        unknown_resources=unknown,
    )


def _handoff_nodes(assumed: list[Assumed]) -> list[cst.CSTNode]:
    """The nodes whose positions the hand-offs `assumed` report: each acquisition, and the
    statement that took it where there is one."""
    nodes: list[cst.CSTNode] = []
    for a in assumed:
        nodes.append(a.anchor or a.call)
        if a.taken_by is not None:
            nodes.append(a.taken_by)
    return nodes


def _handoffs(assumed: list[Assumed], spans: dict[int, Span]) -> tuple[Handoff, ...]:
    """The hand-offs `assumed`, located by `spans` (`locate`'s answer for `_handoff_nodes`)."""
    found: list[Handoff] = []
    for a in assumed:
        at = spans.get(id(a.anchor or a.call))
        if at is None:
            continue  # (every acquisition is in the tree: `Site.anchor` for a parameter)
        taken = spans.get(id(a.taken_by)) if a.taken_by is not None else None
        found.append(
            Handoff(
                line=at.line,
                column=at.column,
                acquired=call_text(a.call) if a.anchor is None else _first_line(a.anchor),
                taken_line=taken.line if taken is not None else 0,
                taken=_first_line(a.taken_by) if a.taken_by is not None else "",
                why=a.why,
            )
        )
    return tuple(sorted(found, key=lambda h: (h.line, h.column)))


def _first_line(node: cst.CSTNode, width: int = 60) -> str:
    """The first line of `node`'s code, cut to `width` characters with `...`."""
    lines = cst.Module(body=[]).code_for_node(node).strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= width else first[: width - 3] + "..."


def _plans(
    verdicts: list[Verdict],
    facts: ModuleFacts,
    helpers: tuple[str, ...],
    where: Path | None = None,
) -> list[list[Plan]]:
    """Each verdict's candidate fixes, the one `--fix` applies first.

    Only what the fixer would keep is offered (and counted as fixable): each candidate is checked
    as `--fix` checks it. The k-th candidates of all verdicts are checked together, layer by layer.
    """
    proposed = [candidates(v, facts, helpers, where) for v in verdicts]
    kept: list[list[Plan]] = [[] for _ in verdicts]
    depth = max((len(c) for c in proposed), default=0)
    for layer in range(depth):
        layered = [c[layer] if layer < len(c) else None for c in proposed]
        for i, ok in enumerate(applicable(facts, verdicts, layered)):
            rewrite = layered[i]
            if ok and rewrite is not None:
                kept[i].append(rewrite)
    return kept


def _fixes(
    kept: list[list[Plan]], facts: ModuleFacts, text: str, spans: dict[int, Span]
) -> list[tuple[Fix, ...]]:
    """The `Fix`es of each verdict's kept plans (`_plans`), their edits from one position pass
    over the module (`spans`: linear in the file, whatever the number of findings)."""
    found = [p for chosen in kept for p in chosen]
    edits = iter(edits_for(facts.module, found, text.splitlines(keepends=True), spans))
    out: list[tuple[Fix, ...]] = []
    for chosen in kept:
        fixes = []
        for rewrite in chosen:
            title = (
                rewrite.title
                if not rewrite.reason
                else f"{rewrite.title}; unsafe: {rewrite.reason}"
            )
            fixes.append(Fix(title, next(edits), rewrite.applicability))
        out.append(tuple(fixes))
    return out


def _finding(
    verdict: Verdict,
    spans: dict[int, Span],
    path: str,
    facts: ModuleFacts,
    fixes: tuple[Fix, ...],
    decline: Decline | None = None,
) -> Finding | None:
    site = verdict.site
    rule = rule_for(site.kind.family, verdict.leak)
    if rule is None:
        return None
    span = spans[id(verdict.anchor or site.call)]
    # Not `str.format`: the text quotes the user's code, which may hold braces (`"{0}".format`).
    how = "".join(
        text.replace("{line}", str(spans[id(node)].line)) if node is not None else text
        for text, node in verdict.how
    )
    what = verdict.what or f"{site.kind.resource} from `{call_text(site.call)}`"
    message = rule.message.format(what=what, released=site.kind.released, how=how)
    message = message[0].upper() + message[1:]
    related = spans[id(verdict.node)] if verdict.node is not None else None
    return Finding(
        path=path,
        line=span.line,
        column=span.column,
        end_line=span.end_line,
        end_column=span.end_column,
        code=rule.code,
        rule=rule.name,
        message=message,
        related_line=related.line if related is not None else None,
        related_label=verdict.label,
        related_column=related.column if related is not None else None,
        function=_function_name(site),
        acquisition=call_text(site.call),
        fixes=fixes,
        no_fix_reason=_no_fix_reason(decline, spans) if not fixes else "",
        severity=_severity(site, facts),
    )


def _severity(site: Site, facts: ModuleFacts) -> Severity:
    """How much a finding about `site`'s resource weighs: its kind's severity for the acquiring
    call (`Kind.severity_of`), or for the source it is taken from where the module builds it
    (`Kind.severity_of_source`: a peewee `SqliteDatabase`, `create_engine("sqlite://...")`), one
    step lower in module-level code (README, "Severity")."""
    kind = site.kind
    severity = kind.severity_of(facts.qualify(site.call.func))
    if kind.source_severity or kind.url_severity:
        severity = _source_severity(site, facts) or severity
    return severity.lower() if isinstance(site.scope, cst.Module) else severity


def _source_severity(site: Site, facts: ModuleFacts) -> Severity | None:
    """The weight `site.kind` gives the call that made the resource (an `acquire` callable) or
    the source it is taken from (`db` of `db.connect()`, `engine` of `engine.connect()`,
    `Session` of `Session()`): that call itself, or the constructor calls bound to the source's
    name in the function (else at module level; in the class's methods for `self.x`). None when
    no such call is found, or the ones found weigh differently."""
    kind, func = site.kind, site.call.func
    if facts.qualify(func) in kind.acquire_callables:
        return _call_severity(site.call, kind, site, facts)
    source: cst.BaseExpression = func
    if isinstance(func, cst.Attribute) and func.attr.value in kind.acquire_methods:
        source = func.value
    elif not kind.acquire_by_calling_source:
        return None
    if isinstance(source, cst.Call):
        return _call_severity(source, kind, site, facts)
    text = dotted(source)
    if text is None:
        return None
    found = {_call_severity(c, kind, site, facts) for c in _bound_calls(text, site, facts)}
    return found.pop() if len(found) == 1 else None


def _call_severity(call: cst.Call, kind: Kind, site: Site, facts: ModuleFacts) -> Severity | None:
    """`kind`'s weight for a source (or resource) made by `call`: by its URL's scheme, else by
    its constructor (`Kind.severity_of_source`)."""
    return kind.severity_of_source(facts.qualify(call.func), _url(call, site, facts, 3))


def _url(call: cst.Call, site: Site, facts: ModuleFacts, depth: int) -> str | None:
    """The literal URL `call` is given: its first argument, or `url=` / `bind=`, as a string or
    an f-string's leading text (`f"sqlite:///{path}"`); through an engine made inline or bound
    to a name (`sessionmaker(bind=engine)`), `depth` calls deep. None when not literal."""
    for arg in call.args:
        first = arg.keyword is None and not arg.star and arg is call.args[0]
        if not (first or (arg.keyword is not None and arg.keyword.value in ("url", "bind"))):
            continue
        value = unwrap_value(arg.value)
        if isinstance(value, cst.SimpleString):
            evaluated = value.evaluated_value
            return evaluated if isinstance(evaluated, str) else None
        if isinstance(value, cst.FormattedString) and value.parts:
            head = value.parts[0]
            return head.value if isinstance(head, cst.FormattedStringText) else None
        if depth <= 0:
            return None
        if isinstance(value, cst.Call):
            return _url(value, site, facts, depth - 1)
        text = dotted(value)
        if text is not None:
            urls = {_url(c, site, facts, depth - 1) for c in _bound_calls(text, site, facts)}
            return urls.pop() if len(urls) == 1 else None
    return None


def _bound_calls(text: str, site: Site, facts: ModuleFacts) -> list[cst.Call]:
    """The calls bound to the name `text` (`db = SqliteDatabase(path)`): in the site's function
    when it binds it there, else in the module's own statements, or for `self.x` in the methods
    of the site's class. A name bound to anything but a call gives []."""
    scopes: list[cst.CSTNode] = []
    if isinstance(site.scope, cst.FunctionDef):
        scopes.append(site.scope)
    if text.startswith("self.") and site.class_name is not None:
        scopes += [
            n
            for n in facts.module.body
            if isinstance(n, cst.ClassDef) and n.name.value == site.class_name
        ]
    else:
        scopes.append(facts.module)
    for scope in scopes:
        values = [
            unwrap_value(value)
            for node in walk(scope, into_scopes=isinstance(scope, cst.ClassDef))
            for value in _assigned_to(node, text)
        ]
        if values:
            calls = [v for v in values if isinstance(v, cst.Call)]
            return calls if len(calls) == len(values) else []
    return []


def _assigned_to(node: cst.CSTNode, text: str) -> list[cst.BaseExpression]:
    """The value `node` binds to `text`, when it is `text = value` or `text: T = value`."""
    if isinstance(node, cst.Assign) and any(dotted(t.target) == text for t in node.targets):
        return [node.value]
    if isinstance(node, cst.AnnAssign) and node.value is not None and dotted(node.target) == text:
        return [node.value]
    return []


def _no_fix_reason(decline: Decline | None, spans: dict[int, Span]) -> str:
    """A decline's text, with the line of its node from `spans` (`_check_module` located it)."""
    if decline is None:
        return ""
    return decline.text(spans[id(decline.node)].line if decline.node is not None else None)


def _function_name(site: Site) -> str:
    if isinstance(site.scope, cst.Module):
        return ""
    name = site.scope.name.value
    return f"{site.class_name}.{name}" if site.class_name else name
