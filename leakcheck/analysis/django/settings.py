"""The settings rules: a Django settings module's `DATABASES`, judged against its poolers and
its server.

A settings module is any module that assigns `DATABASES` at module level (also inside a
module-level `if`/`try`/`with`). Each alias is read from a dict literal, a module-level name bound
to one, `dj_database_url.config(...)` / `.parse(...)` or django-environ's `env.db(...)`, and then
from later `DATABASES["alias"]["KEY"] = value` assignments. Values are read by values.py (literals,
environment defaults); a rule whose value is unknown stays silent.

Facts relied on (Django documentation, "Databases", and the PostgreSQL backend's source):
- a transaction-mode pooler needs `DISABLE_SERVER_SIDE_CURSORS: True` ("Transaction pooling and
  server-side cursors");
- "When using ASGI, persistent connections should be disabled" ("Persistent connections");
- Django 5.1+ raises `ImproperlyConfigured("Pooling doesn't support persistent connections.")`
  when `OPTIONS["pool"]` is set and `CONN_MAX_AGE` is not 0 (django/db/backends/postgresql/base.py);
- PgBouncer answers a startup parameter it does not know with "unsupported startup parameter"
  unless it is listed in `ignore_startup_parameters` (then it is dropped, not applied).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import libcst as cst

from leakcheck.analysis.django.drafts import Draft, FixDraft, InsertKey, Replace
from leakcheck.analysis.django.values import (
    UNKNOWN,
    Entry,
    Value,
    dict_entries,
    evaluate,
    string_value,
)
from leakcheck.analysis.syntax import dotted
from leakcheck.checks import (
    persistent_connections_through_transaction_pooler,
    persistent_connections_under_asgi,
    pool_with_persistent_connections,
    server_side_cursors_with_transaction_pooling,
    startup_options_through_pooler,
)
from leakcheck.model import Applicability

PGBOUNCER_PORT = 6432
ASGI_APPS = frozenset({"daphne", "channels"})
# dj_database_url.config/parse keyword -> the DATABASES key it sets.
_URL_KEYWORDS = {
    "conn_max_age": "CONN_MAX_AGE",
    "conn_health_checks": "CONN_HEALTH_CHECKS",
    "disable_server_side_cursors": "DISABLE_SERVER_SIDE_CURSORS",
    "engine": "ENGINE",
}
_URL_CALLS = frozenset({"dj_database_url.config", "dj_database_url.parse", "config", "parse"})
_URL_SCHEMES_POSTGRES = ("postgres", "postgresql", "pgsql", "postgis")


@dataclass
class Alias:
    """One `DATABASES` entry as the module builds it."""

    name: str
    anchor: cst.CSTNode  # where alias-level findings point: the alias key
    dict_node: cst.Dict | None = None  # the alias's dict literal, for the `server-side-cursors` fix
    entries: dict[str, Entry] = field(default_factory=dict)
    options: dict[str, Entry] = field(default_factory=dict)
    url: cst.BaseExpression | None = None  # a database URL's default (dj_database_url)
    from_url_call: bool = False


@dataclass
class SettingsModule:
    """What the module says about its databases and its server."""

    aliases: list[Alias] = field(default_factory=list)
    names: dict[str, cst.BaseExpression] = field(default_factory=dict)
    asgi: str = ""  # why the module itself makes the project ASGI, "" if it does not
    asgi_node: cst.CSTNode | None = None
    assigns_databases: bool = False


def read_settings(module: cst.Module) -> SettingsModule:
    """Every alias of every module-level `DATABASES`, the module's names and its ASGI markers."""
    out = SettingsModule()
    for small in _module_level(module.body):
        _statement(small, out)
    return out


def _module_level(
    body: Sequence[cst.BaseStatement],
) -> Iterator[cst.BaseSmallStatement]:
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            yield from stmt.body
        elif isinstance(stmt, cst.If):
            yield from _module_level(_suite(stmt.body))
            orelse: cst.If | cst.Else | None = stmt.orelse
            if isinstance(orelse, cst.If):
                yield from _module_level([orelse])
            elif isinstance(orelse, cst.Else):
                yield from _module_level(_suite(orelse.body))
        elif isinstance(stmt, (cst.Try, cst.TryStar)):
            yield from _module_level(_suite(stmt.body))
            for handler in stmt.handlers:
                yield from _module_level(_suite(handler.body))
            if stmt.orelse is not None:
                yield from _module_level(_suite(stmt.orelse.body))
            if stmt.finalbody is not None:
                yield from _module_level(_suite(stmt.finalbody.body))
        elif isinstance(stmt, cst.With):
            yield from _module_level(_suite(stmt.body))


