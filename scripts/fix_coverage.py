"""Measure leakcheck's fixes on the held-out cases of issue 12 (tests/heldout/cases/).

python scripts/fix_coverage.py                # the table and the totals
python scripts/fix_coverage.py --no-execute   # skip running the fixed code on the fake drivers
python scripts/fix_coverage.py --json         # one JSON object per case, for tooling

Each case is a small module written to resemble real code; every leaking line ends with
`# expect: LCxxx` (the convention of fixtures/, see tests/test_fixtures.py). A case whose name
starts with `safe_` has no such line and must be left as it is. The prefix of the file name is the
case's category (`exc_`, `except_`, `loop_`, ...: CATEGORIES below).

For each leak case, in two modes (`--fix`, and `--fix --unsafe-fixes`), through the public API
(`leakcheck.project.api`'s `Checker.context(path).fix`, `Checker.check_buffer`):

- found: how many of the expected (code, line) pairs the check reports on the original;
- status:
  - FIXED: the source changed, it parses (CPython and libcst), fixing it again changes nothing,
    no expected finding is left and no finding appears that the original did not have;
  - PARTIAL: as FIXED, but an expected finding for which no fix was applied is left (a case with
    two leaks, one of them fixed);
  - NO FIX: nothing changed;
  - BROKEN: changed, and it does not parse, or a second `--fix` changes it again, or a finding
    the applied fix claims to clear is still there, or a new finding appears;
- exec: the changed functions of the original and the fixed code are run against the fake drivers
  of tests/fakes (normal path, then a failure injected at each use of a resource): `ok` when the
  fixed code never uses a released resource, does the same things in the same order (apart from the
  releases it adds) and ends the same way, `FAIL` with the first difference, `n/a` with why
  it could not be run.

Each safe file is UNCHANGED or CHANGED in both modes; a finding on it is listed as a false alarm.
Findings are matched across the rewrite by (code, function, acquisition), as tests/test_fixes.py
does, since lines move.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import io
import itertools
import json
import logging
import re
import sys
import tokenize
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "tests" / "heldout" / "cases"
EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>LC\d{3}(?:\s*,\s*LC\d{3})*)\s*$")
APPLIED_LINE = re.compile(r"^(?P<code>LC\d{3}) at line (?P<line>\d+)")
# File-name prefix -> the category of issue 12 it stands for.
CATEGORIES = {
    "exc": "exception path",
    "exit": "early exit / swallowed error",
    "except": "release only in except",
    "afterwith": "close() after a with",
    "multi": "multi-item with",
    "loop": "loop reacquires",
    "reassign": "reassignment",
    "cmclass": "context-manager class",
    "stream": "stream (LC401/LC403)",
    "await": "held across await (LC402)",
    "thread": "thread hand-off",
    "helper": "project's own helper",
    "gen": "generator (LC107/LC207)",
    "safe": "safe (no leak)",
}
Key = tuple[str, str, str]  # (code, function, acquisition)


def cases(directory: Path = CASES_DIR) -> list[Path]:
    """The held-out case files, sorted by name."""
    return sorted(directory.glob("*.py"))


def category(path: Path) -> str:
    """The category named by the file's prefix; raises KeyError for an unknown prefix."""
    return CATEGORIES[path.name.split("_", 1)[0]]


def expected(source: str) -> set[tuple[str, int]]:
    """(code, line) for each `# expect: LC101, LC102` comment; strings are not comments."""
    found = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            match = EXPECT.search(token.string)
            if match:
                for code in match["codes"].split(","):
                    found.add((code.strip(), token.start[0]))
    return found


@dataclass
class ModeResult:
    """What one mode (safe fixes, or safe and unsafe) made of a case."""

    status: str  # FIXED, PARTIAL, NO FIX, BROKEN (leak cases); UNCHANGED, CHANGED (safe files)
    reasons: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    execution: str = ""
    notes: list[str] = field(default_factory=list)  # how the output reads (not a failure)


@dataclass
class CaseResult:
    """One case: its labels, what the check found, and each mode's result."""

    name: str
    category: str
    expected: list[tuple[str, int]]
    found: list[tuple[str, int]]
    missed: list[tuple[str, int]]
    false_alarms: list[tuple[str, int]]
    safe: ModeResult
    unsafe: ModeResult

    @property
    def is_safe_file(self) -> bool:
        return not self.expected


