"""Write docs/rules/*.md and the README's rule table from the rule modules
(`leakcheck/checks/`).

python scripts/gen_rule_docs.py           # write the files
python scripts/gen_rule_docs.py --check   # exit 1 if any is out of date (as the tests do)
"""

from __future__ import annotations

import sys
from pathlib import Path

from leakcheck.report.ruledocs import generated

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    check = "--check" in argv
    root = Path(argv[argv.index("--root") + 1]) if "--root" in argv else ROOT
    stale = []
    for path, content in generated(root).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(path.relative_to(root))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if check else 'wrote'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
