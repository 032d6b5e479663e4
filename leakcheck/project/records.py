"""Plain data to JSON and back, checked against the type hints of what it must become.

What the cache keeps (entries, manifests, module summaries) is read back from a folder the
repository under check can write to: it is untrusted input. `pickle` can run code while it reads
(any importable callable can be named in the data), so nothing is pickled there. A record is
JSON, and reading it is led by the caller's type, never by the data: every value is checked
against the annotation of the field it fills, recursively, and anything that does not fit
(a string where an int belongs, an unknown field, a missing one, nesting deeper than the type)
raises `Invalid`. No class name is ever read from the data.

Dataclasses are written as objects of their fields, leaving out fields equal to their default
(most of a result's fields are empty), tuples, lists and sets as arrays, enums by value, paths as
text. Strings keep lone surrogates (file names that are not UTF-8, `os.fsdecode`), since JSON's
`\\udcff` escape carries them both ways.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any, TypeVar

T = TypeVar("T")
_Decode = Callable[[Any], Any]


class Invalid(ValueError):
    """A record that is not JSON, or does not fit the type it is read as."""


def dumps(value: object) -> bytes:
    """`value` (dataclasses, str, int, float, bool, None, tuples, lists, sets, dicts with str keys,
    enums, paths) as compact JSON bytes. Raises TypeError for anything else."""
    return json.dumps(plain(value), separators=(",", ":"), check_circular=False).encode("ascii")


def plain(value: object) -> Any:
    """`value` as JSON's plain values (see `dumps`). Raises TypeError for what has no plain form."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for name, default in _defaults(type(value)):
            field_value = getattr(value, name)
            if default is not _REQUIRED and field_value == default:
                continue
            out[name] = plain(field_value)
        return out
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, (frozenset, set)):
        items = [plain(v) for v in value]
        try:
            return sorted(items)  # the same file for the same value
        except TypeError:
            return items
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only dicts with str keys have a plain form")
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"no plain form for {type(value).__name__}")


_REQUIRED = object()
_DEFAULTS: dict[type, tuple[tuple[str, object], ...]] = {}


def _defaults(cls: type) -> tuple[tuple[str, object], ...]:
    """(field name, default value or `_REQUIRED`) for each field of dataclass `cls`."""
    found = _DEFAULTS.get(cls)
    if found is None:
        found = tuple(
            (
                f.name,
                f.default
                if f.default is not dataclasses.MISSING
                else f.default_factory()
                if f.default_factory is not dataclasses.MISSING
                else _REQUIRED,
            )
            for f in dataclasses.fields(cls)
        )
        _DEFAULTS[cls] = found
    return found


