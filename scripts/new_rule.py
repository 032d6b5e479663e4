"""Start a rule: write `leakcheck/checks/<name>.py` with the fixed headings, the `RULE` and empty
examples, and register it at the end of `RULES` (`leakcheck/checks/__init__.py`).

python scripts/new_rule.py CODE NAME FAMILY LEAK [--root DIR]

NAME is kebab-case and names the pattern flagged; LEAK is the escape class it names (an `Escape`
value) or, for a rule of its own analysis, its tag. Then: write the documentation, one invalid
example with its (code, line) and fixed source, one valid example, run
`python scripts/gen_rule_docs.py` and `pytest tests/test_rule_examples.py`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = '''"""
## What it does
TODO: what the rule finds, in one paragraph.

## Why is this bad?
TODO: what breaks, and when.

## Example
```python
TODO
```

## Use instead
```python
TODO
```

## Fix safety
TODO: what the fix writes and when it is unsafe, or "No fix".

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\\
TODO
"""

VALID = """\\
TODO
"""

RULE = Rule(
    code="{code}",
    name="{name}",
    summary="TODO: what it flags, for the rules table",
    family="{family}",
    leak="{leak}",
    message="{{what}} is not {{released}}{{how}}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("{code}", 1),)),),
    valid=(Valid(VALID),),
)
'''


def main(argv: list[str]) -> int:
    root = Path(argv[argv.index("--root") + 1]) if "--root" in argv else ROOT
    args = [a for i, a in enumerate(argv) if a != "--root" and (i == 0 or argv[i - 1] != "--root")]
    if len(args) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    code, name, family, leak = args
    if not re.fullmatch(r"LC\d{3}", code) or not re.fullmatch(r"[a-z]+(-[a-z]+)*", name):
        print("CODE is LC and three digits; NAME is kebab-case", file=sys.stderr)
        return 2
    module = name.replace("-", "_")
    path = root / "leakcheck" / "checks" / f"{module}.py"
    if path.exists():
        print(f"{path} exists", file=sys.stderr)
        return 1
    path.write_text(
        TEMPLATE.replace("{code}", code)
        .replace("{name}", name)
        .replace("{family}", family)
        .replace("{leak}", leak)
        .replace("{{", "{")
        .replace("}}", "}"),
        encoding="utf-8",
    )
    registry = root / "leakcheck" / "checks" / "__init__.py"
    text = registry.read_text(encoding="utf-8")
    opening = "from leakcheck.checks import (\n"
    text = text.replace(opening, f"{opening}    {module},\n", 1)
    end = text.index("\n)\n", text.index("RULES: tuple[Rule, ...] = ("))
    text = f"{text[:end]}\n    {module}.RULE,{text[end:]}"
    registry.write_text(text, encoding="utf-8")
    print(f"wrote {path.relative_to(root)}; registered it last in RULES (ruff --fix sorts imports)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