def _suite(body: cst.BaseSuite) -> list[cst.BaseStatement]:
    if isinstance(body, cst.IndentedBlock):
        return list(body.body)
    if isinstance(body, cst.SimpleStatementSuite):
        return [cst.SimpleStatementLine(body=body.body)]
    return []


def _subscript_keys(node: cst.BaseExpression) -> tuple[str | None, list[tuple[str, cst.CSTNode]]]:
    """`DATABASES["default"]["OPTIONS"]` -> `DATABASES`, [("default", node), ("OPTIONS", node)]."""
    keys: list[tuple[str, cst.CSTNode]] = []
    while isinstance(node, cst.Subscript):
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return None, []
        key_node = node.slice[0].slice.value
        key = string_value(key_node)
        if key is None:
            return None, []
        keys.append((key, key_node))
        node = node.value
    base = node.value if isinstance(node, cst.Name) else None
    return base, list(reversed(keys))


def _statement(small: cst.BaseSmallStatement, out: SettingsModule) -> None:
    if isinstance(small, (cst.Assign, cst.AnnAssign)):
        targets = (
            [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
        )
        value = small.value
        if value is None:
            return
        for target in targets:
            _assign(target, value, out)
    elif isinstance(small, cst.AugAssign):
        if isinstance(small.target, cst.Name) and small.target.value == "INSTALLED_APPS":
            _installed_apps(small.value, out)
    elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        _method_call(small.value, out)


def _assign(target: cst.BaseExpression, value: cst.BaseExpression, out: SettingsModule) -> None:
    if isinstance(target, cst.Name):
        name = target.value
        if name == "DATABASES":
            out.assigns_databases = True
            _databases(
                out.names.get(value.value, value) if isinstance(value, cst.Name) else value, out
            )
        elif name == "ASGI_APPLICATION":
            if evaluate(value, out.names) is not None and not out.asgi:
                out.asgi, out.asgi_node = "`ASGI_APPLICATION` is set", target
        elif name == "INSTALLED_APPS":
            _installed_apps(value, out)
        out.names[name] = value
        return
    base, keys = _subscript_keys(target)
    if base != "DATABASES" or not keys:
        return
    out.assigns_databases = True
    alias_name, alias_node = keys[0]
    if len(keys) == 1:
        out.aliases.append(_alias(alias_name, alias_node, value, out))
        return
    for alias in out.aliases:
        if alias.name != alias_name:
            continue
        key, key_node = keys[1]
        if len(keys) == 2:
            alias.entries[key] = Entry(key_node, value)
            if key == "OPTIONS":
                alias.options = dict_entries(_resolve(value, out)) or {}
        elif len(keys) == 3 and key == "OPTIONS":
            option, option_node = keys[2]
            alias.options[option] = Entry(option_node, value)


def _method_call(call: cst.Call, out: SettingsModule) -> None:
    """`INSTALLED_APPS.append("daphne")`, `DATABASES["default"].update({...})`."""
    if not isinstance(call.func, cst.Attribute):
        return
    method, receiver = call.func.attr.value, call.func.value
    if isinstance(receiver, cst.Name) and receiver.value == "INSTALLED_APPS":
        if method in ("append", "insert", "extend"):
            for arg in call.args:
                _installed_apps(arg.value, out)
        return
    base, keys = _subscript_keys(receiver)
    if base == "DATABASES" and method == "update" and call.args and len(keys) in (1, 2):
        entries = dict_entries(_resolve(call.args[0].value, out)) or {}
        for alias in out.aliases:
            if alias.name != keys[0][0]:
                continue
            if len(keys) == 1:
                alias.entries.update(entries)
                if "OPTIONS" in entries:
                    alias.options = dict_entries(_resolve(entries["OPTIONS"].value, out)) or {}
            elif keys[1][0] == "OPTIONS":
                alias.options.update(entries)


def _installed_apps(value: cst.BaseExpression, out: SettingsModule) -> None:
    if out.asgi:
        return
    elements: list[cst.BaseExpression] = []
    if isinstance(value, (cst.List, cst.Tuple, cst.Set)):
        elements = [e.value for e in value.elements]
    elif isinstance(value, cst.BinaryOperation):
        _installed_apps(value.left, out)
        _installed_apps(value.right, out)
        return
    else:
        elements = [value]
    for element in elements:
        text = string_value(element)
        if text in ASGI_APPS:
            out.asgi, out.asgi_node = f"`{text}` is in `INSTALLED_APPS`", element
            return


def _resolve(value: cst.BaseExpression, out: SettingsModule) -> cst.BaseExpression:
    seen = 0
    while isinstance(value, cst.Name) and value.value in out.names and seen < 10:
        value = out.names[value.value]
        seen += 1
    return value


def _databases(value: cst.BaseExpression, out: SettingsModule) -> None:
    if not isinstance(value, cst.Dict):
        return
    for element in value.elements:
        if isinstance(element, cst.DictElement):
            name = evaluate(element.key, out.names)  # a literal, or a module constant
            if isinstance(name, str):
                out.aliases.append(_alias(name, element.key, element.value, out))


def _alias(name: str, anchor: cst.CSTNode, value: cst.BaseExpression, out: SettingsModule) -> Alias:
    value = _resolve(value, out)
    alias = Alias(name, anchor)
    if isinstance(value, cst.Dict):
        alias.dict_node = value
        alias.entries = dict_entries(value) or {}
        if "OPTIONS" in alias.entries:
            alias.options = dict_entries(_resolve(alias.entries["OPTIONS"].value, out)) or {}
        return alias
    if isinstance(value, cst.Call):
        _url_call(value, alias)
    return alias


def _url_call(call: cst.Call, alias: Alias) -> None:
    callee = dotted(call.func) or ""
    last = callee.rsplit(".", 1)[-1]
    environ_db = (
        "." in callee and last in ("db", "db_url") and not callee.startswith("dj_database_url")
    )
    if (
        callee not in _URL_CALLS
        and not callee.endswith(("dj_database_url.config", "dj_database_url.parse"))
        and not environ_db
    ):
        return
    alias.from_url_call = True
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    for arg in call.args:
        if arg.keyword is None:
            continue
        key = _URL_KEYWORDS.get(arg.keyword.value)
        if key is not None:
            alias.entries[key] = Entry(arg.keyword, arg.value)
        if arg.keyword.value in ("default", "url"):
            alias.url = arg.value
    if alias.url is None:
        if last == "parse" and positional:
            alias.url = positional[0]
        elif environ_db and len(positional) >= 2:
            alias.url = positional[1]


@dataclass(frozen=True)
class Target:
    """Where an alias connects, as far as the module says."""

    engine: Value
    host: Value
    port: Value
    scheme: str = ""


def target(alias: Alias, names: dict[str, cst.BaseExpression]) -> Target:
    """Engine, host and port of `alias` (UNKNOWN where the module does not say); a URL fills
    in what the keys leave unknown."""

    def read(key: str) -> Value:
        entry = alias.entries.get(key)
        return evaluate(entry.value, names) if entry is not None else UNKNOWN

    engine, host, port = read("ENGINE"), read("HOST"), read("PORT")
    scheme = ""
    if alias.url is not None:
        url = evaluate(alias.url, names)
        if isinstance(url, str) and "://" in url:
            try:
                parts = urlsplit(url)
                scheme = parts.scheme
                host = parts.hostname if host is UNKNOWN else host
                port = parts.port if port is UNKNOWN else port
            except ValueError:
                pass
    return Target(engine, host, port, scheme)


def is_postgres(where: Target) -> bool | None:
    """True/False when the engine (or URL scheme) says, None when the module does not."""
    if isinstance(where.engine, str):
        return "postgres" in where.engine or "postgis" in where.engine
    if where.scheme:
        return where.scheme.startswith(_URL_SCHEMES_POSTGRES)
    return None


def is_sqlite(where: Target) -> bool:
    """Whether the engine or URL scheme is SQLite: a file, no server connections to exhaust."""
    return (isinstance(where.engine, str) and "sqlite" in where.engine) or where.scheme.startswith(
        "sqlite"
    )


def pooler(where: Target, poolers: tuple[str, ...]) -> str:
    """Why this target is a transaction-mode pooler ("port 6432"), or "" if nothing says so.

    Supabase's pooler host also serves session mode on port 5432: that is not transaction pooling.
    """
    port = _port(where.port)
    host = where.host.lower() if isinstance(where.host, str) else ""
    for pattern in poolers:
        if pattern.isdigit() and port == int(pattern):
            return f"port {port} is configured as a pooler"
        if host and fnmatch.fnmatchcase(host, pattern.lower()):
            return f"host `{where.host}` is configured as a pooler"
    if port == PGBOUNCER_PORT:
        return f"port {PGBOUNCER_PORT}"
    if "pgbouncer" in host:
        return f"host `{where.host}`"
    if "pooler" in host and not (host.endswith("pooler.supabase.com") and port == 5432):
        return f"host `{where.host}`"
    return ""


def _port(value: Value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def persistent(value: Value) -> bool:
    """CONN_MAX_AGE that keeps connections: a positive number of seconds, or None (forever)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        try:
            return float(value) != 0
        except ValueError:
            return False
    return False


def _truthy(value: Value) -> bool | None:
    if value is UNKNOWN:
        return None
    if isinstance(value, dict):
        return bool(value)
    return bool(value)


def judge(
    module: SettingsModule, poolers: tuple[str, ...], asgi: str, asgi_node: cst.CSTNode | None
) -> list[Draft]:
    """The settings rules' drafts for every alias. `asgi` says why the project is ASGI (""
    if it is not)."""
    drafts: list[Draft] = []
    names = module.names
    for alias in module.aliases:
        where = target(alias, names)
        pg = is_postgres(where)
        behind = pooler(where, poolers) if pg is not False else ""
        max_age_entry = alias.entries.get("CONN_MAX_AGE")
        max_age = evaluate(max_age_entry.value, names) if max_age_entry is not None else 0
        keeps = max_age is not UNKNOWN and persistent(max_age)
        shown = "None (forever)" if max_age is None else f"{max_age}"
        label = f"DATABASES[{alias.name!r}]"
        if behind:
            cursors = alias.entries.get("DISABLE_SERVER_SIDE_CURSORS")
            disabled = _truthy(evaluate(cursors.value, names)) if cursors is not None else False
            if disabled is False:
                fix = None
                if alias.dict_node is not None and cursors is None:
                    fix = FixDraft(
                        'Add `"DISABLE_SERVER_SIDE_CURSORS": True`',
                        Applicability.SAFE,
                        InsertKey(alias.dict_node, "DISABLE_SERVER_SIDE_CURSORS", "True"),
                    )
                drafts.append(
                    Draft(
                        server_side_cursors_with_transaction_pooling.RULE.code,
                        alias.anchor,
                        {"alias": alias.name, "why": behind},
                        label,
                        "DISABLE_SERVER_SIDE_CURSORS",
                        fix=fix,
                    )
                )
            options = alias.options.get("options")
            text = evaluate(options.value, names) if options is not None else UNKNOWN
            untracked = untracked_switches(text) if isinstance(text, str) else []
            if options is not None and untracked:
                fields = {"alias": alias.name, "why": behind, "names": ", ".join(untracked)}
                code = startup_options_through_pooler.RULE.code
                drafts.append(Draft(code, options.key, fields, label, "OPTIONS.options"))
        if keeps and max_age_entry is not None:
            if asgi and not is_sqlite(where):
                fix = None
                if _literal(max_age_entry.value):
                    fix = FixDraft(
                        "Set `CONN_MAX_AGE` to 0; unsafe: every request opens a new connection",
                        Applicability.UNSAFE,
                        Replace(max_age_entry.value, "0"),
                    )
                drafts.append(
                    Draft(
                        persistent_connections_under_asgi.RULE.code,
                        max_age_entry.key,
                        {"alias": alias.name, "value": shown, "why": asgi},
                        label,
                        "CONN_MAX_AGE",
                        related=asgi_node,
                        related_label="ASGI here" if asgi_node is not None else "",
                        fix=fix,
                    )
                )
            pool = alias.options.get("pool")
            if pool is not None and _truthy(evaluate(pool.value, names)):
                drafts.append(
                    Draft(
                        pool_with_persistent_connections.RULE.code,
                        max_age_entry.key,
                        {"alias": alias.name, "value": shown},
                        label,
                        "OPTIONS.pool",
                        related=pool.key,
                        related_label="pool enabled here",
                    )
                )
            if behind:
                drafts.append(
                    Draft(
                        persistent_connections_through_transaction_pooler.RULE.code,
                        max_age_entry.key,
                        {"alias": alias.name, "value": shown, "why": behind},
                        label,
                        "CONN_MAX_AGE.pooler",
                    )
                )
    return drafts


# What PgBouncer tracks per client by default (its `track_extra_parameters` documentation): since
# 1.20 it accepts these in `-c` switches of the `options` startup parameter.
TRACKED = frozenset(
    {"client_encoding", "datestyle", "timezone", "standard_conforming_strings", "application_name"}
)


def untracked_switches(text: str) -> list[str]:
    """The settings `-c name=value` / `-cname=value` / `--name=value` switches of `text` set that
    PgBouncer does not track by default; a switch it cannot parse counts by its text."""
    words = text.split()
    out: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        setting = ""
        if word == "-c" and index + 1 < len(words):
            index += 1
            setting = words[index]
        elif word.startswith("--") or word.startswith("-c"):
            setting = word[2:]
        elif word.startswith("-"):
            setting = word
        index += 1
        if setting:
            name = setting.split("=", 1)[0].replace("-", "_").lower()
            if name not in TRACKED:
                out.append(name)
    return out


def _literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float)) or (
        isinstance(node, cst.Name) and node.value == "None"
    )
