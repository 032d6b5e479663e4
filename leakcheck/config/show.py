"""`leakcheck check --show-settings`: the settings in force for one file, as text, with where
they come from and which rules they enable there, as ruff's `--show-settings` prints the
resolved settings for the first file it would check."""

from __future__ import annotations

import json
from pathlib import Path

from leakcheck.checks import rules
from leakcheck.config.selection import Overrides, enabled, fix_allowed, ignored_in_file
from leakcheck.config.settings import Config, kinds_for


def _toml(value: object) -> str:
    """A value written as TOML would write it (strings and lists of strings, booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '"auto"'
    if isinstance(value, (tuple, list, frozenset)):
        items = sorted(value) if isinstance(value, frozenset) else value
        return "[" + ", ".join(_toml(item) for item in items) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def describe(path: Path, shown: str, config: Config, overrides: Overrides) -> str:
    """The settings `config` (and the command line's rule `overrides`) put in force for the
    file `path` (shown as `shown`): the configuration file and what it extends, each setting,
    the resource kinds, and the rules checked and fixed there. Raises nothing."""
    source = str(config.path.resolve()) if config.path is not None else "none (defaults)"
    lines = [f"Resolved settings for: {shown}", f"Settings path: {source}"]
    lines += [f"Extends: {extended}" for extended in config.extends]
    select = config.select if config.select is not None else ("ALL",)
    if overrides.select is not None:
        select = overrides.select
    settings: list[tuple[str, object]] = [
        ("select", select),
        ("extend-select", config.extend_select + overrides.extend_select),
        ("ignore", config.ignore + config.extend_ignore + overrides.ignore),
        ("per-file-ignores", [f"{g}:{','.join(c)}" for g, c in config.per_file_ignores]),
        ("exclude", config.exclude),
        ("extend-exclude", config.extend_exclude),
        ("respect-gitignore", config.respect_gitignore),
        ("fixable", config.fixable),
        ("unfixable", config.unfixable),
        ("preview", config.preview),
        ("min-severity", config.min_severity),
        ("fix-helpers", config.fix_helpers),
        ("session-factories", config.names.session_factories),
        ("pools", config.names.pools),
        ("engines", config.names.engines),
        ("conventional-factory-names", config.names.conventional),
        ("django.poolers", config.django_poolers),
        ("django.asgi", config.django_asgi),
        ("kinds", [kind.name for kind in kinds_for(config)]),
    ]
    lines += [f"{key} = {_toml(value)}" for key, value in settings]
    checked = [
        rule.code
        for rule in rules()
        if enabled(rule.code, config, overrides)
        and not ignored_in_file(rule.code, path, config, overrides)
    ]
    lines.append(f"# rules checked in this file: {_toml(checked)}")
    fixes = {rule.code for rule in rules() if rule.fixes}
    fixing = [code for code in checked if code in fixes and fix_allowed(code, config)]
    lines.append(f"# rules --fix may fix here: {_toml(fixing)}")
    return "\n".join(lines) + "\n"
