"""Apply fixes to one file's bytes, safely: every rewrite is re-parsed and re-checked.

A plan (see recipes.py) replaces one block of the libcst tree. It is kept only if the new code
parses, the finding it was for is gone, no new finding appears, and the text outside the block's
lines is unchanged; otherwise it is dropped and reported as not applied. Plans are applied one at a
time until none is left (a fix can reshape a block another fix would touch), with a cap.
A file that libcst does not reprint byte for byte is refused: writing it back would change more than
the fix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from leakcheck.analysis.django import DjangoContext
from leakcheck.analysis.facts import ModuleFacts, Resolver
from leakcheck.analysis.gate import cpython_rejects
from leakcheck.analysis.judge import all_verdicts
from leakcheck.analysis.parsing import parse_module
from leakcheck.analysis.positions import locate
from leakcheck.analysis.syntax import call_text
from leakcheck.analysis.verdicts import Verdict
from leakcheck.checks import rule_for
from leakcheck.config.catalogue import Kind
from leakcheck.fix.candidates import candidates
from leakcheck.fix.edits import apply_plan, apply_plans, changed_lines, header_lines
from leakcheck.fix.newlines import match_line_endings
from leakcheck.fix.recipes import Plan
from leakcheck.fix.settings_fixes import fix_settings, wanted_keys
from leakcheck.model import Applicability

MAX_ROUNDS = 32
Key = tuple[str, str, str, int]


@dataclass
class Outcome:
    source: bytes
    applied: list[str] = field(default_factory=list)  # "CODE at line 5: Release `conn` in ..."
    dropped: list[str] = field(default_factory=list)  # the same, with why it was not applied
    refused: str = ""  # why the file was not touched at all


def verdict_keys(verdicts: list[Verdict]) -> list[Key]:
    """Stable names for verdicts across rewrites (lines move): class, scope, call, occurrence."""
    seen: Counter[tuple[str, str, str]] = Counter()
    keys: list[Key] = []
    for verdict in verdicts:
        site = verdict.site
        scope = "" if isinstance(site.scope, cst.Module) else site.scope.name.value
        scope = f"{site.class_name}.{scope}" if site.class_name else scope  # `__enter__`s differ
        base = (verdict.leak, scope, call_text(site.call))
        keys.append((*base, seen[base]))
        seen[base] += 1
    return keys


def fix_source(
    source: bytes,
    kinds: tuple[Kind, ...],
    package: str = "",
    resolver: Resolver | None = None,
    unsafe: bool = False,
    wanted: Callable[[str, int], bool] = lambda code, line: True,
    helpers: tuple[str, ...] = (),
    django: DjangoContext | None = None,
    path: str = "",
) -> Outcome:
    """The file's bytes with every applicable fix applied (safe ones, and unsafe ones if asked).

    The Django rules' fixes (settings_fixes.py) run last, on the findings chosen on the original.
    """
    if cpython_rejects(source) is not None:
        return Outcome(source, refused="it does not parse")
    try:
        module = parse_module(source)
    except Exception:
        return Outcome(source, refused="it does not parse")
    if module.bytes != source:
        return Outcome(source, refused="libcst does not reprint this file byte for byte")
    outcome = Outcome(source)
    where = django.file if django is not None and django.file is not None else Path(path)
    failed: set[Key] = set()
    allowed: set[Key] | None = None  # decided on the original lines; keys survive rewrites
    lines: dict[Key, int] = {}  # each verdict's line in the original, for messages
    for _ in range(MAX_ROUNDS):
        facts = ModuleFacts(module, kinds, package, resolver, path)
        verdicts = all_verdicts(facts)
        keys = verdict_keys(verdicts)
        if allowed is None:
            allowed = _allowed(verdicts, keys, facts, wanted)
            anchors = [v.anchor or v.site.call for v in verdicts]
            spans = locate(module, anchors)
            lines = {k: spans[id(a)].line for k, a in zip(keys, anchors, strict=True)}
        skip = failed | (set(keys) - allowed)
        chosen = _next(verdicts, keys, facts, skip, unsafe, helpers, where)
        if chosen is None:
            break
        verdict, key, plans = chosen
        line = lines.get(key, 0)
        applied: tuple[cst.Module, list[str]] | None = None
        reasons = []
        for fix in plans:  # the first candidate the checks keep is the one `--fix` applies
            allowed_here = fix.applicability == Applicability.SAFE or unsafe
            result = _try(module, fix, key, keys, kinds, package, resolver, path)
            if isinstance(result, str):
                if allowed_here:
                    reasons.append(f"{_label(verdict, line, fix)}: not applied ({result})")
                continue
            if allowed_here:
                module_after, after = result
                # A rewrite may clear more than its own finding (a retry's second connection,
                # inside the `try` the first one's fix adds): fixed by the same rewrite.
                cleared = sorted(set(keys) & allowed - set(after) - {key}, key=lines.__getitem__)
                titles = [_label(verdicts[keys.index(k)], lines[k], fix) for k in cleared]
                applied = (module_after, [_label(verdict, line, fix), *titles])
            break  # an unsafe first candidate without --unsafe-fixes: nothing is applied
        if applied is None:
            failed.add(key)
            outcome.dropped += reasons[:1]
            continue
        module = applied[0]
        outcome.applied += applied[1]
    outcome.source = match_line_endings(source, module.bytes)
    django_keys = wanted_keys(source, path, django, unsafe, wanted)
    if django_keys:
        settings = fix_settings(outcome.source, path, django, django_keys)
        outcome.source = settings.source
        outcome.applied += settings.applied
        outcome.dropped += settings.dropped
    return outcome


def _allowed(
    verdicts: list[Verdict],
    keys: list[Key],
    facts: ModuleFacts,
    wanted: Callable[[str, int], bool],
) -> set[Key]:
    """The verdicts the caller wants fixed (selected, not suppressed), judged on original lines."""
    anchors = [v.anchor or v.site.call for v in verdicts]
    spans = locate(facts.module, anchors)
    out = set()
    for verdict, key, anchor in zip(verdicts, keys, anchors, strict=True):
        rule = rule_for(verdict.site.kind.family, verdict.leak)
        if rule is not None and wanted(rule.code, spans[id(anchor)].line):
            out.add(key)
    return out


def _next(
    verdicts: list[Verdict],
    keys: list[Key],
    facts: ModuleFacts,
    skip: set[Key],
    unsafe: bool,
    helpers: tuple[str, ...] = (),
    where: Path | None = None,
) -> tuple[Verdict, Key, list[Plan]] | None:
    """The next verdict to fix, with its candidates in order, when one of them may be applied."""
    for verdict, key in zip(verdicts, keys, strict=True):
        if key in skip:
            continue
        plans = candidates(verdict, facts, helpers, where)
        if any(p.applicability == Applicability.SAFE or unsafe for p in plans):
            return verdict, key, plans
    return None


def _label(verdict: Verdict, line: int, fix: Plan) -> str:
    rule = rule_for(verdict.site.kind.family, verdict.leak)
    return f"{rule.code if rule else '?'} at line {line}: {fix.title}"


def _try(
    module: cst.Module,
    fix: Plan,
    key: Key,
    before: list[Key],
    kinds: tuple[Kind, ...],
    package: str,
    resolver: Resolver | None,
    path: str = "",
) -> tuple[cst.Module, list[Key]] | str:
    """The module with `fix` applied and the keys of its verdicts, or why it cannot be."""
    span = locate(module, [fix.old])[id(fix.old)]
    new_code, _ = apply_plan(module, fix)
    if cpython_rejects(new_code.bytes) is not None:  # the reference, as for every input
        return "the rewrite does not parse"
    try:
        reparsed = parse_module(new_code.bytes)
    except Exception:
        return "the rewrite does not parse"
    # Outside the block, only the opening imports may change (the import a fix needs).
    skip_old, skip_new = header_lines(module), header_lines(reparsed)
    if isinstance(fix.old, cst.Module):
        skip_old = skip_new = 0
    old_lines = module.code.splitlines(keepends=True)[skip_old:]
    new_lines = reparsed.code.splitlines(keepends=True)[skip_new:]
    first, last_old, _ = changed_lines(old_lines, new_lines)
    if first <= len(old_lines) and (
        first + skip_old < span.line or last_old + skip_old > span.end_line
    ):
        return "the rewrite changes code outside its block"
    verdicts = all_verdicts(ModuleFacts(reparsed, kinds, package, resolver, path))
    after = verdict_keys(verdicts)
    if key in after:
        return "the finding remains after the rewrite"
    known = set(before)
    added = [v for v, k in zip(verdicts, after, strict=True) if k not in known]
    if added:
        return f"the rewrite would add a finding: {_named(added[0])}"
    return reparsed, after


def _named(verdict: Verdict) -> str:
    """`CODE for `psycopg.connect(...)` in `drop_all()``: which finding a rewrite would add."""
    site = verdict.site
    rule = rule_for(site.kind.family, verdict.leak)
    code = rule.code if rule is not None else verdict.leak
    where = "" if isinstance(site.scope, cst.Module) else f" in `{site.scope.name.value}()`"
    return f"{code} for `{call_text(site.call)}`{where}"


def applicable(facts: ModuleFacts, verdicts: list[Verdict], plans: list[Plan | None]) -> list[bool]:
    """Which plans `--fix` would apply: the same checks as `_try` (parses, clears its finding,
    adds none), so that "fixable" counts only fixes the fixer keeps.

    Plans on disjoint blocks are applied together and the module analysed once (linear). When a
    finding appears, the plans in the functions it appears in are checked alone and the others
    together again; only when that cannot be attributed (the rewrite does not parse, a finding in
    a function no plan touches, plans sharing a block) is each plan checked alone.
    """
    module, keys = facts.module, verdict_keys(verdicts)
    ok = [False] * len(plans)
    indices = [i for i, p in enumerate(plans) if p is not None]
    if not indices:
        return ok
    spans = locate(module, [plans[i].old for i in indices])  # type: ignore[union-attr]
    together: list[int] = []
    alone: list[int] = []
    taken: list[tuple[int, int]] = []
    for i in indices:
        old = plans[i].old  # type: ignore[union-attr]
        span = spans[id(old)]
        if isinstance(old, cst.Module) or any(
            span.line <= end and start <= span.end_line for start, end in taken
        ):
            alone.append(i)
        else:
            taken.append((span.line, span.end_line))
            together.append(i)
    while together:
        chosen = [p for i in together if (p := plans[i]) is not None]
        after = _keys_after(apply_plans(module, chosen), facts)
        if after is not None:
            new = set(after) - set(keys)
            if not new:
                for i in together:
                    ok[i] = keys[i] not in after
                break
            # A finding appeared in some functions: their plans are checked alone, the others
            # together again (a file with many findings is analysed a few times, not once each).
            scopes = {key[1] for key in new}
            suspects = [i for i in together if keys[i][1] in scopes]
            if suspects and len(suspects) < len(together):
                alone += suspects
                together = [i for i in together if keys[i][1] not in scopes]
                continue
        alone += together
        break
    for i in alone:
        plan_ = plans[i]
        assert plan_ is not None
        after = _keys_after(apply_plan(module, plan_)[0], facts)
        ok[i] = after is not None and keys[i] not in after and not set(after) - set(keys)
    return ok


def _keys_after(module: cst.Module, facts: ModuleFacts) -> list[Key] | None:
    try:
        reparsed = parse_module(module.bytes)
    except Exception:
        return None
    return verdict_keys(
        all_verdicts(ModuleFacts(reparsed, facts.kinds, facts.package, facts.resolver, facts.path))
    )