class Reader:
    """Reads records as given types. `names`: classes that type hints name but their modules
    import only for type checking (`Export.params: ParamEffects | None`), by name.

    Decoders are built once per type and kept, so reading many records of one type is cheap.
    """

    def __init__(self, names: Mapping[str, type] | None = None) -> None:
        self._names = dict(names or {})
        self._made: dict[Any, _Decode] = {}

    def loads(self, data: bytes | str, expected: Any) -> Any:
        """`data` (JSON) as a value of type `expected`. Raises `Invalid`."""
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError) as error:  # (UnicodeDecodeError is a ValueError)
            raise Invalid(f"not JSON: {error}") from None
        return self.decode(raw, expected)

    def decode(self, raw: Any, expected: Any) -> Any:
        """`raw` (JSON's plain values) as a value of type `expected`. Raises `Invalid`."""
        return self._decoder(expected)(raw)

    def _decoder(self, hint: Any) -> _Decode:
        made = self._made.get(hint)
        if made is None:
            made = self._made[hint] = self._make(hint)
        return made

    def _make(self, hint: Any) -> _Decode:
        if hint is type(None) or hint is None:
            return _exactly(type(None))
        if hint in (str, int, bool):
            return _exactly(hint)
        if hint is float:
            return _number
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            return self._union(args)
        if origin is typing.Literal:
            return _one_of(args)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return _sequence(self._decoder(args[0]), tuple)
            return _fixed(tuple(self._decoder(a) for a in args))
        if origin in (list, frozenset, set):
            return _sequence(self._decoder(args[0]), origin)
        if origin is dict:
            if args[0] is not str:
                raise TypeError(f"no record form for {hint}: JSON keys are strings")
            return _mapping(self._decoder(args[1]))
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return _enum(hint)
        if isinstance(hint, type) and issubclass(hint, PurePath):
            return _path(hint)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self._dataclass(hint)
        raise TypeError(f"no record form for {hint!r}")

    def _union(self, args: tuple[Any, ...]) -> _Decode:
        decoders = [self._decoder(a) for a in args]

        def decode(raw: Any) -> Any:
            for one in decoders:
                try:
                    return one(raw)
                except Invalid:
                    continue
            raise Invalid(f"{_shown(raw)} fits none of {args}")

        return decode

    def _dataclass(self, cls: type) -> _Decode:
        hints = typing.get_type_hints(cls, localns=self._names)
        required = {name for name, default in _defaults(cls) if default is _REQUIRED}
        # Filled in on first use: a dataclass may name itself (or a cycle) in its fields.
        fields: dict[str, _Decode] = {}

        def decode(raw: Any) -> Any:
            if type(raw) is not dict:
                raise Invalid(f"{cls.__name__}: expected an object, not {_shown(raw)}")
            if not fields:
                for one in dataclasses.fields(cls):
                    fields[one.name] = self._decoder(hints[one.name])
            unknown = raw.keys() - fields.keys()
            if unknown:
                raise Invalid(f"{cls.__name__}: unknown fields {sorted(unknown)}")
            missing = required - raw.keys()
            if missing:
                raise Invalid(f"{cls.__name__}: missing fields {sorted(missing)}")
            try:
                return cls(**{name: fields[name](value) for name, value in raw.items()})
            except (TypeError, ValueError) as error:  # a check of the class's own
                if isinstance(error, Invalid):
                    raise
                raise Invalid(f"{cls.__name__}: {error}") from None

        return decode


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _exactly(cls: type) -> _Decode:
    def decode(raw: Any) -> Any:
        if type(raw) is not cls:  # (bool is an int subclass: never accepted as one)
            raise Invalid(f"expected {cls.__name__}, not {_shown(raw)}")
        return raw

    return decode


def _number(raw: Any) -> float:
    if type(raw) not in (int, float):
        raise Invalid(f"expected a number, not {_shown(raw)}")
    return float(raw)


def _one_of(allowed: tuple[Any, ...]) -> _Decode:
    def decode(raw: Any) -> Any:
        if raw not in allowed or type(raw) not in {type(a) for a in allowed}:
            raise Invalid(f"expected one of {allowed}, not {_shown(raw)}")
        return raw

    return decode


def _sequence(item: _Decode, build: Callable[[Any], Any]) -> _Decode:
    def decode(raw: Any) -> Any:
        if type(raw) is not list:
            raise Invalid(f"expected an array, not {_shown(raw)}")
        return build(item(v) for v in raw)

    return decode


def _fixed(items: tuple[_Decode, ...]) -> _Decode:
    def decode(raw: Any) -> Any:
        if type(raw) is not list or len(raw) != len(items):
            raise Invalid(f"expected an array of {len(items)}, not {_shown(raw)}")
        return tuple(one(v) for one, v in zip(items, raw, strict=True))

    return decode


def _mapping(value: _Decode) -> _Decode:
    def decode(raw: Any) -> Any:
        if type(raw) is not dict:
            raise Invalid(f"expected an object, not {_shown(raw)}")
        return {k: value(v) for k, v in raw.items()}

    return decode


def _enum(cls: type[enum.Enum]) -> _Decode:
    def decode(raw: Any) -> Any:
        try:
            return cls(raw)
        except ValueError:
            raise Invalid(f"{_shown(raw)} is not a {cls.__name__}") from None

    return decode


def _path(cls: type[PurePath]) -> _Decode:
    def decode(raw: Any) -> Any:
        if type(raw) is not str:
            raise Invalid(f"expected a path, not {_shown(raw)}")
        return cls(raw)

    return decode
