"""Entry points for tools that embed leakcheck (the language server, editors, scripts).

Both read the project's configuration for the file and resolve its imports through the project's
module summaries (from the cache when one is given, else computed on demand), as the CLI does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from leakcheck.model import FileResult
from leakcheck.project.converge import fix_until_stable
from leakcheck.project.runner import Checker, Options

if TYPE_CHECKING:
    from leakcheck.fix.fixer import Outcome


def fix_file(path: Path, unsafe: bool = False, source: bytes | None = None) -> Outcome:
    """What `--fix` (with `unsafe`, `--unsafe-fixes`) makes of `path` (or of `source` as if it
    were that file's content): its fixes applied pass after pass until nothing changes
    (`project.converge`), every fix applied in `applied`, the last pass's failures in `dropped`."""
    from leakcheck.fix.fixer import Outcome as Fixed  # the fixer loads libcst: only when fixing

    data = path.read_bytes() if source is None else source
    checker = Checker()
    ctx = checker.context(path)
    done = fix_until_stable(
        data,
        checker.check_buffer(data, path),
        lambda text, wanted: ctx.fix(text, unsafe, wanted),
        lambda text: checker.check_buffer(text, path),
    )
    return Fixed(done.source, list(done.applied), list(done.dropped), done.refused)


def check_buffer(
    source: bytes, path: Path, options: Options | None = None, checker: Checker | None = None
) -> FileResult:
    """Findings for `source` (an editor's unsaved buffer) as if it were the content of `path`.

    Inputs: the buffer's bytes; the path it stands for (it need not exist; its directory decides
    the configuration, package and import roots); `options` as the CLI builds them (give
    `Options(cache=True)` to reuse and fill the result cache of the project's other modules); or a
    long-lived `checker` to keep configurations and summaries between calls. Output: the
    `FileResult` the CLI would report for that content, selection and suppressions applied, in
    this process. Raises CatalogueError for a bad configuration, like the CLI.
    """
    return (checker or Checker(options=options)).check_buffer(source, path)