def _parses(source: bytes) -> str:
    """'' if CPython and libcst both parse `source`, else why not."""
    try:
        compile(source, "<fixed>", "exec", ast.PyCF_ONLY_AST)
        cst.parse_module(source)
    except Exception as error:  # any parser's refusal
        return f"does not parse: {type(error).__name__}: {error}"
    return ""


def _keys(findings: Any) -> Counter[Key]:
    return Counter((f.code, f.function, f.acquisition) for f in findings)


def _mode(
    checker: Any,
    path: Path,
    source: bytes,
    unsafe: bool,
    original: Any,
    want: set[tuple[str, int]],
    execute: bool,
) -> ModeResult:
    """Fix `source` in one mode and classify the output."""
    outcome = checker.context(path).fix(source, unsafe)
    fixed: bytes = outcome.source
    if not want:  # a safe file
        status = "UNCHANGED" if fixed == source else "CHANGED"
        return ModeResult(status, applied=list(outcome.applied))
    if fixed == source:
        return ModeResult("NO FIX", applied=list(outcome.applied))
    reasons = []
    problem = _parses(fixed)
    if problem:
        return ModeResult("BROKEN", [problem], list(outcome.applied))
    again = checker.context(path).fix(fixed, unsafe).source
    if again != fixed:
        reasons.append("not idempotent: a second --fix changes it again")
    before = _keys(original.findings)
    after_result = checker.check_buffer(fixed, path)
    if after_result.errors:
        reasons.append(f"re-check error: {after_result.errors[0].message}")
    after = _keys(after_result.findings)
    created = after - before
    if created:
        reasons.append(f"new finding(s): {sorted(created)}")
    by_line = {(f.code, f.line): (f.code, f.function, f.acquisition) for f in original.findings}
    claimed = set()
    for label in outcome.applied:
        match = APPLIED_LINE.match(label)
        if match and (match["code"], int(match["line"])) in by_line:
            claimed.add(by_line[(match["code"], int(match["line"]))])
    left = [by_line[k] for k in sorted(want) if k in by_line and after[by_line[k]] > 0]
    left_claimed = [k for k in left if k in claimed]
    if left_claimed:
        reasons.append(f"a fix applied but its finding is still there: {left_claimed}")
    execution = run_fixed(path, source.decode(), fixed.decode()) if execute else "not run"
    notes = reading_notes(source.decode(), fixed.decode())
    if reasons:
        return ModeResult("BROKEN", reasons, list(outcome.applied), execution, notes)
    if left:
        return ModeResult("PARTIAL", [f"left: {left}"], list(outcome.applied), execution, notes)
    return ModeResult("FIXED", [], list(outcome.applied), execution, notes)


def reading_notes(original: str, fixed: str) -> list[str]:
    """What a reviewer would remark on in the rewrite (issue 12, "reads like a person wrote it"):
    lines longer than the file had (and than 100), a blank line right after an inserted `try:`,
    and a project `@contextmanager` helper left unused by the rewritten functions."""
    notes = []
    limit = max([100, *(len(line) for line in original.splitlines())])
    old_lines = set(original.splitlines())
    new_lines = fixed.splitlines()
    long = [line for line in new_lines if len(line) > limit and line not in old_lines]
    if long:
        notes.append(f"{len(long)} new line(s) longer than {limit} characters")
    for before, after in itertools.pairwise(new_lines):
        if before.strip() == "try:" and before not in old_lines and not after.strip():
            notes.append("a blank line after the inserted `try:`")
            break
    helpers = _contextmanager_helpers(original)
    changed = _changed_functions(original, fixed)
    if helpers and changed:
        used = [name for name in helpers if fixed.count(f"{name}(") > original.count(f"{name}(")]
        if not used:
            notes.append(f"does not use the project's helper {', '.join(helpers)}()")
    return notes


