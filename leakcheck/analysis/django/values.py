"""What a settings expression is worth, read statically: literals, environment defaults, names.

Settings modules compute values from the environment. The value leakcheck judges is the one the
module falls back to when nothing is set: the default of `os.environ.get(KEY, DEFAULT)`,
`os.getenv(KEY, DEFAULT)`, `env.int(KEY, default=...)` (django-environ) or `config(KEY,
default=..., cast=int)` (python-decouple), and the right side of `os.getenv(KEY) or DEFAULT`.
Anything else is `UNKNOWN`, and rules stay silent on unknown values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import libcst as cst

from leakcheck.analysis.syntax import dotted


class _Unknown:
    """The value of an expression leakcheck cannot read (a call, an environment lookup with no
    default): never equal to any Python value."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


@dataclass(frozen=True)
class Entry:
    """One `"KEY": value` of a settings dict literal (or one keyword of a call)."""

    key: cst.CSTNode  # the key string, or the keyword's name
    value: cst.BaseExpression


Value = object  # a Python literal value (int, str, bool, None, dict of Entry) or UNKNOWN

# Calls that read one environment variable: (callee's last name, callee's receiver or "").
_ENV_GETTERS = frozenset({"os.environ.get", "environ.get", "os.getenv", "getenv"})
# django-environ's typed readers (`env.int("X", default=5)`), and python-decouple's `config`.
_TYPED_READERS = frozenset({"int", "str", "bool", "float", "get_value"})
_CASTS = {"int": int, "float": float, "str": str}


def string_value(node: cst.BaseExpression) -> str | None:
    """The text of a plain or implicitly concatenated string literal (no f-string), else None."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        left, right = string_value(node.left), string_value(node.right)
        return left + right if left is not None and right is not None else None
    return None


def dict_entries(node: cst.BaseExpression) -> dict[str, Entry] | None:
    """`{"KEY": value, ...}` as KEY -> Entry (string keys only; `**spread` ignored), else None."""
    if not isinstance(node, cst.Dict):
        return None
    out: dict[str, Entry] = {}
    for element in node.elements:
        if isinstance(element, cst.DictElement):
            key = string_value(element.key)
            if key is not None:
                out[key] = Entry(element.key, element.value)
    return out


def evaluate(node: cst.BaseExpression, names: Mapping[str, cst.BaseExpression]) -> Value:
    """The value `node` has when the environment sets nothing, or UNKNOWN.

    `names` are the module-level assignments seen so far (a settings module's constants).
    """
    return _evaluate(node, names, 0)


def _evaluate(
    node: cst.BaseExpression, names: Mapping[str, cst.BaseExpression], depth: int
) -> Value:
    if depth > 20:
        return UNKNOWN
    if isinstance(node, cst.Integer):
        try:
            return int(node.value.replace("_", ""), 0)
        except ValueError:
            return UNKNOWN
    if isinstance(node, cst.Float):
        try:
            return float(node.value.replace("_", ""))
        except ValueError:
            return UNKNOWN
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        text = string_value(node)
        return UNKNOWN if text is None else text
    if isinstance(node, cst.Name):
        if node.value in ("True", "False"):
            return node.value == "True"
        if node.value == "None":
            return None
        bound = names.get(node.value)
        return _evaluate(bound, names, depth + 1) if bound is not None else UNKNOWN
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _evaluate(node.expression, names, depth + 1)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner
        return UNKNOWN
    if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.Or):
        left = _evaluate(node.left, names, depth + 1)
        if left is UNKNOWN or not left:
            return _evaluate(node.right, names, depth + 1)
        return left
    if isinstance(node, cst.Dict):
        return dict_entries(node)
    if isinstance(node, cst.Call):
        return _call(node, names, depth)
    return UNKNOWN


def _call(node: cst.Call, names: Mapping[str, cst.BaseExpression], depth: int) -> Value:
    callee = dotted(node.func) or ""
    last = callee.rsplit(".", 1)[-1]
    positional = [a.value for a in node.args if a.keyword is None and not a.star]
    keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
    if callee in _CASTS and len(positional) == 1 and not keywords:
        return _cast(_evaluate(positional[0], names, depth + 1), callee)
    default: cst.BaseExpression | None = keywords.get("default")
    if callee in _ENV_GETTERS:
        if default is None and len(positional) >= 2:
            default = positional[1]
        return _evaluate(default, names, depth + 1) if default is not None else UNKNOWN
    typed = "." in callee and last in _TYPED_READERS
    if typed or last in ("env", "config"):
        if default is None and typed and len(positional) >= 2:
            default = positional[1]
        if default is None:
            return UNKNOWN
        value = _evaluate(default, names, depth + 1)
        cast = dotted(keywords["cast"]) if "cast" in keywords else (last if typed else None)
        return _cast(value, cast) if cast in _CASTS else value
    return UNKNOWN


def _cast(value: Value, cast: str | None) -> Value:
    convert = _CASTS.get(cast or "")
    if convert is None or value is UNKNOWN or value is None:
        return value
    try:
        return convert(value)
    except (TypeError, ValueError):
        return UNKNOWN
