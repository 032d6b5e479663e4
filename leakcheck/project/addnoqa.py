"""`--add-noqa`: silence every finding where it stands, as ruff's `--add-noqa` does, so that a
project adopting leakcheck starts clean and each leak left is a visible, greppable comment.

Each line with a finding gets `  # noqa: CODES` at its end, or, when it already carries a
`# noqa: ...` (or `# leakcheck: ignore[...]`) with codes, the missing codes are added to that
directive: a code is never written twice, and a second run adds nothing. The comment goes on the
line the finding is reported on, which is the line suppressions are read from (ruff too writes
on the diagnostic's first line, except inside a multi-line string or after a `\\` continuation,
where it moves to the statement's last line; leakcheck reads suppressions on the reported line
only, so such a line is left alone and reported instead of getting a comment that would not
work). Findings of the unused-suppression rule get none, as in ruff.

Files are written as `--fix` writes them (`fix.writer.write_atomically`, after
`fix.boundary.fix_refusal`): never through a link, never a file that changed since it was read.
"""

from __future__ import annotations

import io
import os
import tokenize
from dataclasses import dataclass, field, replace
from pathlib import Path

from leakcheck.fix.boundary import fix_refusal
from leakcheck.fix.writer import Changed, remove_stray_temporaries, write_atomically
from leakcheck.model import FileError, FileResult
from leakcheck.project.names import real_path
from leakcheck.project.runner import Checker, Options
from leakcheck.project.suppressions import UNUSED, Directive, directives

ENDS_IN_STRING = (
    "the line ends inside a string or continues with `\\`: a comment cannot go there "
    "(suppress this finding another way, or move the acquisition to its own line)"
)
UNREADABLE_NOQA = "its comment holds a directive leakcheck cannot extend"


@dataclass(frozen=True)
class Edited:
    """A file's bytes with directives added: `added`, the lines changed; `left`, the lines that
    could not take one, with why."""

    source: bytes
    added: int
    left: dict[int, str]


@dataclass
class NoqaRun:
    """What `--add-noqa` did: `added` directives (one per line written or extended) and, per
    file, the errors (not analysed, not written, lines left without a directive)."""

    added: int = 0
    files: list[FileResult] = field(default_factory=list)

    @property
    def errors(self) -> list[FileError]:
        """Every error entry of the run."""
        return [e for r in self.files for e in r.errors]


def _split(text: str) -> list[str]:
    """Lines as `tokenize` counts them: split after each `\\n`, endings kept."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def _open_lines(text: str) -> set[int]:
    """The lines whose end is outside any string and not continued by `\\` (a NEWLINE or NL
    token ends them). Raises tokenize.TokenError or SyntaxError for text that does not tokenize."""
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return {t.start[0] for t in tokens if t.type in (tokenize.NEWLINE, tokenize.NL)}


def _edit_line(line: str, codes: list[str], found: list[Directive]) -> str:
    """`line` with `codes` added to its directive with codes, or a new `# noqa` at its end."""
    body, ending = line[: len(line) - len(_ending(line))], _ending(line)
    for directive in found:
        if directive.whole_file or directive.codes is None:
            continue
        missing = [c for c in codes if c not in directive.codes]
        if not missing:
            return line
        at = directive.end_column - 1  # just after the last code (0-based)
        if directive.style != "noqa":
            at -= 1  # `leakcheck: ignore[...]`: before the closing bracket
        return body[:at] + "".join(f", {c}" for c in missing) + body[at:] + ending
    return f"{body.rstrip()}  # noqa: {', '.join(codes)}{ending}"


def _suppressed(source: bytes, line: int, codes: list[str]) -> bool:
    by_line = directives(source)
    here = by_line.get(line, []) + [d for ds in by_line.values() for d in ds if d.whole_file]
    return all(any(d.suppresses(code) for d in here) for code in codes)


def with_noqa(source: bytes, wanted: dict[int, list[str]]) -> Edited:
    """`source` (a Python file's bytes, in the encoding its PEP 263 cookie or BOM declares) with
    a directive on each line of `wanted` (line -> codes) suppressing those codes; line endings,
    encoding and every other byte kept. Raises UnicodeDecodeError, SyntaxError or
    tokenize.TokenError for a source that does not decode or tokenize."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    text = source.decode(encoding)
    lines = _split(text)
    open_lines = _open_lines(text)
    by_line = directives(source)
    left: dict[int, str] = {}
    edited: dict[int, str] = {}
    for number, codes in sorted(wanted.items()):
        if not 1 <= number <= len(lines) or number not in open_lines:
            left[number] = ENDS_IN_STRING
            continue
        new = _edit_line(lines[number - 1], sorted(set(codes)), by_line.get(number, []))
        if new != lines[number - 1]:
            edited[number] = new
    result = [edited.get(i, line) for i, line in enumerate(lines, 1)]
    out = "".join(result).encode(encoding)
    for number in list(edited):  # a directive leakcheck would not read is taken back
        if not _suppressed(out, number, sorted(set(wanted[number]))):
            left[number] = UNREADABLE_NOQA
            del edited[number]
            result[number - 1] = lines[number - 1]
            out = "".join(result).encode(encoding)
    return Edited(out, len(edited), left)


def add_noqa(paths: list[str], options: Options) -> NoqaRun:
    """Check `paths` with `options` (fixes and baseline off) and add a directive for each
    finding reported. Raises CatalogueError for a bad configuration."""
    checker = Checker(options=replace(options, fix="", diff=False, baseline=None))
    files, unreadable = checker.files(paths)
    run = NoqaRun(0, [FileResult(error.path, errors=(error,)) for error in unreadable])
    named = frozenset(os.path.normpath(p) for p in paths if os.path.isfile(p))
    for path, result in zip(files, checker.check_files(files, named), strict=True):
        if not result.findings:
            run.files.append(result)
            continue
        added, done = _add_to_file(checker, path, result)
        run.added += added
        run.files.append(done)
    return run


def _add_to_file(checker: Checker, path: str, result: FileResult) -> tuple[int, FileResult]:
    shown = result.path

    def failed(message: str, line: int | None = None) -> FileError:
        return FileError(shown, line, message)

    wanted: dict[int, list[str]] = {}
    for finding in result.findings:
        if finding.code != UNUSED:
            wanted.setdefault(finding.line, []).append(finding.code)
    refusal = fix_refusal(path, checker.root, shown)
    if refusal is not None:
        why = refusal.removeprefix("not fixed: ")
        return 0, FileResult(shown, errors=(*result.errors, failed(f"no noqa added: {why}")))
    target = Path(real_path(path))
    try:
        source = target.read_bytes()
        edited = with_noqa(source, wanted)
    except (OSError, UnicodeDecodeError, SyntaxError, tokenize.TokenError) as error:
        return 0, FileResult(shown, errors=(*result.errors, failed(f"no noqa added: {error}")))
    errors = [*result.errors]
    errors += [failed(f"no noqa added: {why}", line) for line, why in sorted(edited.left.items())]
    if edited.source != source:
        remove_stray_temporaries(target.parent)
        try:
            write_atomically(target, source, edited.source)
        except (Changed, OSError) as error:
            why = str(error) if not isinstance(error, Changed) else "it changed on disk"
            return 0, FileResult(shown, errors=(*errors, failed(f"not written: {why}")))
    return edited.added, FileResult(shown, errors=tuple(errors))