def _contextmanager_helpers(source: str) -> list[str]:
    """Module functions decorated `@contextmanager` / `@contextlib.contextmanager`."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                if text.endswith("contextmanager"):
                    names.append(node.name)
    return names


def measure(
    paths: list[Path] | None = None, execute: bool = True, modes: tuple[bool, ...] = (False, True)
) -> list[CaseResult]:
    """Check and fix every case; raises nothing for a bad case (its problems become reasons).

    `modes` are the `unsafe` values to run; a mode not run is reported as the other one.
    """
    from leakcheck.project.runner import Checker

    checker = Checker()
    results = []
    for path in paths if paths is not None else cases():
        source = path.read_bytes()
        want = expected(source.decode())
        original = checker.check_buffer(source, path)
        got = {(f.code, f.line) for f in original.findings}
        per_mode = {
            unsafe: _mode(checker, path, source, unsafe, original, want, execute)
            for unsafe in modes
        }
        safe_mode = per_mode.get(False) or per_mode[True]
        unsafe_mode = per_mode.get(True) or per_mode[False]
        results.append(
            CaseResult(
                path.name,
                category(path),
                sorted(want),
                sorted(want & got),
                sorted(want - got),
                sorted(got - want),
                safe_mode,
                unsafe_mode,
            )
        )
    return results


# -- executing fixed code on the fake drivers (tests/fakes) -----------------------------------

ADDED = ("release: ", "__enter__", "release()")  # what a fix may add to the events
MAX_FAILURES = 12


def _changed_functions(old: str, new: str) -> list[str]:
    """Qualified names (`Class.method`) of the top-level functions and methods that differ."""

    def functions(source: str) -> dict[str, str]:
        out = {}
        for node in ast.parse(source).body:
            members = node.body if isinstance(node, ast.ClassDef) else [node]
            prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
            for member in members:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[prefix + member.name] = ast.dump(member)
        return out

    before, after = functions(old), functions(new)
    return sorted(name for name, dump in after.items() if before.get(name) != dump)


def _drive(value: Any) -> Any:
    """Run what a call made: a coroutine to its end, a generator through (then closed)."""
    if isinstance(value, types.CoroutineType):
        try:
            while True:
                value.send(None)
        except StopIteration as stop:
            return stop.value
    if isinstance(value, types.GeneratorType):
        with contextlib.closing(value):
            for _ in zip(range(20), value, strict=False):
                pass
        return None
    if isinstance(value, types.AsyncGeneratorType):

        async def consume() -> None:
            count = 0
            async for _ in value:
                count += 1
                if count >= 20:
                    break
            await value.aclose()

        return _drive(consume())
    return value


def _run_once(source: str, filename: str, qualname: str, fail_at: int | None) -> Any:
    """One run of `qualname` against fakes: (events, outcome, open resources, uses, how many
    resources were held at each wait on the outside world)."""
    from tests.fakes import (
        Exhausted,
        Fake,
        UseAfterRelease,
        World,
        dependencies,
        finish_dependencies,
        load,
    )

    world = World()
    namespace = load(source, world, filename)
    world.events.clear()
    world.resources.clear()
    world.uses = 0
    world.waiting.clear()
    world.fail_at = fail_at
    owner, _, name = qualname.rpartition(".")
    cls = namespace[owner] if owner else None
    func = inspect.getattr_static(cls, name) if cls is not None else namespace[name]
    if isinstance(func, (staticmethod, classmethod)):
        func = func.__func__
    calls: list[Callable[[], Any]] = []
    exits: list[Any] = []
    provided: dict[str, Any] = {}  # FastAPI yield dependencies, run as FastAPI runs them
    if cls is not None and name in ("__exit__", "__aexit__", "__enter__", "__aenter__"):
        # A context-manager class is exercised as `with Class(...) as x:` would use it.
        def through_with() -> Any:
            obj: Any = _instance(cls, world)
            if hasattr(cls, "__aenter__"):

                async def use() -> None:
                    async with obj as entered:
                        entered.execute("SELECT 1")

                return _drive(use())
            with obj as entered:
                entered.execute("SELECT 1")
            return None

        calls.append(through_with)
    else:
        provided = dependencies(func, exits, _drive)
        args: list[Any] = []
        for param in inspect.signature(func).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if param.default is not param.empty or param.kind is param.KEYWORD_ONLY:
                continue
            if param.name in provided:
                continue
            if param.name == "self" and cls is not None:
                args.append(_instance(cls, world))
            else:
                args.append(Fake(world, f"arg.{param.name}"))
        calls.append(lambda: _drive(func(*args, **provided)))
    outcome = "returned"
    try:
        for call in calls:
            call()
        while world.pending:
            _drive(world.pending.pop(0))
    except (Exception, UseAfterRelease, Exhausted) as error:
        outcome = type(error).__name__
    finally:
        finish_dependencies(exits, _drive)
    return list(world.events), outcome, world.open(), world.uses, list(world.waiting)


def _instance(cls: type, world: Any) -> Any:
    from tests.fakes import Fake

    def missing(self: Any, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = Fake(world, f"self.{name}")
        object.__setattr__(self, name, value)
        return value

    return object.__new__(type(cls.__name__, (cls,), {"__getattr__": missing}))


def _failed_call(events: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The call the injected failure hit, if any."""
    return next(((label, what) for label, what in events if what.endswith(" fails")), None)


