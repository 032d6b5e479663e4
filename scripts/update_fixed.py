"""Regenerate fixtures/**/X.fixed.py: what `leakcheck check --fix` makes of each fixture X.py.

python scripts/update_fixed.py           # write them (review the diff before committing!)
python scripts/update_fixed.py --check   # exit 1 if any is out of date

tests/test_fixes.py compares them exactly; a fixture without a safe fix has no .fixed.py.
X.unsafe.fixed.py, where one exists (create it empty to start one), is what `--fix
--unsafe-fixes` makes of X.py: the snapshot of fixes that are only ever unsafe (LC401/LC402).
"""

from __future__ import annotations

import sys
from pathlib import Path

from leakcheck.project.api import fix_file

ROOT = Path(__file__).resolve().parent.parent


def fixtures() -> list[Path]:
    return sorted(p for p in (ROOT / "fixtures").rglob("*.py") if not p.name.endswith(".fixed.py"))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path in fixtures():
        target = path.with_name(path.stem + ".fixed.py")
        fixed = fix_file(path).source
        want = fixed if fixed != path.read_bytes() else None
        have = target.read_bytes() if target.exists() else None
        unsafe = path.with_name(path.stem + ".unsafe.fixed.py")
        if unsafe.exists() and unsafe.read_bytes() != fix_file(path, unsafe=True).source:
            stale.append(unsafe.relative_to(ROOT))
            if not check:
                unsafe.write_bytes(fix_file(path, unsafe=True).source)
        if want == have:
            continue
        stale.append(target.relative_to(ROOT))
        if not check:
            if want is None:
                target.unlink()
            else:
                target.write_bytes(want)
    for path in stale:
        print(f"{'out of date' if check else 'wrote'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