def _essential(events: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(label, what) for label, what in events if not what.startswith(ADDED)]


def run_fixed(path: Path, original: str, fixed: str) -> str:
    """`ok (...)`, `FAIL: ...` or `n/a: ...`: the fixed code run against the fake drivers."""
    logging.disable(logging.CRITICAL)
    scoped = ', scope="function"'  # LC403: the framework's to honour, not the fakes'
    try:
        names = _changed_functions(original.replace(scoped, ""), fixed.replace(scoped, ""))
    except SyntaxError:
        return "n/a: does not parse"
    if not names and scoped in fixed:
        return "n/a: only FastAPI dependency scopes changed (FastAPI runs their exit code)"
    if not names:
        return "n/a: no function changed (module-level or class-level edit)"
    from tests.fakes import acquisitions, failed_call, per_iteration_events, sources

    gained = 0
    runs = 0
    try:
        for name in names:
            base = _run_once(original, str(path), name, None)
            if not any(what.startswith("acquired by") for _, what in base[0]):
                return f"n/a: on the fakes {name} never acquires (it ends with {base[1]})"
            if base[1] not in ("returned", "Exhausted"):  # Exhausted: a polling loop
                return f"n/a: on the fakes the original {name} itself ends with {base[1]}"
            first = _run_once(fixed, str(path), name, None)
            # A short-lived resource per iteration (LC401/LC402): compared modulo which
            # resource of the same source each event used.
            again = acquisitions(first[0]) > acquisitions(base[0])
            taken = sources(base[0])
            if again and not sources(first[0]) <= taken:
                return f"FAIL: {name}: acquires from another source"
            for fail_at in [None, *range(1, min(base[3], MAX_FAILURES) + 1)]:
                old = base if fail_at is None else _run_once(original, str(path), name, fail_at)
                new = first if fail_at is None else _run_once(fixed, str(path), name, fail_at)
                where = f"{name}, {'normal path' if fail_at is None else f'failure at {fail_at}'}"
                old_events, new_events = _essential(old[0]), _essential(new[0])
                if again:
                    old_events = per_iteration_events(old_events, taken)
                    new_events = per_iteration_events(new_events, taken)
                hit = failed_call if again else _failed_call  # per iteration: where, too
                if hit(old_events) != hit(new_events):
                    # The fakes number the calls made while a resource is open: a fix that
                    # releases earlier shifts the numbering, so the n-th call is another one.
                    continue
                runs += 1
                if new[1] == "UseAfterRelease":
                    return f"FAIL: {where}: uses a released resource"
                held = list(zip(old[4], new[4], strict=False))
                if any(f > o for o, f in held):
                    return f"FAIL: {where}: holds more while waiting"
                gained += sum(o - f for o, f in held)
                if "Exhausted" in (old[1], new[1]):
                    length = min(len(old_events), len(new_events))
                    if old_events[:length] != new_events[:length]:
                        return f"FAIL: {where}: events differ"
                    continue
                if old_events != new_events:
                    return f"FAIL: {where}: events differ"
                if old[1] != new[1]:
                    return f"FAIL: {where}: ends with {new[1]}, the original with {old[1]}"
                if len(new[2]) > len(old[2]):
                    return f"FAIL: {where}: leaves more open"
                gained += len(old[2]) - len(new[2])
    except Exception as error:  # the fakes cannot run this code
        return f"n/a: the fakes cannot run it ({type(error).__name__}: {error})"
    if gained == 0:
        return f"FAIL: no path where the fix gives back what the original kept ({runs} runs)"
    return f"ok ({runs} runs, {gained} released)"


# -- report -------------------------------------------------------------------------------------


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "0/0"


def report(results: list[CaseResult]) -> str:
    """The per-case table, the per-category table and the totals, as text."""
    lines = []
    head = f"{'case':38} {'category':30} {'found':>5}  {'--fix':9} {'+unsafe':9} exec (+unsafe)"
    lines += [head, "-" * len(head)]
    for r in results:
        found = f"{len(r.found)}/{len(r.expected)}" if r.expected else "-"
        lines.append(
            f"{r.name:38} {r.category:30} {found:>5}  {r.safe.status:9} {r.unsafe.status:9} "
            f"{r.unsafe.execution}"
        )
        for mode, res in (("--fix", r.safe), ("+unsafe", r.unsafe)):
            for reason in res.reasons:
                lines.append(f"    {mode}: {reason}")
        for note in dict.fromkeys([*r.safe.notes, *r.unsafe.notes]):
            lines.append(f"    reads: {note}")
        if r.missed:
            lines.append(f"    missed: {r.missed}")
        if r.false_alarms:
            lines.append(f"    reported but not labelled: {r.false_alarms}")
    leaks = [r for r in results if not r.is_safe_file]
    safe = [r for r in results if r.is_safe_file]
    lines += ["", f"{'category':30} {'cases':>5} {'found':>7} {'fixed --fix':>12} {'+unsafe':>8}"]
    for name in dict.fromkeys(r.category for r in leaks):
        group = [r for r in leaks if r.category == name]
        lines.append(
            f"{name:30} {len(group):>5} "
            f"{sum(not r.missed for r in group):>7} "
            f"{sum(r.safe.status == 'FIXED' for r in group):>12} "
            f"{sum(r.unsafe.status == 'FIXED' for r in group):>8}"
        )
    found_all = sum(not r.missed for r in leaks)
    labels = sum(len(r.expected) for r in leaks)
    lines += [
        "",
        f"leak cases: {len(leaks)}; expected findings reported: "
        f"{_share(sum(len(r.found) for r in leaks), labels)}; "
        f"cases with every expected finding reported: {_share(found_all, len(leaks))}",
    ]
    for mode, pick in (("--fix", "safe"), ("--fix --unsafe-fixes", "unsafe")):
        statuses = Counter(getattr(r, pick).status for r in leaks)
        executed = [getattr(r, pick).execution for r in leaks]
        lines.append(
            f"{mode}: fixed cleanly {_share(statuses['FIXED'], len(leaks))} (target >= 90%); "
            f"partial {statuses['PARTIAL']}; no fix {statuses['NO FIX']}; "
            f"BROKEN {statuses['BROKEN']}; execution ok {sum(e.startswith('ok') for e in executed)}"
            f", FAIL {sum(e.startswith('FAIL') for e in executed)}"
            f", n/a {sum(e.startswith('n/a') for e in executed)}"
        )
    changed = [r.name for r in safe if "CHANGED" in (r.safe.status, r.unsafe.status)]
    alarms = [r.name for r in safe if r.false_alarms]
    lines.append(
        f"safe files: {len(safe)}; changed by a fix: {len(changed)} {changed or ''}; "
        f"with a finding: {len(alarms)} {alarms or ''}"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-execute", action="store_true", help="skip the fake-driver runs")
    parser.add_argument("--json", action="store_true", help="one JSON object per case")
    parser.add_argument("cases", nargs="*", type=Path, help="case files (default: all)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # tests.fakes
    results = measure(args.cases or None, execute=not args.no_execute)
    if args.json:
        for r in results:
            print(json.dumps(asdict(r)))
    else:
        print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
